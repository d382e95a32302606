package dev.ferry.wire;

/**
 * The peer sent bytes that break the protocol: a wrong magic or version, a malformed, unknown or
 * unexpected frame, bad page data, or a connection closed in the middle of a frame. The session
 * cannot continue; the message says what was wrong and where.
 */
public class ProtocolException extends WireException {
  private static final long serialVersionUID = 1L;

  public ProtocolException(String message) {
    super(ErrorCode.PROTOCOL, message);
  }

  public ProtocolException(String message, Throwable cause) {
    super(ErrorCode.PROTOCOL, message, cause);
  }

  /** With a code other than {@link ErrorCode#PROTOCOL}, such as {@link ErrorCode#INCOMPATIBLE}. */
  public ProtocolException(ErrorCode code, String message) {
    super(code, message);
  }
}
