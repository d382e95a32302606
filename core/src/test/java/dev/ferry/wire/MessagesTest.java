package dev.ferry.wire;

import static dev.ferry.wire.WireTestSupport.bytesOf;
import static dev.ferry.wire.WireTestSupport.in;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import org.junit.jupiter.api.Test;

class MessagesTest {

  private static Message roundTrip(Message m) throws Exception {
    byte[] bytes = bytesOf(w -> w.write(m));
    FrameReader r = new FrameReader(in(bytes));
    Frame f = r.next();
    assertThat(f.type()).isEqualTo(m.type());
    Message back = Messages.decode(f);
    assertThatThrownBy(r::next).isInstanceOf(EndOfStreamException.class);
    return back;
  }

  @Test
  void decode_everyMessageType_roundTripsEqual() throws Exception {
    Message[] all = WireTestSupport.everyMessage();
    Set<FrameType> covered = EnumSet.noneOf(FrameType.class);
    for (Message m : all) {
      assertThat(roundTrip(m)).as(m.type().name()).isEqualTo(m);
      covered.add(m.type());
    }
    assertThat(EnumSet.complementOf(EnumSet.copyOf(covered))).containsExactly(FrameType.PAGES);
  }

  @Test
  void decode_pingAndPong_echoValue() throws Exception {
    Message.Ping ping = new Message.Ping(System.nanoTime());
    assertThat(roundTrip(ping.pong())).isEqualTo(new Message.Pong(ping.nanos()));
  }

  @Test
  void encode_hello_matchesSpecLayout() {
    ByteBuffer b = Messages.encode(WireTestSupport.hello());
    assertThat(b.getLong(0)).isEqualTo(1L); // session id, most significant bits
    assertThat(b.getLong(8)).isEqualTo(2L);
    assertThat(b.getShort(16)).isEqualTo((short) 2); // stream count
    assertThat(b.getShort(18)).isEqualTo((short) 11); // vm.id length: no token field since 2.0
    // the last thirteen bytes: u32 flags (VERIFY | QUICK | bit 3, resident bytes follow), u8 compression
    // (LZ4), u64 resident bytes (the whole VM: the default)
    assertThat(b.getInt(b.limit() - 13)).isEqualTo(0b1101);
    assertThat(b.get(b.limit() - 9)).isEqualTo((byte) 1);
    assertThat(b.getLong(b.limit() - 8)).isEqualTo(WireTestSupport.hello().vm().memory().bytes());
  }

  @Provide
  Arbitrary<Message> messages() {
    return WireTestSupport.messages();
  }

  @Property(tries = 500)
  void decode_randomMessage_roundTripsEqual(@ForAll("messages") Message m) throws Exception {
    assertThat(roundTrip(m)).isEqualTo(m);
  }

  @Property(tries = 200)
  void decode_randomMessageWithTrailingByte_fails(@ForAll("messages") Message m) {
    if (m instanceof Message.DeviceStateChunk) {
      return; // the chunk's data runs to the end of the payload: one more byte is more data
    }
    ByteBuffer p = Messages.encode(m);
    ByteBuffer longer = ByteBuffer.allocate(p.remaining() + 1).put(p).put((byte) 0).flip();
    assertThatThrownBy(() -> Messages.decode(m.type(), longer)).isInstanceOf(WireException.class);
  }

  @Property(tries = 200)
  void decode_randomMessageCutShort_failsProtocolNotUnderflow(@ForAll("messages") Message m) {
    ByteBuffer p = Messages.encode(m);
    if (p.remaining() == 0) {
      return;
    }
    ByteBuffer shorter = p.duplicate().limit(p.remaining() - 1);
    if (m instanceof Message.DeviceStateChunk && p.remaining() > 8) {
      return; // a shorter chunk is still a valid chunk
    }
    assertThatThrownBy(() -> Messages.decode(m.type(), shorter)).isInstanceOf(ProtocolException.class);
  }

  @Test
  void authResponseAndAuthOk_toString_maskTheProof() {
    Digest proof = WireTestSupport.digest(9);
    assertThat(new Message.AuthResponse(WireTestSupport.digest(8), proof).toString())
        .doesNotContain(proof.toString()).contains("proof=***");
    assertThat(new Message.AuthOk(proof).toString()).doesNotContain(proof.toString()).contains("proof=***");
  }

  @Test
  void authChallenge_unknownFlags_areRefused() {
    byte[] payload = new byte[1 + WireFormat.DIGEST_LENGTH];
    payload[0] = 2;
    assertThatThrownBy(() -> Messages.decode(FrameType.AUTH_CHALLENGE, ByteBuffer.wrap(payload)))
        .isInstanceOf(ProtocolException.class).hasMessageContaining("unknown flags 0x2");
  }

  @Test
  void errorMessage_longerThanLimit_isTruncatedAtCodePoint() throws Exception {
    String longText = "é".repeat(5000);
    Message.ErrorMessage e = new Message.ErrorMessage(ErrorCode.INTERNAL, longText);
    assertThat(e.message().getBytes(java.nio.charset.StandardCharsets.UTF_8).length)
        .isLessThanOrEqualTo(WireFormat.MAX_STRING_BYTES);
    assertThat(e.message()).endsWith("...").startsWith("éé");
    assertThat(roundTrip(e)).isEqualTo(e);
  }

