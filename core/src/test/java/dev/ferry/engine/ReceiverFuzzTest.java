package dev.ferry.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.MigrationOptions;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationResult.Outcome;
import dev.ferry.MigrationTarget;
import dev.ferry.sim.SimVm;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.VmState;
import dev.ferry.wire.FrameType;
import dev.ferry.wire.Message;
import dev.ferry.wire.Messages;
import dev.ferry.wire.ProtocolException;
import dev.ferry.wire.WireFormat;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Fuzzes the receiver's session state with mutations of a recorded real session: the source's side
 * of a real migration's control stream (one stream, verified, no post-copy) is recorded through a
 * loopback relay, then replayed against the receiver many times, each time changed by a few
 * mutations drawn from a seed: bits flipped (with the frame's checksum broken, or recomputed so
 * that the message itself is wrong), frames dropped, duplicated, swapped, moved, truncated, random
 * frames inserted, random bytes in place of the rest.
 *
 * <p>Properties, after every try: the receiver answers and closes the connection (within a bound);
 * it holds no incoming VM and no session afterwards; a guest runs on the destination only if the
 * stream held HELLO, SWITCHOVER and COMMIT in that order, and then, unless a mutation changed a
 * message inside a valid checksum, with exactly the memory of the recorded migration. (A page
 * changed inside a valid checksum is the source's to catch: its page ledger against READY's, before
 * it sends COMMIT; a replay sends the recorded COMMIT regardless, and the destination, which trusts
 * an authenticated source's COMMIT, runs that guest.) After the run a real migration completes.
 *
 * <p>{@value #TRIES_PROPERTY} sets the number of tries (200 by default, a few seconds), and
 * {@code ferry.fuzz.seed} the first seed; a failure names the seed of its try. The long run is in
 * {@code docs/wire-protocol.md} ("Fuzzing").
 */
@Timeout(value = 30, unit = TimeUnit.MINUTES)
class ReceiverFuzzTest {
  static final String TRIES_PROPERTY = "ferry.fuzz.tries";
  private static final int TRIES = Integer.getInteger(TRIES_PROPERTY, 200);
  private static final long SEED = Long.getLong("ferry.fuzz.seed", 20261203L);

  private SimPair pair;

  @BeforeEach
  void start() {
    pair = new SimPair("fuzz");
  }

  @AfterEach
  void stop() {
    pair.close();
  }

  @Test
  void mutatedReplaysOfARealSession_neverRunAGuestUnlessTheSessionWasComplete_andTheReceiverKeepsServing()
      throws Exception {
    SimVm vm = pair.source.createVm(SimVmSpec.builder("fuzzed").memory(DataSize.kib(256))
        .deviceStateSize(DataSize.kib(4)).workload(Workload.idle()).build());
    vm.fillRandom(7);
    byte[] recorded = record(vm);
    SimVm original = pair.dest.vm("fuzzed").orElseThrow();
    long digest = original.memoryDigest();
    original.stop();
    List<byte[]> frames = frames(recorded);
    byte[] opening = Arrays.copyOf(recorded, WireFormat.PREAMBLE_LENGTH);
    assertThat(FrameType.ofCode(frames.get(0)[4] & 0xff)).isEqualTo(FrameType.AUTH_RESPONSE);

    assertThat(replay(concat(opening, frames), "unchanged")).as("the unchanged recording runs its guest").isTrue();
    checkGuest("unchanged", concat(opening, frames), digest);

    int activated = 0;
    for (int i = 0; i < TRIES; i++) {
      long seed = SEED + i;
      Random r = new Random(seed);
      List<String> done = new ArrayList<>();
      List<byte[]> mutated = mutate(frames, r, done);
      byte[] stream = concat(opening, mutated);
      if (r.nextInt(20) == 0) {
        stream = flipAnywhere(stream, r, done);
      }
      String what = "seed " + seed + " " + done;
      boolean ran = replay(stream, what);
      if (ran) {
        activated++;
        checkGuest(what, stream, digest);
      }
    }
    System.out.printf("receiver fuzz: %d tries from seed %d, %d ran their guest%n", TRIES, SEED, activated);

    SimVm good = pair.source.createVm(SimVmSpec.builder("after-fuzz").memory(DataSize.mib(16))
        .workload(Workload.uniform(1000)).build());
    MigrationResult res = SourceMigration.start(pair.source.info(), good, pair.receiver.target(),
        MigrationOptions.builder().verify(true).build()).completion().get(60, TimeUnit.SECONDS);
    assertThat(res.outcome()).as("a real migration after the fuzz run: %s", res.cause()).isEqualTo(Outcome.COMPLETED);
  }

  /** Migrates {@code vm} to the receiver through a relay, and returns what the source sent. */
  private byte[] record(SimVm vm) throws Exception {
    try (ServerSocket relay = new ServerSocket(0, 4, InetAddress.getLoopbackAddress())) {
      ByteArrayOutputStream sent = new ByteArrayOutputStream();
      Thread t = new Thread(() -> {
        try (Socket from = relay.accept(); Socket to = new Socket(pair.receiver.address().getAddress(),
            pair.receiver.address().getPort())) {
          Thread back = pump(to.getInputStream(), from.getOutputStream(), null);
          pump(from.getInputStream(), to.getOutputStream(), sent).join(60_000);
          back.join(60_000);
        } catch (IOException | InterruptedException e) {
          // the migration ended
        }
      }, "test-fuzz-recorder");
      t.setDaemon(true);
      t.start();
      MigrationTarget target = new MigrationTarget(new InetSocketAddress(InetAddress.getLoopbackAddress(),
          relay.getLocalPort()), "");
      MigrationResult r = SourceMigration.start(pair.source.info(), vm, target, MigrationOptions.builder()
          .streams(1).verify(true).allowPostCopy(false).build()).completion().get(60, TimeUnit.SECONDS);
      assertThat(r.outcome()).as("the recorded migration: %s", r.cause()).isEqualTo(Outcome.COMPLETED);
      t.join(30_000);
      synchronized (sent) {
        return sent.toByteArray();
      }
    }
  }

  private static Thread pump(InputStream in, OutputStream out, ByteArrayOutputStream copy) {
    Thread t = new Thread(() -> {
      byte[] b = new byte[64 << 10];
      try {
        for (int n; (n = in.read(b)) >= 0; ) {
          out.write(b, 0, n);
          if (copy != null) {
            synchronized (copy) {
              copy.write(b, 0, n);
            }
          }
        }
      } catch (IOException closed) {
        // one side closed
      } finally {
        try {
          out.close();
        } catch (IOException ignored) {
          // already closed
        }
      }
    }, "test-fuzz-pump");
    t.setDaemon(true);
    t.start();
    return t;
  }

  /**
   * Sends {@code stream} to the receiver and reads its answers until it closes (at most 20 s); then
   * waits (at most 10 s) until it holds no session and no incoming VM.
   *
   * @return whether a guest now runs on the destination
   */
  private boolean replay(byte[] stream, String seed) throws Exception {
    try (Socket s = new Socket(pair.receiver.address().getAddress(), pair.receiver.address().getPort())) {
      s.setSoTimeout(20_000);
      Thread writer = new Thread(() -> {
        try {
          s.getOutputStream().write(stream);
          s.shutdownOutput();
        } catch (IOException refusedMidway) {
          // the receiver closed before it read everything: it refused the stream
        }
      }, "test-fuzz-writer");
      writer.setDaemon(true);
      writer.start();
      byte[] sink = new byte[64 << 10];
      try {
        while (s.getInputStream().read(sink) >= 0) {
          // the receiver's answers
        }
      } catch (java.net.SocketTimeoutException e) {
        throw new AssertionError(seed + ": the receiver neither closed nor ended the stream in 20 s", e);
      } catch (IOException reset) {
        // closed with our bytes unread: a close too
      }
      writer.join(20_000);
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while ((pair.receiver.activeMigrations() > 0 || !pair.dest.incomingVms().isEmpty())
        && System.nanoTime() < deadline) {
      Thread.sleep(2);
    }
    assertThat(pair.receiver.activeMigrations()).as("%s: sessions left open", seed).isZero();
    assertThat(pair.dest.incomingVms()).as("%s: incoming VMs left", seed).isEmpty();
    return !pair.dest.vms().isEmpty();
  }

  /** A guest ran: the stream must have been a whole session, and its memory the recorded one. */
  private void checkGuest(String seed, byte[] stream, long digest) {
    List<SimVm> running = pair.dest.vms();
    assertThat(running).as("%s: guests running", seed).hasSize(1);
    SimVm guest = running.get(0);
    try {
      assertThat(guest.state()).as(seed).isEqualTo(VmState.RUNNING);
      boolean hello = false;
      boolean switchover = false;
      boolean commit = false;
      for (byte[] f : frames(Arrays.copyOfRange(stream, WireFormat.PREAMBLE_LENGTH, stream.length), false)) {
        Message m = decodeOrNull(f);
        if (m instanceof Message.Hello) {
          hello = true;
        } else if (hello && m instanceof Message.Switchover) {
          switchover = true;
        } else if (switchover && m instanceof Message.Commit) {
          commit = true;
        }
      }
      assertThat(commit).as("%s: a guest ran from a stream without HELLO, SWITCHOVER and COMMIT", seed).isTrue();
      if (!seed.contains(Mutation.FLIP_BIT_VALID_CRC.name())) {
        // Frames moved, dropped, doubled or added, but none changed inside its checksum: whatever
        // guest runs must have exactly the recorded memory (every page arrived, none older).
        assertThat(guest.memoryDigest()).as("%s: a guest ran with other memory than the recorded session's", seed)
            .isEqualTo(digest);
      }
    } finally {
      guest.stop();
    }
  }

  private static Message decodeOrNull(byte[] frame) {
    FrameType type = FrameType.ofCode(frame[4] & 0xff);
    if (type == null || type == FrameType.PAGES || frame.length < WireFormat.FRAME_OVERHEAD) {
      return null;
    }
    try {
      return Messages.decode(type, ByteBuffer.wrap(frame, WireFormat.HEADER_LENGTH,
          frame.length - WireFormat.FRAME_OVERHEAD).slice());
    } catch (ProtocolException | RuntimeException e) {
      return null;
    }
  }

  /** The frames of a recorded source stream after its preamble, each whole (header, payload, CRC). */
  private static List<byte[]> frames(byte[] recorded) {
    return frames(Arrays.copyOfRange(recorded, WireFormat.PREAMBLE_LENGTH, recorded.length), true);
  }

  /** Splits bytes into frames by their length fields; the tail that is no whole frame is dropped. */
  private static List<byte[]> frames(byte[] bytes, boolean strict) {
    List<byte[]> out = new ArrayList<>();
    ByteBuffer b = ByteBuffer.wrap(bytes);
    while (b.remaining() >= WireFormat.FRAME_OVERHEAD) {
      long length = Integer.toUnsignedLong(b.getInt(b.position()));
      if (length > b.remaining() - WireFormat.FRAME_OVERHEAD) {
        break;
      }
      byte[] f = new byte[(int) length + WireFormat.FRAME_OVERHEAD];
      b.get(f);
      out.add(f);
    }
    if (strict) {
      assertThat(b.remaining()).as("the recording ends at a frame boundary").isZero();
    }
    return out;
  }

  enum Mutation { FLIP_BIT, FLIP_BIT_VALID_CRC, DROP, DUPLICATE, SWAP, MOVE, TRUNCATE, INSERT_RANDOM, RANDOM_TAIL }

  /**
   * One to three mutations of the frames after AUTH_RESPONSE (which stays, so that the session
   * behind it is what is fuzzed; {@link #flipAnywhere} sometimes breaks the opening too).
   */
  private static List<byte[]> mutate(List<byte[]> recorded, Random r, List<String> done) {
    List<byte[]> f = new ArrayList<>();
    for (byte[] b : recorded) {
      f.add(b.clone());
    }
    Mutation[] all = Mutation.values();
    int n = 1 + r.nextInt(3);
    for (int i = 0; i < n && f.size() > 1; i++) {
      int at = 1 + r.nextInt(f.size() - 1);
      Mutation m = all[r.nextInt(all.length)];
      done.add(m + "@" + at + ":" + FrameType.ofCode(f.get(at)[4] & 0xff));
      switch (m) {
        case FLIP_BIT -> flip(f.get(at), r, false);
        case FLIP_BIT_VALID_CRC -> flip(f.get(at), r, true);
        case DROP -> f.remove(at);
        case DUPLICATE -> f.add(at, f.get(at).clone());
        case SWAP -> {
          int other = 1 + r.nextInt(f.size() - 1);
          byte[] t = f.get(at);
          f.set(at, f.get(other));
          f.set(other, t);
        }
        case MOVE -> f.add(1 + r.nextInt(f.size() - 1), f.remove(at));
        case TRUNCATE -> {
          byte[] cut = Arrays.copyOf(f.get(at), r.nextInt(f.get(at).length));
          f.subList(at, f.size()).clear();
          f.add(cut);
        }
        case INSERT_RANDOM -> f.add(at, randomFrame(r));
        case RANDOM_TAIL -> {
          byte[] tail = new byte[r.nextInt(4096)];
          r.nextBytes(tail);
          f.subList(at, f.size()).clear();
          f.add(tail);
        }
      }
    }
    return f;
  }

  /** Flips one bit of a frame's payload (or header); with {@code fixCrc}, recomputes the CRC after. */
  private static void flip(byte[] frame, Random r, boolean fixCrc) {
    int end = frame.length - WireFormat.TRAILER_LENGTH;
    int at = fixCrc && end > WireFormat.HEADER_LENGTH
        ? WireFormat.HEADER_LENGTH + r.nextInt(end - WireFormat.HEADER_LENGTH) : r.nextInt(frame.length);
    frame[at] ^= (byte) (1 << r.nextInt(8));
    if (fixCrc) {
      sealCrc(frame);
    }
  }

  private static byte[] flipAnywhere(byte[] stream, Random r, List<String> done) {
    byte[] b = stream.clone();
    int at = r.nextInt(b.length);
    done.add("FLIP_ANYWHERE@byte " + at);
    b[at] ^= (byte) (1 << r.nextInt(8));
    return b;
  }

  /** A frame of a random known type with a random payload of up to 64 bytes and a valid CRC. */
  private static byte[] randomFrame(Random r) {
    FrameType[] types = FrameType.values();
    int length = r.nextInt(65);
    byte[] f = new byte[length + WireFormat.FRAME_OVERHEAD];
    ByteBuffer.wrap(f).putInt(length).put((byte) types[r.nextInt(types.length)].code());
    byte[] payload = new byte[length];
    r.nextBytes(payload);
    System.arraycopy(payload, 0, f, WireFormat.HEADER_LENGTH, length);
    sealCrc(f);
    return f;
  }

  private static void sealCrc(byte[] frame) {
    int end = frame.length - WireFormat.TRAILER_LENGTH;
    CRC32C crc = new CRC32C();
    crc.update(frame, 0, end);
    ByteBuffer.wrap(frame).putInt(end, (int) crc.getValue());
  }

  private static byte[] concat(byte[] head, List<byte[]> frames) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(head);
    for (byte[] f : frames) {
      out.writeBytes(f);
    }
    return out.toByteArray();
  }
}
