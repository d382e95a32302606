package dev.ferry.sim;

import dev.ferry.spi.CpuInfo;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.DriverException;
import dev.ferry.spi.HostDriver;
import dev.ferry.spi.HostId;
import dev.ferry.spi.HostInfo;
import dev.ferry.spi.IncomingRequest;
import dev.ferry.spi.VmDescription;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * A simulated host: a name, a stable id, a CPU, an amount of memory, and the VMs on it.
 *
 * <p>Design note: hosts live in a process-wide registry by name, so {@code sim://a} opened twice,
 * or opened after a test created VMs with {@code SimHost.named("a").createVm(...)}, reaches the same
 * host. The id is a name-based UUID, the same in every run. The host's memory is a budget: the sum
 * of the sizes of its VMs and incoming VMs may not exceed it (guest memory itself is sparse, so a
 * 64 GiB VM costs little until written). By default it is the machine's physical memory; a host
 * may declare more (an overcommitted host), but an incoming VM is admitted only if the memory it
 * will really receive fits what the machine can give now ({@link MachineMemory}), so a migration
 * the machine cannot hold is refused before a page moves, never lost half-way to an
 * {@code OutOfMemoryError}. Tests isolate themselves with {@link #destroy()} or
 * {@link #destroyAll()}.
 *
 * <p>Thread-safety: safe from any thread; the registry and each host's VM table are guarded.
 */
public final class SimHost {
  /** Default CPU of a simulated host: model {@code sim-x86} with a few common features. */
  public static final CpuInfo DEFAULT_CPU = new CpuInfo("sim-x86", Set.of("sse2", "sse4_2", "avx", "avx2", "aes"));
  /**
   * Default memory of a simulated host: this machine's physical memory (256 GiB where it cannot be
   * read). A budget; guest memory is allocated lazily.
   */
  public static final DataSize DEFAULT_MEMORY = DataSize.bytes(MachineMemory.total() > 0
      ? MachineMemory.total() : DataSize.gib(256).bytes());

  private static final Pattern HOSTNAME = Pattern.compile("[a-z0-9]([a-z0-9.-]*[a-z0-9])?");
  private static final ConcurrentHashMap<String, SimHost> HOSTS = new ConcurrentHashMap<>();

  private final String name;
  private final HostInfo info;
  private final SimFaults faults = new SimFaults();
  private final TreeMap<String, SimVm> vms = new TreeMap<>();
  private final Map<String, SimIncomingVm> incoming = new HashMap<>();
  private boolean destroyed;

  private SimHost(String name, DataSize memory, CpuInfo cpu) {
    this.name = name;
    HostId id = new HostId(UUID.nameUUIDFromBytes(("ferry-sim-host:" + name).getBytes(StandardCharsets.UTF_8))
        .toString());
    this.info = new HostInfo(id, name, cpu, memory);
  }

  /**
   * The host of this name, created with the default CPU and memory if there is none yet. Names are
   * hostnames (letters, digits, dots, hyphens) and are case-insensitive.
   *
   * @throws IllegalArgumentException if the name is not a valid hostname
   */
  public static SimHost named(String name) {
    String n = normalise(name);
    return HOSTS.computeIfAbsent(n, k -> new SimHost(k, DEFAULT_MEMORY, DEFAULT_CPU));
  }

  /**
   * The host of this name, created with this memory and CPU if there is none yet.
   *
   * @throws IllegalStateException if a host of this name exists with another memory or CPU
   * @throws IllegalArgumentException if the name is not a valid hostname or the memory is zero
   */
  public static SimHost named(String name, DataSize memory, CpuInfo cpu) {
    String n = normalise(name);
    if (memory.bytes() == 0) {
      throw new IllegalArgumentException("host memory must be positive");
    }
    SimHost h = HOSTS.computeIfAbsent(n, k -> new SimHost(k, memory, cpu));
    if (!h.info.memory().equals(memory) || !h.info.cpu().equals(cpu)) {
      throw new IllegalStateException("sim host " + n + " already exists with " + h.info.memory() + " and CPU "
          + h.info.cpu() + ", not " + memory + " and " + cpu);
    }
    return h;
  }

  /** The host of this name, if it exists. */
  public static Optional<SimHost> get(String name) {
    return Optional.ofNullable(HOSTS.get(name.toLowerCase(Locale.ROOT)));
  }

  /** Every host now, by name. */
  public static List<SimHost> all() {
    List<SimHost> list = new ArrayList<>(HOSTS.values());
    list.sort((a, b) -> a.name.compareTo(b.name));
    return list;
  }

  /** Destroys every host (for test isolation). */
  public static void destroyAll() {
    for (SimHost h : all()) {
      h.destroy();
    }
  }

  /**
   * The sim host behind a driver opened by {@link SimProvider}.
   *
   * @throws IllegalArgumentException if the driver is not a sim driver
   */
  public static SimHost of(HostDriver driver) {
    if (driver instanceof SimHostDriver) {
      return ((SimHostDriver) driver).host();
    }
    throw new IllegalArgumentException("not a sim host driver: " + driver);
  }

  static String normalise(String name) {
    if (name == null || name.isBlank()) {
      throw new IllegalArgumentException("sim host name must not be blank");
    }
    String n = name.toLowerCase(Locale.ROOT);
    if (!HOSTNAME.matcher(n).matches()) {
      throw new IllegalArgumentException("invalid sim host name '" + name
          + "': use letters, digits, dots and hyphens, starting and ending with a letter or digit");
    }
    return n;
  }

  /** The host's name. */
  public String name() {
    return name;
  }

  /** The stable id, derived from the name. */
  public HostId id() {
    return info.id();
  }

  /** Id, hostname, CPU and memory. */
  public HostInfo info() {
    return info;
  }

  /** The fault hooks of this host. */
  public SimFaults faults() {
    return faults;
  }

  /** A new driver (connection) to this host, as {@link SimProvider#open} returns. */
  public HostDriver driver() {
    return new SimHostDriver(this);
  }

  /**
   * Creates a VM and starts its vCPUs.
   *
   * @throws DriverException if a VM or incoming VM of that name or id exists, the host's memory
   *     budget is exceeded, or the host's CPU cannot run the spec's CPU
   */
  public SimVm createVm(SimVmSpec spec) {
    CpuInfo cpu = spec.cpu().orElse(info.cpu());
    VmDescription d = new VmDescription(spec.id(), spec.name(), spec.memory(), spec.pageSize(), spec.vcpus(), cpu);
    WorkloadCursor[] cursors = new WorkloadCursor[spec.vcpus()];
    for (int i = 0; i < cursors.length; i++) {
      cursors[i] = new WorkloadCursor(spec.workload(), spec.seed(), i, cursors.length, d.pageCount());
    }
    synchronized (this) {
      checkAdmission(d);
      SimVm vm = new SimVm(this, d, new SimMemory(d.pageCount(), d.pageSize()), spec.workload(), spec.seed(),
          (int) spec.deviceStateSize().bytes(), cursors);
      vms.put(d.name(), vm);
      vm.start();
      return vm;
    }
  }

  /** The running and paused VMs, by name. Incoming VMs are not listed. */
  public synchronized List<SimVm> vms() {
    return new ArrayList<>(vms.values());
  }

  /** The VM of this name. */
  public synchronized Optional<SimVm> vm(String name) {
    return Optional.ofNullable(vms.get(name));
  }

  /** The VMs being received, by name. */
  public synchronized List<SimIncomingVm> incomingVms() {
    List<SimIncomingVm> list = new ArrayList<>(incoming.values());
    list.sort((a, b) -> a.description().name().compareTo(b.description().name()));
    return list;
  }

  /** Memory promised to VMs and incoming VMs (their full sizes). */
  public synchronized DataSize committedMemory() {
    long sum = 0;
    for (SimVm vm : vms.values()) {
      sum += vm.description().memory().bytes();
    }
    for (SimIncomingVm in : incoming.values()) {
      sum += in.description().memory().bytes();
    }
    return DataSize.bytes(sum);
  }

  /**
   * Creates an empty VM to receive a migration into: zeroed memory, no vCPU running, not listed.
   *
   * @throws DriverException if a VM or incoming VM of that name or id exists, the memory budget is
   *     exceeded, the host's CPU cannot run the VM's, or a fault was armed
   */
  public SimIncomingVm prepareIncoming(VmDescription description) {
    return prepareIncoming(new IncomingRequest(description, description.memory()));
  }

  /**
   * Creates an empty VM to receive a migration into, as {@link #prepareIncoming(VmDescription)}
   * does, after checking that the memory that will arrive ({@link IncomingRequest#residentBytes()})
   * fits what this machine can give now.
   *
   * @throws DriverException as {@link #prepareIncoming(VmDescription)}, or if the machine cannot
   *     hold the resident memory; the message names both figures
   */
  public SimIncomingVm prepareIncoming(IncomingRequest request) {
    VmDescription description = request.description();
    synchronized (SimHost.class) { // one machine: admissions on all hosts of this process in turn
      synchronized (this) {
        checkAlive();
        faults.firePrepareIncoming(name);
        checkAdmission(description);
        long needed = request.residentBytes().bytes();
        // Chunks this process keeps for reuse are free for the next VM, though the kernel counts them used.
        long available = faults.machineAvailable().map(DataSize::bytes)
            .orElseGet(() -> MachineMemory.available() + ChunkPool.kept());
        long promised = promisedElsewhere();
        long canGive = available - MachineMemory.RESERVE - promised;
        if (needed > canGive) {
          throw new DriverException("sim host " + name + " cannot hold VM " + description.name() + ": it would receive "
              + request.residentBytes() + " of written memory and this machine can give " + DataSize.bytes(Math.max(0, canGive))
              + " now (available " + DataSize.bytes(available) + ", less " + DataSize.bytes(MachineMemory.RESERVE)
              + " kept free and " + DataSize.bytes(promised) + " promised to other incoming VMs)");
        }
        SimIncomingVm in = new SimIncomingVm(this, description, needed);
        incoming.put(description.name(), in);
        return in;
      }
    }
  }

  /** Memory promised to incoming VMs in this process and not yet written into them. */
  private static long promisedElsewhere() {
    long sum = 0;
    for (SimHost h : HOSTS.values()) {
      for (SimIncomingVm in : h.incomingVms()) {
        sum += in.promisedNotWritten();
      }
    }
    return sum;
  }

  /**
   * Stops every VM, discards every incoming VM and removes the host from the registry. Drivers
   * still open on it then fail with {@link IllegalStateException}. Idempotent.
   */
  public void destroy() {
    List<SimVm> toStop;
    List<SimIncomingVm> toDiscard;
    synchronized (this) {
      if (destroyed) {
        return;
      }
      destroyed = true;
      toStop = new ArrayList<>(vms.values());
      toDiscard = new ArrayList<>(incoming.values());
    }
    for (SimVm vm : toStop) {
      vm.stop();
    }
    for (SimIncomingVm in : toDiscard) {
      in.discard();
    }
    HOSTS.remove(name, this);
  }

  /** Whether {@link #destroy()} has been called. */
  public synchronized boolean isDestroyed() {
    return destroyed;
  }

  @Override
  public String toString() {
    return "SimHost[" + name + ", " + info.cpu().model() + ", " + info.memory() + "]";
  }

  synchronized void checkAlive() {
    if (destroyed) {
      throw new IllegalStateException("sim host " + name + " has been destroyed");
    }
  }

  private void checkAdmission(VmDescription d) {
    checkAlive();
    if (vms.containsKey(d.name()) || incoming.containsKey(d.name())) {
      throw new DriverException("sim host " + name + " already has a VM named " + d.name());
    }
    for (SimVm vm : vms.values()) {
      if (vm.description().id().equals(d.id())) {
        throw new DriverException("sim host " + name + " already has a VM with id " + d.id() + " (" + vm.name() + ")");
      }
    }
    for (SimIncomingVm in : incoming.values()) {
      if (in.description().id().equals(d.id())) {
        throw new DriverException("sim host " + name + " is already receiving a VM with id " + d.id());
      }
    }
    if (!info.cpu().canRun(d.cpu())) {
      throw new DriverException("sim host " + name + " cannot run VM " + d.name() + ": " + info.cpu().missingFor(d.cpu()));
    }
    long committed = committedMemory().bytes();
    if (committed + d.memory().bytes() > info.memory().bytes()) {
      throw new DriverException("sim host " + name + " has " + info.memory() + " of memory with "
          + DataSize.bytes(committed) + " committed: not enough for VM " + d.name() + " of " + d.memory());
    }
  }

  synchronized void promote(SimIncomingVm in, SimVm vm) {
    checkAlive();
    incoming.remove(in.description().name(), in);
    vms.put(vm.name(), vm);
    vm.start();
  }

  synchronized void removeVm(SimVm vm) {
    vms.remove(vm.name(), vm);
  }

  synchronized void removeIncoming(SimIncomingVm in) {
    incoming.remove(in.description().name(), in);
  }
}
