package dev.ferry.wire;

/**
 * The peer closed the connection cleanly, at a frame boundary (or before sending anything). Whether
 * that is normal depends on the state of the session: after COMMIT/RESUMED it is the expected end of
 * a data stream; anywhere else it means the peer went away. A close in the middle of a frame is a
 * {@link ProtocolException} instead.
 */
public class EndOfStreamException extends WireException {
  private static final long serialVersionUID = 1L;

  public EndOfStreamException(String message) {
    super(ErrorCode.PROTOCOL, message);
  }
}
