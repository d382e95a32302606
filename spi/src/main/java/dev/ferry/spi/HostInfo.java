package dev.ferry.spi;

import java.util.Objects;

/**
 * What a host is: its stable id, its hostname, its CPU and its memory.
 *
 * @param id stable identity of the host
 * @param hostname the name the host reports
 * @param cpu the host CPU's model and features
 * @param memory the host's physical memory
 */
public record HostInfo(HostId id, String hostname, CpuInfo cpu, DataSize memory) {
  public HostInfo {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(hostname, "hostname");
    Objects.requireNonNull(cpu, "cpu");
    Objects.requireNonNull(memory, "memory");
  }
}
