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
 * <p>Not offered: post-copy (incoming VMs have no {@code PostCopyIncoming}, so the engine never
 * switches to it), more than one vCPU per VM, interrupts, paging-on guests on nested hosts. For
 * post-copy, measured on this machine kind with a C probe: {@code userfaultfd} in MISSING mode on
 * private anonymous memory works under KVM ({@code UFFDIO_COPY} resolves the fault a vCPU takes
 * inside {@code KVM_RUN}), but a vCPU blocked on a missing page is not released by a signal (its
 * {@code KVM_RUN} stayed blocked for 20 s after {@code pthread_kill}), so a pause during post-copy
 * would have to hold back wake-ups ({@code UFFDIO_COPY_MODE_DONTWAKE}, then {@code UFFDIO_WAKE} on
 * resume) rather than kick.
 */
package dev.ferry.kvm;
