package dev.ferry.tck;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.abort;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ferry.spi.DeviceState;
import dev.ferry.spi.DirtyLog;
import dev.ferry.spi.DriverException;
import dev.ferry.spi.GuestMemory;
import dev.ferry.spi.HostDriver;
import dev.ferry.spi.HostInfo;
import dev.ferry.spi.HypervisorProvider;
import dev.ferry.spi.IncomingVm;
import dev.ferry.spi.SpiVersion;
import dev.ferry.spi.VcpuThrottle;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmDriver;
import dev.ferry.spi.VmId;
import dev.ferry.spi.VmState;
import java.net.URI;
import java.nio.BufferOverflowException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The compatibility kit every hypervisor backend runs: it checks that a backend keeps the contract
 * of {@code dev.ferry.spi} that Ferry's engine relies on.
 *
 * <p>A backend's test extends this class and supplies its {@linkplain #provider() provider}, a
 * {@linkplain #hostUri() host URI} and a way to {@linkplain #createBusyVm create a running VM that
 * writes memory}. Each test opens the host, creates the VMs it needs with a unique name
 * ({@code tck-...}) and stops them afterwards. Facets a backend does not offer
 * ({@link GuestMemory}, {@link DirtyLog}, {@link VcpuThrottle}, {@link DeviceState}, incoming
 * VMs) make the tests that need them end as skipped (JUnit assumptions), so a backend without
 * memory access still passes the rest.
 *
 * <p>What is checked: discovery through {@link ServiceLoader}; {@code supports} accepts the host
 * URI and declines another scheme with a reason; the SPI version; host identity is stable; lookup
 * and listing by name; {@code pause} stops every write and {@code resume} restarts them (observed
 * through guest memory); the dirty log loses no write under concurrent writers (every page whose
 * content changed between two snapshots was reported by a sync in between, and a copy kept up to
 * date by syncing and copying what each sync reports equals memory at the end, which a backend that
 * marks before it writes fails); device state round-trips
 * through an incoming VM and bad blobs are refused; an incoming VM is not listed, is zero-filled, and
 * its discard leaves the host as it was; stop removes a VM. Every test is bounded by a timeout.
 *
 * <p>Thread-safety: JUnit creates one instance per test method; instances are not shared.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
public abstract class HypervisorCompatibilityKit {
  private static final AtomicInteger SEQUENCE = new AtomicInteger();
  private static final Duration AWAIT = Duration.ofSeconds(10);

  private final List<VmDriver> created = new ArrayList<>();
  private final List<IncomingVm> incomings = new ArrayList<>();
  private final List<HostDriver> drivers = new ArrayList<>();
  /** The host opened for this test, from {@link #hostUri()}. */
  protected HostDriver host;

  /** The backend's provider, as its {@code ServiceLoader} entry would create it. */
  protected abstract HypervisorProvider provider();

  /** A URI of a host this backend can open, where the test may create VMs. */
  protected abstract URI hostUri();

  /**
   * Creates and starts, on {@code host}, a VM named {@code name} whose vCPUs keep writing guest
   * memory. Keep it small (a few MiB to 64 MiB of memory): tests read all of it several times. A
   * rate that dirties a tenth to a half of its pages in 10 ms makes the dirty-log check sharpest
   * (see {@link #dirtyLog_concurrentWritersAndSyncLoop_losesNoWrite}). The kit stops it after the
   * test.
   */
  protected abstract VmDriver createBusyVm(HostDriver host, String name);

  /**
   * Creates and starts a VM that does not write memory and whose device state does not change while
   * it runs. Defaults to {@link #createBusyVm}; backends that can make an idle guest should override
   * it (the device-state round trip compares blobs exactly only for idle VMs).
   */
  protected VmDriver createIdleVm(HostDriver host, String name) {
    return createBusyVm(host, name);
  }

  /** Whether {@link #createIdleVm} really gives a VM with a device state that stands still. */
  protected boolean idleVmsAreQuiet() {
    return false;
  }

  /** A URI of another scheme, that this provider must decline. */
  protected URI foreignUri() {
    return URI.create("tck-no-such-scheme://somewhere");
  }

  /** How long a paused VM is watched for writes. */
  protected Duration pauseObservation() {
    return Duration.ofMillis(200);
  }

  /** How long vCPUs write while the dirty log is being synced in a loop. */
  protected Duration dirtyLogRun() {
    return Duration.ofMillis(500);
  }

