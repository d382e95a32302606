package dev.ferry.sim;

import dev.ferry.spi.PostCopyIncoming;
import dev.ferry.spi.VmDriver;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

/**
 * The missing-page set of a simulated VM in post-copy, and the blocking of vCPUs on it.
 *
 * <p>Design note. Missing pages are bits in a {@code long[]} read with volatile semantics. A vCPU
 * about to write a page checks its bit; if set, it reports a fault (the first vCPU to block on a
 * page reports it; others wait with it) and waits, outside the VM's pause lock, so that pausing the
 * VM (the link to the source was lost) never waits for a page that cannot come. A supply writes the
 * page's data, then clears the bit, then wakes the waiters, all under this object's lock: so a
 * vCPU writes a page only after its data has arrived, and a second supply of the same page sees
 * the bit clear and writes nothing, which keeps a stale or duplicate copy from ever overwriting
 * what the guest wrote since. Blocked times are recorded exactly (one long per fault, capped).
 *
 * <p>Thread-safety: safe from any thread.
 */
final class SimPostCopy implements PostCopyIncoming {
  private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);
  private static final int MAX_SAMPLES = 1 << 20;

  private final SimIncomingVm incoming;
  private final SimMemory memory;
  private final long[] missing;
  private final long[] requested;
  private long missingCount; // guarded by this
  private volatile PageFaultListener listener = page -> {};
  private long[] blocked = new long[1024]; // guarded by this
  private int samples; // guarded by this
  private long faults; // guarded by this
  private long blockedTotal; // guarded by this
  private boolean activated; // guarded by this

  SimPostCopy(SimIncomingVm incoming, SimMemory memory) {
    this.incoming = incoming;
    this.memory = memory;
    this.missing = new long[(int) ((memory.pageCount() + 63) >>> 6)];
    this.requested = new long[missing.length];
  }

  @Override
  public synchronized void markMissing(long[] bitmap) {
    if (activated) {
      throw new IllegalStateException("post-copy VM already activated");
    }
    long pages = memory.pageCount();
    for (int i = 0; i < missing.length && i < bitmap.length; i++) {
      long w = bitmap[i];
      if (i == missing.length - 1 && (pages & 63) != 0) {
        w &= (1L << (pages & 63)) - 1;
      }
      long added = w & ~missing[i];
      missingCount += Long.bitCount(added);
      WORDS.setVolatile(missing, i, missing[i] | w);
    }
  }

  @Override
  public VmDriver activate(PageFaultListener faults) {
    synchronized (this) {
      activated = true;
      this.listener = java.util.Objects.requireNonNull(faults, "faults");
    }
    return incoming.activatePostCopy(this);
  }

  /** Whether a vCPU must wait before writing this page. */
  boolean isMissing(long page) {
    return ((long) WORDS.getVolatile(missing, (int) (page >>> 6)) & (1L << page)) != 0;
  }

  /**
   * Blocks a vCPU until {@code page} is present, or until {@code stillWanted} says the vCPU must
   * stop waiting (pause or stop). Returns whether the page is now present.
   */
  boolean awaitPage(long page, java.util.function.BooleanSupplier stillWanted) {
    long t0 = System.nanoTime();
    boolean report;
    synchronized (this) {
      if (!isMissing(page)) {
        return true;
      }
      int w = (int) (page >>> 6);
      long bit = 1L << page;
      report = (requested[w] & bit) == 0;
      requested[w] |= bit;
      faults++;
    }
    if (report) {
      listener.onFault(page);
    }
    try {
      synchronized (this) {
        while (isMissing(page) && stillWanted.getAsBoolean()) {
          try {
            wait(10);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
          }
        }
        return !isMissing(page);
      }
    } finally {
      record(System.nanoTime() - t0);
    }
  }

  private synchronized void record(long nanos) {
    blockedTotal += nanos;
    if (samples < MAX_SAMPLES) {
      if (samples == blocked.length) {
        blocked = Arrays.copyOf(blocked, Math.min(MAX_SAMPLES, samples * 2));
      }
      blocked[samples++] = nanos;
    }
  }

  @Override
  public synchronized boolean supplyPage(long page, ByteBuffer src) {
    if (!isMissing(page)) {
      src.position(src.position() + memory.pageSize());
      return false;
    }
    memory.writePage(page, src);
    present(page);
    return true;
  }

  @Override
  public synchronized boolean supplyZeroPage(long page) {
    if (!isMissing(page)) {
      return false;
    }
    memory.zeroPage(page);
    present(page);
    return true;
  }

  private void present(long page) {
    int w = (int) (page >>> 6);
    WORDS.setVolatile(missing, w, missing[w] & ~(1L << page));
    missingCount--;
    notifyAll();
  }

  @Override
  public synchronized long missingPages() {
    return missingCount;
  }

  @Override
  public synchronized long[] missingBitmap() {
    return missing.clone();
  }

  @Override
  public synchronized FaultStats faultStats() {
    if (samples == 0) {
      return new FaultStats(faults, blockedTotal, 0, 0, 0);
    }
    long[] sorted = Arrays.copyOf(blocked, samples);
    Arrays.sort(sorted);
    return new FaultStats(faults, blockedTotal, sorted[(samples - 1) / 2],
        sorted[(int) Math.min(samples - 1, (long) Math.ceil(samples * 0.99) - 1)], sorted[samples - 1]);
  }

  /** For tests: waits until no page is missing. */
  synchronized boolean awaitComplete(long timeout, TimeUnit unit) throws InterruptedException {
    long deadline = System.nanoTime() + unit.toNanos(timeout);
    while (missingCount > 0) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        return false;
      }
      TimeUnit.NANOSECONDS.timedWait(this, left);
    }
    return true;
  }
}
