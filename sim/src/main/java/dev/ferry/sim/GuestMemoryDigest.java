package dev.ferry.sim;

import dev.ferry.spi.GuestMemory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A 64-bit digest of a whole guest memory, to prove that two VMs hold identical memory.
 *
 * <p>Design note: each page is hashed over its little-endian 64-bit words with a multiply-rotate
 * mix (in the style of xxHash64's round) and a MurmurHash3 {@code fmix64} finish; page hashes are
 * folded in page order, so the digest is order-sensitive and zero pages count like any other. It
 * is not cryptographic: it detects accidental differences (a lost or misplaced page), not forged
 * ones. Hashing runs at memory speed (no {@code MessageDigest}, no per-page allocation).
 *
 * <p>The digest of a memory that vCPUs are writing is a moving target: pause the VM first.
 *
 * <p>Thread-safety: stateless; safe from any thread.
 */
public final class GuestMemoryDigest {
  private static final long P1 = 0x9E3779B185EBCA87L;
  private static final long P2 = 0xC2B2AE3D27D4EB4FL;
  private static final long P3 = 0x165667B19E3779F9L;

  private GuestMemoryDigest() {}

  /**
   * The digest of every page of {@code memory}, read through {@link GuestMemory#readPage}. For a
   * {@link SimMemory} the chunks are hashed in place, and never-written chunks are not read.
   */
  public static long of(GuestMemory memory) {
    if (memory instanceof SimMemory) {
      return ((SimMemory) memory).digest();
    }
    int pageSize = memory.pageSize();
    ByteBuffer buf = ByteBuffer.allocateDirect(pageSize).order(ByteOrder.LITTLE_ENDIAN);
    long acc = start(memory.pageCount(), pageSize);
    for (long page = 0; page < memory.pageCount(); page++) {
      buf.clear();
      memory.readPage(page, buf);
      acc = combine(acc, pageHash(buf, 0, pageSize));
    }
    return finish(acc);
  }

  /** The hash of page {@code page} of {@code memory}. */
  public static long pageHash(GuestMemory memory, long page) {
    if (memory instanceof SimMemory) {
      return ((SimMemory) memory).pageHash(page);
    }
    ByteBuffer buf = ByteBuffer.allocate(memory.pageSize()).order(ByteOrder.LITTLE_ENDIAN);
    memory.readPage(page, buf);
    return pageHash(buf, 0, memory.pageSize());
  }

  /**
   * The hash of {@code length} bytes of {@code buf} from absolute index {@code offset} ({@code
   * length} a multiple of 8), read as little-endian words whatever the buffer's order.
   */
  public static long pageHash(ByteBuffer buf, int offset, int length) {
    boolean swap = buf.order() != ByteOrder.LITTLE_ENDIAN;
    long h = P3 ^ length;
    for (int i = 0; i < length; i += 8) {
      long v = buf.getLong(offset + i);
      if (swap) {
        v = Long.reverseBytes(v);
      }
      h ^= Long.rotateLeft(v * P2, 31) * P1;
      h = Long.rotateLeft(h, 27) * P1 + P3;
    }
    return fmix64(h);
  }

  static long start(long pageCount, int pageSize) {
    return fmix64(pageCount * P1 + pageSize);
  }

  static long combine(long acc, long pageHash) {
    return Long.rotateLeft(acc ^ pageHash, 23) * P2 + P3;
  }

  static long finish(long acc) {
    return fmix64(acc);
  }

  static long fmix64(long k) {
    k ^= k >>> 33;
    k *= 0xFF51AFD7ED558CCDL;
    k ^= k >>> 33;
    k *= 0xC4CEB9FE1A85EC53L;
    k ^= k >>> 33;
    return k;
  }
}
