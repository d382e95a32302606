package dev.ferry.sim;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What this machine can really give to guest memory: the figures a sim host's admission is
 * decided from.
 *
 * <p>Design note: a sim host's declared memory is a budget, and two hosts in one process (the quick
 * start, most tests) share one machine. So an incoming VM is admitted only if the memory it will
 * receive fits what the kernel reports available now ({@code MemAvailable} in {@code /proc/meminfo},
 * which counts reclaimable cache), plus the chunks this process keeps for reuse, minus what other
 * incoming VMs in this process were promised and have not yet written, minus a reserve for the
 * JVM and the rest of the machine. Elsewhere the JVM's view of free physical memory stands in for
 * {@code MemAvailable}. {@link SimFaults#machineMemoryAvailable} plays a machine short of memory.
 *
 * <p>Thread-safety: safe from any thread.
 */
final class MachineMemory {
  /** Kept free for the JVM, the kernel and everything else on the machine: 512 MiB. */
  static final long RESERVE = 512L << 20;

  private MachineMemory() {}

  /** Physical memory of the machine, in bytes (0 if unknown). */
  static long total() {
    if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
      return os.getTotalMemorySize();
    }
    return 0;
  }

  /** Bytes the kernel could give now without swapping. */
  static long available() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
        if (line.startsWith("MemAvailable:")) {
          String kib = line.substring("MemAvailable:".length()).trim().split("\\s+")[0];
          return Long.parseLong(kib) * 1024;
        }
      }
    } catch (IOException | RuntimeException e) {
      // not Linux, or not readable: fall through
    }
    if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
      return os.getFreeMemorySize();
    }
    return Long.MAX_VALUE;
  }
}
