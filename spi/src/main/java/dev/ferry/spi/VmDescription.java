package dev.ferry.spi;

import java.util.Objects;

/**
 * What a VM is, as far as migration cares: identity, memory size and page size, vCPUs and CPU.
 *
 * <p>The source sends this to the destination, which creates an incoming VM from it.
 *
 * @param id stable identity; unchanged by migration
 * @param name the VM's name on its host
 * @param memory guest memory size, a whole number of pages
 * @param pageSize guest page size in bytes, a power of two
 * @param vcpus number of vCPUs, at least one
 * @param cpu the CPU model and features the guest runs with
 */
public record VmDescription(VmId id, String name, DataSize memory, int pageSize, int vcpus, CpuInfo cpu) {
  public VmDescription {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(memory, "memory");
    Objects.requireNonNull(cpu, "cpu");
    if (name.isBlank()) {
      throw new IllegalArgumentException("VM name must not be blank");
    }
    if (pageSize <= 0 || Integer.bitCount(pageSize) != 1) {
      throw new IllegalArgumentException("page size must be a positive power of two: " + pageSize);
    }
    if (memory.bytes() == 0 || memory.bytes() % pageSize != 0) {
      throw new IllegalArgumentException(
          "memory must be a positive whole number of " + pageSize + "-byte pages: " + memory.bytes() + " bytes");
    }
    if (vcpus < 1) {
      throw new IllegalArgumentException("a VM needs at least one vCPU: " + vcpus);
    }
  }

  /** Number of guest pages. */
  public long pageCount() {
    return memory.bytes() / pageSize;
  }
}
