/**
 * Ferry's simulated hypervisor: real off-heap guest memory, vCPU threads running seeded workloads,
 * real dirty logging, post-copy faults and fault injection, behind the {@code sim://} URI.
 */
module dev.ferry.sim {
  requires transitive dev.ferry.spi;
  // Guest memory in chunks mapped with mmap (NativeChunks).
  requires com.sun.jna;
  // sun.misc.Unsafe.invokeCleaner frees a direct buffer at once (DirectBuffers).
  requires jdk.unsupported;
  // The machine's physical memory (com.sun.management.OperatingSystemMXBean) bounds what an
  // incoming VM may take (MachineMemory).
  requires jdk.management;

  exports dev.ferry.sim;

  provides dev.ferry.spi.HypervisorProvider with dev.ferry.sim.SimProvider;
}
