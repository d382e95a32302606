package dev.ferry.wire;

import dev.ferry.spi.VmDescription;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Collections;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;

/**
 * A control message: every frame type but PAGES, which only {@link PageBatchEncoder} and
 * {@link PageBatchDecoder} handle. Encode with {@link FrameWriter#write(Message)}, decode with
 * {@link Messages#decode(Frame)} or {@link Messages#expect(Frame, Class)}.
 *
 * <p>The records check their values when built; values the wire cannot carry (a negative count, a
 * string over {@link WireFormat#MAX_STRING_BYTES} UTF-8 bytes) are refused with
 * {@link IllegalArgumentException}, except the free-text messages of {@link ErrorMessage} and
 * {@link Cancel}, which are truncated to fit. Unsigned wire fields are held as non-negative Java
 * {@code int}s and {@code long}s (so u32 fields carry at most 2^31-1 and u64 fields 2^63-1).
 */
public sealed interface Message {

  /** The frame type that carries this message. */
  FrameType type();

  /**
   * AUTH_CHALLENGE (2.0): the destination's first frame on every connection, right after its
   * preamble.
   *
   * @param tokenRequired whether this receiver requires the source to prove a shared token
   * @param nonce 32 random bytes, fresh for this connection
   */
  record AuthChallenge(boolean tokenRequired, Digest nonce) implements Message {
    public AuthChallenge {
      Objects.requireNonNull(nonce, "nonce");
    }

    @Override
    public FrameType type() {
      return FrameType.AUTH_CHALLENGE;
    }
  }

  /**
   * AUTH_RESPONSE (2.0): the source's first frame on every connection, answering AUTH_CHALLENGE;
   * the token itself never travels.
   *
   * @param nonce 32 random bytes of the source's, fresh for this connection
   * @param proof HMAC-SHA256 keyed with the token over the label and both nonces (see the wire
   *     spec), or 32 zero bytes when the source has no token
   */
  record AuthResponse(Digest nonce, Digest proof) implements Message {
    public AuthResponse {
      Objects.requireNonNull(nonce, "nonce");
      Objects.requireNonNull(proof, "proof");
    }

    @Override
    public FrameType type() {
      return FrameType.AUTH_RESPONSE;
    }

    /** The proof is masked: logs never carry it. */
    @Override
    public String toString() {
      return "AuthResponse[nonce=" + nonce + ", proof=***]";
    }
  }

  /**
   * AUTH_OK (2.0): the destination accepts the AUTH_RESPONSE; the source may send its first frame.
   *
   * @param proof HMAC-SHA256 keyed with the token over the destination's label and both nonces (the
   *     destination knows the token too), or 32 zero bytes when the destination requires no token
   */
  record AuthOk(Digest proof) implements Message {
    public AuthOk {
      Objects.requireNonNull(proof, "proof");
    }

    @Override
    public FrameType type() {
      return FrameType.AUTH_OK;
    }

    /** The proof is masked: logs never carry it. */
    @Override
    public String toString() {
      return "AuthOk[proof=***]";
    }
  }

