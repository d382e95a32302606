package dev.ferry.wire;

/**
 * A frame header announced a payload longer than the reader accepts. Thrown before anything is
 * allocated or read for the payload.
 */
public class FrameTooLargeException extends ProtocolException {
  private static final long serialVersionUID = 1L;

  private final long payloadLength;
  private final int maxPayload;

  public FrameTooLargeException(FrameType type, long payloadLength, int maxPayload) {
    super("frame too large: " + (type == null ? "frame" : type.name()) + " payload of " + payloadLength
        + " bytes exceeds the limit of " + maxPayload + " bytes");
    this.payloadLength = payloadLength;
    this.maxPayload = maxPayload;
  }

  /** The payload length the header claimed (u32). */
  public long payloadLength() {
    return payloadLength;
  }

  /** The reader's limit. */
  public int maxPayload() {
    return maxPayload;
  }
}
