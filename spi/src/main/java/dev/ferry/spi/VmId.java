package dev.ferry.spi;

import java.util.Objects;

/** A VM's stable identity (for libvirt the domain UUID). It survives migration unchanged. */
public record VmId(String value) {
  public VmId {
    Objects.requireNonNull(value, "value");
    if (value.isBlank()) {
      throw new IllegalArgumentException("VM id must not be blank");
    }
  }

  @Override
  public String toString() {
    return value;
  }
}
