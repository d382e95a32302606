package dev.ferry.wire;

import dev.ferry.spi.CpuInfo;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmId;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * Encodes and decodes the payloads of control messages (every frame type but PAGES). Decoding is
 * strict: every field is bounds-checked, strings must be valid UTF-8 of at most
 * {@link WireFormat#MAX_STRING_BYTES} bytes, enums must be known, and a payload must be consumed
 * exactly; any violation is a {@link ProtocolException} naming the message and field.
 *
 * <p>Stateless and thread-safe.
 */
public final class Messages {
  private Messages() {}

  private static final int KNOWN_HELLO_FLAGS;
  /** HELLO flag bit 3 (1.1): a u64 of resident bytes follows the compression byte. */
  static final int HELLO_RESIDENT_BYTES = 8;

  static {
    int bits = HELLO_RESIDENT_BYTES;
    for (Message.Hello.Flag f : Message.Hello.Flag.values()) {
      bits |= f.bit();
    }
    KNOWN_HELLO_FLAGS = bits;
  }

  /** Encodes {@code m} into a new heap buffer (position 0, limit = payload length). */
  public static ByteBuffer encode(Message m) {
    PayloadWriter w = new PayloadWriter(64);
    encode(m, w);
    ByteBuffer b = w.flip();
    return b;
  }

  static void encode(Message m, PayloadWriter w) {
    if (m instanceof Message.Hello) {
      Message.Hello h = (Message.Hello) m;
      w.uuid(h.sessionId()).u16(h.streamCount());
      VmDescription vm = h.vm();
      w.string(vm.id().value()).string(vm.name()).u64(vm.memory().bytes()).u32(vm.pageSize())
          .u32(vm.vcpus()).string(vm.cpu().model());
      Set<String> features = new TreeSet<>(vm.cpu().features()); // sorted: the encoding is deterministic
      w.u16(features.size());
      for (String f : features) {
        w.string(f);
      }
      int flags = HELLO_RESIDENT_BYTES;
      for (Message.Hello.Flag f : h.flags()) {
        flags |= f.bit();
      }
      w.u32(flags).u8(h.compression().code()).u64(h.residentBytes());
    } else if (m instanceof Message.Accept) {
      Message.Accept a = (Message.Accept) m;
      w.string(a.destinationHostId()).string(a.hostname()).u8(a.postCopyCapable() ? 1 : 0);
    } else if (m instanceof Message.ErrorMessage) {
      Message.ErrorMessage e = (Message.ErrorMessage) m;
      w.u16(e.code().code()).string(e.message());
    } else if (m instanceof Message.RoundEnd) {
      w.u32(((Message.RoundEnd) m).round());
    } else if (m instanceof Message.DeviceStateChunk) {
      Message.DeviceStateChunk c = (Message.DeviceStateChunk) m;
      w.u32(c.totalLength()).u32(c.offset()).bytes(c.data());
    } else if (m instanceof Message.Switchover) {
      Message.Switchover s = (Message.Switchover) m;
      w.u32(s.finalRound()).u64(s.pagesSent());
      digest(w, s.digest());
    } else if (m instanceof Message.Ready) {
      Message.Ready r = (Message.Ready) m;
      w.u64(r.pagesReceived());
      digest(w, r.digest());
    } else if (m instanceof Message.Commit) {
      // empty payload
    } else if (m instanceof Message.Resumed) {
      Message.Resumed r = (Message.Resumed) m;
      w.i64(epochMicros(r.resumedAt())).i64(saturatedNanos(r.destinationProcessing()));
    } else if (m instanceof Message.Cancel) {
      w.string(((Message.Cancel) m).reason());
    } else if (m instanceof Message.Ping) {
      w.i64(((Message.Ping) m).nanos());
    } else if (m instanceof Message.Pong) {
      w.i64(((Message.Pong) m).nanos());
    } else if (m instanceof Message.Join) {
      Message.Join j = (Message.Join) m;
      w.uuid(j.sessionId()).u16(j.streamIndex());
    } else if (m instanceof Message.PageRequest) {
      Message.PageRequest p = (Message.PageRequest) m;
      w.u64(p.firstPage()).u32(p.count());
    } else if (m instanceof Message.RoundAck) {
      Message.RoundAck r = (Message.RoundAck) m;
      w.u32(r.round()).u64(r.pagesReceived());
    } else if (m instanceof Message.PostCopySwitch) {
      Message.PostCopySwitch p = (Message.PostCopySwitch) m;
      w.u32(p.finalRound()).u64(p.pagesSent()).u32(p.recoveryMillis());
      bitmap(w, p.missing());
    } else if (m instanceof Message.PostCopyComplete) {
      Message.PostCopyComplete c = (Message.PostCopyComplete) m;
      w.u64(c.faults()).u64(c.blockedNanosTotal()).u64(c.blockedNanosP50()).u64(c.blockedNanosP99())
          .u64(c.blockedNanosMax());
    } else if (m instanceof Message.Recover) {
      Message.Recover r = (Message.Recover) m;
      w.uuid(r.sessionId());
    } else if (m instanceof Message.Missing) {
      bitmap(w, ((Message.Missing) m).bitmap());
    } else if (m instanceof Message.Probe pr) {
      w.u32(pr.millis());
    } else if (m instanceof Message.ProbeData pd) {
      w.bytes(pd.data());
    } else if (m instanceof Message.ProbeResult r) {
      w.u64(r.bytes()).u64(r.nanos());
    } else if (m instanceof Message.Query q) {
      w.uuid(q.sessionId());
    } else if (m instanceof Message.AuthChallenge c) {
      w.u8(c.tokenRequired() ? 1 : 0).bytes(ByteBuffer.wrap(c.nonce().toByteArray()));
    } else if (m instanceof Message.AuthResponse a) {
      w.bytes(ByteBuffer.wrap(a.nonce().toByteArray())).bytes(ByteBuffer.wrap(a.proof().toByteArray()));
    } else if (m instanceof Message.AuthOk ok) {
      w.bytes(ByteBuffer.wrap(ok.proof().toByteArray()));
    } else if (m instanceof Message.Status st) {
      w.uuid(st.sessionId()).u8(st.state().code()).string(st.detail());
    } else {
      throw new AssertionError("unhandled message " + m.getClass());
    }
  }

  private static void bitmap(PayloadWriter w, long[] words) {
    w.u32(words.length);
    for (long word : words) {
      w.i64(word);
    }
  }

  private static long[] readBitmap(PayloadReader r) throws ProtocolException {
    int n = r.u32("bitmapWords");
    if ((long) n * 8 != r.remaining()) {
      throw new ProtocolException("bitmap of " + n + " words does not match the " + r.remaining()
          + " bytes that follow");
    }
    long[] words = new long[n];
    for (int i = 0; i < n; i++) {
      words[i] = r.i64("bitmap[" + i + "]");
    }
    return words;
  }

  private static void digest(PayloadWriter w, Optional<Digest> d) {
    if (d.isPresent()) {
      w.u8(1).bytes(d.get().bytesUnsafe());
    } else {
      w.u8(0).bytes(new byte[WireFormat.DIGEST_LENGTH]);
    }
  }

  private static long epochMicros(Instant t) {
    try {
      return Math.addExact(Math.multiplyExact(t.getEpochSecond(), 1_000_000L), t.getNano() / 1000);
    } catch (ArithmeticException e) {
      throw new IllegalArgumentException("instant out of the range of epoch microseconds: " + t, e);
    }
  }

  private static long saturatedNanos(Duration d) {
    try {
      return d.toNanos();
    } catch (ArithmeticException e) {
      return d.isNegative() ? Long.MIN_VALUE : Long.MAX_VALUE;
    }
  }

  /**
   * Decodes a control message.
   *
   * @throws ProtocolException when the payload is malformed
   * @throws IllegalArgumentException when the frame is PAGES (use {@link PageBatchDecoder})
   */
  public static Message decode(Frame frame) throws ProtocolException {
    return decode(frame.type(), frame.payload());
  }

  /**
   * Decodes a control message of the given type from the payload (from its position to its limit;
   * the buffer's position is not moved).
   */
  public static Message decode(FrameType type, ByteBuffer payload) throws ProtocolException {
    if (type == FrameType.PAGES) {
      throw new IllegalArgumentException("PAGES frames are decoded by PageBatchDecoder, not Messages");
    }
    PayloadReader r = new PayloadReader(type, payload);
    Message m;
    try {
      m = decodeFields(type, r);
    } catch (IllegalArgumentException e) {
      // A record or the SPI refused a decoded value (blank VM name, memory not a multiple of pages...).
      throw new ProtocolException(type + " carries an invalid value: " + e.getMessage(), e);
    }
    r.end();
    return m;
  }

  /**
   * Decodes a frame that must be of message type {@code expected}.
   *
   * @throws RemoteErrorException when the peer sent ERROR instead
   * @throws ProtocolException when it sent any other type, or a malformed payload
   */
  public static <T extends Message> T expect(Frame frame, Class<T> expected) throws WireException {
    Message m = frame.type() == FrameType.PAGES ? null : decode(frame);
    if (expected.isInstance(m)) {
      return expected.cast(m);
    }
    if (m instanceof Message.ErrorMessage) {
      throw new RemoteErrorException((Message.ErrorMessage) m);
    }
    throw new ProtocolException("unexpected " + frame.type() + " frame, expected "
        + expected.getSimpleName().replaceAll("([a-z])([A-Z])", "$1_$2").toUpperCase(java.util.Locale.ROOT));
  }

  private static Message decodeFields(FrameType type, PayloadReader r) throws ProtocolException {
    switch (type) {
      case HELLO:
        return decodeHello(r);
      case ACCEPT: {
        String id = r.string("destinationHostId");
        String hostname = r.string("hostname");
        int flags = r.u8("flags");
        if ((flags & ~1) != 0) {
          throw new ProtocolException("ACCEPT has unknown flags 0x" + Integer.toHexString(flags));
        }
        return new Message.Accept(id, hostname, flags == 1);
      }
      case ERROR: {
        int code = r.u16("code");
        ErrorCode c = ErrorCode.ofCode(code);
        if (c == null) {
          throw new ProtocolException("ERROR carries unknown error code " + code);
        }
        return new Message.ErrorMessage(c, r.string("message"));
      }
      case ROUND_END:
        return new Message.RoundEnd(r.u32("round"));
      case DEVICE_STATE: {
        int total = r.u32("totalLength");
        int offset = r.u32("offset");
        ByteBuffer data = r.rest().asReadOnlyBuffer();
        if (data.remaining() > WireFormat.MAX_DEVICE_STATE_CHUNK) {
          throw new ProtocolException("DEVICE_STATE chunk of " + data.remaining() + " bytes exceeds "
              + WireFormat.MAX_DEVICE_STATE_CHUNK);
        }
        if ((long) offset + data.remaining() > total) {
          throw new ProtocolException("DEVICE_STATE chunk [" + offset + ", +" + data.remaining()
              + ") runs past the total length " + total);
        }
        return new Message.DeviceStateChunk(total, offset, data);
      }
      case SWITCHOVER:
        return new Message.Switchover(r.u32("finalRound"), r.u64("pagesSent"), readDigest(r));
      case READY:
        return new Message.Ready(r.u64("pagesReceived"), readDigest(r));
      case COMMIT:
        return new Message.Commit();
      case RESUMED: {
        long micros = r.i64("resumedAtEpochMicros");
        long nanos = r.i64("destinationProcessingNanos");
        Instant at = Instant.ofEpochSecond(Math.floorDiv(micros, 1_000_000L),
            Math.floorMod(micros, 1_000_000L) * 1000L);
        return new Message.Resumed(at, Duration.ofNanos(nanos));
      }
      case CANCEL:
        return new Message.Cancel(r.string("reason"));
      case PING:
        return new Message.Ping(r.i64("nanos"));
      case PONG:
        return new Message.Pong(r.i64("nanos"));
      case JOIN:
        return new Message.Join(r.uuid("sessionId"), r.u16("streamIndex"));
      case PAGE_REQUEST:
        return new Message.PageRequest(r.u64("firstPage"), r.u32("count"));
      case ROUND_ACK:
        return new Message.RoundAck(r.u32("round"), r.u64("pagesReceived"));
      case POSTCOPY_SWITCH: {
        int round = r.u32("finalRound");
        long sent = r.u64("pagesSent");
        int recovery = r.u32("recoveryMillis");
        return new Message.PostCopySwitch(round, sent, recovery, readBitmap(r));
      }
      case POSTCOPY_COMPLETE:
        return new Message.PostCopyComplete(r.u64("faults"), r.u64("blockedNanosTotal"), r.u64("blockedNanosP50"),
            r.u64("blockedNanosP99"), r.u64("blockedNanosMax"));
      case RECOVER:
        return new Message.Recover(r.uuid("sessionId"));
      case MISSING:
        return new Message.Missing(readBitmap(r));
      case QUERY:
        return new Message.Query(r.uuid("sessionId"));
      case PROBE:
        return new Message.Probe(r.u32("millis"));
      case PROBE_DATA:
        return new Message.ProbeData(r.rest().asReadOnlyBuffer());
      case PROBE_RESULT:
        return new Message.ProbeResult(r.u64("bytes"), r.u64("nanos"));
      case AUTH_CHALLENGE: {
        int flags = r.u8("flags");
        if ((flags & ~1) != 0) {
          throw new ProtocolException("AUTH_CHALLENGE has unknown flags 0x" + Integer.toHexString(flags & ~1));
        }
        return new Message.AuthChallenge(flags == 1, Digest.of(r.bytes(WireFormat.DIGEST_LENGTH, "nonce")));
      }
      case AUTH_RESPONSE: {
        Digest nonce = Digest.of(r.bytes(WireFormat.DIGEST_LENGTH, "nonce"));
        return new Message.AuthResponse(nonce, Digest.of(r.bytes(WireFormat.DIGEST_LENGTH, "proof")));
      }
      case AUTH_OK:
        return new Message.AuthOk(Digest.of(r.bytes(WireFormat.DIGEST_LENGTH, "proof")));
      case STATUS: {
        var id = r.uuid("sessionId");
        int code = r.u8("state");
        Message.Status.State state = Message.Status.State.ofCode(code);
        if (state == null) {
          throw new ProtocolException("STATUS carries unknown state " + code);
        }
        return new Message.Status(id, state, r.string("detail"));
      }
      default:
        throw new AssertionError("unhandled frame type " + type);
    }
  }

  private static Message.Hello decodeHello(PayloadReader r) throws ProtocolException {
    var sessionId = r.uuid("sessionId");
    int streamCount = r.u16("streamCount");
    String id = r.string("vm.id");
    String name = r.string("vm.name");
    long memory = r.u64("vm.memoryBytes");
    int pageSize = r.u32("vm.pageSize");
    if (pageSize > WireFormat.MAX_PAGE_SIZE) {
      throw new ProtocolException(ErrorCode.INCOMPATIBLE,
          "HELLO page size " + pageSize + " exceeds the protocol's maximum " + WireFormat.MAX_PAGE_SIZE);
    }
    int vcpus = r.u32("vm.vcpus");
    String model = r.string("vm.cpuModel");
    int featureCount = r.u16("vm.featureCount");
    List<String> features = new ArrayList<>(Math.min(featureCount, 64));
    for (int i = 0; i < featureCount; i++) {
      features.add(r.string("vm.feature[" + i + "]"));
    }
    int flagBits = r.i32("flags");
    if ((flagBits & ~KNOWN_HELLO_FLAGS) != 0) {
      throw new ProtocolException(ErrorCode.INCOMPATIBLE,
          "HELLO has unknown flags 0x" + Integer.toHexString(flagBits & ~KNOWN_HELLO_FLAGS));
    }
    EnumSet<Message.Hello.Flag> flags = EnumSet.noneOf(Message.Hello.Flag.class);
    for (Message.Hello.Flag f : Message.Hello.Flag.values()) {
      if ((flagBits & f.bit()) != 0) {
        flags.add(f);
      }
    }
    int compressionCode = r.u8("compression");
    WireCompression compression = WireCompression.ofCode(compressionCode);
    if (compression == null) {
      throw new ProtocolException(ErrorCode.INCOMPATIBLE, "HELLO has unknown compression " + compressionCode);
    }
    long resident = (flagBits & HELLO_RESIDENT_BYTES) != 0 ? r.u64("residentBytes") : memory;
    if (resident > memory) {
      throw new ProtocolException("HELLO claims " + resident + " resident bytes of a " + memory + "-byte VM");
    }
    VmDescription vm = new VmDescription(new VmId(id), name, DataSize.bytes(memory), pageSize, vcpus,
        new CpuInfo(model, Set.copyOf(features)));
    return new Message.Hello(sessionId, streamCount, vm, flags, compression, resident);
  }

  private static Optional<Digest> readDigest(PayloadReader r) throws ProtocolException {
    int has = r.u8("hasDigest");
    byte[] d = r.bytes(WireFormat.DIGEST_LENGTH, "digest");
    if (has == 1) {
      return Optional.of(Digest.of(d));
    }
    if (has != 0) {
      throw new ProtocolException("hasDigest must be 0 or 1, not " + has);
    }
    for (byte b : d) {
      if (b != 0) {
        throw new ProtocolException("digest bytes must be zero when hasDigest is 0");
      }
    }
    return Optional.empty();
  }
}
