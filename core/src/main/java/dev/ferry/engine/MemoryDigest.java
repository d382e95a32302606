package dev.ferry.engine;

import dev.ferry.spi.GuestMemory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A 256-bit digest of guest memory, computed by source and destination while the guest is paused
 * to prove that both hold the same bytes.
 *
 * <p>Algorithm: each page is hashed with a 64-bit multiply-xorshift over its words (in the manner
 * of xxHash64's lanes: four independent accumulators so the loop is not bound by one multiply's
 * latency), seeded with the page index so that two swapped pages do not cancel; the page hashes
 * are folded into four 64-bit lanes, lane {@code i & 3}. It detects corruption and lost writes, not
 * an adversary: the link's integrity against attackers is TLS's job. All-zero pages are hashed like
 * any other, so the digest does not depend on how a backend stores them.
 *
 * <p>Not thread-safe: one instance per thread (it owns a scratch buffer).
 */
public final class MemoryDigest {
  private static final long P1 = 0x9E3779B185EBCA87L;
  private static final long P2 = 0xC2B2AE3D27D4EB4FL;
  private static final long P3 = 0x165667B19E3779F9L;

  private final ByteBuffer page;

  MemoryDigest(int pageSize) {
    if (pageSize < 8) {
      throw new IllegalArgumentException("page size too small to digest: " + pageSize);
    }
    this.page = ByteBuffer.allocateDirect(pageSize).order(ByteOrder.LITTLE_ENDIAN);
  }

  /**
   * How long a digest of all of {@code memory} would take, from the fastest of a few passes over a
   * sample (the first passes run before the JIT has compiled the hash loop and are many times
   * slower than the digest at switchover will be).
   */
  public static long estimateNanos(GuestMemory memory) {
    long pages = memory.pageCount();
    long sample = Math.min(pages, 2048);
    MemoryDigest d = new MemoryDigest(memory.pageSize());
    long best = Long.MAX_VALUE;
    for (int pass = 0; pass < 5; pass++) {
      long t0 = System.nanoTime();
      d.digest(memory, 0, sample);
      best = Math.min(best, System.nanoTime() - t0);
    }
    return (long) ((double) best * pages / sample);
  }

  /** The digest of {@code count} pages of {@code memory} from page {@code first}: 32 bytes. */
  byte[] digest(GuestMemory memory, long first, long count) {
    long l0 = P1;
    long l1 = P2;
    long l2 = P3;
    long l3 = P1 ^ P2;
    long pages = count;
    for (long p = first; p < first + count; p++) {
      page.clear();
      memory.readPage(p, page);
      long h = hashPage(page, p);
      switch ((int) (p & 3)) {
        case 0 -> l0 = round(l0, h);
        case 1 -> l1 = round(l1, h);
        case 2 -> l2 = round(l2, h);
        default -> l3 = round(l3, h);
      }
    }
    ByteBuffer out = ByteBuffer.allocate(32);
    out.putLong(avalanche(l0 ^ pages)).putLong(avalanche(l1)).putLong(avalanche(l2)).putLong(avalanche(l3));
    return out.array();
  }

  private static long hashPage(ByteBuffer b, long index) {
    long a0 = index * P1;
    long a1 = index ^ P2;
    long a2 = ~index;
    long a3 = index + P3;
    int n = b.capacity() & ~31;
    for (int i = 0; i < n; i += 32) {
      a0 = round(a0, b.getLong(i));
      a1 = round(a1, b.getLong(i + 8));
      a2 = round(a2, b.getLong(i + 16));
      a3 = round(a3, b.getLong(i + 24));
    }
    for (int i = n; i < b.capacity(); i++) {
      a0 = round(a0, b.get(i));
    }
    return avalanche(Long.rotateLeft(a0, 1) + Long.rotateLeft(a1, 7) + Long.rotateLeft(a2, 12)
        + Long.rotateLeft(a3, 18));
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