  /** A description for an incoming VM on the test host that does not collide with {@code d}. */
  protected VmDescription twinOf(VmDescription d, String suffix) {
    return new VmDescription(new VmId(UUID.randomUUID().toString()), d.name() + "-" + suffix, d.memory(),
        d.pageSize(), d.vcpus(), d.cpu());
  }

  @BeforeEach
  void openHost() {
    host = open();
  }

  @AfterEach
  void cleanUpKit() {
    for (IncomingVm in : incomings) {
      try {
        in.discard();
      } catch (RuntimeException e) {
        // best effort
      }
    }
    for (VmDriver vm : created) {
      try {
        if (vm.state() != VmState.STOPPED) {
          vm.stop();
        }
      } catch (RuntimeException e) {
        // best effort
      }
    }
    for (HostDriver d : drivers) {
      try {
        d.close();
      } catch (RuntimeException e) {
        // best effort
      }
    }
  }

  // ---------------------------------------------------------------- provider

  @Test
  void serviceLoader_findsProvider() {
    String cls = provider().getClass().getName();
    List<String> found = new ArrayList<>();
    for (ServiceLoader.Provider<HypervisorProvider> p : ServiceLoader.load(HypervisorProvider.class).stream()
        .collect(Collectors.toList())) {
      found.add(p.type().getName());
    }
    assertTrue(found.contains(cls), "ServiceLoader found " + found + ", not " + cls
        + ": register it in META-INF/services/dev.ferry.spi.HypervisorProvider");
  }

  @Test
  void name_isStableAndNotBlank() {
    String name = provider().name();
    assertNotNull(name);
    assertFalse(name.isBlank(), "provider name must not be blank");
    assertEquals(name, provider().name());
  }

  @Test
  void spiVersion_isCurrent() {
    assertEquals(SpiVersion.CURRENT, provider().spiVersion());
  }

  @Test
  void supports_hostUri_yes() {
    HypervisorProvider.Support s = provider().supports(hostUri());
    assertTrue(s.supported(), "provider declines its own host URI " + hostUri() + ": " + s.reason());
  }

  @Test
  void supports_foreignScheme_noWithReason() {
    HypervisorProvider.Support s = provider().supports(foreignUri());
    assertFalse(s.supported(), "provider accepts " + foreignUri());
    assertFalse(s.reason().isBlank(), "a declined URI needs a reason a user can act on");
  }

  // ---------------------------------------------------------------- host

  @Test
  void open_sameUriTwice_sameHostIdentity() {
    HostDriver second = open();
    HostInfo a = host.info();
    HostInfo b = second.info();
    assertNotNull(a.id());
    assertNotNull(a.cpu());
    assertFalse(a.hostname().isBlank(), "hostname must not be blank");
    assertEquals(a.id(), b.id());
    assertEquals(a.hostname(), b.hostname());
  }

  @Test
  void close_twice_isHarmless() {
    HostDriver d = open();
    d.close();
    assertDoesNotThrow(d::close);
  }

  @Test
  void vm_unknownName_isEmpty() {
    assertEquals(Optional.empty(), host.vm("tck-no-such-vm-" + UUID.randomUUID()));
  }

  @Test
  void vm_createdVm_isFoundByNameAndListed() {
    VmDriver vm = busy("lookup");
    String name = vm.description().name();
    Optional<VmDriver> found = host.vm(name);
    assertTrue(found.isPresent(), "vm(" + name + ") is empty");
    assertEquals(vm.description().id(), found.get().description().id());
    assertTrue(names(host.vms()).contains(name), "vms() does not list " + name);
  }

  @Test
  void vm_fromSecondConnection_isFound() {
    VmDriver vm = busy("second");
    HostDriver second = open();
    Optional<VmDriver> found = second.vm(vm.description().name());
    assertTrue(found.isPresent(), "a second connection to the same host does not see " + vm.description().name());
    assertEquals(vm.description().id(), found.get().description().id());
  }

  @Test
  void vms_areInNameOrder() {
    busy("order-b");
    busy("order-a");
    List<String> names = names(host.vms());
    List<String> sorted = new ArrayList<>(names);
    sorted.sort(null);
    assertEquals(sorted, names, "vms() must list VMs by name");
  }

