package dev.ferry.wire;

import static dev.ferry.wire.WireTestSupport.bytesOf;
import static dev.ferry.wire.WireTestSupport.in;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.zip.CRC32C;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

class FrameReaderTest {

  /** A frame as raw bytes, with a correct CRC unless the caller breaks it. */
  static byte[] rawFrame(int type, int flags, int reserved, byte[] payload) {
    ByteBuffer b = ByteBuffer.allocate(payload.length + WireFormat.FRAME_OVERHEAD);
    b.putInt(payload.length).put((byte) type).put((byte) flags).putShort((short) reserved).put(payload);
    CRC32C crc = new CRC32C();
    crc.update(b.array(), 0, b.position());
    b.putInt((int) crc.getValue());
    return b.array();
  }

  record TypedPayload(FrameType type, byte[] payload) {}

  @Provide
  Arbitrary<List<TypedPayload>> frames() {
    return Combinators.combine(Arbitraries.of(FrameType.class),
            Arbitraries.bytes().array(byte[].class).ofMaxSize(3000))
        .as(TypedPayload::new).list().ofMaxSize(12);
  }

  @Property(tries = 300)
  void next_randomFrames_roundTripInOrderThenEndOfStream(@ForAll("frames") List<TypedPayload> frames)
      throws Exception {
    byte[] bytes = bytesOf(w -> {
      for (TypedPayload f : frames) {
        w.write(f.type(), ByteBuffer.wrap(f.payload()));
      }
    });
    FrameReader r = new FrameReader(in(bytes), 4096);
    for (TypedPayload f : frames) {
      Frame got = r.next();
      assertThat(got.type()).isEqualTo(f.type());
      assertThat(got.payload().isReadOnly()).isTrue();
      byte[] p = new byte[got.payload().remaining()];
      got.payload().get(p);
      assertThat(p).isEqualTo(f.payload());
    }
    assertThatThrownBy(r::next).isInstanceOf(EndOfStreamException.class);
    assertThat(r.bytesRead()).isEqualTo(bytes.length);
    assertThat(r.framesRead()).isEqualTo(frames.size());
    assertThat(r.bufferCapacity()).isLessThanOrEqualTo(4096 + WireFormat.TRAILER_LENGTH);
  }

  @Property(tries = 500)
  void next_anyOneBitFlipped_isDetected(
      @ForAll @Size(max = 600) byte[] payload, @ForAll @IntRange(min = 0, max = 100_000) int where) throws Exception {
    byte[] frame = bytesOf(w -> w.write(FrameType.ROUND_END, ByteBuffer.wrap(payload)));
    int bit = where % (frame.length * 8);
    frame[bit / 8] ^= (byte) (1 << (bit % 8));
    FrameReader r = new FrameReader(in(frame), 1024);
    var thrown = assertThatThrownBy(r::next).isInstanceOf(WireException.class);
    if (bit / 8 >= 4) {
      // Outside the length field the frame keeps its framing, so only the checksum (or the header
      // checks) can notice: a flipped type or flag byte may still be caught by the CRC.
      thrown.isInstanceOfAny(ChecksumException.class, ProtocolException.class);
    }
    if (bit / 8 >= WireFormat.HEADER_LENGTH) {
      thrown.isInstanceOf(ChecksumException.class).hasMessageContaining("CRC32C mismatch in ROUND_END");
    }
  }

  @Test
  void next_emptyPayload_roundTrips() throws Exception {
    byte[] bytes = bytesOf(w -> w.write(new Message.Commit()));
    assertThat(bytes).hasSize(WireFormat.FRAME_OVERHEAD);
    Frame f = new FrameReader(in(bytes)).next();
    assertThat(f.type()).isEqualTo(FrameType.COMMIT);
    assertThat(f.length()).isZero();
  }

  @Test
  void next_headerClaiming2GiB_isRefusedBeforeAllocating() {
    byte[] header = ByteBuffer.allocate(8).putInt(0x8000_0000).put((byte) FrameType.PAGES.code()).array();
    FrameReader r = new FrameReader(in(header), WireFormat.HANDSHAKE_MAX_PAYLOAD);
    assertThatThrownBy(r::next)
        .isInstanceOf(FrameTooLargeException.class)
        .hasMessage("frame too large: PAGES payload of 2147483648 bytes exceeds the limit of 65536 bytes")
        .satisfies(e -> assertThat(((FrameTooLargeException) e).payloadLength()).isEqualTo(1L << 31));
    assertThat(r.bufferCapacity()).isZero();
  }

  @Test
  void next_headerClaiming4GiBMinusOne_isRefusedAtDefaultLimit() {
    byte[] header = ByteBuffer.allocate(8).putInt(-1).put((byte) FrameType.PAGES.code()).array();
    FrameReader r = new FrameReader(in(header));
    assertThatThrownBy(r::next).isInstanceOf(FrameTooLargeException.class).hasMessageContaining("4294967295");
    assertThat(r.bufferCapacity()).isZero();
  }

