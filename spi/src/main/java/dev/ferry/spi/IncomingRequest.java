package dev.ferry.spi;

import java.util.Objects;

/**
 * What a source asks a destination host to receive: the VM's description and how much of its
 * memory may hold data (the rest is zero pages, which cost the destination nothing).
 *
 * @param description the VM as the source describes it
 * @param residentBytes memory that may hold non-zero data, from 0 to the VM's size
 */
public record IncomingRequest(VmDescription description, DataSize residentBytes) {
  public IncomingRequest {
    Objects.requireNonNull(description, "description");
    Objects.requireNonNull(residentBytes, "residentBytes");
    if (residentBytes.bytes() > description.memory().bytes()) {
      throw new IllegalArgumentException("resident bytes " + residentBytes + " exceed the VM's memory "
          + description.memory());
    }
  }
}