  @Test
  void stop_vm_isStoppedAndNoLongerListed() {
    VmDriver vm = busy("stop");
    String name = vm.description().name();
    vm.stop();
    assertEquals(VmState.STOPPED, vm.state());
    assertFalse(names(host.vms()).contains(name), "a stopped VM is still listed");
    assertEquals(Optional.empty(), host.vm(name));
  }

  // ---------------------------------------------------------------- pause / resume

  @Test
  void pause_stopsEveryWrite_resumeRestartsThem() throws InterruptedException {
    VmDriver vm = busy("pause");
    assertEquals(VmState.RUNNING, vm.state());
    Optional<GuestMemory> memory = vm.memory();
    if (memory.isPresent()) {
      long start = MemorySnapshot.of(memory.get()).digest();
      await(() -> MemorySnapshot.of(memory.get()).digest() != start, "a busy VM never changed its memory");
    }
    vm.pause();
    assertEquals(VmState.PAUSED, vm.state());
    vm.pause(); // pausing a paused VM does nothing
    assertEquals(VmState.PAUSED, vm.state());
    assumeTrue(memory.isPresent(), "no GuestMemory facet: writes cannot be observed");
    long before = MemorySnapshot.of(memory.get()).digest();
    Thread.sleep(pauseObservation().toMillis());
    long after = MemorySnapshot.of(memory.get()).digest();
    assertEquals(before, after, "guest memory changed while the VM was paused");
    vm.resume();
    assertEquals(VmState.RUNNING, vm.state());
    vm.resume(); // resuming a running VM does nothing
    assertEquals(VmState.RUNNING, vm.state());
    await(() -> MemorySnapshot.of(memory.get()).digest() != after, "memory did not change after resume()");
  }

  // ---------------------------------------------------------------- dirty log

  @Test
  void dirtyLog_syncBeforeStart_throwsIllegalState() {
    VmDriver vm = busy("log-state");
    DirtyLog log = facet(vm.dirtyLog(), "DirtyLog");
    assumeTrue(!log.isActive(), "dirty log already active on a fresh VM");
    long[] bitmap = bitmapFor(vm);
    assertThrows(IllegalStateException.class, () -> log.syncAndClear(bitmap));
    log.start();
    assertTrue(log.isActive());
    log.stop();
    assertFalse(log.isActive());
  }

  /**
   * The property the engine's correctness rests on: with vCPUs writing and another thread syncing
   * in a loop, every page whose content differs between a snapshot taken after {@code start()} and
   * one taken after {@code pause()} and a final sync was reported dirty by some sync in between.
   * Runs in several short cycles (shortened while a cycle rewrites more than a quarter of memory),
   * because a lost mark is hidden by any later write to the same page: the check is sharpest when
   * the busy VM rewrites each page rarely compared with a cycle.
   */
  @Test
  void dirtyLog_concurrentWritersAndSyncLoop_losesNoWrite() throws Exception {
    VmDriver vm = busy("log-lossless");
    GuestMemory memory = facet(vm.memory(), "GuestMemory");
    DirtyLog log = facet(vm.dirtyLog(), "DirtyLog");
    int cycles = dirtyLogCycles();
    long cycleMillis = Math.max(1, dirtyLogRun().toMillis() / cycles);
    long totalChanged = 0;
    long totalSyncs = 0;
    log.start();
    try {
      // The first snapshot is taken while the vCPUs run; later cycles start from the previous
      // cycle's final (paused) snapshot.
      MemorySnapshot b = MemorySnapshot.of(memory);
      for (int cycle = 0; cycle < cycles; cycle++) {
        MemorySnapshot a = b;
        long[] reported = bitmapFor(vm);
        SyncLoop loop = new SyncLoop(log, reported);
        loop.start();
        Thread.sleep(cycleMillis);
        vm.pause();
        totalSyncs += loop.finish();
        log.syncAndClear(reported);
        b = MemorySnapshot.of(memory);
        long[] changed = b.changedSince(a);
        long changedPages = Arrays.stream(changed).map(Long::bitCount).sum();
        totalChanged += changedPages;
        List<Long> lost = new ArrayList<>();
        for (int w = 0; w < changed.length; w++) {
          long missing = changed[w] & ~reported[w];
          while (missing != 0 && lost.size() < 20) {
            lost.add(w * 64L + Long.numberOfTrailingZeros(missing));
            missing &= missing - 1;
          }
        }
        assertTrue(lost.isEmpty(), "cycle " + cycle + ": pages changed but never reported dirty (lost writes),"
            + " first ones: " + lost + " of " + changedPages + " changed pages");
        if (cycle == cycles - 1) {
          // A paused VM dirties nothing.
          Thread.sleep(50);
          assertEquals(0, log.syncAndClear(bitmapFor(vm)), "pages reported dirty while the VM was paused");
        }
        // A lost mark hides behind a later write to the same page: keep cycles short enough that
        // most changed pages were written once in the cycle.
        if (changedPages > b.pages() / 4 && cycleMillis > 1) {
          cycleMillis /= 2;
        }
        vm.resume();
      }
      assertTrue(totalChanged > 0, "the busy VM changed no page: the test would prove nothing");
      assertTrue(totalSyncs > 0, "the sync loop never ran");
    } finally {
      log.stop();
    }
    assertFalse(log.isActive());
  }

