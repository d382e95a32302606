package dev.ferry.wire;

import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * A frame as read by {@link FrameReader}: its type and a read-only view of its payload (position 0,
 * limit = payload length). The payload lives in the reader's buffer and is valid only until the
 * reader's next {@link FrameReader#next()}; copy what must outlive it.
 */
public record Frame(FrameType type, ByteBuffer payload) {
  public Frame {
    Objects.requireNonNull(type, "type");
    Objects.requireNonNull(payload, "payload");
  }

  /** Payload length in bytes. */
  public int length() {
    return payload.limit();
  }

  @Override
  public String toString() {
    return type + "[" + payload.limit() + " bytes]";
  }
}
