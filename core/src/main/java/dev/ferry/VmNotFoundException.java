package dev.ferry;

/** The host has no VM of that name: check {@link Host#vms()} for the names it has. */
public class VmNotFoundException extends FerryException {
  private static final long serialVersionUID = 1L;

  public VmNotFoundException(String message) {
    super(message);
  }
}
