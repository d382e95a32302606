package dev.ferry.wire;

/**
 * A frame's CRC32C did not match its header and payload: the bytes were corrupted on the way (or
 * the stream lost its framing). Nothing of the frame was used.
 */
public class ChecksumException extends WireException {
  private static final long serialVersionUID = 1L;

  public ChecksumException(String message) {
    super(ErrorCode.CHECKSUM, message);
  }
}
