package dev.ferry.wire;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

/**
 * Reads a control-message payload with bounds checks that throw {@link ProtocolException} (never
 * {@code BufferUnderflowException}), naming the message and the field that was cut short.
 */
final class PayloadReader {
  private final ByteBuffer buf;
  private final FrameType type;

  PayloadReader(FrameType type, ByteBuffer payload) {
    this.type = type;
    this.buf = payload.duplicate();
  }

  private void need(int n, String field) throws ProtocolException {
    if (buf.remaining() < n) {
      throw new ProtocolException(type + " payload too short: " + field + " needs " + n
          + " bytes at offset " + buf.position() + ", " + buf.remaining() + " left");
    }
  }

  int u8(String field) throws ProtocolException {
    need(1, field);
    return buf.get() & 0xff;
  }

  int u16(String field) throws ProtocolException {
    need(2, field);
    return buf.getShort() & 0xffff;
  }

  /** A u32 that must fit a non-negative int. */
  int u32(String field) throws ProtocolException {
    need(4, field);
    int v = buf.getInt();
    if (v < 0) {
      throw new ProtocolException(type + " field " + field + " out of range: " + Integer.toUnsignedString(v));
    }
    return v;
  }

  int i32(String field) throws ProtocolException {
    need(4, field);
    return buf.getInt();
  }

  /** A u64 that must fit a non-negative long. */
  long u64(String field) throws ProtocolException {
    long v = i64(field);
    if (v < 0) {
      throw new ProtocolException(type + " field " + field + " out of range: " + Long.toUnsignedString(v));
    }
    return v;
  }

  long i64(String field) throws ProtocolException {
    need(8, field);
    return buf.getLong();
  }

  UUID uuid(String field) throws ProtocolException {
    need(16, field);
    return new UUID(buf.getLong(), buf.getLong());
  }

  String string(String field) throws ProtocolException {
    int len = u16(field + " length");
    if (len > WireFormat.MAX_STRING_BYTES) {
      throw new ProtocolException(type + " field " + field + " is " + len + " bytes, more than "
          + WireFormat.MAX_STRING_BYTES);
    }
    need(len, field);
    ByteBuffer slice = buf.slice().limit(len);
    buf.position(buf.position() + len);
    CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(CodingErrorAction.REPORT)
        .onUnmappableCharacter(CodingErrorAction.REPORT);
    try {
      return dec.decode(slice).toString();
    } catch (CharacterCodingException e) {
      throw new ProtocolException(type + " field " + field + " is not valid UTF-8", e);
    }
  }

  byte[] bytes(int n, String field) throws ProtocolException {
    need(n, field);
    byte[] b = new byte[n];
    buf.get(b);
    return b;
  }

  /** The rest of the payload as a slice (no copy). */
  /** Bytes not read yet. */
  int remaining() {
    return buf.remaining();
  }

  ByteBuffer rest() {
    ByteBuffer s = buf.slice();
    buf.position(buf.limit());
    return s;
  }

  /** Fails when bytes are left over: every message has an exact length. */
  void end() throws ProtocolException {
    if (buf.hasRemaining()) {
      throw new ProtocolException(type + " payload has " + buf.remaining() + " unexpected trailing bytes");
    }
  }
}
