package dev.ferry.kvm;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import dev.ferry.spi.DriverException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * One vCPU: its KVM descriptor, its mapped {@code struct kvm_run}, and the thread that runs the
 * {@code KVM_RUN} loop and emulates the port I/O the guest exits for.
 *
 * <p>Design note: how a vCPU is stopped. A vCPU inside {@code KVM_RUN} leaves it only for a guest
 * exit or a signal. The vCPU thread keeps a real-time signal ({@link #kickSignal()}) <em>blocked</em>
 * in user space and gives KVM, with {@code KVM_SET_SIGNAL_MASK}, a mask with that signal
 * <em>unblocked</em> for the time it runs the guest. {@link VcpuGate#kick} sends it with
 * {@code pthread_kill}. Sent while the thread is in the guest, it makes {@code KVM_RUN} return
 * {@code EINTR} at once; sent at any other moment, it stays pending (blocked), and the next
 * {@code KVM_RUN} returns {@code EINTR} before running a single guest instruction. The pending signal
 * is the latch that closes the race between "check the pause flag" and "enter the guest", so no
 * {@code immediate_exit} write is needed; the thread drains it with {@code sigtimedwait} and no
 * handler ever runs in the JVM.
 *
 * <p>An I/O exit is complete only when {@code KVM_RUN} is entered again (KVM then stores an
 * {@code in}'s data and moves {@code rip} past the instruction). Before it parks for a pause, a vCPU
 * whose last exit was an I/O exit therefore re-enters once with the signal pending: KVM finishes the
 * instruction and returns {@code EINTR} without running another one. The registers saved while
 * paused are thus those after the instruction, as the KVM API documentation asks for migration.
 *
 * <p>Any exit the VMM does not handle (a port it does not emulate, {@code hlt} with nothing to wake
 * the vCPU, a shutdown or triple fault, an MMIO access, an entry failure, an internal error) fails the
 * VM with a message saying what the guest did and where; the thread then parks for good.
 *
 * <p>Thread-safety: the loop runs on its own thread; register access ({@code get*}/{@code set*}) is
 * for other threads while the vCPU is parked or not yet started, which {@link VcpuGate} orders.
 */
final class Vcpu implements Runnable {
  /** MSRs saved and restored with the device state; the first, {@code IA32_TSC}, keeps the guest's clock. */
  static final int[] MSRS = {0x10, 0x174, 0x175, 0x176, 0x277, 0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084,
      0xc0000102, 0xc0000103};
  static final int MSR_TSC = 0x10;
  private static final long SLEEP_QUANTUM_NANOS = 1_000_000;

  private final KvmVm vm;
  private final VcpuGate gate;
  final int index;
  final int fd;
  private final Pointer runArea;
  private final long runSize;
  private final ByteBuffer run;
  private final PortDevices devices;
  private final Memory kickSet = new Memory(Libc.SIGSET_T_SIZE);
  private final Memory zeroTimeout = new Memory(16);
  private final byte[] ioData = new byte[8];
  private boolean ioPending;
  /** Exits seen, for statistics. */
  volatile long exits;

  Vcpu(KvmVm vm, VcpuGate gate, int vmFd, int index, PortDevices devices) {
    this.vm = vm;
    this.gate = gate;
    this.index = index;
    this.devices = devices;
    KvmSystem sys = KvmSystem.get();
    int f;
    try {
      f = Libc.ioctl(vmFd, KvmAbi.KVM_CREATE_VCPU, (long) index);
    } catch (LastErrorException e) {
      throw new DriverException("KVM_CREATE_VCPU " + index + " failed: " + Errno.describe(e.getErrorCode()));
    }
    this.fd = f;
    try {
      runSize = sys.vcpuMmapSize;
      runArea = Libc.mmap(null, runSize, Libc.PROT_READ | Libc.PROT_WRITE, Libc.MAP_SHARED, fd, 0);
      run = runArea.getByteBuffer(0, runSize).order(ByteOrder.LITTLE_ENDIAN);
      Libc.ioctl(fd, KvmAbi.KVM_SET_CPUID2, sys.supportedCpuid);
    } catch (LastErrorException e) {
      KvmSystem.closeQuietly(fd);
      throw new DriverException("setting up vCPU " + index + " failed: " + Errno.describe(e.getErrorCode()));
    }
    zeroTimeout.clear();
  }

  /** The signal that kicks a vCPU out of the guest: {@code SIGRTMIN + 6}, which the JVM does not use. */
  static int kickSignal() {
    return Libc.__libc_current_sigrtmin() + 6;
  }

  // ------------------------------------------------------------------ the loop

  @Override
  public void run() {
    try {
      blockKickSignal();
    } catch (RuntimeException e) {
      gate.exited(this, "vCPU " + index + " could not set up its signal mask: " + e.getMessage());
      return;
    }
    gate.tid(this, Libc.syscall(Libc.SYS_GETTID, 0));
    if (!gate.started(this, Libc.pthread_self())) {
      gate.exited(this, null);
      return;
    }
    String failure = null;
    long owedNanos = 0;
    try {
      while (true) {
        VcpuGate.Step step = gate.next(this, ioPending);
        if (step == VcpuGate.Step.EXIT) {
          break;
        }
        if (step == VcpuGate.Step.FLUSH) {
          // Finish the pending I/O instruction and come back without running another one.
          Libc.pthread_kill(gate.thread(this), kickSignal());
        }
        long t0 = System.nanoTime();
        String error = runOnce();
        long ran = System.nanoTime() - t0;
        if (error != null) {
          failure = error;
          if (gate.failed(this, error)) {
            vm.guestFailed(error);
          }
          continue;
        }
        int throttle = vm.throttlePercent();
        if (throttle > 0) {
          owedNanos += ran * throttle / (100 - throttle);
          if (owedNanos >= SLEEP_QUANTUM_NANOS) {
            owedNanos -= gate.sleep(owedNanos);
          }
        } else {
          owedNanos = 0;
        }
      }
    } catch (RuntimeException | Error e) {
      failure = "vCPU " + index + " thread failed: " + e;
      if (gate.failed(this, failure)) {
        vm.guestFailed(failure);
      }
    } finally {
      gate.exited(this, failure);
      // No kick is sent after exited(); take off one sent before, so no signal outlives the thread
      // (a thread-directed signal still pending at its exit would be delivered with its default
      // action, which ends the process).
      drainKick();
    }
  }

  /** One {@code KVM_RUN} and the handling of its exit; returns an error message when the guest must stop. */
  private String runOnce() {
    try {
      Libc.ioctl(fd, KvmAbi.KVM_RUN, 0L);
    } catch (LastErrorException e) {
      if (e.getErrorCode() == Libc.EINTR) {
        ioPending = false;
        drainKick();
        return null;
      }
      return "KVM_RUN failed: " + Errno.describe(e.getErrorCode()) + " at " + where();
    }
    ioPending = false;
    exits++;
    int reason = run.getInt(KvmAbi.RUN_EXIT_REASON);
    switch (reason) {
      case KvmAbi.KVM_EXIT_IO:
        ioPending = true;
        return io();
      case KvmAbi.KVM_EXIT_INTR:
        drainKick();
        return null;
      case KvmAbi.KVM_EXIT_HLT:
        return "the guest executed hlt at " + where() + ": this VMM delivers no interrupts, so it would never wake";
      case KvmAbi.KVM_EXIT_SHUTDOWN:
        return "the guest shut down (triple fault or shutdown) at " + where();
      case KvmAbi.KVM_EXIT_MMIO:
        return String.format("the guest %s %d bytes at physical address 0x%x, outside its RAM (no MMIO is emulated), at %s",
            run.get(KvmAbi.RUN_MMIO_IS_WRITE) != 0 ? "wrote" : "read", run.getInt(KvmAbi.RUN_MMIO_LEN),
            run.getLong(KvmAbi.RUN_MMIO_PHYS_ADDR), where());
      case KvmAbi.KVM_EXIT_FAIL_ENTRY:
        return String.format("KVM could not enter the guest (hardware entry failure reason 0x%x) at %s",
            run.getLong(KvmAbi.RUN_FAIL_ENTRY_REASON), where());
      case KvmAbi.KVM_EXIT_INTERNAL_ERROR:
        int sub = run.getInt(KvmAbi.RUN_INTERNAL_SUBERROR);
        return "KVM internal error (suberror " + sub + (sub == 1 ? ": instruction emulation failed, as for a fault"
            + " the guest cannot handle" : "") + ") at " + where();
      case KvmAbi.KVM_EXIT_SYSTEM_EVENT:
        return "the guest raised a system event (reset or shutdown) at " + where();
      default:
        return "unhandled KVM exit reason " + reason + " at " + where();
    }
  }

  private String io() {
    boolean out = run.get(KvmAbi.RUN_IO_DIRECTION) == KvmAbi.KVM_EXIT_IO_OUT;
    int size = run.get(KvmAbi.RUN_IO_SIZE);
    int port = run.getShort(KvmAbi.RUN_IO_PORT) & 0xffff;
    int count = run.getInt(KvmAbi.RUN_IO_COUNT);
    long dataOffset = run.getLong(KvmAbi.RUN_IO_DATA_OFFSET);
    if (size < 1 || size > 4 || count < 1 || dataOffset < 0 || dataOffset + (long) size * count > runSize) {
      return "malformed I/O exit (port 0x" + Integer.toHexString(port) + ", size " + size + ", count " + count + ")";
    }
    int off = (int) dataOffset;
    for (int i = 0; i < count; i++, off += size) {
      boolean handled;
      if (out) {
        for (int b = 0; b < size; b++) {
          ioData[b] = run.get(off + b);
        }
        handled = devices.out(port, size, ioData);
      } else {
        handled = devices.in(port, size, ioData);
        if (handled) {
          for (int b = 0; b < size; b++) {
            run.put(off + b, ioData[b]);
          }
        }
      }
      if (!handled) {
        return String.format("the guest %s port 0x%x (%d byte%s), which this VMM does not emulate, at %s",
            out ? "wrote to" : "read from", port, size, size == 1 ? "" : "s", where());
      }
    }
    return null;
  }

  private String where() {
    try {
      Memory regs = new Memory(KvmAbi.REGS_SIZE);
      Libc.ioctl(fd, KvmAbi.KVM_GET_REGS, regs);
      return String.format("rip=0x%x", regs.getLong(KvmAbi.REGS_RIP));
    } catch (LastErrorException e) {
      return "an unknown rip";
    }
  }

  private void blockKickSignal() {
    Libc.sigemptyset(kickSet);
    Libc.sigaddset(kickSet, kickSignal());
    int r = Libc.pthread_sigmask(Libc.SIG_BLOCK, kickSet, null);
    if (r != 0) {
      throw new DriverException("pthread_sigmask: " + Errno.describe(r));
    }
    Memory current = new Memory(Libc.SIGSET_T_SIZE);
    r = Libc.pthread_sigmask(Libc.SIG_BLOCK, null, current);
    if (r != 0) {
      throw new DriverException("pthread_sigmask: " + Errno.describe(r));
    }
    // While in the guest: the thread's mask, minus the kick signal.
    long mask = current.getLong(0) & ~(1L << (kickSignal() - 1));
    Memory m = new Memory(KvmAbi.SIGNAL_MASK_SIZE + Libc.KERNEL_SIGSET_SIZE);
    m.setInt(KvmAbi.SIGNAL_MASK_LEN, Libc.KERNEL_SIGSET_SIZE);
    m.setLong(KvmAbi.SIGNAL_MASK_SIGSET, mask);
    try {
      Libc.ioctl(fd, KvmAbi.KVM_SET_SIGNAL_MASK, m);
    } catch (LastErrorException e) {
      throw new DriverException("KVM_SET_SIGNAL_MASK: " + Errno.describe(e.getErrorCode()));
    }
  }

  /**
   * Takes every pending kick off the thread. Real-time signals queue (two kicks are two pending
   * instances), so this loops until none is left.
   */
  private void drainKick() {
    for (int i = 0; i < 1_000_000; i++) {
      try {
        Libc.sigtimedwait(kickSet, null, zeroTimeout);
      } catch (LastErrorException e) {
        return;                                     // EAGAIN: nothing (more) pending
      }
    }
  }

  // ------------------------------------------------------------------ registers

  byte[] get(long ioctl, int size) {
    Memory m = new Memory(size);
    m.clear();
    try {
      Libc.ioctl(fd, ioctl, m);
    } catch (LastErrorException e) {
      throw new DriverException("vCPU " + index + " ioctl 0x" + Long.toHexString(ioctl) + " failed: "
          + Errno.describe(e.getErrorCode()));
    }
    return m.getByteArray(0, size);
  }

  void set(long ioctl, byte[] data) {
    Memory m = new Memory(data.length);
    m.write(0, data, 0, data.length);
    try {
      Libc.ioctl(fd, ioctl, m);
    } catch (LastErrorException e) {
      throw new DriverException("vCPU " + index + " ioctl 0x" + Long.toHexString(ioctl) + " failed: "
          + Errno.describe(e.getErrorCode()));
    }
  }

  /** Reads one MSR; empty when KVM does not have it for this vCPU. */
  java.util.OptionalLong getMsr(int index) {
    Memory m = new Memory(KvmAbi.MSRS_SIZE + KvmAbi.MSR_ENTRY_SIZE);
    m.clear();
    m.setInt(KvmAbi.MSRS_NMSRS, 1);
    m.setInt(KvmAbi.MSRS_ENTRIES + KvmAbi.MSR_ENTRY_INDEX, index);
    try {
      int n = Libc.ioctl(fd, KvmAbi.KVM_GET_MSRS, m);
      return n == 1 ? java.util.OptionalLong.of(m.getLong(KvmAbi.MSRS_ENTRIES + KvmAbi.MSR_ENTRY_DATA))
          : java.util.OptionalLong.empty();
    } catch (LastErrorException e) {
      return java.util.OptionalLong.empty();
    }
  }

  /** Writes one MSR. */
  void setMsr(int index, long value) {
    Memory m = new Memory(KvmAbi.MSRS_SIZE + KvmAbi.MSR_ENTRY_SIZE);
    m.clear();
    m.setInt(KvmAbi.MSRS_NMSRS, 1);
    m.setInt(KvmAbi.MSRS_ENTRIES + KvmAbi.MSR_ENTRY_INDEX, index);
    m.setLong(KvmAbi.MSRS_ENTRIES + KvmAbi.MSR_ENTRY_DATA, value);
    int n;
    try {
      n = Libc.ioctl(fd, KvmAbi.KVM_SET_MSRS, m);
    } catch (LastErrorException e) {
      throw new DriverException("KVM_SET_MSRS 0x" + Integer.toHexString(index) + ": " + Errno.describe(e.getErrorCode()));
    }
    if (n != 1) {
      throw new DriverException("KVM refused to set MSR 0x" + Integer.toHexString(index));
    }
  }

  /** Puts the vCPU at a multiboot entry: flat 4 GiB segments, protected mode, paging off. */
  void boot(MultibootLoader.Entry entry) {
    ByteBuffer s = ByteBuffer.wrap(get(KvmAbi.KVM_GET_SREGS, KvmAbi.SREGS_SIZE)).order(ByteOrder.LITTLE_ENDIAN);
    segment(s, KvmAbi.SREGS_CS, 0x08, 11);
    for (int seg : new int[] {KvmAbi.SREGS_DS, KvmAbi.SREGS_ES, KvmAbi.SREGS_FS, KvmAbi.SREGS_GS, KvmAbi.SREGS_SS}) {
      segment(s, seg, 0x10, 3);
    }
    long cr0 = s.getLong(KvmAbi.SREGS_CR0);
    s.putLong(KvmAbi.SREGS_CR0, (cr0 | 1L) & ~(1L << 31));
    set(KvmAbi.KVM_SET_SREGS, s.array());
    ByteBuffer r = ByteBuffer.allocate(KvmAbi.REGS_SIZE).order(ByteOrder.LITTLE_ENDIAN);
    r.putLong(KvmAbi.REGS_RAX, entry.eax());
    r.putLong(KvmAbi.REGS_RBX, entry.ebx());
    r.putLong(KvmAbi.REGS_RIP, entry.eip());
    r.putLong(KvmAbi.REGS_RFLAGS, 2);
    set(KvmAbi.KVM_SET_REGS, r.array());
  }

  private static void segment(ByteBuffer s, int at, int selector, int type) {
    s.putLong(at + KvmAbi.SEGMENT_BASE, 0);
    s.putInt(at + KvmAbi.SEGMENT_LIMIT, 0xffffffff);
    s.putShort(at + KvmAbi.SEGMENT_SELECTOR, (short) selector);
    s.put(at + KvmAbi.SEGMENT_TYPE, (byte) type);
    s.put(at + KvmAbi.SEGMENT_PRESENT, (byte) 1);
    s.put(at + KvmAbi.SEGMENT_DPL, (byte) 0);
    s.put(at + KvmAbi.SEGMENT_DB, (byte) 1);
    s.put(at + KvmAbi.SEGMENT_S, (byte) 1);
    s.put(at + KvmAbi.SEGMENT_L, (byte) 0);
    s.put(at + KvmAbi.SEGMENT_G, (byte) 1);
    s.put(at + KvmAbi.SEGMENT_AVL, (byte) 0);
    s.put(at + KvmAbi.SEGMENT_UNUSABLE, (byte) 0);
  }

  /** Unmaps {@code kvm_run} and closes the descriptor; only once the thread has exited. */
  void close() {
    try {
      Libc.munmap(runArea, runSize);
    } catch (LastErrorException e) {
      // the descriptor is closed below regardless
    }
    KvmSystem.closeQuietly(fd);
  }
}
