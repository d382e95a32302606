package dev.ferry.wire;

import static dev.ferry.wire.WireTestSupport.bytesOf;
import static dev.ferry.wire.WireTestSupport.in;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.zip.CRC32C;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

/**
 * Feeds hostile bytes — random, and mutations of valid sessions — to every entry point that reads
 * from the peer. The only acceptable outcomes are a normal return or a {@link WireException}; any
 * other exception fails the property (jqwik reports it). The reader's buffer must stay within its
 * limit.
 */
class HostileInputTest {
  private static final int PAGE = 512;
  private static final int PAGES = 16;
  private static final int LIMIT = 8 * 1024;

  /** Reads a whole session as a destination would: preamble, then frames, each decoded by type. */
  static void receive(byte[] stream, boolean preamble) {
    HeapGuestMemory memory = new HeapGuestMemory(PAGE, PAGES);
    PageBatchDecoder pages = new PageBatchDecoder(PAGE);
    DeviceStateAssembler state = new DeviceStateAssembler(4 * 1024);
    FrameReader reader = new FrameReader(in(stream), LIMIT);
    try {
      if (preamble) {
        Preamble.read(in(Arrays.copyOf(stream, Math.min(stream.length, WireFormat.PREAMBLE_LENGTH))));
        reader = new FrameReader(in(Arrays.copyOfRange(stream, Math.min(stream.length, 16), stream.length)), LIMIT);
      }
      // Each frame consumes at least 12 bytes, so this ends.
      for (int i = 0; i <= stream.length / WireFormat.FRAME_OVERHEAD; i++) {
        Frame f = reader.next();
        if (f.type() == FrameType.PAGES) {
          // A copy whose capacity is its limit: a read past the payload would throw, not read stale bytes.
          pages.apply(tight(f.payload()), memory);
        } else {
          Message m = Messages.decode(f);
          if (m instanceof Message.DeviceStateChunk) {
            state.accept((Message.DeviceStateChunk) m);
          }
        }
      }
    } catch (WireException expected) {
      // the only acceptable failure
    } catch (java.io.IOException e) {
      throw new AssertionError("an in-memory channel cannot fail with " + e, e);
    }
    assertThat(reader.bufferCapacity()).isLessThanOrEqualTo(LIMIT + WireFormat.TRAILER_LENGTH);
  }

  private static ByteBuffer tight(ByteBuffer payload) {
    ByteBuffer copy = ByteBuffer.allocateDirect(payload.remaining());
    copy.put(payload.duplicate()).flip();
    return copy;
  }

  /** A valid source-side session: preamble, HELLO, pages of every encoding, device state, control. */
  static byte[] validSession(long seed) throws Exception {
    Random r = new Random(seed);
    HeapGuestMemory src = new HeapGuestMemory(PAGE, PAGES);
    PageBatchCodecTest.Kind[] kinds = PageBatchCodecTest.Kind.values();
    for (int p = 0; p < PAGES; p++) {
      src.set(p, PageBatchCodecTest.content(kinds[r.nextInt(kinds.length)], PAGE, r.nextLong()));
    }
    byte[] frames = bytesOf(w -> {
      w.write(WireTestSupport.hello());
      PageBatchEncoder enc = new PageBatchEncoder(PAGE, 1 + r.nextInt(6), WireCompression.LZ4);
      for (int p = 0; p < PAGES; p++) {
        if (!enc.add(p, src)) {
          enc.flush(w);
          enc.add(p, src);
        }
      }
      enc.flush(w);
      w.write(new Message.RoundEnd(0));
      byte[] device = new byte[r.nextInt(3000)];
      r.nextBytes(device);
      w.writeDeviceState(ByteBuffer.wrap(device));
      for (Message m : WireTestSupport.everyMessage()) {
        w.write(m);
      }
    });
    return WireTestSupport.concat(WireTestSupport.preamble(), frames);
  }

  @Property(tries = 300)
  void receive_randomBytes_throwsOnlyWireException(@ForAll @Size(max = 2000) byte[] stream) {
    receive(stream, false);
    receive(stream, true);
  }

  @Property(tries = 300)
  void receive_randomBytesAfterValidPreamble_throwsOnlyWireException(@ForAll @Size(max = 2000) byte[] tail)
      throws Exception {
    receive(WireTestSupport.concat(WireTestSupport.preamble(), tail), true);
  }

  @Property(tries = 300)
  void receive_validSession_succeedsWithoutError(@ForAll long seed) throws Exception {
    byte[] s = validSession(seed);
    FrameReader r = new FrameReader(in(Arrays.copyOfRange(s, 16, s.length)), LIMIT);
    HeapGuestMemory memory = new HeapGuestMemory(PAGE, PAGES);
    PageBatchDecoder dec = new PageBatchDecoder(PAGE);
    int frames = 0;
    while (r.bytesRead() < s.length - 16) {
      Frame f = r.next();
      if (f.type() == FrameType.PAGES) {
        dec.apply(f.payload(), memory);
      } else {
        Messages.decode(f);
      }
      frames++;
    }
    assertThat(dec.pages()).isEqualTo(PAGES);
    assertThat(frames).isGreaterThan(WireTestSupport.everyMessage().length);
  }

  enum Mutation { FLIP_BIT, SET_BYTE, TRUNCATE, DELETE_RANGE, DUPLICATE_RANGE, INSERT_RANDOM }