  /**
   * The engine's use of the dirty log, in small: copy every page after {@code start()}; then, in a
   * loop, sync and copy the pages that sync reported; pause, sync and copy once more: the copy must
   * equal memory. A backend that marks a page dirty before the write lands loses that write
   * whenever a sync falls between the mark and the write: the sync harvests the mark, the copy reads
   * the page before the write, and no later sync reports it. (KVM marks on the write fault, before
   * the write, and is right: a sync write-protects the pages it harvested, so the write faults and
   * marks again.) {@link #dirtyLog_concurrentWritersAndSyncLoop_losesNoWrite} cannot see that loss,
   * the changed page having been reported (too early); this test can.
   */
  @Test
  void dirtyLog_pagesCopiedAfterTheSyncsThatReportedThem_equalMemoryAfterTheFinalSync() throws Exception {
    VmDriver vm = busy("log-copy");
    GuestMemory memory = facet(vm.memory(), "GuestMemory");
    DirtyLog log = facet(vm.dirtyLog(), "DirtyLog");
    int pageSize = memory.pageSize();
    long pages = memory.pageCount();
    assumeTrue(pages * pageSize <= 256L << 20, "a copy of more than 256 MiB of guest memory is not made here");
    ByteBuffer copy = ByteBuffer.allocate((int) (pages * pageSize));
    long[] bitmap = bitmapFor(vm);
    long copied = 0;
    long syncs = 0;
    log.start();
    try {
      for (long p = 0; p < pages; p++) {
        memory.readPage(p, copy.slice((int) (p * pageSize), pageSize));
      }
      long end = System.nanoTime() + dirtyLogRun().toNanos();
      while (System.nanoTime() < end) {
        copied += syncAndCopy(log, memory, bitmap, copy);
        syncs++;
      }
      vm.pause();
      copied += syncAndCopy(log, memory, bitmap, copy);
      ByteBuffer page = ByteBuffer.allocate(pageSize);
      List<Long> stale = new ArrayList<>();
      long staleCount = 0;
      for (long p = 0; p < pages; p++) {
        page.clear();
        memory.readPage(p, page);
        if (page.flip().mismatch(copy.slice((int) (p * pageSize), pageSize)) >= 0) {
          staleCount++;
          if (stale.size() < 20) {
            stale.add(p);
          }
        }
      }
      assertTrue(copied > 0, "no sync of " + syncs + " reported a page: the test would prove nothing");
      assertEquals(0, staleCount, staleCount + " pages differ from the copy kept by " + syncs + " syncs ("
          + copied + " pages copied): each was written after the sync that reported it had cleared its mark,"
          + " and no later sync reported it (lost writes: does the backend mark a page before writing it?);"
          + " first ones: " + stale);
    } finally {
      log.stop();
    }
  }

  /** Syncs into a cleared bitmap and copies each reported page into {@code copy}; returns how many. */
  private static long syncAndCopy(DirtyLog log, GuestMemory memory, long[] bitmap, ByteBuffer copy) {
    Arrays.fill(bitmap, 0);
    log.syncAndClear(bitmap);
    int pageSize = memory.pageSize();
    long n = 0;
    for (int w = 0; w < bitmap.length; w++) {
      for (long word = bitmap[w]; word != 0; word &= word - 1) {
        long p = w * 64L + Long.numberOfTrailingZeros(word);
        if (p < memory.pageCount()) {
          memory.readPage(p, copy.slice((int) (p * pageSize), pageSize));
          n++;
        }
      }
    }
    return n;
  }

