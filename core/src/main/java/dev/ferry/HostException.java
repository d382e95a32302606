package dev.ferry;

/**
 * The hypervisor backend refused or failed an operation on a host (unreachable, out of memory,
 * rejected request). The message carries the backend's own words; retrying may help when the cause
 * is transient.
 */
public class HostException extends FerryException {
  private static final long serialVersionUID = 1L;

  public HostException(String message, Throwable cause) {
    super(message, cause);
  }
}