  @Test
  void next_payloadAtLimit_isAccepted_andOneMore_isRefused() throws Exception {
    byte[] ok = rawFrame(FrameType.CANCEL.code(), 0, 0, new byte[100]);
    assertThat(new FrameReader(in(ok), 100).next().length()).isEqualTo(100);
    byte[] tooBig = rawFrame(FrameType.CANCEL.code(), 0, 0, new byte[101]);
    assertThatThrownBy(() -> new FrameReader(in(tooBig), 100).next()).isInstanceOf(FrameTooLargeException.class);
  }

  @Test
  void next_cleanEofAfterFrames_throwsEndOfStream() throws Exception {
    FrameReader r = new FrameReader(in(rawFrame(FrameType.PING.code(), 0, 0, new byte[8])));
    r.next();
    assertThatThrownBy(r::next).isInstanceOf(EndOfStreamException.class)
        .hasMessageContaining("at a frame boundary");
  }

  @Test
  void next_eofInHeader_failsMidFrame() {
    byte[] frame = Arrays.copyOf(rawFrame(FrameType.PING.code(), 0, 0, new byte[8]), 5);
    assertThatThrownBy(() -> new FrameReader(in(frame)).next())
        .isExactlyInstanceOf(ProtocolException.class).hasMessageStartingWith("connection closed mid-frame");
  }

  @Test
  void next_eofInPayloadOrTrailer_failsMidFrame() {
    byte[] full = rawFrame(FrameType.PING.code(), 0, 0, new byte[8]);
    for (int len = WireFormat.HEADER_LENGTH; len < full.length; len++) {
      byte[] cut = Arrays.copyOf(full, len);
      assertThatThrownBy(() -> new FrameReader(in(cut)).next())
          .isExactlyInstanceOf(ProtocolException.class).hasMessageStartingWith("connection closed mid-frame");
    }
  }

  @Test
  void next_unknownType_fails() {
    assertThatThrownBy(() -> new FrameReader(in(rawFrame(200, 0, 0, new byte[0]))).next())
        .isInstanceOf(ProtocolException.class).hasMessageContaining("unknown frame type 200");
    assertThatThrownBy(() -> new FrameReader(in(rawFrame(0, 0, 0, new byte[0]))).next())
        .isInstanceOf(ProtocolException.class).hasMessageContaining("unknown frame type 0");
  }

  @Test
  void next_nonZeroFlagsOrReserved_fails() {
    assertThatThrownBy(() -> new FrameReader(in(rawFrame(FrameType.COMMIT.code(), 1, 0, new byte[0]))).next())
        .isInstanceOf(ProtocolException.class).hasMessageContaining("unknown flags");
    assertThatThrownBy(() -> new FrameReader(in(rawFrame(FrameType.COMMIT.code(), 0, 9, new byte[0]))).next())
        .isInstanceOf(ProtocolException.class).hasMessageContaining("reserved");
  }

  @Test
  void next_bufferGrowsWithFramesButNeverPastLimit() throws Exception {
    byte[] bytes = WireTestSupport.concat(
        rawFrame(FrameType.CANCEL.code(), 0, 0, new byte[10]),
        rawFrame(FrameType.CANCEL.code(), 0, 0, new byte[70_000]),
        rawFrame(FrameType.CANCEL.code(), 0, 0, new byte[100_000]));
    FrameReader r = new FrameReader(in(bytes), 100_000);
    r.next();
    assertThat(r.bufferCapacity()).isEqualTo(64 * 1024);
    r.next();
    assertThat(r.bufferCapacity()).isEqualTo(100_004);
    r.next();
    assertThat(r.bufferCapacity()).isEqualTo(100_004);
  }

  @Test
  void maxPayload_raisedAfterHandshake_acceptsLargerFrames() throws Exception {
    byte[] big = rawFrame(FrameType.CANCEL.code(), 0, 0, new byte[70_000]);
    FrameReader r = new FrameReader(in(WireTestSupport.concat(big, big)), WireFormat.HANDSHAKE_MAX_PAYLOAD);
    assertThatThrownBy(r::next).isInstanceOf(FrameTooLargeException.class);
    FrameReader r2 = new FrameReader(in(big), WireFormat.HANDSHAKE_MAX_PAYLOAD);
    r2.maxPayload(WireFormat.DEFAULT_MAX_PAYLOAD);
    assertThat(r2.next().length()).isEqualTo(70_000);
  }

  @Test
  void constructor_nonBlockingChannel_isRefused() throws Exception {
    java.nio.channels.Pipe pipe = java.nio.channels.Pipe.open();
    try (var source = pipe.source(); var sink = pipe.sink()) {
      source.configureBlocking(false);
      assertThatThrownBy(() -> new FrameReader(source)).isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("blocking");
    }
  }
}
