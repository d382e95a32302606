package dev.ferry.wire;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The decoder fuzz of {@link HostileInputTest} for as many tries as {@code ferry.fuzz.tries} asks
 * (200 by default, as part of every build; {@code docs/wire-protocol.md} gives the long run): each
 * try takes a valid session from its seed and feeds the readers and decoders, as a destination
 * would, that session with one to eight byte-level mutations, and one of its frames with a mutated
 * payload under a valid checksum. Only {@link WireException} may come out, and the frame reader's
 * buffer stays within its limit ({@link HostileInputTest#receive}); a failure names its seed.
 */
@Timeout(value = 30, unit = java.util.concurrent.TimeUnit.MINUTES)
class DecoderFuzzTest {
  private static final int TRIES = Integer.getInteger("ferry.fuzz.tries", 200);
  private static final long SEED = Long.getLong("ferry.fuzz.seed", 20261203L);

  @Test
  void mutatedSessionsAndFrames_throwOnlyWireException_andStayWithinTheFrameBound() throws Exception {
    for (int i = 0; i < TRIES; i++) {
      long seed = SEED + i;
      try {
        Random r = new Random(seed);
        byte[] session = HostileInputTest.validSession(seed);
        HostileInputTest.receive(HostileInputTest.mutate(session, r, 1 + r.nextInt(8)), true);
        byte[] payload = HostileInputTest.mutate(java.util.Arrays.copyOfRange(session, 16 + WireFormat.HEADER_LENGTH,
            Math.min(session.length, 16 + WireFormat.HEADER_LENGTH + 1 + r.nextInt(2000))), r, 1 + r.nextInt(4));
        FrameType[] types = FrameType.values();
        HostileInputTest.receive(HostileInputTest.frame(types[r.nextInt(types.length)].code(), payload), false);
      } catch (AssertionError | RuntimeException e) {
        throw new AssertionError("decoder fuzz, seed " + seed + " (-Dferry.fuzz.seed=" + seed + " -Dferry.fuzz.tries=1"
            + " repeats it): " + e, e);
      }
    }
  }
}