  @Test
  void encode_stringOverLimit_isRefused() {
    Message.Accept a = new Message.Accept("x".repeat(4097), "h");
    assertThatThrownBy(() -> Messages.encode(a)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("4097");
  }

  @Test
  void decode_invalidUtf8_fails() {
    ByteBuffer p = ByteBuffer.allocate(3).putShort((short) 1).put((byte) 0xff).flip();
    assertThatThrownBy(() -> Messages.decode(FrameType.CANCEL, p))
        .isInstanceOf(ProtocolException.class).hasMessageContaining("not valid UTF-8");
  }

  @Test
  void decode_stringLengthOverLimit_fails() {
    ByteBuffer p = ByteBuffer.allocate(2 + 5000).putShort((short) 5000).position(0);
    assertThatThrownBy(() -> Messages.decode(FrameType.CANCEL, p))
        .isInstanceOf(ProtocolException.class).hasMessageContaining("more than 4096");
  }

  @Test
  void decode_helloOfVersion10WithoutResidentBytes_claimsTheWholeVm() throws Exception {
    ByteBuffer p = Messages.encode(WireTestSupport.hello());
    ByteBuffer old = ByteBuffer.allocate(p.remaining() - 8).put(p.duplicate().limit(p.limit() - 8)).flip();
    old.putInt(old.limit() - 5, 0b101);
    Message.Hello h = (Message.Hello) Messages.decode(FrameType.HELLO, old);
    assertThat(h.residentBytes()).isEqualTo(h.vm().memory().bytes());
  }

  @Test
  void decode_helloClaimingMoreResidentBytesThanTheVm_fails() {
    ByteBuffer p = Messages.encode(WireTestSupport.hello());
    p.putLong(p.limit() - 8, WireTestSupport.hello().vm().memory().bytes() + 1);
    assertThatThrownBy(() -> Messages.decode(FrameType.HELLO, p))
        .isInstanceOf(ProtocolException.class).hasMessageContaining("resident bytes");
  }

  @Test
  void decode_statusWithUnknownState_fails() {
    ByteBuffer p = Messages.encode(new Message.Status(java.util.UUID.randomUUID(), Message.Status.State.PENDING, ""));
    p.put(16, (byte) 9);
    assertThatThrownBy(() -> Messages.decode(FrameType.STATUS, p))
        .isInstanceOf(ProtocolException.class).hasMessageContaining("unknown state 9");
  }

  @Test
  void decode_helloWithUnknownFlag_failsIncompatible() {
    ByteBuffer p = Messages.encode(WireTestSupport.hello());
    p.putInt(p.limit() - 13, (1 << 9) | 0b1000);
    assertThatThrownBy(() -> Messages.decode(FrameType.HELLO, p))
        .isInstanceOf(ProtocolException.class).hasMessageContaining("unknown flags 0x200")
        .extracting(e -> ((WireException) e).errorCode()).isEqualTo(ErrorCode.INCOMPATIBLE);
  }

  @Test
  void decode_helloWithInvalidVm_failsNamingTheValue() {
    ByteBuffer p = Messages.encode(WireTestSupport.hello());
    // vm.pageSize follows: 16 uuid + 2 streams + 2+11 id + 2+5 name + 8 memory
    int pageSizeAt = 16 + 2 + 13 + 7 + 8;
    assertThat(p.getInt(pageSizeAt)).isEqualTo(4096);
    p.putInt(pageSizeAt, 3000);
    assertThatThrownBy(() -> Messages.decode(FrameType.HELLO, p))
        .isInstanceOf(ProtocolException.class).hasMessageContaining("HELLO carries an invalid value")
        .hasMessageContaining("power of two");
    p.putInt(pageSizeAt, 1 << 30);
    assertThatThrownBy(() -> Messages.decode(FrameType.HELLO, p))
        .isInstanceOf(ProtocolException.class).hasMessageContaining("exceeds the protocol's maximum");
  }

  @Test
  void decode_unknownErrorCodeOrBadDigestFlag_fails() {
    ByteBuffer err = ByteBuffer.allocate(4).putShort((short) 77).putShort((short) 0).flip();
    assertThatThrownBy(() -> Messages.decode(FrameType.ERROR, err))
        .isInstanceOf(ProtocolException.class).hasMessageContaining("unknown error code 77");
    ByteBuffer ready = Messages.encode(new Message.Ready(1, java.util.Optional.empty()));
    ready.put(8, (byte) 2);
    assertThatThrownBy(() -> Messages.decode(FrameType.READY, ready))
        .isInstanceOf(ProtocolException.class).hasMessageContaining("hasDigest");
    ByteBuffer ready2 = Messages.encode(new Message.Ready(1, java.util.Optional.empty()));
    ready2.put(20, (byte) 1);
    assertThatThrownBy(() -> Messages.decode(FrameType.READY, ready2))
        .isInstanceOf(ProtocolException.class).hasMessageContaining("must be zero");
  }

  @Test
  void decode_u32Above2pow31_failsOutOfRange() {
    ByteBuffer p = ByteBuffer.allocate(4).putInt(0x8000_0000).flip();
    assertThatThrownBy(() -> Messages.decode(FrameType.ROUND_END, p))
        .isInstanceOf(ProtocolException.class).hasMessageContaining("round out of range: 2147483648");
  }

  @Test
  void decode_pages_isRefusedAsNotAControlMessage() {
    assertThatThrownBy(() -> Messages.decode(FrameType.PAGES, ByteBuffer.allocate(4)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("PageBatchDecoder");
  }

  @Test
  void expect_matchingType_returnsMessage() throws Exception {
    byte[] b = bytesOf(w -> w.write(new Message.Accept("h", "n")));
    assertThat(Messages.expect(new FrameReader(in(b)).next(), Message.Accept.class))
        .isEqualTo(new Message.Accept("h", "n"));
  }

  @Test
  void expect_errorFrame_throwsRemoteErrorWithPeersCode() throws Exception {
    byte[] b = bytesOf(w -> w.write(new Message.ErrorMessage(ErrorCode.BUSY, "two migrations running")));
    Frame f = new FrameReader(in(b)).next();
    assertThatThrownBy(() -> Messages.expect(f, Message.Accept.class))
        .isInstanceOf(RemoteErrorException.class)
        .hasMessage("peer reported BUSY: two migrations running")
        .extracting(e -> ((WireException) e).errorCode()).isEqualTo(ErrorCode.BUSY);
  }

  @Test
  void expect_otherType_failsNamingBoth() throws Exception {
    byte[] b = bytesOf(w -> w.write(new Message.Commit()));
    Frame f = new FrameReader(in(b)).next();
    assertThatThrownBy(() -> Messages.expect(f, Message.RoundAck.class))
        .isInstanceOf(ProtocolException.class).hasMessage("unexpected COMMIT frame, expected ROUND_ACK");
  }

  @Test
  void writeDeviceState_largeState_assemblesInOneMiBChunks() throws Exception {
    byte[] state = new byte[2 * WireFormat.MAX_DEVICE_STATE_CHUNK + 12345];
    new java.util.Random(3).nextBytes(state);
    int[] frames = new int[1];
    byte[] bytes = bytesOf(w -> frames[0] = w.writeDeviceState(ByteBuffer.wrap(state)));
    assertThat(frames[0]).isEqualTo(3);
    FrameReader r = new FrameReader(in(bytes));
    DeviceStateAssembler a = new DeviceStateAssembler();
    List<Boolean> done = new java.util.ArrayList<>();
    for (int i = 0; i < 3; i++) {
      done.add(a.accept(Messages.expect(r.next(), Message.DeviceStateChunk.class)));
    }
    assertThat(done).containsExactly(false, false, true);
    byte[] back = new byte[state.length];
    a.result().get(back);
    assertThat(back).isEqualTo(state);
  }

  @Test
  void writeDeviceState_emptyState_isOneEmptyChunk() throws Exception {
    byte[] bytes = bytesOf(w -> assertThat(w.writeDeviceState(ByteBuffer.allocate(0))).isEqualTo(1));
    DeviceStateAssembler a = new DeviceStateAssembler();
    assertThat(a.accept(Messages.expect(new FrameReader(in(bytes)).next(), Message.DeviceStateChunk.class)))
        .isTrue();
    assertThat(a.result().remaining()).isZero();
  }

  @Test
  void deviceStateAssembler_overLimitOutOfOrderOrInconsistent_fails() throws Exception {
    ByteBuffer four = ByteBuffer.wrap(new byte[4]);
    assertThatThrownBy(() -> new DeviceStateAssembler(100).accept(new Message.DeviceStateChunk(101, 0, four)))
        .isInstanceOf(ProtocolException.class).hasMessageContaining("exceeds the limit");
    assertThatThrownBy(() -> new DeviceStateAssembler(100).accept(new Message.DeviceStateChunk(10, 4, four)))
        .isInstanceOf(ProtocolException.class).hasMessageContaining("expected 0");
    DeviceStateAssembler a = new DeviceStateAssembler(100);
    a.accept(new Message.DeviceStateChunk(10, 0, four));
    assertThatThrownBy(() -> a.accept(new Message.DeviceStateChunk(12, 4, four)))
        .isInstanceOf(ProtocolException.class).hasMessageContaining("announces 12");
    assertThatThrownBy(a::result).isInstanceOf(IllegalStateException.class);
    DeviceStateAssembler b = new DeviceStateAssembler(100);
    b.accept(new Message.DeviceStateChunk(4, 0, four));
    assertThatThrownBy(() -> b.accept(new Message.DeviceStateChunk(4, 0, four)))
        .isInstanceOf(ProtocolException.class).hasMessageContaining("after the state was complete");
    assertThat(Arrays.equals(new byte[4], toArray(b.result()))).isTrue();
  }

  private static byte[] toArray(ByteBuffer b) {
    byte[] a = new byte[b.remaining()];
    b.duplicate().get(a);
    return a;
  }
}