  /** Number of cycles of {@link #dirtyLog_concurrentWritersAndSyncLoop_losesNoWrite}. */
  protected int dirtyLogCycles() {
    return 20;
  }

  /** A thread that syncs a dirty log in a loop into one bitmap until finished. */
  private static final class SyncLoop extends Thread {
    private final DirtyLog log;
    private final long[] bitmap;
    private final AtomicBoolean done = new AtomicBoolean();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private long syncs;

    SyncLoop(DirtyLog log, long[] bitmap) {
      super("tck-dirty-log-syncer");
      this.log = log;
      this.bitmap = bitmap;
      setDaemon(true);
    }

    @Override
    public void run() {
      try {
        while (!done.get()) {
          log.syncAndClear(bitmap);
          syncs++;
        }
      } catch (Throwable t) {
        failure.set(t);
      }
    }

    /** Stops the loop and returns the number of syncs; the bitmap is then the caller's again. */
    long finish() throws InterruptedException {
      done.set(true);
      join(AWAIT.toMillis());
      assertFalse(isAlive(), "sync loop did not end");
      if (failure.get() != null) {
        fail("syncAndClear failed", failure.get());
      }
      return syncs;
    }
  }

  @Test
  void dirtyLog_syncCount_matchesBitsReported() throws InterruptedException {
    VmDriver vm = busy("log-count");
    DirtyLog log = facet(vm.dirtyLog(), "DirtyLog");
    log.start();
    try {
      Thread.sleep(100);
      vm.pause();
      long[] bitmap = bitmapFor(vm);
      long n = log.syncAndClear(bitmap);
      assertEquals(Arrays.stream(bitmap).map(Long::bitCount).sum(), n, "return value of syncAndClear");
      assertTrue(n > 0, "a busy VM dirtied no page in 100 ms");
      assertEquals(0, log.syncAndClear(bitmapFor(vm)), "a second sync with no writes in between reported pages");
    } finally {
      log.stop();
    }
  }

  // ---------------------------------------------------------------- memory

  @Test
  void memory_geometry_matchesDescription() {
    VmDriver vm = busy("geometry");
    GuestMemory memory = facet(vm.memory(), "GuestMemory");
    VmDescription d = vm.description();
    assertEquals(d.pageSize(), memory.pageSize());
    assertEquals(1, Integer.bitCount(memory.pageSize()), "page size must be a power of two");
    assertEquals(d.pageCount(), memory.pageCount());
    assertSame(memory, vm.memory().orElseThrow(), "a facet method must return the same view every time");
  }

  @Test
  void memory_pageOutOfRange_throwsIndexOutOfBounds() {
    VmDriver vm = busy("bounds");
    GuestMemory memory = facet(vm.memory(), "GuestMemory");
    ByteBuffer buf = ByteBuffer.allocate(memory.pageSize());
    assertThrows(IndexOutOfBoundsException.class, () -> memory.readPage(-1, buf));
    buf.clear();
    assertThrows(IndexOutOfBoundsException.class, () -> memory.readPage(memory.pageCount(), buf));
  }

  @Test
  void memory_readIntoShortBuffer_throwsBufferOverflow() {
    VmDriver vm = busy("short");
    GuestMemory memory = facet(vm.memory(), "GuestMemory");
    ByteBuffer small = ByteBuffer.allocate(memory.pageSize() - 1);
    assertThrows(BufferOverflowException.class, () -> memory.readPage(0, small));
  }

  @Test
  void memory_read_advancesPositionByOnePage() {
    VmDriver vm = busy("position");
    GuestMemory memory = facet(vm.memory(), "GuestMemory");
    ByteBuffer buf = ByteBuffer.allocateDirect(memory.pageSize() * 2);
    memory.readPage(0, buf);
    assertEquals(memory.pageSize(), buf.position());
    memory.readPage(memory.pageCount() - 1, buf);
    assertEquals(2 * memory.pageSize(), buf.position());
  }

