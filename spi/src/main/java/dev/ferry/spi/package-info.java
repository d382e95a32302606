/**
 * The contract a hypervisor backend implements to plug into Ferry.
 *
 * <p>A backend ships a {@link dev.ferry.spi.HypervisorProvider} registered for
 * {@link java.util.ServiceLoader}; the provider opens a {@link dev.ferry.spi.HostDriver} per host
 * URI, and a host driver hands out {@link dev.ferry.spi.VmDriver}s. Everything a backend can do
 * beyond identity and pause/resume is an optional facet ({@link dev.ferry.spi.GuestMemory},
 * {@link dev.ferry.spi.DirtyLog}, {@link dev.ferry.spi.VcpuThrottle},
 * {@link dev.ferry.spi.DeviceState}, {@link dev.ferry.spi.HypervisorMigration}), exposed as an
 * {@link java.util.Optional} view, so a backend implements only what its hypervisor can do and the
 * engine picks the data plane from what is present.
 *
 * <p>This package depends on nothing but the JDK; backend authors compile against it alone.
 */
package dev.ferry.spi;
