package dev.ferry.tck;

import dev.ferry.spi.GuestMemory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A per-page hash of a guest memory at one moment, to tell which pages changed between two
 * moments. Reads go through {@link GuestMemory#readPage} only, so this works on any backend.
 *
 * <p>Thread-safety: immutable once taken.
 */
final class MemorySnapshot {
  private final long[] hashes;

  private MemorySnapshot(long[] hashes) {
    this.hashes = hashes;
  }

  /** Hashes every page of {@code memory}. */
  static MemorySnapshot of(GuestMemory memory) {
    long count = memory.pageCount();
    if (count > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("memory too large for a TCK snapshot: " + count + " pages");
    }
    int pageSize = memory.pageSize();
    ByteBuffer buf = ByteBuffer.allocateDirect(pageSize).order(ByteOrder.LITTLE_ENDIAN);
    long[] hashes = new long[(int) count];
    for (int p = 0; p < count; p++) {
      buf.clear();
      memory.readPage(p, buf);
      hashes[p] = hash(buf, pageSize);
    }
    return new MemorySnapshot(hashes);
  }

  /** Hash of one page read into {@code buf} (absolute indices 0..pageSize). */
  static long hash(ByteBuffer buf, int pageSize) {
    long h = 0x9E3779B97F4A7C15L;
    for (int i = 0; i < pageSize; i += 8) {
      h = Long.rotateLeft(h ^ (buf.getLong(i) * 0xC2B2AE3D27D4EB4FL), 29) * 0x9E3779B185EBCA87L;
    }
    return h ^ (h >>> 32);
  }

  int pages() {
    return hashes.length;
  }

  long digest() {
    long h = 17;
    for (long x : hashes) {
      h = h * 0x9E3779B185EBCA87L + x;
    }
    return h;
  }

  /** The pages whose hash differs between this and {@code later}, as a bitmap. */
  long[] changedSince(MemorySnapshot earlier) {
    long[] bits = new long[(hashes.length + 63) >>> 6];
    for (int p = 0; p < hashes.length; p++) {
      if (hashes[p] != earlier.hashes[p]) {
        bits[p >>> 6] |= 1L << p;
      }
    }
    return bits;
  }
}