  /**
   * HELLO: the source opens a session on the control stream.
   *
   * @param sessionId identifies the session; data streams JOIN with it
   * @param streamCount number of data streams the source will open (1..65535)
   * @param vm the VM to migrate; its page size is the session's page size
   * @param flags what the source asks for or offers
   * @param compression how the source may encode pages
   * @param residentBytes guest memory that may hold non-zero data, at most the VM's size: what the
   *     destination must be able to hold (zero pages cost it nothing); on the wire since 1.1, as
   *     HELLO flag bit 3 and a u64 after the compression byte
   */
  record Hello(UUID sessionId, int streamCount, VmDescription vm, Set<Flag> flags,
      WireCompression compression, long residentBytes) implements Message {

    /** A HELLO that claims the whole of guest memory may hold data. */
    public Hello(UUID sessionId, int streamCount, VmDescription vm, Set<Flag> flags,
        WireCompression compression) {
      this(sessionId, streamCount, vm, flags, compression, vm.memory().bytes());
    }

    /** HELLO flag bits. */
    public enum Flag {
      /** Bit 0: compare memory digests at switchover. */
      VERIFY(1),
      /** Bit 1: the source can switch to post-copy. */
      POSTCOPY_CAPABLE(2),
      /** Bit 2: a quick migration (tests, idle guests): skip the convergence wait. */
      QUICK(4);

      private final int bit;

      Flag(int bit) {
        this.bit = bit;
      }

      /** The flag's bit in the u32 flags field. */
      public int bit() {
        return bit;
      }
    }

    public Hello {
      Objects.requireNonNull(sessionId, "sessionId");
      Objects.requireNonNull(vm, "vm");
      Objects.requireNonNull(compression, "compression");
      EnumSet<Flag> f = EnumSet.noneOf(Flag.class);
      f.addAll(flags);
      flags = Collections.unmodifiableSet(f);
      if (streamCount < 1 || streamCount > 0xffff) {
        throw new IllegalArgumentException("stream count must be 1..65535: " + streamCount);
      }
      if (vm.pageSize() > WireFormat.MAX_PAGE_SIZE) {
        throw new IllegalArgumentException(
            "page size " + vm.pageSize() + " exceeds the protocol's maximum " + WireFormat.MAX_PAGE_SIZE);
      }
      if (residentBytes < 0 || residentBytes > vm.memory().bytes()) {
        throw new IllegalArgumentException("resident bytes must be 0.." + vm.memory().bytes() + ": " + residentBytes);
      }
    }

    @Override
    public FrameType type() {
      return FrameType.HELLO;
    }

    /** Whether a flag is set. */
    public boolean has(Flag flag) {
      return flags.contains(flag);
    }

    @Override
    public String toString() {
      return "Hello[sessionId=" + sessionId + ", streamCount=" + streamCount + ", vm=" + vm + ", flags=" + flags
          + ", compression=" + compression + "]";
    }
  }

  /**
   * ACCEPT: the destination takes the migration.
   *
   * @param postCopyCapable whether the destination can run the guest before every page arrived
   */
  record Accept(String destinationHostId, String hostname, boolean postCopyCapable) implements Message {
    public Accept {
      Objects.requireNonNull(destinationHostId, "destinationHostId");
      Objects.requireNonNull(hostname, "hostname");
    }

    /** A destination without post-copy. */
    public Accept(String destinationHostId, String hostname) {
      this(destinationHostId, hostname, false);
    }

    @Override
    public FrameType type() {
      return FrameType.ACCEPT;
    }
  }

  /** ERROR: the sender gives up. The message is truncated to {@link WireFormat#MAX_STRING_BYTES}. */
  record ErrorMessage(ErrorCode code, String message) implements Message {
    public ErrorMessage {
      Objects.requireNonNull(code, "code");
      message = truncate(Objects.requireNonNull(message, "message"));
    }

    @Override
    public FrameType type() {
      return FrameType.ERROR;
    }
  }

  /** ROUND_END: every page of {@code round} was sent on this stream. */
  record RoundEnd(int round) implements Message {
    public RoundEnd {
      requireNonNegative(round, "round");
    }

    @Override
    public FrameType type() {
      return FrameType.ROUND_END;
    }
  }

  /**
   * DEVICE_STATE: bytes {@code [offset, offset + data.remaining())} of a device state of
   * {@code totalLength} bytes. A decoded chunk's data is a view of the reader's buffer, valid until
   * its next frame.
   */
  record DeviceStateChunk(int totalLength, int offset, ByteBuffer data) implements Message {
    public DeviceStateChunk {
      Objects.requireNonNull(data, "data");
      requireNonNegative(totalLength, "totalLength");
      requireNonNegative(offset, "offset");
      if (data.remaining() > WireFormat.MAX_DEVICE_STATE_CHUNK) {
        throw new IllegalArgumentException("device state chunk of " + data.remaining() + " bytes exceeds "
            + WireFormat.MAX_DEVICE_STATE_CHUNK);
      }
      if ((long) offset + data.remaining() > totalLength) {
        throw new IllegalArgumentException("device state chunk [" + offset + ", +" + data.remaining()
            + ") runs past the total length " + totalLength);
      }
    }

