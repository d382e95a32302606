package dev.ferry.engine;

import dev.ferry.spi.GuestMemory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A hash of every non-zero page a migration has sent (on the source) or applied (on the
 * destination), kept as the pages go by, so that verification costs nothing at switchover that
 * grows with memory.
 *
 * <p>Design note. Each page's content is hashed once, when it is read to be sent or written on
 * arrival, from the bytes already in hand (64-bit, four multiply-rotate lanes over the page's words,
 * seeded with the page's index so that two swapped pages do not cancel; the lanes of
 * {@link MemoryDigest}). A zero page has no entry: zero pages are alike on both sides however they
 * travel (a marker, a run, or not at all for memory never written). Both sides keep the sum of the
 * entries modulo 2^64, updated as an entry changes, one sum per stream: pages are partitioned across
 * streams by 64-page block and each block is only ever sent, and applied, by its stream's own thread,
 * so the sums need no lock. At switchover each side adds its streams' sums; equal sums mean the
 * destination holds what the source sent, and that costs the number of streams, not the number of
 * pages.
 *
 * <p>What this cannot see is a page the dirty log failed to report: sent once, written later, never
 * sent again. {@link #differences} finds those, by hashing the frozen source against the ledger once
 * the destination runs the guest, off the downtime path and before the source's memory is released.
 *
 * <p>Memory: entries live in chunks of {@link #CHUNK_PAGES} allocated on first use (by whichever
 * stream needs one first, with a compare-and-set), so a large, mostly untouched VM costs what was
 * touched (8 bytes a page).
 *
 * <p>Thread-safety: {@link #record} for a page only from its stream's thread; {@link #sum} and
 * {@link #differences} once those threads have handed over (after the round's end is known).
 */
final class PageLedger {
  static final int CHUNK_SHIFT = 16;
  static final int CHUNK_PAGES = 1 << CHUNK_SHIFT;
  private static final long P1 = 0x9E3779B185EBCA87L;
  private static final long P2 = 0xC2B2AE3D27D4EB4FL;
  private static final long P3 = 0x165667B19E3779F9L;

  private final long pageCount;
  private final int pageSize;
  private final int streams;
  private final java.util.concurrent.atomic.AtomicReferenceArray<long[]> chunks;
  private final long[] sums;

  PageLedger(long pageCount, int pageSize, int streams) {
    this.pageCount = pageCount;
    this.pageSize = pageSize;
    this.streams = streams;
    this.chunks = new java.util.concurrent.atomic.AtomicReferenceArray<>(
        (int) ((pageCount + CHUNK_PAGES - 1) >>> CHUNK_SHIFT));
    this.sums = new long[streams];
  }

  /** The stream that carries {@code page}: its 64-page block modulo the stream count. */
  int streamOf(long page) {
    return (int) ((page >>> 6) % streams);
  }

  /** Records the content of {@code page}: {@code pageSize} bytes of {@code b} from {@code offset}. */
  void record(long page, ByteBuffer b, int offset) {
    set(page, hash(b, offset, pageSize, page));
  }

  /** Records that {@code page} is all zeros. */
  void recordZero(long page) {
    set(page, 0);
  }

  private void set(long page, long h) {
    int c = (int) (page >>> CHUNK_SHIFT);
    long[] chunk = chunks.get(c);
    if (chunk == null) {
      if (h == 0) {
        return;
      }
      // A chunk spans blocks of every stream: the first stream to need it installs it.
      chunks.compareAndSet(c, null, new long[CHUNK_PAGES]);
      chunk = chunks.get(c);
    }
    int i = (int) (page & (CHUNK_PAGES - 1));
    int s = streamOf(page);
    sums[s] += h - chunk[i];
    chunk[i] = h;
  }

  /** The hash recorded for {@code page}, or 0 for a zero page (or one never recorded). */
  long hashOf(long page) {
    long[] chunk = chunks.get((int) (page >>> CHUNK_SHIFT));
    return chunk == null ? 0 : chunk[(int) (page & (CHUNK_PAGES - 1))];
  }

  /** The sum of every entry, modulo 2^64. */
  long sum() {
    long s = 0;
    for (long x : sums) {
      s += x;
    }
    return s;
  }

  /**
   * Hashes every page of {@code memory} and compares it with the ledger; returns the pages that
   * differ (at most {@code keep} of them listed) and how many there are.
   */
  Differences differences(GuestMemory memory, int keep) {
    ByteBuffer page = ByteBuffer.allocateDirect(pageSize).order(ByteOrder.LITTLE_ENDIAN);
    long count = 0;
    long[] first = new long[keep];
    int listed = 0;
    for (long p = 0; p < pageCount; p++) {
      long h;
      if (memory.knownZero(p)) {
        h = 0;
      } else {
        page.clear();
        memory.readPage(p, page);
        h = hash(page, 0, pageSize, p);
      }
      if (h != hashOf(p)) {
        if (listed < keep) {
          first[listed++] = p;
        }
        count++;
      }
    }
    return new Differences(count, java.util.Arrays.copyOf(first, listed));
  }

  /** Pages whose content differs from what the ledger holds. */
  record Differences(long count, long[] first) {}

  /**
   * The hash of a page, 0 exactly when the page is all zeros. Reads little-endian words at absolute
   * positions, so the buffer's position and byte order do not matter.
   */
  static long hash(ByteBuffer b, int offset, int pageSize, long index) {
    return b.order() == ByteOrder.LITTLE_ENDIAN ? hashLe(b, offset, pageSize, index)
        : hashBe(b, offset, pageSize, index);
  }

  private static long hashBe(ByteBuffer b, int offset, int pageSize, long index) {
    long a0 = index * P1;
    long a1 = index ^ P2;
    long a2 = ~index;
    long a3 = index + P3;
    long any = 0;
    int n = pageSize & ~31;
    for (int i = 0; i < n; i += 32) {
      long w0 = Long.reverseBytes(b.getLong(offset + i));
      long w1 = Long.reverseBytes(b.getLong(offset + i + 8));
      long w2 = Long.reverseBytes(b.getLong(offset + i + 16));
      long w3 = Long.reverseBytes(b.getLong(offset + i + 24));
      any |= w0 | w1 | w2 | w3;
      a0 = round(a0, w0);
      a1 = round(a1, w1);
      a2 = round(a2, w2);
      a3 = round(a3, w3);
    }
    return finish(b, offset, pageSize, n, a0, a1, a2, a3, any);
  }

  private static long hashLe(ByteBuffer le, int offset, int pageSize, long index) {
    long a0 = index * P1;
    long a1 = index ^ P2;
    long a2 = ~index;
    long a3 = index + P3;
    long any = 0;
    int n = pageSize & ~31;
    for (int i = 0; i < n; i += 32) {
      long w0 = le.getLong(offset + i);
      long w1 = le.getLong(offset + i + 8);
      long w2 = le.getLong(offset + i + 16);
      long w3 = le.getLong(offset + i + 24);
      any |= w0 | w1 | w2 | w3;
      a0 = round(a0, w0);
      a1 = round(a1, w1);
      a2 = round(a2, w2);
      a3 = round(a3, w3);
    }
    return finish(le, offset, pageSize, n, a0, a1, a2, a3, any);
  }

  private static long finish(ByteBuffer b, int offset, int pageSize, int n, long a0, long a1, long a2, long a3,
      long any) {
    for (int i = n; i < pageSize; i++) {
      byte x = b.get(offset + i);
      any |= x;
      a0 = round(a0, x);
    }
    if (any == 0) {
      return 0;
    }
    long h = avalanche(Long.rotateLeft(a0, 1) + Long.rotateLeft(a1, 7) + Long.rotateLeft(a2, 12)
        + Long.rotateLeft(a3, 18));
    return h == 0 ? 1 : h;
  }

  private static long round(long acc, long input) {
    acc += input * P2;
    acc = Long.rotateLeft(acc, 31);
    return acc * P1;
  }

  private static long avalanche(long h) {
    h ^= h >>> 33;
    h *= P2;
    h ^= h >>> 29;
    h *= P3;
    h ^= h >>> 32;
    return h;
  }
}
