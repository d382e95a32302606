package dev.ferry.kvm;

import com.sun.jna.LastErrorException;
import com.sun.jna.Pointer;
import dev.ferry.spi.DriverException;
import dev.ferry.spi.GuestMemory;
import java.nio.BufferOverflowException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A VM's RAM: one anonymous mapping ({@code mmap(MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)}) that
 * KVM uses as the guest's physical memory from address 0 and that this class exposes, with no copy, as
 * {@link GuestMemory}: the page loop reads and writes the very bytes the guest sees, through direct
 * {@link ByteBuffer}s over the mapping (one per GiB, since a buffer holds at most 2 GiB).
 *
 * <p>Why private and not shared anonymous memory: reading a page the guest never touched allocates
 * it in a shared (shmem) mapping, so a migration's first pass would make the source hold all of the
 * VM's memory. Measured here: reading an untouched 1 GiB took 718 ms and left 1 GiB of shmem
 * resident when shared, 230 ms and nothing resident when private (the kernel's zero page). KVM's
 * memory slot and dirty log work the same on both. For the same reason {@link #zeroPage} releases
 * the page ({@code madvise(MADV_DONTNEED)}, after which a private page reads as zeros) instead of
 * writing zeros.
 *
 * <p>The mapping is unmapped by {@link #release()}; an access after it would crash the process, so
 * every access holds the read side of a lock that {@code release()} takes for writing, and fails
 * with {@link IllegalStateException} once released. Fresh mappings are zero-filled by the kernel and
 * cost nothing until written.
 *
 * <p>Thread-safety: reads and writes of pages from any number of threads; absolute buffer
 * operations only, so threads share no buffer position.
 */
final class GuestRam implements GuestMemory {
  static final int PAGE_SIZE = 4096;
  private static final int CHUNK_SHIFT = 30;
  private static final long CHUNK = 1L << CHUNK_SHIFT;
  private static final ByteBuffer ZERO = ByteBuffer.allocateDirect(PAGE_SIZE);

  private final long size;
  private final long pages;
  private final Pointer base;
  private final ByteBuffer[] chunks;
  private final ReentrantReadWriteLock guard = new ReentrantReadWriteLock();
  private boolean released;

  GuestRam(long size) {
    if (size <= 0 || size % PAGE_SIZE != 0) {
      throw new IllegalArgumentException("guest RAM must be a positive whole number of 4 KiB pages: " + size);
    }
    this.size = size;
    this.pages = size / PAGE_SIZE;
    Pointer p;
    try {
      p = Libc.mmap(null, size, Libc.PROT_READ | Libc.PROT_WRITE,
          Libc.MAP_PRIVATE | Libc.MAP_ANONYMOUS | Libc.MAP_NORESERVE, -1, 0);
    } catch (LastErrorException e) {
      throw new DriverException("cannot map " + size + " bytes of guest RAM: " + Errno.describe(e.getErrorCode()));
    }
    if (Pointer.nativeValue(p) == Libc.MAP_FAILED) {
      throw new DriverException("cannot map " + size + " bytes of guest RAM");
    }
    this.base = p;
    int n = (int) ((size + CHUNK - 1) >>> CHUNK_SHIFT);
    this.chunks = new ByteBuffer[n];
    for (int i = 0; i < n; i++) {
      long off = (long) i << CHUNK_SHIFT;
      chunks[i] = p.getByteBuffer(off, Math.min(CHUNK, size - off)).order(ByteOrder.LITTLE_ENDIAN);
    }
  }

  /** The mapping's address, for {@code KVM_SET_USER_MEMORY_REGION}. */
  long address() {
    return Pointer.nativeValue(base);
  }

  /** Bytes of guest RAM. */
  long size() {
    return size;
  }

  @Override
  public int pageSize() {
    return PAGE_SIZE;
  }

  @Override
  public long pageCount() {
    return pages;
  }

  @Override
  public void readPage(long page, ByteBuffer dst) {
    check(page);
    int pos = dst.position();
    if (dst.limit() - pos < PAGE_SIZE) {
      throw new BufferOverflowException();
    }
    long addr = page * PAGE_SIZE;
    ReentrantReadWriteLock.ReadLock rl = guard.readLock();
    rl.lock();
    try {
      live();
      dst.put(pos, chunks[(int) (addr >>> CHUNK_SHIFT)], (int) (addr & (CHUNK - 1)), PAGE_SIZE);
    } finally {
      rl.unlock();
    }
    dst.position(pos + PAGE_SIZE);
  }

  @Override
  public void writePage(long page, ByteBuffer src) {
    check(page);
    int pos = src.position();
    if (src.limit() - pos < PAGE_SIZE) {
      throw new BufferUnderflowException();
    }
    write(page * PAGE_SIZE, src, pos, PAGE_SIZE);
    src.position(pos + PAGE_SIZE);
  }

  @Override
  public void zeroPage(long page) {
    check(page);
    ReentrantReadWriteLock.ReadLock rl = guard.readLock();
    rl.lock();
    try {
      live();
      Libc.madvise(base.share(page * PAGE_SIZE), PAGE_SIZE, Libc.MADV_DONTNEED);
    } catch (com.sun.jna.LastErrorException e) {
      write(page * PAGE_SIZE, ZERO, 0, PAGE_SIZE);  // could not release it: zero it by hand
    } finally {
      rl.unlock();
    }
  }

  /** Copies {@code length} bytes of {@code src} from {@code offset} to guest address {@code addr}. */
  void write(long addr, ByteBuffer src, int offset, int length) {
    if (addr < 0 || length < 0 || addr + length > size) {
      throw new IndexOutOfBoundsException("guest range " + addr + "+" + length + " outside " + size + " bytes");
    }
    ReentrantReadWriteLock.ReadLock rl = guard.readLock();
    rl.lock();
    try {
      live();
      int done = 0;
      while (done < length) {
        long a = addr + done;
        ByteBuffer c = chunks[(int) (a >>> CHUNK_SHIFT)];
        int off = (int) (a & (CHUNK - 1));
        int n = Math.min(length - done, c.capacity() - off);
        c.put(off, src, offset + done, n);
        done += n;
      }
    } finally {
      rl.unlock();
    }
  }

  /** Writes {@code bytes} at guest address {@code addr}. */
  void write(long addr, byte[] bytes) {
    write(addr, ByteBuffer.wrap(bytes), 0, bytes.length);
  }

  /** Fills {@code length} bytes from guest address {@code addr} with zeros. */
  void zero(long addr, long length) {
    for (long done = 0; done < length; ) {
      int n = (int) Math.min(PAGE_SIZE, length - done);
      write(addr + done, ZERO, 0, n);
      done += n;
    }
  }

  /** The 32-bit little-endian word at guest address {@code addr}. */
  int readInt(long addr) {
    if (addr < 0 || addr + 4 > size) {
      throw new IndexOutOfBoundsException("guest address " + addr + " outside " + size + " bytes");
    }
    ReentrantReadWriteLock.ReadLock rl = guard.readLock();
    rl.lock();
    try {
      live();
      return chunks[(int) (addr >>> CHUNK_SHIFT)].getInt((int) (addr & (CHUNK - 1)));
    } finally {
      rl.unlock();
    }
  }

  /** Unmaps the RAM; later accesses throw {@link IllegalStateException}. Idempotent. */
  void release() {
    guard.writeLock().lock();
    try {
      if (released) {
        return;
      }
      released = true;
      try {
        Libc.munmap(base, size);
      } catch (LastErrorException e) {
        throw new DriverException("munmap of guest RAM failed: " + Errno.describe(e.getErrorCode()));
      }
    } finally {
      guard.writeLock().unlock();
    }
  }

  boolean isReleased() {
    guard.readLock().lock();
    try {
      return released;
    } finally {
      guard.readLock().unlock();
    }
  }

  /** Runs {@code action} while the RAM cannot be released. */
  <T> T whileMapped(java.util.function.Supplier<T> action) {
    ReentrantReadWriteLock.ReadLock rl = guard.readLock();
    rl.lock();
    try {
      live();
      return action.get();
    } finally {
      rl.unlock();
    }
  }

  private void check(long page) {
    if (page < 0 || page >= pages) {
      throw new IndexOutOfBoundsException("page " + page + " outside guest memory of " + pages + " pages");
    }
  }

  private void live() {
    if (released) {
      throw new IllegalStateException("guest memory has been released (the VM is stopped)");
    }
  }
}
