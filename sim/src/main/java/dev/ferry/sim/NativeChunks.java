package dev.ferry.sim;

import com.sun.jna.Native;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Where the sim's guest memory comes from: anonymous private mappings of the operating system, as
 * a hypervisor backs guest RAM, not the JVM's direct-buffer allocator.
 *
 * <p>Design note: {@code ByteBuffer.allocateDirect} has two costs that a hypervisor does not pay.
 * It counts against {@code -XX:MaxDirectMemorySize}, whose default is the maximum heap (a quarter
 * of the machine), so a 4 GiB migration in one process (8 GiB of guest memory in all) failed with
 * {@code OutOfMemoryError} on a 24 GiB machine; and it zeroes every byte before the first use, so
 * memory that a migration is about to overwrite is written twice, and a guest's first write into a
 * 16 MiB chunk paid for all of it. On Linux a chunk here is instead an
 * {@code mmap(MAP_PRIVATE | MAP_ANONYMOUS)} region: it reads as zeros without being written, costs
 * nothing until touched, a page at a time, and is bounded only by what the machine can give.
 * {@link #free} unmaps at once. The buffers are direct buffers without a cleaner (JNA's
 * {@code Pointer.getByteBuffer}), so page copies stay {@code memcpy}s; callers must never touch a
 * chunk after freeing it ({@link SimMemory} guards that with its lock). Elsewhere, or if the C
 * library cannot be reached, chunks fall back to {@code allocateDirect}.
 *
 * <p>Huge pages ({@code MADV_HUGEPAGE}, with chunks aligned to 2 MiB) are opt-in
 * ({@code -Dferry.sim.hugePages=true}): they made sequential first writes faster where the memory
 * was already backed, but a scattered write then faults in 2 MiB, and on a machine whose free
 * memory is returned to the hypervisor below it that cost 6 ms a write: a sparse 16 GiB guest's
 * dirty pages took 12 s a round to land on the destination.
 *
 * <p>Thread-safety: safe from any thread.
 */
final class NativeChunks {
  private static final long HUGE = 2L << 20;
  private static final int PROT_READ = 0x1;
  private static final int PROT_WRITE = 0x2;
  private static final int MAP_PRIVATE = 0x02;
  private static final int MAP_ANONYMOUS = 0x20;
  private static final int MADV_DONTNEED = 4;
  private static final int MADV_HUGEPAGE = 14;
  private static final long MAP_FAILED = -1L;

  private static final boolean MAPPED = linkLibc();
  private static final boolean HUGE_PAGES = Boolean.getBoolean("ferry.sim.hugePages");
  private static final AtomicLong MAPPED_BYTES = new AtomicLong();
  private static final int OS_PAGE = MAPPED ? LibC.getpagesize() : 4096;

  private NativeChunks() {}

  /** Whether chunks are operating-system mappings (false: the JVM's direct buffers). */
  static boolean mapped() {
    return MAPPED;
  }

  /** Bytes currently mapped for chunks. */
  static long mappedBytes() {
    return MAPPED_BYTES.get();
  }

  /**
   * A zero-filled little-endian direct buffer of {@code size} bytes.
   *
   * @throws OutOfMemoryError if the operating system refuses the mapping, with its error number
   */
  static ByteBuffer allocate(int size) {
    if (!MAPPED) {
      return ByteBuffer.allocateDirect(size).order(ByteOrder.LITTLE_ENDIAN);
    }
    // With huge pages, map 2 MiB more than asked, then unmap the unaligned head and the tail, so
    // that every 2 MiB of the chunk can be a huge page; without, the kernel's address will do.
    long span = HUGE_PAGES ? size + HUGE : size;
    long base = LibC.mmap(0, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
      throw new OutOfMemoryError("the operating system refused " + size + " bytes of guest memory (mmap errno "
          + Native.getLastError() + ")");
    }
    long start = base;
    if (HUGE_PAGES) {
      start = (base + HUGE - 1) & -HUGE;
      if (start > base) {
        LibC.munmap(base, start - base);
      }
      long end = start + size;
      long tail = base + span - end;
      if (tail > 0) {
        LibC.munmap(end, tail);
      }
      LibC.madvise(start, size, MADV_HUGEPAGE); // advice only: without huge pages it still works
    }
    MAPPED_BYTES.addAndGet(size);
    return new Pointer(start).getByteBuffer(0, size).order(ByteOrder.LITTLE_ENDIAN);
  }

  /**
   * Whether at least seven eighths of a chunk's pages are resident now (backed by memory, by
   * {@code mincore}). Direct buffers are always resident (the JVM zeroed them when it allocated).
   */
  static boolean mostlyResident(ByteBuffer chunk) {
    if (!MAPPED) {
      return true;
    }
    long address = Pointer.nativeValue(Native.getDirectBufferPointer(chunk));
    byte[] pages = new byte[(chunk.capacity() + OS_PAGE - 1) / OS_PAGE];
    if (LibC.mincore(address, chunk.capacity(), pages) != 0) {
      return false; // cannot tell: treat it as sparse, which costs a fresh mapping, never memory
    }
    int resident = 0;
    for (byte b : pages) {
      resident += b & 1;
    }
    return resident >= pages.length - pages.length / 8;
  }

  /**
   * Gives a chunk's pages back to the operating system and keeps the mapping: the chunk then reads
   * as zeros and is resident nowhere until written again ({@code MADV_DONTNEED} on a private
   * anonymous mapping). False if that cannot be done here (direct buffers, or madvise failed).
   */
  static boolean dropPages(ByteBuffer chunk) {
    if (!MAPPED) {
      return false;
    }
    long address = Pointer.nativeValue(Native.getDirectBufferPointer(chunk));
    return LibC.madvise(address, chunk.capacity(), MADV_DONTNEED) == 0;
  }

  /** Returns a chunk from {@link #allocate} to the operating system now. */
  static void free(ByteBuffer chunk) {
    if (!MAPPED) {
      DirectBuffers.free(chunk);
      return;
    }
    long address = Pointer.nativeValue(Native.getDirectBufferPointer(chunk));
    if (LibC.munmap(address, chunk.capacity()) != 0) {
      throw new IllegalStateException("munmap of a guest-memory chunk failed (errno " + Native.getLastError() + ")");
    }
    MAPPED_BYTES.addAndGet(-chunk.capacity());
  }

  private static boolean linkLibc() {
    if (!Platform.isLinux() || Boolean.getBoolean("ferry.sim.directBuffers")) {
      return false;
    }
    try {
      Native.register(LibC.class, Platform.C_LIBRARY_NAME);
      return true;
    } catch (LinkageError | RuntimeException e) {
      return false;
    }
  }

  /** The calls, bound directly (JNA direct mapping: no per-call reflection). */
  private static final class LibC {
    static native long mmap(long addr, long length, int prot, int flags, int fd, long offset);

    static native int munmap(long addr, long length);

    static native int madvise(long addr, long length, int advice);

    static native int mincore(long addr, long length, byte[] vec);

    static native int getpagesize();
  }
}
