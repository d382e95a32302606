package dev.ferry.spi;

/**
 * Thrown by a backend when the hypervisor refuses or fails an operation. Unchecked; Ferry's core
 * translates it into its own exception types for applications.
 */
public class DriverException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public DriverException(String message) {
    super(message);
  }

  public DriverException(String message, Throwable cause) {
    super(message, cause);
  }
}