  @Test
  void memory_knownZero_isNeverTrueForAPageThatHoldsData() throws InterruptedException {
    // knownZero is a promise the engine acts on without reading the page: a page it calls zero is
    // sent as zeros, so a page with data that answers true is lost on the destination.
    VmDriver vm = busy("known-zero");
    GuestMemory memory = facet(vm.memory(), "GuestMemory");
    Thread.sleep(200);
    vm.pause();
    ByteBuffer page = ByteBuffer.allocateDirect(memory.pageSize());
    long withData = 0;
    for (long p = 0; p < memory.pageCount(); p++) {
      page.clear();
      memory.readPage(p, page);
      page.flip();
      boolean zero = true;
      while (page.remaining() >= 8 && zero) {
        zero = page.getLong() == 0;
      }
      if (!zero) {
        withData++;
        long at = p;
        assertFalse(memory.knownZero(p), () -> "page " + at + " holds data but knownZero says it is zero");
      }
    }
    assumeTrue(withData > 0, "the busy VM wrote no page in 200 ms: nothing to check");
  }

  // ---------------------------------------------------------------- throttle

  @Test
  void throttle_percent_roundTripsAndRejectsOutOfRange() {
    VmDriver vm = busy("throttle");
    VcpuThrottle throttle = facet(vm.throttle(), "VcpuThrottle");
    throttle.setPercent(40);
    assertEquals(40, throttle.percent());
    throttle.setPercent(0);
    assertEquals(0, throttle.percent());
    assertThrows(IllegalArgumentException.class, () -> throttle.setPercent(100));
    assertThrows(IllegalArgumentException.class, () -> throttle.setPercent(-1));
    assertEquals(0, throttle.percent());
  }

  // ---------------------------------------------------------------- device state

  @Test
  void deviceState_saveWhileRunning_throwsIllegalState() {
    VmDriver vm = busy("save-running");
    DeviceState ds = facet(vm.deviceState(), "DeviceState");
    assertThrows(IllegalStateException.class, ds::save);
  }

  @Test
  void deviceState_savedWhilePaused_isStable() {
    VmDriver vm = busy("save-paused");
    DeviceState ds = facet(vm.deviceState(), "DeviceState");
    vm.pause();
    byte[] a = ds.save();
    byte[] b = ds.save();
    assertNotNull(a);
    assertArrayEquals(a, b, "two saves of a paused VM differ");
  }

  @Test
  void deviceState_roundTripsThroughIncomingVm() {
    VmDriver vm = idle("state-source");
    DeviceState ds = facet(vm.deviceState(), "DeviceState");
    vm.pause();
    byte[] blob = ds.save();
    IncomingVm in = incoming(twinOf(vm.description(), "in"));
    in.loadDeviceState(blob);
    VmDriver activated = in.activate();
    created.add(activated);
    activated.pause();
    byte[] again = facet(activated.deviceState(), "DeviceState").save();
    if (idleVmsAreQuiet()) {
      assertArrayEquals(blob, again, "device state loaded on the destination does not save back equal");
    } else {
      assertNotNull(again);
    }
  }

  @Test
  void deviceState_badBlob_isRefused() {
    VmDriver vm = busy("state-bad");
    DeviceState ds = facet(vm.deviceState(), "DeviceState");
    vm.pause();
    byte[] blob = ds.save();
    IncomingVm in = incoming(twinOf(vm.description(), "in"));
    assertThrows(IllegalArgumentException.class, () -> in.loadDeviceState(new byte[] {1, 2, 3, 4, 5, 6, 7}),
        "a garbage device state was accepted");
    if (blob.length > 1) {
      assertThrows(IllegalArgumentException.class, () -> in.loadDeviceState(Arrays.copyOf(blob, blob.length / 2)),
          "a truncated device state was accepted");
    }
    assertDoesNotThrow(() -> in.loadDeviceState(blob));
  }

  // ---------------------------------------------------------------- incoming VMs

  @Test
  void incoming_isNotListed_andDiscardLeavesHostAsBefore() {
    VmDriver vm = idle("discard-source");
    List<String> before = names(host.vms());
    VmDescription d = twinOf(vm.description(), "in");
    IncomingVm in = incoming(d);
    assertEquals(d, in.description());
    assertEquals(before, names(host.vms()), "an incoming VM must not be listed");
    assertEquals(Optional.empty(), host.vm(d.name()));
    in.memory();
    in.discard();
    in.discard(); // a second discard does nothing
    assertEquals(before, names(host.vms()), "discard left the host changed");
    assertThrows(IllegalStateException.class, in::activate);
    // The name is free again.
    IncomingVm again = incoming(d);
    again.discard();
    assertEquals(before, names(host.vms()));
  }

