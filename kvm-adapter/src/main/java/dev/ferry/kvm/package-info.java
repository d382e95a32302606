/**
 * A small VMM over {@code /dev/kvm}, and Ferry's backend for it ({@code kvm://<host>}): guests whose
 * memory and KVM dirty log Ferry's own engine migrates. The reference for vendors of a VMM: every
 * facet of {@code dev.ferry.spi} that the engine-driven plane uses, over a real hypervisor.
 *
 * <p>What the VMM does: one KVM VM per {@link dev.ferry.kvm.KvmVm}, its RAM one private anonymous
 * mapping registered as memory slot 0 (and exposed with no copy as the VM's {@code GuestMemory}), a
 * vCPU thread running {@code KVM_RUN}, the port I/O of a serial port, the CMOS clock and PIT channel
 * 2 ({@link dev.ferry.kvm.PortDevices}), and a multiboot v1 loader for 32-bit kernels that run with
 * paging off (the project's test guest, {@code it/guest/}). Native calls go through JNA to libc
 * ({@code open}, {@code ioctl}, {@code mmap}, signals); structure layouts are written out in
 * {@code KvmAbi} and checked against {@code <linux/kvm.h>} by a test that compiles a C program.
 *
 * <pre>{@code
 * KvmHost a = KvmHost.named("a");                        // or Ferry.connect("kvm://a")
 * KvmVm vm = a.createVm(KvmVmSpec.builder("guest")
 *     .memory(DataSize.mib(72)).kernel(Path.of("it/target/guest.elf"))
 *     .cmdline("mb=64 rate=4").build());
 * a.addSerialListener((name, line) -> System.out.println(name + ": " + line));
 * }</pre>
 *
 * <p>Post-copy uses {@code userfaultfd} ({@link dev.ferry.kvm.KvmPostCopy}), where the process may
 * create one. Not offered: more than one vCPU per VM, interrupts, paging-on guests on nested hosts.
 */
package dev.ferry.kvm;