    @Override
    public FrameType type() {
      return FrameType.DEVICE_STATE;
    }
  }

  /** SWITCHOVER: the guest is paused and every page was sent. */
  record Switchover(int finalRound, long pagesSent, Optional<Digest> digest) implements Message {
    public Switchover {
      requireNonNegative(finalRound, "finalRound");
      requireNonNegative(pagesSent, "pagesSent");
      Objects.requireNonNull(digest, "digest");
    }

    @Override
    public FrameType type() {
      return FrameType.SWITCHOVER;
    }
  }

  /** READY: every page arrived on the destination. */
  record Ready(long pagesReceived, Optional<Digest> digest) implements Message {
    public Ready {
      requireNonNegative(pagesReceived, "pagesReceived");
      Objects.requireNonNull(digest, "digest");
    }

    @Override
    public FrameType type() {
      return FrameType.READY;
    }
  }

  /** COMMIT: the destination runs the guest; the source gives up its copy. */
  record Commit() implements Message {
    @Override
    public FrameType type() {
      return FrameType.COMMIT;
    }
  }

  /**
   * RESUMED: the guest runs on the destination.
   *
   * @param resumedAt when it resumed, on the destination's clock (microsecond precision on the wire)
   * @param destinationProcessing time the destination spent from SWITCHOVER to resuming (nanoseconds)
   */
  record Resumed(Instant resumedAt, Duration destinationProcessing) implements Message {
    public Resumed {
      Objects.requireNonNull(resumedAt, "resumedAt");
      Objects.requireNonNull(destinationProcessing, "destinationProcessing");
    }

    @Override
    public FrameType type() {
      return FrameType.RESUMED;
    }
  }

  /** CANCEL: the source abandons the migration. The reason is truncated to fit. */
  record Cancel(String reason) implements Message {
    public Cancel {
      reason = truncate(Objects.requireNonNull(reason, "reason"));
    }

    @Override
    public FrameType type() {
      return FrameType.CANCEL;
    }
  }

  /** PING: an opaque value (usually {@code System.nanoTime()}) that PONG echoes. */
  record Ping(long nanos) implements Message {
    @Override
    public FrameType type() {
      return FrameType.PING;
    }

    /** The answer to this ping. */
    public Pong pong() {
      return new Pong(nanos);
    }
  }

  /** PONG: the value of the PING it answers. */
  record Pong(long nanos) implements Message {
    @Override
    public FrameType type() {
      return FrameType.PONG;
    }
  }

  /** JOIN: a data stream attaches to a session. */
  record Join(UUID sessionId, int streamIndex) implements Message {
    public Join {
      Objects.requireNonNull(sessionId, "sessionId");
      if (streamIndex < 0 || streamIndex > 0xffff) {
        throw new IllegalArgumentException("stream index must be 0..65535: " + streamIndex);
      }
    }

    @Override
    public FrameType type() {
      return FrameType.JOIN;
    }
  }

  /** PAGE_REQUEST: the destination needs pages {@code [firstPage, firstPage + count)} first. */
  record PageRequest(long firstPage, int count) implements Message {
    public PageRequest {
      requireNonNegative(firstPage, "firstPage");
      if (count < 1) {
        throw new IllegalArgumentException("a page request asks for at least one page: " + count);
      }
    }

    @Override
    public FrameType type() {
      return FrameType.PAGE_REQUEST;
    }
  }

