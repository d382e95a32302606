package dev.ferry.kvm;

import dev.ferry.spi.CpuInfo;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.DriverException;
import dev.ferry.spi.HostDriver;
import dev.ferry.spi.HostId;
import dev.ferry.spi.HostInfo;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmId;
import dev.ferry.spi.VmState;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * One KVM host of this VMM: a named set of VMs in this process, all on the machine's
 * {@code /dev/kvm}. Several hosts can live in one process (a migration test's source and
 * destination); each keeps its guests' serial logs in a directory of its own
 * ({@code <serial-dir>/<vm>.serial.log}, by default {@code <java.io.tmpdir>/ferry-kvm/<host>}).
 *
 * <p>{@link #named(String)} reaches the process-wide host of that name, creating it; opening
 * {@code kvm://<name>} through {@link KvmProvider} reaches the same one. {@link #createVm} boots a
 * multiboot kernel; {@link #prepareIncoming} makes an empty VM for a migration to arrive in.
 *
 * <p>Thread-safety: safe from any thread.
 */
public final class KvmHost {
  private static final Map<String, KvmHost> HOSTS = new ConcurrentHashMap<>();
  private static final DataSize MACHINE_MEMORY = machineMemory();
  private static final CpuInfo CPU = new CpuInfo("kvm-x86-64/" + cpuModel(), Set.of());

  private final String name;
  private final Path serialDir;
  private final HostInfo info;
  private final Map<String, KvmVm> vms = new TreeMap<>();
  private final Map<String, KvmIncomingVm> incoming = new TreeMap<>();
  private final List<SerialListener> listeners = new CopyOnWriteArrayList<>();
  private boolean destroyed;

  private KvmHost(String name, Path serialDir) {
    this.name = name;
    this.serialDir = serialDir;
    String id = UUID.nameUUIDFromBytes(("ferry-kvm:" + machineId() + ":" + name).getBytes(StandardCharsets.UTF_8))
        .toString();
    this.info = new HostInfo(new HostId(id), name, CPU, MACHINE_MEMORY);
  }

  /** The host of this name in this process, created (with the default serial directory) if new. */
  public static KvmHost named(String name) {
    return named(name, null);
  }

  /**
   * The host of this name, created with {@code serialDir} if new.
   *
   * @param serialDir where the guests' serial logs go; null for the default
   * @throws IllegalArgumentException if the host exists with another serial directory
   */
  public static KvmHost named(String name, Path serialDir) {
    String n = normalise(name);
    Path dir = serialDir != null ? serialDir.toAbsolutePath()
        : Paths.get(System.getProperty("java.io.tmpdir"), "ferry-kvm", n).toAbsolutePath();
    KvmHost h = HOSTS.computeIfAbsent(n, k -> new KvmHost(k, dir));
    if (serialDir != null && !h.serialDir.equals(dir)) {
      throw new IllegalArgumentException("KVM host " + n + " exists with serial directory " + h.serialDir
          + ", not " + dir);
    }
    return h;
  }

  /** The host of this name, if it exists. */
  public static Optional<KvmHost> get(String name) {
    return Optional.ofNullable(HOSTS.get(normalise(name)));
  }

  /** The host behind a driver opened by {@link KvmProvider}. */
  public static KvmHost of(HostDriver driver) {
    if (driver instanceof KvmHostDriver) {
      return ((KvmHostDriver) driver).host();
    }
    throw new IllegalArgumentException("not a KVM host driver: " + driver);
  }

  static String normalise(String name) {
    String n = name.toLowerCase(Locale.ROOT);
    if (!n.matches("[a-z0-9]([a-z0-9.-]*[a-z0-9])?")) {
      throw new IllegalArgumentException("invalid KVM host name '" + name + "': use letters, digits, dots and hyphens");
    }
    return n;
  }

  /**
   * Why KVM cannot run VMs in this process (no {@code /dev/kvm}, no permission, a missing
   * capability), or empty when it can. Tests use it to skip with that message.
   */
  public static Optional<String> unavailableReason() {
    return KvmSystem.unavailableReason();
  }

  public String name() {
    return name;
  }

  public HostInfo info() {
    return info;
  }

  /** The directory of this host's serial logs. */
  public Path serialDir() {
    return serialDir;
  }

  /** A new connection to this host. */
  public HostDriver driver() {
    return new KvmHostDriver(this);
  }

  /** Adds a listener for the serial lines of every VM on this host, including VMs migrated in. */
  public void addSerialListener(SerialListener listener) {
    listeners.add(java.util.Objects.requireNonNull(listener, "listener"));
  }

  /** Removes a listener added with {@link #addSerialListener}. */
  public void removeSerialListener(SerialListener listener) {
    listeners.remove(listener);
  }

  void serialLine(String vm, String line) {
    for (SerialListener l : listeners) {
      l.line(vm, line);
    }
  }

  /**
   * Boots a VM from a multiboot kernel; it is RUNNING when this returns.
   *
   * @throws DriverException if KVM refuses, the kernel cannot be read or loaded, or the name is taken
   */
  public KvmVm createVm(KvmVmSpec spec) {
    byte[] kernel;
    try {
      kernel = Files.readAllBytes(spec.kernel());
    } catch (IOException e) {
      throw new DriverException("cannot read kernel " + spec.kernel() + ": " + e.getMessage(), e);
    }
    VmDescription d = new VmDescription(new VmId(UUID.randomUUID().toString()), spec.name(), spec.memory(),
        GuestRam.PAGE_SIZE, 1, CPU);
    KvmVm vm;
    synchronized (this) {
      checkAlive();
      checkFree(d.name());
      vm = new KvmVm(this, d, serialLog(d.name()), VmState.PAUSED);
      vms.put(d.name(), vm);
    }
    try {
      vm.boot(kernel, spec.cmdline());
      vm.start();
    } catch (RuntimeException e) {
      vm.stop();
      if (e instanceof IllegalArgumentException) {
        throw new DriverException("cannot boot " + spec.kernel() + ": " + e.getMessage(), e);
      }
      throw e;
    }
    return vm;
  }

  /** The VMs on this host, by name. */
  public synchronized List<KvmVm> vms() {
    return List.copyOf(vms.values());
  }

  /** The VM of this name, if any. */
  public synchronized Optional<KvmVm> vm(String name) {
    return Optional.ofNullable(vms.get(name));
  }

  /**
   * An empty VM of this description, to receive a migration into.
   *
   * @throws DriverException if the name is taken, the shape is one this VMM cannot run, or KVM refuses
   */
  public KvmIncomingVm prepareIncoming(VmDescription d) {
    if (d.vcpus() != 1) {
      throw new DriverException("this VMM runs VMs of one vCPU; " + d.name() + " has " + d.vcpus());
    }
    if (d.pageSize() != GuestRam.PAGE_SIZE) {
      throw new DriverException("this VMM uses 4 KiB pages; " + d.name() + " has " + d.pageSize() + "-byte pages");
    }
    if (!CPU.canRun(d.cpu())) {
      throw new DriverException("host " + name + " cannot run " + d.name() + ": " + CPU.missingFor(d.cpu()));
    }
    synchronized (this) {
      checkAlive();
      checkFree(d.name());
      KvmVm vm = new KvmVm(this, d, serialLog(d.name()), VmState.INCOMING);
      KvmIncomingVm in = new KvmIncomingVm(this, vm);
      incoming.put(d.name(), in);
      return in;
    }
  }

  private void checkFree(String vmName) {
    if (vms.containsKey(vmName) || incoming.containsKey(vmName)) {
      throw new DriverException("host " + name + " already has a VM named " + vmName);
    }
  }

  private Path serialLog(String vmName) {
    return serialDir.resolve(vmName + ".serial.log");
  }

  synchronized void promote(KvmIncomingVm in) {
    incoming.remove(in.description().name());
    vms.put(in.description().name(), in.vm());
  }

  synchronized void removeIncoming(KvmIncomingVm in) {
    incoming.remove(in.description().name(), in);
  }

  synchronized void removeVm(KvmVm vm) {
    vms.remove(vm.name(), vm);
  }

  synchronized void checkAlive() {
    if (destroyed) {
      throw new IllegalStateException("KVM host " + name + " has been destroyed");
    }
  }

  /** Stops every VM and discards every incoming VM, and forgets the host. */
  public void destroy() {
    List<KvmVm> v;
    List<KvmIncomingVm> in;
    synchronized (this) {
      destroyed = true;
      v = new ArrayList<>(vms.values());
      in = new ArrayList<>(incoming.values());
    }
    for (KvmIncomingVm i : in) {
      i.discard();
    }
    for (KvmVm vm : v) {
      vm.stop();
    }
    HOSTS.remove(name, this);
  }

  /** Destroys every host in this process (test isolation). */
  public static void destroyAll() {
    for (KvmHost h : List.copyOf(HOSTS.values())) {
      h.destroy();
    }
  }

  @Override
  public String toString() {
    return "KvmHost[" + name + "]";
  }

  private static DataSize machineMemory() {
    try {
      for (String line : Files.readAllLines(Paths.get("/proc/meminfo"))) {
        if (line.startsWith("MemTotal:")) {
          return DataSize.kib(Long.parseLong(line.replaceAll("[^0-9]", "")));
        }
      }
    } catch (IOException | RuntimeException e) {
      // fall through
    }
    return DataSize.gib(1);
  }

  /** MemAvailable from /proc/meminfo in bytes, or -1 when unknown. */
  static long availableMemory() {
    try {
      for (String line : Files.readAllLines(Paths.get("/proc/meminfo"))) {
        if (line.startsWith("MemAvailable:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
      }
    } catch (IOException | RuntimeException e) {
      // fall through
    }
    return -1;
  }

  private static String cpuModel() {
    try {
      for (String line : Files.readAllLines(Paths.get("/proc/cpuinfo"))) {
        if (line.startsWith("model name")) {
          return line.substring(line.indexOf(':') + 1).trim().replaceAll("\\s+", "-");
        }
      }
    } catch (IOException | RuntimeException e) {
      // fall through
    }
    return "unknown";
  }

  private static String machineId() {
    try {
      return Files.readString(Paths.get("/etc/machine-id")).trim();
    } catch (IOException | RuntimeException e) {
      return "no-machine-id";
    }
  }
}
