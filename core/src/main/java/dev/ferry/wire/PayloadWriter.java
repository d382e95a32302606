package dev.ferry.wire;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

/** A growable big-endian buffer for encoding control-message payloads. */
final class PayloadWriter {
  private ByteBuffer buf;

  PayloadWriter(int initialCapacity) {
    buf = ByteBuffer.allocate(initialCapacity);
  }

  void clear() {
    buf.clear();
  }

  /** Flips and returns the buffer: the encoded payload, valid until the next {@link #clear()}. */
  ByteBuffer flip() {
    return buf.flip();
  }

  private void ensure(int n) {
    if (buf.remaining() < n) {
      long cap = Math.max((long) buf.position() + n, 2L * buf.capacity());
      if (cap > WireFormat.DEFAULT_MAX_PAYLOAD) {
        cap = (long) buf.position() + n;
        if (cap > WireFormat.DEFAULT_MAX_PAYLOAD) {
          throw new IllegalArgumentException("message payload exceeds " + WireFormat.DEFAULT_MAX_PAYLOAD + " bytes");
        }
      }
      ByteBuffer bigger = ByteBuffer.allocate((int) cap);
      buf.flip();
      bigger.put(buf);
      buf = bigger;
    }
  }

  PayloadWriter u8(int v) {
    if ((v & ~0xff) != 0) {
      throw new IllegalArgumentException("not a u8: " + v);
    }
    ensure(1);
    buf.put((byte) v);
    return this;
  }

  PayloadWriter u16(int v) {
    if ((v & ~0xffff) != 0) {
      throw new IllegalArgumentException("not a u16: " + v);
    }
    ensure(2);
    buf.putShort((short) v);
    return this;
  }

  /** A u32 that Java holds as a non-negative int. */
  PayloadWriter u32(int v) {
    if (v < 0) {
      throw new IllegalArgumentException("must not be negative: " + v);
    }
    return i32(v);
  }

  PayloadWriter i32(int v) {
    ensure(4);
    buf.putInt(v);
    return this;
  }

  /** A u64 that Java holds as a non-negative long. */
  PayloadWriter u64(long v) {
    if (v < 0) {
      throw new IllegalArgumentException("must not be negative: " + v);
    }
    return i64(v);
  }

  PayloadWriter i64(long v) {
    ensure(8);
    buf.putLong(v);
    return this;
  }

  PayloadWriter uuid(UUID id) {
    return i64(id.getMostSignificantBits()).i64(id.getLeastSignificantBits());
  }

  PayloadWriter string(String s) {
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    if (b.length > WireFormat.MAX_STRING_BYTES) {
      throw new IllegalArgumentException("string of " + b.length + " UTF-8 bytes exceeds "
          + WireFormat.MAX_STRING_BYTES + ": " + s.substring(0, Math.min(40, s.length())) + "...");
    }
    u16(b.length);
    return bytes(ByteBuffer.wrap(b));
  }

  PayloadWriter bytes(byte[] b) {
    return bytes(ByteBuffer.wrap(b));
  }

  /** Copies {@code src} from its position to its limit without moving its position. */
  PayloadWriter bytes(ByteBuffer src) {
    ensure(src.remaining());
    buf.put(src.duplicate());
    return this;
  }
}
