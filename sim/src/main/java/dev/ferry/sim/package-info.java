/**
 * The simulated hypervisor: a backend that test harnesses use instead of hardware and that the
 * migration engine is measured on. Not a mock: guest memory is real off-heap memory
 * ({@link dev.ferry.sim.SimMemory}), vCPUs are real threads running seeded
 * {@link dev.ferry.sim.Workload}s, the dirty log is a real concurrent bitmap
 * ({@link dev.ferry.sim.SimDirtyLog}), and pause, throttle and device state behave as the SPI says.
 *
 * <p>Start from {@link dev.ferry.sim.SimHost#named(String)} to create VMs from code, or open
 * {@code sim://<host>} through {@link dev.ferry.sim.SimProvider}; both reach the same process-wide
 * host.
 *
 * <pre>{@code
 * SimHost a = SimHost.named("a");                       // or Ferry.connect("sim://a")
 * SimVm vm = a.createVm(SimVmSpec.builder("web-1")
 *     .memory(DataSize.gib(1)).vcpus(2)
 *     .workload(Workload.hotSet(50_000)).seed(42).build());
 * // ... migrate it, then on the destination:
 * SimVm moved = SimHost.named("b").vm("web-1").orElseThrow();
 * assert moved.memoryDigest() == digestTakenAtSwitchover;  // GuestMemoryDigest.of(memory)
 * SimHost.destroyAll();                                  // test isolation
 * }</pre>
 *
 * <p>A migration into a sim host goes through {@link dev.ferry.sim.SimHost#prepareIncoming}: the
 * engine writes pages into the {@link dev.ferry.sim.SimIncomingVm}'s memory, loads the source's
 * device-state blob (which carries the workload, the seed and every vCPU's generator state and write
 * counter) and activates it; the destination's vCPU threads then continue the source's exact page
 * sequence. {@code discard()} frees everything instead. {@link dev.ferry.sim.SimHost#faults()} arms
 * injected failures.
 */
package dev.ferry.sim;
