package dev.ferry.spi;

import java.util.Objects;

/**
 * A host's stable identity: the same host keeps the same id across restarts of the process (for
 * libvirt, the host UUID; for {@code sim}, derived from the host name).
 */
public record HostId(String value) {
  public HostId {
    Objects.requireNonNull(value, "value");
    if (value.isBlank()) {
      throw new IllegalArgumentException("host id must not be blank");
    }
  }

  @Override
  public String toString() {
    return value;
  }
}