  @Test
  void incoming_memory_isZeroFilledAndWritable() {
    VmDriver vm = idle("zero-source");
    IncomingVm in = incoming(twinOf(vm.description(), "in"));
    GuestMemory memory = in.memory();
    assertEquals(vm.description().pageCount(), memory.pageCount());
    int ps = memory.pageSize();
    ByteBuffer buf = ByteBuffer.allocate(ps);
    for (long p : new long[] {0, memory.pageCount() / 2, memory.pageCount() - 1}) {
      buf.clear();
      memory.readPage(p, buf);
      for (int i = 0; i < ps; i++) {
        if (buf.get(i) != 0) {
          fail("incoming memory is not zero-filled at page " + p + " byte " + i);
        }
      }
    }
    ByteBuffer page = ByteBuffer.allocate(ps);
    for (int i = 0; i < ps; i++) {
      page.put(i, (byte) (i * 31 + 7));
    }
    memory.writePage(1, page);
    assertEquals(ps, page.position());
    buf.clear();
    memory.readPage(1, buf);
    page.clear();
    assertEquals(page, buf.flip(), "a written page does not read back");
    memory.zeroPage(1);
    buf.clear();
    memory.readPage(1, buf);
    assertEquals(ByteBuffer.allocate(ps), buf.flip(), "zeroPage left data");
    in.discard();
  }

  @Test
  void incoming_nameOfExistingVm_isRefused() {
    VmDriver vm = idle("dup-source");
    VmDescription d = vm.description();
    VmDescription sameName = new VmDescription(new VmId(UUID.randomUUID().toString()), d.name(), d.memory(),
        d.pageSize(), d.vcpus(), d.cpu());
    try {
      IncomingVm in = host.prepareIncoming(sameName);
      incomings.add(in);
      fail("prepareIncoming accepted a second VM named " + d.name());
    } catch (UnsupportedOperationException e) {
      abort("backend does not receive engine-driven migrations");
    } catch (DriverException expected) {
      assertFalse(String.valueOf(expected.getMessage()).isBlank());
    }
  }

  @Test
  void incoming_activate_runsAndListsVm_thenStopRemovesIt() {
    VmDriver vm = idle("activate-source");
    VmDescription d = twinOf(vm.description(), "in");
    IncomingVm in = incoming(d);
    VmDriver activated = in.activate();
    created.add(activated);
    assertEquals(VmState.RUNNING, activated.state());
    assertEquals(d.id(), activated.description().id());
    assertTrue(names(host.vms()).contains(d.name()), "an activated VM must be listed");
    assertSame(activated, in.activate(), "a second activate must do nothing");
    in.discard(); // discard after activate does nothing
    assertEquals(VmState.RUNNING, activated.state());
    activated.stop();
    assertFalse(names(host.vms()).contains(d.name()));
  }

  // ---------------------------------------------------------------- helpers

  /** Opens another driver on the test host; closed after the test. */
  protected HostDriver open() {
    HostDriver d = provider().open(hostUri());
    drivers.add(d);
    return d;
  }

  /** A unique VM name for this run, with a readable stem. */
  protected static String uniqueName(String stem) {
    return "tck-" + stem + "-" + SEQUENCE.incrementAndGet();
  }

  private VmDriver busy(String stem) {
    VmDriver vm = createBusyVm(host, uniqueName(stem));
    created.add(vm);
    return vm;
  }

  private VmDriver idle(String stem) {
    VmDriver vm = createIdleVm(host, uniqueName(stem));
    created.add(vm);
    return vm;
  }

  private IncomingVm incoming(VmDescription d) {
    try {
      IncomingVm in = host.prepareIncoming(d);
      incomings.add(in);
      return in;
    } catch (UnsupportedOperationException e) {
      abort("backend does not receive engine-driven migrations: " + e.getMessage());
      throw e;
    }
  }

  private static <T> T facet(Optional<T> facet, String what) {
    assumeTrue(facet.isPresent(), "backend has no " + what + " facet");
    return facet.get();
  }

  private static long[] bitmapFor(VmDriver vm) {
    return new long[(int) ((vm.description().pageCount() + 63) >>> 6)];
  }

  private static List<String> names(List<VmDriver> vms) {
    return vms.stream().map(v -> v.description().name()).collect(Collectors.toList());
  }

  private static void await(BooleanSupplier condition, String message) throws InterruptedException {
    long deadline = System.nanoTime() + AWAIT.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        fail(message + " (waited " + AWAIT.toSeconds() + " s)");
      }
      Thread.sleep(10);
    }
  }
}
