package dev.ferry;

/**
 * The root of every exception Ferry throws. Unchecked: each subtype says what the caller can do.
 */
public class FerryException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public FerryException(String message) {
    super(message);
  }

  public FerryException(String message, Throwable cause) {
    super(message, cause);
  }
}
