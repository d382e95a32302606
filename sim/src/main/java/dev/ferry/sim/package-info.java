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
 */
package dev.ferry.sim;
