package dev.ferry.spi;

/** Thrown by a backend when a VM named or identified by the caller does not exist on the host. */
public class NoSuchVmException extends DriverException {
  private static final long serialVersionUID = 1L;

  public NoSuchVmException(String message) {
    super(message);
  }
}
