package dev.ferry.sim;

import dev.ferry.spi.DeviceState;
import dev.ferry.spi.DirtyLog;
import dev.ferry.spi.GuestMemory;
import dev.ferry.spi.VcpuThrottle;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmDriver;
import dev.ferry.spi.VmState;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A simulated VM: off-heap guest memory, vCPU threads that write it following a seeded
 * {@link Workload}, a real dirty log, pause/resume, throttling and a device-state blob. Created by
 * {@link SimHost#createVm(SimVmSpec)} or by {@link SimIncomingVm#activate()}.
 *
 * <p>Design note. Each vCPU is a daemon thread that owns a {@link WorkloadCursor}. A write puts
 * four words into the vCPU's 32-byte slot of the page (a tag with the vCPU index and its write
 * counter, then seed-derived words), so every write changes the page and never leaves it all-zero;
 * then, and only then, it marks the page in the {@link SimDirtyLog}. Writes are paced, not spun: a
 * rate-limited vCPU wakes every 1-50 ms and does the writes it owes since its last wake-up (credit
 * capped at 100 ms, so a stalled thread does not burst); an unlimited vCPU writes in batches of
 * {@value #BATCH}; an idle vCPU waits on a monitor and costs no CPU. The throttle scales the
 * credit by {@code (100 - percent) %}, and an unlimited vCPU sleeps {@code percent %} of its time.
 *
 * <p>Pause handshake: every batch of writes runs under the read side of a
 * {@link ReentrantReadWriteLock} and re-checks the pause flag once inside it. {@link #pause()} sets
 * the flag, then takes and drops the write side: that waits out every batch in progress, and any
 * batch that starts later sees the flag and writes nothing. So when {@code pause()} returns no vCPU
 * writes until {@link #resume()}. {@link #stop()} uses the same handshake before it frees memory.
 *
 * <p>Thread-safety: all methods are safe from any thread; lifecycle methods ({@code pause},
 * {@code resume}, {@code stop}, saving and loading device state) are serialised on the VM.
 */
public final class SimVm implements VmDriver {
  static final int BATCH = 256;
  private static final long MIN_TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(1);
  /** Between mark and write under {@link SimFaults#markBeforeWrite}: long enough for a sync and a copy to fall in. */
  private static final long MARK_BEFORE_WRITE_WINDOW_NANOS = TimeUnit.MICROSECONDS.toNanos(20);
  private static final long MAX_TICK_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
  private static final int SLOT = 32;

  private final SimHost host;
  private final VmDescription description;
  private final SimMemory memory;
  private final SimDirtyLog dirtyLog;
  private final Workload workload;
  private final long seed;
  private final int deviceStateSize;
  private final WorkloadCursor[] cursors;
  private final long[] writesBefore;
  private volatile long[] writesAfterFill;
  private final Vcpu[] vcpus;
  private final ReentrantReadWriteLock runLock = new ReentrantReadWriteLock();
  private final Object monitor = new Object();
  private final Throttle throttle = new Throttle();
  private final Devices devices = new Devices();
  private volatile boolean pauseRequested;
  private volatile boolean stopRequested;
  private volatile VmState state = VmState.PAUSED;
  private volatile int throttlePercent;
  private volatile SimPostCopy postCopy;

  SimVm(SimHost host, VmDescription description, SimMemory memory, Workload workload, long seed,
      int deviceStateSize, WorkloadCursor[] cursors) {
    this.host = host;
    this.description = description;
    this.memory = memory;
    this.dirtyLog = new SimDirtyLog(description.pageCount());
    this.workload = workload;
    this.seed = seed;
    this.deviceStateSize = DeviceStateCodec.blobSize(deviceStateSize, cursors.length);
    this.cursors = cursors;
    this.writesBefore = new long[cursors.length];
    this.writesAfterFill = new long[cursors.length];
    this.vcpus = new Vcpu[cursors.length];
    for (int i = 0; i < cursors.length; i++) {
      writesBefore[i] = cursors[i].writes();
      vcpus[i] = new Vcpu(i);
    }
    this.pauseRequested = true;
  }

  /** Puts the VM in post-copy before it starts: vCPUs block on the missing pages of {@code pc}. */
  void postCopy(SimPostCopy pc) {
    this.postCopy = pc;
  }

  /**
   * Fills every page with pseudo-random words from {@code seed}, as a guest that has run for a while
   * leaves its memory: no zero page and nothing compression could shrink. A fresh simulated VM is
   * all zero pages, which cost nothing to migrate; tests, samples and benchmarks that want memory to
   * cost its size use this. The vCPUs keep running meanwhile.
   */
  public void fillRandom(long seed) {
    java.nio.ByteBuffer page = java.nio.ByteBuffer.allocateDirect(description.pageSize());
    java.util.SplittableRandom rnd = new java.util.SplittableRandom(seed);
    for (long p = 0; p < description.pageCount(); p++) {
      page.clear();
      while (page.hasRemaining()) {
        page.putLong(rnd.nextLong());
      }
      page.flip();
      memory.writePage(p, page);
    }
    long[] done = vcpuWrites();
    for (int v = 0; v < done.length; v++) {
      done[v] += BATCH;
    }
    writesAfterFill = done;
  }

  /**
   * Each vCPU's write count when {@link #fillRandom} last returned, plus one batch (a batch under
   * way as it returned may have written before the fill reached its page); zeros if it never ran. A
   * write counted above it landed after the fill: its stamp must be in memory until that vCPU writes
   * the page again. Give it to {@link #checkStamps} of this VM, or of its copy on another host.
   */
  public long[] writesAfterFill() {
    return writesAfterFill.clone();
  }

  /**
   * What {@link #checkStamps} found: slots checked, and slots that do not hold the stamp of their
   * vCPU's last write to the page (the first few described).
   */
  public record StampReport(long checked, long wrong, List<String> first) {}

  /**
   * Checks that every page holds, in each vCPU's slot, the stamp of that vCPU's last write to it: a
   * write puts the vCPU's tag and write count in its slot, and a vCPU's pages follow its seeded
   * {@link WorkloadCursor}, so replaying the cursors from the first step says which write each slot
   * must show. A page that arrived stale (an older copy landing over a newer one, a page from before
   * the last dirty round) shows an older count; a lost page shows none. Only writes counted above
   * {@code after} (per vCPU; see {@link #writesAfterFill}) are checked. Call it while the VM is
   * paused (counts are exact then); on a VM migrated here, the sequence goes on from the source's.
   *
   * @throws IllegalStateException unless the VM is paused, or if vCPUs share slots (more vCPUs than
   *     32-byte slots in a page)
   */
  public StampReport checkStamps(long[] after) {
    if (state() != VmState.PAUSED) {
      throw new IllegalStateException("checkStamps needs a paused VM, not " + state());
    }
    int pageSize = description.pageSize();
    if (vcpus.length > pageSize / SLOT || workload.kind() == Workload.Kind.IDLE) {
      throw new IllegalStateException("no stamps to check: " + vcpus.length + " vCPUs, workload " + workload);
    }
    long pages = description.pageCount();
    java.nio.ByteBuffer page = java.nio.ByteBuffer.allocate(pageSize).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    long checked = 0;
    long wrong = 0;
    List<String> first = new java.util.ArrayList<>();
    for (int v = 0; v < vcpus.length; v++) {
      long total = vcpus[v].published;
      long[] last = new long[(int) pages];
      WorkloadCursor replay = new WorkloadCursor(workload, seed, v, vcpus.length, pages);
      while (replay.writes() < total) {
        long p = replay.nextPage();
        last[(int) p] = replay.writes();
      }
      Vcpu cpu = vcpus[v];
      for (int p = 0; p < pages; p++) {
        long count = last[p];
        if (count <= after[v]) {
          continue;
        }
        page.clear();
        memory.readPage(p, page);
        int at = cpu.slotOffset;
        long w0 = page.getLong(at);
        boolean ok = w0 == (cpu.tag | (count & 0xFFFF_FFFF_FFFFL)) && page.getLong(at + 8) == (cpu.seedMix ^ count)
            && page.getLong(at + 16) == cpu.seedMix + p
            && page.getLong(at + 24) == (GuestMemoryDigest.fmix64(count ^ p ^ cpu.seedMix) | 1L);
        checked++;
        if (!ok) {
          wrong++;
          if (first.size() < 10) {
            first.add("page " + p + " vCPU " + v + ": last write " + count + ", slot shows "
                + ((w0 & ~0xFFFF_FFFF_FFFFL) == cpu.tag ? "write " + (w0 & 0xFFFF_FFFF_FFFFL) : "no stamp of it"));
          }
        }
      }
    }
    return new StampReport(checked, wrong, List.copyOf(first));
  }

  /** The post-copy state of a VM activated with pages missing, if any. */
  public java.util.Optional<dev.ferry.spi.PostCopyIncoming> postCopyState() {
    return java.util.Optional.ofNullable(postCopy);
  }

  /** Starts the vCPU threads; the VM is then RUNNING. Called once by the host. */
  synchronized void start() {
    pauseRequested = false;
    state = VmState.RUNNING;
    for (Vcpu v : vcpus) {
      Thread t = new Thread(v, "ferry-sim-" + host.name() + "-" + description.name() + "-vcpu" + v.index);
      t.setDaemon(true);
      v.thread = t;
      t.start();
    }
  }

  /** The host the VM runs on. */
  public SimHost host() {
    return host;
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
    return state;
  }

  /** The workload the vCPUs run. */
  public Workload workload() {
    return workload;
  }

  /** The workload's seed. */
  public long seed() {
    return seed;
  }

  /** The guest memory (the same object as {@link #memory()}'s). */
  public SimMemory guestMemory() {
    return memory;
  }

  /** The dirty log (the same object as {@link #dirtyLog()}'s). */
  public SimDirtyLog log() {
    return dirtyLog;
  }

  /**
   * The digest of the whole guest memory ({@link GuestMemoryDigest#of}). Pause the VM first for a
   * digest that stands still.
   *
   * @throws IllegalStateException if the VM is stopped
   */
  public long memoryDigest() {
    return memory.digest();
  }

  /**
   * Page writes done by all vCPUs since the VM was first created (a migrated VM carries the count
   * over), exact while paused.
   */
  public long writesDone() {
    long sum = 0;
    for (Vcpu v : vcpus) {
      sum += v.published;
    }
    return sum;
  }

  /** Each vCPU's write counter, exact while paused. */
  public long[] vcpuWrites() {
    long[] w = new long[vcpus.length];
    for (int i = 0; i < w.length; i++) {
      w[i] = vcpus[i].published;
    }
    return w;
  }

  /**
   * Measures the write rate over {@code window}: blocks that long and returns page writes per
   * second. Counts writes, not distinct pages (a page written twice counts twice).
   */
  public double measureWriteRate(Duration window) throws InterruptedException {
    long before = writesDone();
    long t0 = System.nanoTime();
    TimeUnit.NANOSECONDS.sleep(window.toNanos());
    long after = writesDone();
    long elapsed = System.nanoTime() - t0;
    return (after - before) * 1e9 / elapsed;
  }

  @Override
  public void pause() {
    synchronized (this) {
      if (state == VmState.STOPPED) {
        throw new IllegalStateException("VM " + name() + " is stopped");
      }
      if (state == VmState.PAUSED) {
        return;
      }
      pauseRequested = true;
      quiesce();
      state = VmState.PAUSED;
    }
  }

  @Override
  public void resume() {
    synchronized (this) {
      if (state == VmState.STOPPED) {
        throw new IllegalStateException("VM " + name() + " is stopped");
      }
      if (state == VmState.RUNNING) {
        return;
      }
      synchronized (monitor) {
        pauseRequested = false;
        monitor.notifyAll();
      }
      state = VmState.RUNNING;
    }
  }

  @Override
  public void stop() {
    synchronized (this) {
      if (state == VmState.STOPPED) {
        return;
      }
      synchronized (monitor) {
        stopRequested = true;
        pauseRequested = true;
        monitor.notifyAll();
      }
      quiesce();
      for (Vcpu v : vcpus) {
        if (v.thread != null) {
          LockSupport.unpark(v.thread);
        }
      }
      for (Vcpu v : vcpus) {
        if (v.thread != null) {
          try {
            v.thread.join(TimeUnit.SECONDS.toMillis(5));
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            break;
          }
        }
      }
      // Safe even if a thread has not exited: after quiesce() no batch writes again.
      dirtyLog.stop();
      memory.release();
      state = VmState.STOPPED;
    }
    host.removeVm(this);
  }

  /** Waits until no batch of writes is in progress; later batches see the pause/stop flag. */
  private void quiesce() {
    runLock.writeLock().lock();
    runLock.writeLock().unlock();
  }

  @Override
  public Optional<GuestMemory> memory() {
    return Optional.of(memory);
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
    return Optional.of(devices);
  }

  @Override
  public String toString() {
    return "SimVm[" + host.name() + "/" + name() + ", " + state + ", " + description.memory() + ", "
        + description.vcpus() + " vCPUs, " + workload + "]";
  }

  private final class Throttle implements VcpuThrottle {
    @Override
    public void setPercent(int percent) {
      if (percent < 0 || percent > 99) {
        throw new IllegalArgumentException("throttle must be from 0 to 99 percent: " + percent);
      }
      int before = throttlePercent;
      throttlePercent = percent;
      if (percent < before) {
        // A vCPU may be sleeping off a high throttle's debt (99 % of a slow batch is long): wake it to
        // run at the new rate now, not when that sleep ends.
        for (Vcpu v : vcpus) {
          if (v.thread != null) {
            LockSupport.unpark(v.thread);
          }
        }
      }
    }

    @Override
    public int percent() {
      return throttlePercent;
    }
  }

  private final class Devices implements DeviceState {
    @Override
    public byte[] save() {
      synchronized (SimVm.this) {
        if (state != VmState.PAUSED) {
          throw new IllegalStateException("device state can be saved only while the VM is paused; VM " + name()
              + " is " + state);
        }
        return DeviceStateCodec.encode(description, workload, seed, deviceStateSize, cursors);
      }
    }

    @Override
    public void load(byte[] blob) {
      DeviceStateCodec.Snapshot s = DeviceStateCodec.decode(blob, description);
      synchronized (SimVm.this) {
        if (state != VmState.PAUSED) {
          throw new IllegalStateException("device state can be loaded only while the VM is paused; VM " + name()
              + " is " + state);
        }
        if (!s.workload().equals(workload) || s.seed() != seed) {
          throw new IllegalArgumentException("device state runs " + s.workload() + " seed " + s.seed()
              + ", this VM runs " + workload + " seed " + seed);
        }
        for (int i = 0; i < cursors.length; i++) {
          cursors[i] = new WorkloadCursor(workload, seed, description.pageCount(), s.rng()[i], s.seq()[i],
              s.writes()[i]);
          vcpus[i].published = s.writes()[i];
        }
      }
    }
  }

  /** One vCPU thread. */
  private final class Vcpu implements Runnable {
    final int index;
    final int slotOffset;
    final long tag;
    final long seedMix;
    volatile long published;
    Thread thread;
    /** A page this vCPU drew but has not written, because it was missing (post-copy); -1 if none. */
    long pending = -1;

    Vcpu(int index) {
      this.index = index;
      this.slotOffset = (index % (description.pageSize() / SLOT)) * SLOT;
      this.tag = (index + 1L) << 48;
      this.seedMix = GuestMemoryDigest.fmix64(seed ^ (index + 0x51L));
      this.published = cursors[index].writes();
    }

    @Override
    public void run() {
      if (workload.kind() == Workload.Kind.IDLE) {
        idle();
      } else if (workload.isUnlimited()) {
        unlimited();
      } else {
        paced();
      }
    }

    private void idle() {
      synchronized (monitor) {
        while (!stopRequested) {
          try {
            monitor.wait();
          } catch (InterruptedException e) {
            return;
          }
        }
      }
    }

    /** Waits while paused; returns false when the VM stops. */
    private boolean awaitRunning() {
      if (!pauseRequested) {
        return !stopRequested;
      }
      synchronized (monitor) {
        while (pauseRequested && !stopRequested) {
          try {
            monitor.wait();
          } catch (InterruptedException e) {
            return false;
          }
        }
      }
      return !stopRequested;
    }

    private void paced() {
      double perVcpu = (double) workload.pagesPerSecond() / vcpus.length;
      long tick = (long) Math.max(MIN_TICK_NANOS, Math.min(MAX_TICK_NANOS, 8e9 / perVcpu));
      double maxCredit = Math.max(perVcpu * 0.1, 1.0);
      double credit = 0;
      long last = System.nanoTime();
      while (true) {
        if (pauseRequested) {
          if (!awaitRunning()) {
            return;
          }
          last = System.nanoTime();
          credit = 0;
        }
        long now = System.nanoTime();
        credit = Math.min(maxCredit, credit + (now - last) * perVcpu * (100 - throttlePercent) / 100 / 1e9);
        last = now;
        while (credit >= 1) {
          int n = (int) Math.min(BATCH, (long) credit);
          if (!batch(n)) {
            break;
          }
          credit -= n;
        }
        if (stopRequested) {
          return;
        }
        LockSupport.parkNanos(tick);
      }
    }

    private void unlimited() {
      long owedSleep = 0;
      while (true) {
        if (pauseRequested && !awaitRunning()) {
          return;
        }
        long t0 = System.nanoTime();
        batch(BATCH);
        int th = throttlePercent;
        if (th > 0) {
          owedSleep += (System.nanoTime() - t0) * th / (100 - th);
          if (owedSleep >= MIN_TICK_NANOS) {
            long s0 = System.nanoTime();
            LockSupport.parkNanos(owedSleep);
            // Lowered while asleep (the setter wakes us): the debt was owed at the old rate.
            owedSleep = throttlePercent < th ? 0 : owedSleep - (System.nanoTime() - s0);
          }
        } else {
          owedSleep = 0;
        }
        if (stopRequested) {
          return;
        }
      }
    }

    /** Does {@code n} writes unless paused or stopped; returns whether it did. */
    private boolean batch(int n) {
      SimPostCopy pc = postCopy;
      if (pc != null && pending >= 0 && pc.isMissing(pending)) {
        // Post-copy: wait for the page outside the pause lock, so a pause never waits for it.
        if (!pc.awaitPage(pending, () -> !pauseRequested && !stopRequested)) {
          return false;
        }
      }
      ReentrantReadWriteLock.ReadLock rl = runLock.readLock();
      rl.lock();
      try {
        if (pauseRequested) {
          return false;
        }
        WorkloadCursor c = cursors[index];
        boolean markFirst = host.faults().markBeforeWrite();
        for (int i = 0; i < n; i++) {
          long page;
          if (pending >= 0) {
            page = pending;
          } else {
            page = c.nextPage();
          }
          if (pc != null && pc.isMissing(page)) {
            pending = page;
            published = c.writes();
            return true;
          }
          pending = -1;
          long count = c.writes();
          if (markFirst) {
            dirtyLog.mark(page); // the broken order of SimFaults.markBeforeWrite, with a window
            long until = System.nanoTime() + MARK_BEFORE_WRITE_WINDOW_NANOS;
            while (System.nanoTime() < until) {
              Thread.onSpinWait();
            }
          }
          memory.writeSlot(page, slotOffset, tag | (count & 0xFFFF_FFFF_FFFFL), seedMix ^ count, seedMix + page,
              GuestMemoryDigest.fmix64(count ^ page ^ seedMix) | 1L);
          if (!markFirst) {
            dirtyLog.mark(page);
          }
        }
        published = c.writes();
        return true;
      } finally {
        rl.unlock();
      }
    }
  }
}
