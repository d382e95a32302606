package dev.ferry.wire;

import java.io.IOException;
import java.util.Objects;

/**
 * The root of the failures a peer can cause on the wire. A checked {@link IOException}, because
 * every reader and writer already throws {@code IOException} for the channel: the engine catches
 * one type for transport and protocol failures, and hostile input cannot escape as an unchecked
 * exception.
 *
 * <p>{@link #errorCode()} is the code to report to the peer in an ERROR frame (when the link still
 * works). Subtypes say what happened:
 *
 * <ul>
 *   <li>{@link ProtocolException} — malformed or unexpected bytes ({@link FrameTooLargeException}
 *       for an oversized frame);
 *   <li>{@link ChecksumException} — a frame failed its CRC32C;
 *   <li>{@link EndOfStreamException} — the peer closed the connection cleanly between frames;
 *   <li>{@link RemoteErrorException} — the peer sent an ERROR frame.
 * </ul>
 */
public class WireException extends IOException {
  private static final long serialVersionUID = 1L;

  private final ErrorCode errorCode;

  public WireException(ErrorCode errorCode, String message) {
    super(message);
    this.errorCode = Objects.requireNonNull(errorCode, "errorCode");
  }

  public WireException(ErrorCode errorCode, String message, Throwable cause) {
    super(message, cause);
    this.errorCode = Objects.requireNonNull(errorCode, "errorCode");
  }

  /** The error code that describes this failure to the peer. */
  public ErrorCode errorCode() {
    return errorCode;
  }
}
