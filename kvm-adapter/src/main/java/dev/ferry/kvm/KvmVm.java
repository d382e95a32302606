package dev.ferry.kvm;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import dev.ferry.spi.DeviceState;
import dev.ferry.spi.DirtyLog;
import dev.ferry.spi.DriverException;
import dev.ferry.spi.GuestMemory;
import dev.ferry.spi.VcpuThrottle;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmDriver;
import dev.ferry.spi.VmState;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A VM of this VMM: a KVM VM with one memory slot over {@link GuestRam}, its vCPUs, the emulated
 * port devices and the facets Ferry's engine migrates it with — {@link GuestMemory} (a zero-copy
 * view of the guest's RAM), {@link DirtyLog} (KVM's own), {@link VcpuThrottle} and
 * {@link DeviceState}.
 *
 * <p>Lifecycle. A VM booted by {@link KvmHost#createVm} starts RUNNING; one received by a
 * {@link KvmIncomingVm} starts when activated. {@link #pause()} returns once no vCPU executes a
 * guest instruction (see {@link Vcpu} for how), {@link #resume()} lets them run, {@link #stop()} ends
 * the vCPU threads and frees the VM, its RAM and descriptors. A guest that does something this VMM
 * does not emulate (an unknown port, {@code hlt}, a triple fault, an access outside its RAM) fails:
 * its vCPUs park for good, the state reads PAUSED (memory and registers are kept for inspection),
 * {@link #failure()} says what happened, the serial log and listeners get a line
 * {@value #FAILURE_PREFIX}<i>reason</i>, and {@link #resume()} refuses.
 *
 * <p>The guest's serial output goes line by line to {@link #serialLog()} (appended, flushed per
 * line) and to every {@link SerialListener} of the VM and of its host.
 *
 * <p>Thread-safety: safe from any thread; lifecycle calls and device-state saves and loads are
 * serialised on the VM.
 */
public final class KvmVm implements VmDriver {
  static final int SLOT = 0;
  /** The line written to the serial log and listeners when the guest fails, before the reason. */
  public static final String FAILURE_PREFIX = "ferry-kvm: guest stopped: ";
  private static final long PAUSE_TIMEOUT_MILLIS = 5_000;

  private final KvmHost host;
  private final VmDescription description;
  private final GuestRam ram;
  private final int vmFd;
  private final VcpuGate gate;
  private final Vcpu[] vcpus;
  private final PortDevices devices;
  private final KvmDirtyLog dirtyLog;
  private final Throttle throttle = new Throttle();
  private final Devices deviceState = new Devices();
  private final Path serialLog;
  private final OutputStream serialOut;
  private final List<SerialListener> listeners = new CopyOnWriteArrayList<>();
  private volatile VmState state;
  private volatile int throttlePercent;
  private volatile long lastPauseNanos = -1;
  private boolean hasGuest;
  private boolean started;
  private KvmPostCopy postCopy;
  /** Each vCPU's TSC when the VM was last paused. */
  private final OptionalLong[] pausedTsc;
  /** {@link System#nanoTime()} at the last pause (or creation), the time the devices' state is saved as of. */
  private long pausedAtNanos = System.nanoTime();

  /** Creates the KVM VM, its RAM and its vCPUs; nothing runs until {@link #start()}. */
  KvmVm(KvmHost host, VmDescription description, Path serialLog, VmState initial) {
    this.host = host;
    this.description = description;
    this.state = initial;
    if (description.pageSize() != GuestRam.PAGE_SIZE) {
      throw new DriverException("this VMM uses 4 KiB pages, not " + description.pageSize());
    }
    KvmSystem sys = KvmSystem.get();
    this.serialLog = serialLog;
    try {
      Files.createDirectories(serialLog.getParent());
      this.serialOut = Files.newOutputStream(serialLog, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
          StandardOpenOption.WRITE);
    } catch (IOException e) {
      throw new DriverException("cannot open the serial log " + serialLog + ": " + e.getMessage(), e);
    }
    int fd;
    try {
      fd = Libc.ioctl(sys.fd, KvmAbi.KVM_CREATE_VM, 0L);
    } catch (LastErrorException e) {
      closeSerial();
      throw new DriverException("KVM_CREATE_VM failed: " + Errno.describe(e.getErrorCode()));
    }
    this.vmFd = fd;
    GuestRam r = null;
    List<Vcpu> made = new ArrayList<>();
    this.devices = new PortDevices(this::serialLine, Clock.systemUTC());
    this.gate = new VcpuGate(description.vcpus());
    try {
      r = new GuestRam(description.memory().bytes());
      this.ram = r;
      setSlot(0);
      for (int i = 0; i < description.vcpus(); i++) {
        made.add(new Vcpu(this, gate, vmFd, i, devices));
      }
    } catch (RuntimeException e) {
      for (Vcpu v : made) {
        v.close();
      }
      KvmSystem.closeQuietly(vmFd);
      if (r != null) {
        r.release();
      }
      closeSerial();
      throw e;
    }
    this.vcpus = made.toArray(new Vcpu[0]);
    this.pausedTsc = new OptionalLong[vcpus.length];
    java.util.Arrays.fill(pausedTsc, OptionalLong.empty());
    this.dirtyLog = new KvmDirtyLog(this, ram.pageCount());
  }

  /** Loads a multiboot kernel and points the boot vCPU at it. */
  synchronized void boot(byte[] kernel, String cmdline) {
    MultibootLoader.Entry e = MultibootLoader.load(kernel, cmdline, ram);
    vcpus[0].boot(e);
    hasGuest = true;
  }

  /** Starts the vCPU threads (when there is a guest to run); the VM is then RUNNING. */
  synchronized void start() {
    if (started) {
      return;
    }
    started = true;
    state = VmState.RUNNING;
    if (!hasGuest) {
      return;                                       // activated with no device state: nothing to execute
    }
    gate.resume();
    for (Vcpu v : vcpus) {
      Thread t = new Thread(v, "ferry-kvm-" + host.name() + "-" + description.name() + "-vcpu" + v.index);
      t.setDaemon(true);
      t.start();
    }
    gate.awaitStarted(PAUSE_TIMEOUT_MILLIS);
  }

  KvmHost host() {
    return host;
  }

  VcpuGate gate() {
    return gate;
  }

  /** Set when the VM is received by post-copy, before it starts. */
  synchronized void postCopy(KvmPostCopy pc) {
    this.postCopy = pc;
  }

  GuestRam ram() {
    return ram;
  }

  int vmFd() {
    return vmFd;
  }

  int throttlePercent() {
    return throttlePercent;
  }

  /** The VM's name. */
  public String name() {
    return description.name();
  }

  @Override
  public VmDescription description() {
    return description;
  }

  @Override
  public VmState state() {
    VmState s = state;
    if (s == VmState.RUNNING && gate.failure() != null) {
      return VmState.PAUSED;                        // a failed guest runs no more
    }
    return s;
  }

  /** Called once, by the vCPU that met the failure. */
  void guestFailed(String message) {
    serialLine(FAILURE_PREFIX + message);
  }

  /** The file the guest's serial output is appended to. */
  public Path serialLog() {
    return serialLog;
  }

  /** Adds a listener for the guest's serial lines. */
  public void addSerialListener(SerialListener listener) {
    listeners.add(java.util.Objects.requireNonNull(listener, "listener"));
  }

  /** Why the guest stopped running, if it failed. */
  public Optional<String> failure() {
    return Optional.ofNullable(gate.failure());
  }

  /** How long the last {@link #pause()} took to get every vCPU out of the guest; empty before one. */
  public Optional<Duration> lastPauseLatency() {
    long n = lastPauseNanos;
    return n < 0 ? Optional.empty() : Optional.of(Duration.ofNanos(n));
  }

  /** Guest exits handled so far, over all vCPUs. */
  public long exits() {
    long n = 0;
    for (Vcpu v : vcpus) {
      n += v.exits;
    }
    return n;
  }

  /**
   * The guest's time-stamp counter ({@code IA32_TSC} of vCPU 0), read while paused.
   *
   * @throws IllegalStateException if the VM is running
   */
  public synchronized long guestTsc() {
    requirePaused("the guest's TSC is read");
    return tsc(vcpus[0]).orElseThrow(() -> new DriverException("KVM has no IA32_TSC"));
  }

  @Override
  public synchronized void pause() {
    if (state == VmState.STOPPED) {
      throw new IllegalStateException("VM " + name() + " is stopped");
    }
    if (state != VmState.RUNNING) {
      return;
    }
    lastPauseNanos = gate.pause(PAUSE_TIMEOUT_MILLIS);
    // The TSC keeps counting in KVM while the vCPUs are parked; the guest's clock is where it was at
    // the pause, and that is what a save carries (so two saves of a paused VM are equal, and the
    // destination's guest continues from the moment it was stopped).
    for (Vcpu v : vcpus) {
      // A vCPU blocked on a missing page (post-copy) is still inside KVM_RUN, holding its vCPU
      // lock: reading its registers would wait for the page. Its TSC is read at the next save.
      pausedTsc[v.index] = gate.isParked(v) ? v.getMsr(Vcpu.MSR_TSC) : OptionalLong.empty();
    }
    pausedAtNanos = System.nanoTime();
    state = VmState.PAUSED;
  }

  @Override
  public synchronized void resume() {
    if (state == VmState.STOPPED) {
      throw new IllegalStateException("VM " + name() + " is stopped");
    }
    String failed = gate.failure();
    if (failed != null) {
      throw new IllegalStateException("VM " + name() + " cannot run again: " + failed);
    }
    if (state != VmState.PAUSED) {
      return;
    }
    if (hasGuest) {
      KvmPostCopy pc = postCopy;
      gate.resume(() -> {
        if (pc != null) {
          pc.wakeAll();                             // pages placed while paused woke nobody
        }
      });
    }
    java.util.Arrays.fill(pausedTsc, OptionalLong.empty());
    state = VmState.RUNNING;
  }

  @Override
  public void stop() {
    synchronized (this) {
      if (state == VmState.STOPPED) {
        return;
      }
      destroy();
    }
    host.removeVm(this);
  }

  /** Ends the vCPU threads and frees everything; the VM is STOPPED. */
  synchronized void destroy() {
    if (state == VmState.STOPPED) {
      return;
    }
    state = VmState.STOPPED;
    if (postCopy != null) {
      postCopy.close();                             // releases a vCPU blocked on a missing page
    }
    boolean ended = gate.stop(PAUSE_TIMEOUT_MILLIS);
    dirtyLog.released();
    if (ended) {
      for (Vcpu v : vcpus) {
        v.close();
      }
      KvmSystem.closeQuietly(vmFd);
      ram.release();
    }
    // else: a thread still inside KVM_RUN would fault on freed memory; leave it mapped (a leak, never a crash).
    closeSerial();
  }

  /** Called by a vCPU's devices for each complete serial line. */
  private void serialLine(String line) {
    try {
      serialOut.write((line + "\n").getBytes(StandardCharsets.ISO_8859_1));
      serialOut.flush();
    } catch (IOException e) {
      // The log is best effort; the listeners still get the line.
    }
    for (SerialListener l : listeners) {
      l.line(name(), line);
    }
    host.serialLine(name(), line);
  }

  private void closeSerial() {
    try {
      if (serialOut != null) {
        serialOut.close();
      }
    } catch (IOException e) {
      // nothing to do
    }
  }

  /** Sets the memory slot's flags (0 or {@code KVM_MEM_LOG_DIRTY_PAGES}). */
  void setDirtyLogging(boolean on) {
    ram.whileMapped(() -> {
      setSlot(on ? KvmAbi.KVM_MEM_LOG_DIRTY_PAGES : 0);
      return null;
    });
  }

  private void setSlot(int flags) {
    Memory region = new Memory(KvmAbi.MEMORY_REGION_SIZE);
    region.clear();
    region.setInt(KvmAbi.MEMORY_REGION_SLOT, SLOT);
    region.setInt(KvmAbi.MEMORY_REGION_FLAGS, flags);
    region.setLong(KvmAbi.MEMORY_REGION_GUEST_PHYS_ADDR, 0);
    region.setLong(KvmAbi.MEMORY_REGION_MEMORY_SIZE, ram.size());
    region.setLong(KvmAbi.MEMORY_REGION_USERSPACE_ADDR, ram.address());
    try {
      Libc.ioctl(vmFd, KvmAbi.KVM_SET_USER_MEMORY_REGION, region);
    } catch (LastErrorException e) {
      throw new DriverException("KVM_SET_USER_MEMORY_REGION (flags " + flags + ") failed: "
          + Errno.describe(e.getErrorCode()));
    }
  }

  private void requirePaused(String what) {
    if (state != VmState.PAUSED && state != VmState.INCOMING) {
      throw new IllegalStateException(what + " only while the VM is paused; VM " + name() + " is " + state);
    }
  }

  /** Saves every vCPU's registers, events and MSRs and the devices' state. */
  synchronized byte[] saveState() {
    requirePaused("device state can be saved");
    for (Vcpu v : vcpus) {
      if (started && hasGuest && !gate.isParked(v) && gate.failure() == null) {
        throw new IllegalStateException("vCPU " + v.index + " of " + name() + " waits for a page that has not arrived"
            + " (post-copy): its state cannot be saved until it has");
      }
    }
    KvmSystem sys = KvmSystem.get();
    KvmDeviceState.VcpuState[] out = new KvmDeviceState.VcpuState[vcpus.length];
    for (int i = 0; i < vcpus.length; i++) {
      Vcpu v = vcpus[i];
      byte[] regs = v.get(KvmAbi.KVM_GET_REGS, KvmAbi.REGS_SIZE);
      byte[] sregs = v.get(KvmAbi.KVM_GET_SREGS, KvmAbi.SREGS_SIZE);
      byte[] fpu = v.get(KvmAbi.KVM_GET_FPU, KvmAbi.FPU_SIZE);
      byte[] events = sys.vcpuEvents ? v.get(KvmAbi.KVM_GET_VCPU_EVENTS, KvmAbi.VCPU_EVENTS_SIZE) : null;
      List<int[]> idx = new ArrayList<>();
      List<Long> val = new ArrayList<>();
      for (int msr : Vcpu.MSRS) {
        OptionalLong value = msr == Vcpu.MSR_TSC ? tsc(v) : v.getMsr(msr);
        if (value.isPresent()) {
          idx.add(new int[] {msr});
          val.add(value.getAsLong());
        }
      }
      int[] ia = idx.stream().mapToInt(a -> a[0]).toArray();
      long[] va = val.stream().mapToLong(Long::longValue).toArray();
      out[i] = new KvmDeviceState.VcpuState(regs, sregs, fpu, events, ia, va);
    }
    ByteArrayOutputStream dev = new ByteArrayOutputStream();
    try (DataOutputStream d = new DataOutputStream(dev)) {
      d.writeBoolean(hasGuest);
      devices.save(d, pausedAtNanos);
    } catch (IOException e) {
      throw new DriverException("saving device state: " + e.getMessage(), e);
    }
    return KvmDeviceState.encode(new KvmDeviceState.Snapshot(ram.pageCount(), out, dev.toByteArray()));
  }

  /** The vCPU's TSC as of the pause (the live one for a VM that never ran). */
  private OptionalLong tsc(Vcpu v) {
    OptionalLong t = pausedTsc[v.index];
    return t.isPresent() ? t : v.getMsr(Vcpu.MSR_TSC);
  }

  /** Loads a state saved by {@link #saveState()} into the (paused or not yet started) vCPUs. */
  synchronized void loadState(byte[] blob) {
    KvmDeviceState.Snapshot s = KvmDeviceState.decode(blob, ram.pageCount(), vcpus.length);
    requirePaused("device state can be loaded");
    boolean guest;
    try (DataInputStream d = new DataInputStream(new ByteArrayInputStream(s.devices()))) {
      guest = d.readBoolean();
      devices.load(d);
    } catch (IOException e) {
      throw new IllegalArgumentException("device section of the KVM device state is malformed: " + e.getMessage(), e);
    }
    for (int i = 0; i < vcpus.length; i++) {
      Vcpu v = vcpus[i];
      KvmDeviceState.VcpuState st = s.vcpus()[i];
      v.set(KvmAbi.KVM_SET_SREGS, st.sregs());
      v.set(KvmAbi.KVM_SET_REGS, st.regs());
      v.set(KvmAbi.KVM_SET_FPU, st.fpu());
      if (st.events() != null && KvmSystem.get().vcpuEvents) {
        v.set(KvmAbi.KVM_SET_VCPU_EVENTS, st.events());
      }
      long tsc = -1;
      for (int k = 0; k < st.msrIndex().length; k++) {
        if (st.msrIndex()[k] == Vcpu.MSR_TSC) {
          tsc = st.msrValue()[k];
        } else {
          v.setMsr(st.msrIndex()[k], st.msrValue()[k]);
        }
      }
      if (tsc >= 0) {
        v.setMsr(Vcpu.MSR_TSC, tsc);                // last, so nothing written after it moves the clock
        pausedTsc[i] = OptionalLong.of(tsc);
      }
    }
    hasGuest = guest;
  }

  @Override
  public Optional<GuestMemory> memory() {
    return Optional.of(ram);
  }

  @Override
  public Optional<DirtyLog> dirtyLog() {
    return Optional.of(dirtyLog);
  }

  @Override
  public Optional<VcpuThrottle> throttle() {
    return Optional.of(throttle);
  }

  @Override
  public Optional<DeviceState> deviceState() {
    return Optional.of(deviceState);
  }

  @Override
  public String toString() {
    return "KvmVm[" + host.name() + "/" + name() + ", " + state + ", " + description.memory() + "]";
  }

  private final class Throttle implements VcpuThrottle {
    @Override
    public void setPercent(int percent) {
      if (percent < 0 || percent > 99) {
        throw new IllegalArgumentException("throttle must be from 0 to 99 percent: " + percent);
      }
      throttlePercent = percent;
    }

    @Override
    public int percent() {
      return throttlePercent;
    }
  }

  private final class Devices implements DeviceState {
    @Override
    public byte[] save() {
      return saveState();
    }

    @Override
    public void load(byte[] blob) {
      loadState(blob);
    }
  }
}