  /** ROUND_ACK: the destination applied round {@code round}. */
  record RoundAck(int round, long pagesReceived) implements Message {
    public RoundAck {
      requireNonNegative(round, "round");
      requireNonNegative(pagesReceived, "pagesReceived");
    }

    @Override
    public FrameType type() {
      return FrameType.ROUND_ACK;
    }
  }

  /**
   * POSTCOPY_SWITCH: the source paused the guest and sent the device state; the destination is to
   * mark the pages of {@code missing} missing and, on COMMIT, run the guest.
   *
   * @param finalRound the last round sent on every stream before the switch
   * @param pagesSent pages sent before the switch, all streams
   * @param recoveryMillis how long both sides wait for a broken link to come back during post-copy
   * @param missing bitmap of the pages the destination does not hold in their latest version
   */
  record PostCopySwitch(int finalRound, long pagesSent, int recoveryMillis, long[] missing) implements Message {
    public PostCopySwitch {
      requireNonNegative(finalRound, "finalRound");
      requireNonNegative(pagesSent, "pagesSent");
      requireNonNegative(recoveryMillis, "recoveryMillis");
      missing = missing.clone();
    }

    @Override
    public long[] missing() {
      return missing.clone();
    }

    @Override
    public FrameType type() {
      return FrameType.POSTCOPY_SWITCH;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof PostCopySwitch p && p.finalRound == finalRound && p.pagesSent == pagesSent
          && p.recoveryMillis == recoveryMillis && java.util.Arrays.equals(p.missing, missing);
    }

    @Override
    public int hashCode() {
      return Objects.hash(finalRound, pagesSent, recoveryMillis, java.util.Arrays.hashCode(missing));
    }

    @Override
    public String toString() {
      return "PostCopySwitch[finalRound=" + finalRound + ", pagesSent=" + pagesSent + ", recoveryMillis="
          + recoveryMillis + ", missing="
          + java.util.Arrays.stream(missing).map(Long::bitCount).sum() + " pages]";
    }
  }

  /**
   * POSTCOPY_COMPLETE: every page arrived. Carries what the guest's vCPUs went through.
   *
   * @param faults blocking waits for a missing page
   * @param blockedNanosTotal time vCPUs spent blocked
   * @param blockedNanosP50 median time one fault blocked a vCPU
   * @param blockedNanosP99 99th percentile
   * @param blockedNanosMax longest
   */
  record PostCopyComplete(long faults, long blockedNanosTotal, long blockedNanosP50, long blockedNanosP99,
      long blockedNanosMax) implements Message {
    public PostCopyComplete {
      requireNonNegative(faults, "faults");
      requireNonNegative(blockedNanosTotal, "blockedNanosTotal");
      requireNonNegative(blockedNanosP50, "blockedNanosP50");
      requireNonNegative(blockedNanosP99, "blockedNanosP99");
      requireNonNegative(blockedNanosMax, "blockedNanosMax");
    }

    @Override
    public FrameType type() {
      return FrameType.POSTCOPY_COMPLETE;
    }
  }

  /** RECOVER: the source reconnects to a post-copy session whose control stream broke. */
  record Recover(UUID sessionId) implements Message {
    public Recover {
      Objects.requireNonNull(sessionId, "sessionId");
    }

    @Override
    public FrameType type() {
      return FrameType.RECOVER;
    }
  }

  /** MISSING: the pages the destination still lacks, as a bitmap, in answer to RECOVER. */
  record Missing(long[] bitmap) implements Message {
    public Missing {
      bitmap = bitmap.clone();
    }

    @Override
    public long[] bitmap() {
      return bitmap.clone();
    }

    @Override
    public FrameType type() {
      return FrameType.MISSING;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Missing m && java.util.Arrays.equals(m.bitmap, bitmap);
    }

    @Override
    public int hashCode() {
      return java.util.Arrays.hashCode(bitmap);
    }

