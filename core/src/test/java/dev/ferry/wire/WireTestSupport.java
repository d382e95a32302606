package dev.ferry.wire;

import dev.ferry.spi.CpuInfo;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmId;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.time.Duration;
import java.time.Instant;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;

/** In-memory channels, sample values and jqwik arbitraries shared by the wire tests. */
final class WireTestSupport {
  private WireTestSupport() {}

  /** Something that writes to a {@link FrameWriter}. */
  interface WriterAction {
    void run(FrameWriter w) throws IOException;
  }

  /** The bytes {@code action} writes. */
  static byte[] bytesOf(WriterAction action) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    WritableByteChannel ch = Channels.newChannel(out);
    action.run(new FrameWriter(ch));
    return out.toByteArray();
  }

  static ReadableByteChannel in(byte[] bytes) {
    return Channels.newChannel(new ByteArrayInputStream(bytes));
  }

  static byte[] preamble() throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    Preamble.write(Channels.newChannel(out));
    return out.toByteArray();
  }

  static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }

  static VmDescription vm() {
    return new VmDescription(new VmId("6c1f8f0e-vm"), "web-1", DataSize.mib(64), 4096, 2,
        new CpuInfo("EPYC-Rome", Set.of("avx2", "sse4_2", "aes")));
  }

  static Message.Hello hello() {
    return new Message.Hello(UUID.fromString("00000000-0000-0001-0000-000000000002"), 2, vm(),
        EnumSet.of(Message.Hello.Flag.VERIFY, Message.Hello.Flag.QUICK), WireCompression.LZ4);
  }

  static Digest digest(int seed) {
    byte[] b = new byte[WireFormat.DIGEST_LENGTH];
    for (int i = 0; i < b.length; i++) {
      b[i] = (byte) (seed * 31 + i);
    }
    return Digest.of(b);
  }

  /** One example of every control message. */
  static Message[] everyMessage() {
    return new Message[] {
      hello(),
      new Message.Accept("host-b", "b.example.org"),
      new Message.ErrorMessage(ErrorCode.UNAUTHORIZED, "bad token"),
      new Message.RoundEnd(7),
      new Message.DeviceStateChunk(10, 4, ByteBuffer.wrap(new byte[] {1, 2, 3})),
      new Message.Switchover(9, 123_456_789L, Optional.of(digest(1))),
      new Message.Switchover(9, 0, Optional.empty()),
      new Message.Ready(123_456_789L, Optional.of(digest(2))),
      new Message.Ready(0, Optional.empty()),
      new Message.Commit(),
      new Message.Resumed(Instant.parse("2026-11-25T16:00:00.123456Z"), Duration.ofNanos(42_000_001)),
      new Message.Cancel("user asked"),
      new Message.Ping(-5L),
      new Message.Pong(Long.MAX_VALUE),
      new Message.Join(UUID.randomUUID(), 3),
      new Message.PageRequest(1L << 40, 16),
      new Message.RoundAck(3, 99),
      new Message.Accept("host-c", "c", true),
      new Message.PostCopySwitch(4, 1000, 60_000, new long[] {-1L, 0L, 5L}),
      new Message.PostCopySwitch(0, 0, 0, new long[0]),
      new Message.PostCopyComplete(12, 3_000_000, 100_000, 900_000, 1_200_000),
      new Message.Recover(UUID.randomUUID()),
      new Message.Missing(new long[] {Long.MIN_VALUE, 1L}),
      new Message.Query(UUID.randomUUID()),
      new Message.Probe(250),
      new Message.AuthChallenge(true, digest(3)),
      new Message.AuthChallenge(false, digest(4)),
      new Message.AuthResponse(digest(5), digest(6)),
      new Message.AuthOk(digest(7)),
      new Message.ProbeData(ByteBuffer.wrap(new byte[] {1, 2, 3})),
      new Message.ProbeResult(1 << 30, 250_000_000L),
      new Message.Status(UUID.randomUUID(), Message.Status.State.DISCARDED, "activation failed"),
      new Message.Status(UUID.randomUUID(), Message.Status.State.RUNNING, ""),
      new Message.Hello(UUID.randomUUID(), 1, vm(), EnumSet.noneOf(Message.Hello.Flag.class),
          WireCompression.NONE, 0),
    };
  }

  /** Strings of valid UTF-16 (no lone surrogates), mostly short, up to 300 chars. */
  static Arbitrary<String> strings() {
    return Arbitraries.oneOf(
        Arbitraries.strings().ascii().ofMaxLength(40),
        Arbitraries.strings().withCharRange('\u0000', '\ud7ff').ofMaxLength(300),
        Arbitraries.of("", "é", "日本語", "\uD83D\uDE80 rocket"));
  }

  static Arbitrary<UUID> uuids() {
    return Combinators.combine(Arbitraries.longs(), Arbitraries.longs()).as(UUID::new);
  }

  static Arbitrary<Optional<Digest>> digests() {
    return Arbitraries.oneOf(Arbitraries.just(Optional.empty()),
        Arbitraries.integers().map(i -> Optional.of(digest(i))));
  }

  static Arbitrary<VmDescription> vms() {
    Arbitrary<String> nonBlank = strings().filter(s -> !s.isBlank());
    Arbitrary<Integer> pageShift = Arbitraries.integers().between(9, 21);
    Arbitrary<Set<String>> features = strings().set().ofMaxSize(8);
    return Combinators.combine(nonBlank, nonBlank, pageShift, Arbitraries.longs().between(1, 1L << 30),
            Arbitraries.integers().between(1, 4096), strings(), features)
        .as((id, name, shift, pages, vcpus, model, feats) -> new VmDescription(new VmId(id), name,
            DataSize.bytes(pages << shift), 1 << shift, vcpus, new CpuInfo(model, feats)));
  }

  /** Every control message, with random values. */
  static Arbitrary<Message> messages() {
    Arbitrary<Integer> u31 = Arbitraries.integers().greaterOrEqual(0);
    Arbitrary<Long> u63 = Arbitraries.longs().greaterOrEqual(0);
    Arbitrary<Message> hello = Combinators.combine(uuids(), Arbitraries.integers().between(1, 0xffff),
            vms(), Arbitraries.of(Message.Hello.Flag.class).set(), Arbitraries.of(WireCompression.class))
        .as(Message.Hello::new);
    Arbitrary<Message> chunk = Arbitraries.bytes().array(byte[].class).ofMaxSize(200)
        .flatMap(b -> Arbitraries.integers().between(0, 1000).map(extra -> (Message)
            new Message.DeviceStateChunk(b.length + extra, extra / 2, ByteBuffer.wrap(b))));
    Arbitrary<Instant> micros = Arbitraries.longs().between(-1L << 50, 1L << 52)
        .map(us -> Instant.ofEpochSecond(Math.floorDiv(us, 1_000_000L), Math.floorMod(us, 1_000_000L) * 1000L));
    return Arbitraries.oneOf(
        hello,
        Combinators.combine(strings(), strings(), Arbitraries.of(true, false)).as(Message.Accept::new),
        Combinators.combine(Arbitraries.of(ErrorCode.class), strings()).as(Message.ErrorMessage::new),
        u31.map(Message.RoundEnd::new),
        chunk,
        Combinators.combine(u31, u63, digests()).as(Message.Switchover::new),
        Combinators.combine(u63, digests()).as(Message.Ready::new),
        Arbitraries.just(new Message.Commit()),
        Combinators.combine(micros, Arbitraries.longs().map(Duration::ofNanos)).as(Message.Resumed::new),
        strings().map(Message.Cancel::new),
        Arbitraries.longs().map(Message.Ping::new),
        Arbitraries.longs().map(Message.Pong::new),
        Combinators.combine(uuids(), Arbitraries.integers().between(0, 0xffff)).as(Message.Join::new),
        Combinators.combine(u63, Arbitraries.integers().greaterOrEqual(1)).as(Message.PageRequest::new),
        Combinators.combine(u31, u63).as(Message.RoundAck::new),
        Combinators.combine(u31, u63, u31, Arbitraries.longs().array(long[].class).ofMaxSize(40))
            .as(Message.PostCopySwitch::new),
        Combinators.combine(u63, u63, u63, u63, u63).as(Message.PostCopyComplete::new),
        uuids().map(Message.Recover::new),
        uuids().map(Message.Query::new),
        u31.map(Message.Probe::new),
        Combinators.combine(Arbitraries.of(true, false), Arbitraries.integers().map(WireTestSupport::digest))
            .as(Message.AuthChallenge::new),
        Combinators.combine(Arbitraries.integers().map(WireTestSupport::digest),
            Arbitraries.integers().map(WireTestSupport::digest)).as(Message.AuthResponse::new),
        Arbitraries.integers().map(i -> (Message) new Message.AuthOk(digest(i))),
        Combinators.combine(u63, u63).as(Message.ProbeResult::new),
        Combinators.combine(uuids(), Arbitraries.of(Message.Status.State.class), strings()).as(Message.Status::new),
        Arbitraries.longs().array(long[].class).ofMaxSize(40).map(Message.Missing::new));
  }
}
