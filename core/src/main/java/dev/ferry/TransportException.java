package dev.ferry;

/**
 * The link to the other host failed: connection refused or lost, a malformed or corrupted frame,
 * a peer that stopped answering. The VM keeps running on the source. Check the network and the
 * receiver, then retry.
 */
public class TransportException extends MigrationException {
  private static final long serialVersionUID = 1L;

  public TransportException(String message) {
    super(message);
  }

  public TransportException(String message, Throwable cause) {
    super(message, cause);
  }
}