    @Override
    public String toString() {
      return "Missing[" + java.util.Arrays.stream(bitmap).map(Long::bitCount).sum() + " pages]";
    }
  }

  /**
   * QUERY (1.1): the source asks, on a new connection, what became of a session whose commit it
   * could not confirm.
   */
  record Query(UUID sessionId) implements Message {
    public Query {
      Objects.requireNonNull(sessionId, "sessionId");
    }

    @Override
    public FrameType type() {
      return FrameType.QUERY;
    }
  }

  /**
   * STATUS (1.1): what the destination knows of a session, in answer to QUERY.
   *
   * @param detail why, in words (the reason a copy was discarded, say); may be empty
   */
  record Status(UUID sessionId, State state, String detail) implements Message {
    /** What became of a session on the destination. Codes are fixed by the protocol. */
    public enum State {
      /** The destination has no record of the session (never heard of it, or forgot it). */
      UNKNOWN(0),
      /** The session is still open on the destination: ask again. */
      PENDING(1),
      /** The destination runs the guest: the source must stay stopped. */
      RUNNING(2),
      /** The destination discarded its copy and will never run it: the source may resume. */
      DISCARDED(3);

      private final int code;

      State(int code) {
        this.code = code;
      }

      /** The u8 code on the wire. */
      public int code() {
        return code;
      }

      /** The state with this code, or {@code null} when it is unknown. */
      public static State ofCode(int code) {
        for (State s : values()) {
          if (s.code == code) {
            return s;
          }
        }
        return null;
      }
    }

    public Status {
      Objects.requireNonNull(sessionId, "sessionId");
      Objects.requireNonNull(state, "state");
      detail = truncate(Objects.requireNonNull(detail, "detail"));
    }

    @Override
    public FrameType type() {
      return FrameType.STATUS;
    }
  }

  /**
   * PROBE (1.1): the source measures the link to this receiver: PROBE_DATA frames follow for at most
   * {@code millis}, then an empty one.
   */
  record Probe(int millis) implements Message {
    public Probe {
      requireNonNegative(millis, "millis");
    }

    @Override
    public FrameType type() {
      return FrameType.PROBE;
    }
  }

  /** PROBE_DATA (1.1): bytes that only count; empty ends the probe. */
  record ProbeData(ByteBuffer data) implements Message {
    public ProbeData {
      Objects.requireNonNull(data, "data");
    }

    @Override
    public FrameType type() {
      return FrameType.PROBE_DATA;
    }
  }

  /** PROBE_RESULT (1.1): the bytes of payload received and the nanoseconds from the first to the last. */
  record ProbeResult(long bytes, long nanos) implements Message {
    public ProbeResult {
      requireNonNegative(bytes, "bytes");
      requireNonNegative(nanos, "nanos");
    }

    @Override
    public FrameType type() {
      return FrameType.PROBE_RESULT;
    }
  }

  private static void requireNonNegative(long v, String name) {
    if (v < 0) {
      throw new IllegalArgumentException(name + " must not be negative: " + v);
    }
  }

  /** Cuts {@code s} to at most {@link WireFormat#MAX_STRING_BYTES} UTF-8 bytes, at a code point. */
  static String truncate(String s) {
    if (s.length() * 3L <= WireFormat.MAX_STRING_BYTES) {
      return s;
    }
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    if (b.length <= WireFormat.MAX_STRING_BYTES) {
      return s;
    }
    String suffix = "...";
    int budget = WireFormat.MAX_STRING_BYTES - suffix.length();
    int bytes = 0;
    int i = 0;
    while (i < s.length()) {
      int cp = s.codePointAt(i);
      int n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      if (Character.isSurrogate(s.charAt(i)) && Character.charCount(cp) == 1) {
        n = 1; // a lone surrogate encodes as '?'
      }
      if (bytes + n > budget) {
        break;
      }
      bytes += n;
      i += Character.charCount(cp);
    }
    return s.substring(0, i) + suffix;
  }
}
