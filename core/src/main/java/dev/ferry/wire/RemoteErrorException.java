package dev.ferry.wire;

import java.util.Objects;

/**
 * The peer sent an ERROR frame where another message was expected; {@link #errorCode()} is the
 * peer's code and {@link #remote()} its whole message. No ERROR should be sent back.
 */
public class RemoteErrorException extends WireException {
  private static final long serialVersionUID = 1L;

  private final Message.ErrorMessage remote;

  public RemoteErrorException(Message.ErrorMessage remote) {
    super(remote.code(), "peer reported " + remote.code() + ": " + remote.message());
    this.remote = Objects.requireNonNull(remote);
  }

  /** The ERROR message the peer sent. */
  public Message.ErrorMessage remote() {
    return remote;
  }
}
