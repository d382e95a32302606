package dev.ferry.sim;

import dev.ferry.spi.DirtyLog;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The dirty log of a simulated VM: one bit per guest page, set by the vCPUs after each write and
 * handed over with get-and-clear semantics, as KVM's {@code KVM_GET_DIRTY_LOG}.
 *
 * <p>Design note: the bitmap is a {@code long[]} accessed through a {@link VarHandle}. A vCPU
 * writes the page's data first and then calls {@link #mark(long)}, which sets the bit with a
 * volatile {@code getAndBitwiseOr}; {@link #syncAndClear(long[])} takes each non-zero word with a
 * volatile {@code getAndSet(word, 0)}. Both are full-fence atomics on the same word, so a mark is
 * either taken by this sync (and the data it follows is visible to the engine's later read) or left
 * for the next one; no write between two syncs is ever lost. A mark never skips the atomic even when
 * the bit already looks set: a plain "already set?" read does not order the preceding data store,
 * and could let a sync clear the bit before the data is visible.
 *
 * <p>When logging is off, {@link #mark} costs one volatile read.
 *
 * <p>Thread-safety: {@link #mark} may be called by any number of threads concurrently with one
 * thread calling {@link #syncAndClear}, as {@link DirtyLog} requires; {@link #start} and
 * {@link #stop} are safe from any thread.
 */
public final class SimDirtyLog implements DirtyLog {
  private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);

  private final long pageCount;
  private final long[] words;
  private volatile boolean active;

  /** A log for {@code pageCount} pages, not started. */
  public SimDirtyLog(long pageCount) {
    if (pageCount <= 0) {
      throw new IllegalArgumentException("page count must be positive: " + pageCount);
    }
    long n = (pageCount + 63) >>> 6;
    if (n > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("too many pages for a dirty log: " + pageCount);
    }
    this.pageCount = pageCount;
    this.words = new long[(int) n];
  }

  /** Number of pages this log covers. */
  public long pageCount() {
    return pageCount;
  }

  /** Words a bitmap passed to {@link #syncAndClear} needs: {@code ceil(pageCount / 64)}. */
  public int bitmapWords() {
    return words.length;
  }

  @Override
  public synchronized void start() {
    clearAll();
    active = true;
  }

  /**
   * Marks {@code page} dirty if logging is on. Call it after the page's data has been written.
   */
  public void mark(long page) {
    if (active) {
      WORDS.getAndBitwiseOr(words, (int) (page >>> 6), 1L << page);
    }
  }

  /**
   * {@inheritDoc}
   *
   * <p>The count returned is the number of pages this call took from the log (bits it handed over),
   * whether or not they were already set in {@code bitmap}.
   *
   * @throws IllegalArgumentException if {@code bitmap} has fewer than {@link #bitmapWords()} words
   */
  @Override
  public long syncAndClear(long[] bitmap) {
    if (!active) {
      throw new IllegalStateException("dirty log is not started");
    }
    if (bitmap.length < words.length) {
      throw new IllegalArgumentException(
          "bitmap has " + bitmap.length + " words, " + words.length + " needed for " + pageCount + " pages");
    }
    long reported = 0;
    for (int i = 0; i < words.length; i++) {
      // A zero word read here may gain a mark right after: that mark is left for the next sync.
      if ((long) WORDS.getVolatile(words, i) != 0) {
        long w = (long) WORDS.getAndSet(words, i, 0L);
        bitmap[i] |= w;
        reported += Long.bitCount(w);
      }
    }
    return reported;
  }

  @Override
  public synchronized void stop() {
    active = false;
    clearAll();
  }

  @Override
  public boolean isActive() {
    return active;
  }

  private void clearAll() {
    for (int i = 0; i < words.length; i++) {
      WORDS.setVolatile(words, i, 0L);
    }
  }
}