  /** Applies {@code n} mutations to a copy of {@code s}. */
  static byte[] mutate(byte[] s, Random r, int n) {
    byte[] b = s.clone();
    Mutation[] all = Mutation.values();
    for (int i = 0; i < n && b.length > 0; i++) {
      int at = r.nextInt(b.length);
      int len = 1 + r.nextInt(Math.min(64, b.length - at));
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      switch (all[r.nextInt(all.length)]) {
        case FLIP_BIT:
          b[at] ^= (byte) (1 << r.nextInt(8));
          continue;
        case SET_BYTE:
          b[at] = (byte) (r.nextBoolean() ? 0xff : r.nextInt(256));
          continue;
        case TRUNCATE:
          b = Arrays.copyOf(b, at);
          continue;
        case DELETE_RANGE:
          out.write(b, 0, at);
          out.write(b, at + len, b.length - at - len);
          break;
        case DUPLICATE_RANGE:
          out.write(b, 0, at + len);
          out.write(b, at, b.length - at);
          break;
        case INSERT_RANDOM:
          byte[] junk = new byte[len];
          r.nextBytes(junk);
          out.write(b, 0, at);
          out.writeBytes(junk);
          out.write(b, at, b.length - at);
          break;
        default:
          throw new AssertionError();
      }
      b = out.toByteArray();
    }
    return b;
  }

  @Property(tries = 500)
  void receive_mutatedValidSession_throwsOnlyWireException(
      @ForAll long seed, @ForAll @IntRange(min = 1, max = 8) int mutations) throws Exception {
    Random r = new Random(seed);
    receive(mutate(validSession(seed), r, mutations), true);
  }

  /** Re-frames a payload with a correct CRC, so the mutation reaches the decoders. */
  static byte[] frame(int type, byte[] payload) {
    ByteBuffer b = ByteBuffer.allocate(payload.length + WireFormat.FRAME_OVERHEAD);
    b.putInt(payload.length).put((byte) type).put((byte) 0).putShort((short) 0).put(payload);
    CRC32C crc = new CRC32C();
    crc.update(b.array(), 0, b.position());
    return b.putInt((int) crc.getValue()).array();
  }

  @Provide
  Arbitrary<FrameType> types() {
    return Arbitraries.of(FrameType.class);
  }

  @Property(tries = 1000)
  void decode_randomPayloadWithValidCrc_throwsOnlyWireException(
      @ForAll("types") FrameType type, @ForAll @Size(max = 1200) byte[] payload) {
    receive(frame(type.code(), payload), false);
  }

  @Property(tries = 1000)
  void decode_mutatedValidPayloadWithValidCrc_throwsOnlyWireException(
      @ForAll long seed, @ForAll @IntRange(min = 1, max = 4) int mutations) throws Exception {
    Random r = new Random(seed);
    byte[] session = validSession(seed);
    // Pick one frame of the valid session, mutate its payload, and frame it again.
    FrameReader reader = new FrameReader(in(Arrays.copyOfRange(session, 16, session.length)), LIMIT);
    List<byte[]> payloads = new java.util.ArrayList<>();
    List<FrameType> types = new java.util.ArrayList<>();
    while (reader.bytesRead() < session.length - 16) {
      Frame f = reader.next();
      byte[] p = new byte[f.length()];
      f.payload().get(p);
      payloads.add(p);
      types.add(f.type());
    }
    int i = r.nextInt(payloads.size());
    receive(frame(types.get(i).code(), mutate(payloads.get(i), r, mutations)), false);
  }

  @Property(tries = 1000)
  void apply_pagesWithPlausibleEntries_throwsOnlyWireException(
      @ForAll @IntRange(min = 0, max = 6) int count, @ForAll long seed) {
    // Entries that look right (small indexes, known encodings, small lengths), so the decoder's
    // later checks and the LZ4 decompressor get hostile data, not just a bad count.
    Random r = new Random(seed);
    ByteBuffer b = ByteBuffer.allocate(4 + count * (9 + 4 + PAGE + 8));
    b.putInt(count);
    for (int i = 0; i < count; i++) {
      int kind = r.nextInt(4);
      int encoding = r.nextInt(8) == 0 ? r.nextInt(256)
          : kind == 0 ? WireFormat.PAGE_RAW : kind == 1 ? WireFormat.PAGE_LZ4 : WireFormat.PAGE_ZERO;
      b.putLong(r.nextInt(20) == 0 ? r.nextLong() : r.nextInt(PAGES)).put((byte) encoding);
      if (kind == 0) {
        byte[] raw = new byte[r.nextInt(PAGE + 4)];
        r.nextBytes(raw);
        b.put(raw);
      } else if (kind == 1) {
        int clen = r.nextBoolean() ? r.nextInt(PAGE + 2) : r.nextInt(40);
        byte[] block = new byte[Math.max(0, clen - r.nextInt(3) + 1)];
        r.nextBytes(block);
        if (block.length > 0 && r.nextBoolean()) {
          block[0] = (byte) 0xf0; // a literal run that claims more than it has
        }
        b.putInt(clen).put(block);
      }
    }
    b.flip();
    try {
      new PageBatchDecoder(PAGE).apply(tight(b), new HeapGuestMemory(PAGE, PAGES));
    } catch (ProtocolException expected) {
      // fine
    }
  }
}
