package dev.ferry.sim;

import dev.ferry.spi.GuestMemory;
import java.nio.BufferOverflowException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.StampedLock;

/**
 * The guest memory of a simulated VM: real off-heap memory, allocated lazily in chunks.
 *
 * <p>Design note: memory is an array of direct {@link ByteBuffer} chunks of {@link #CHUNK_SIZE}
 * bytes (or one page, if pages are larger). A chunk is allocated on the first write that touches
 * it, so a 64 GiB guest that has written nothing costs a few kilobytes, and a 16 GiB guest costs
 * 16 GiB only once it has written everywhere. A chunk that was never allocated reads as zeros, and
 * {@link #zeroPage} on it does nothing. A bitmap of one bit per page records which pages were ever
 * written (set before the data lands, so a reader that sees the bit clear may take the page as zero:
 * the write that follows is the dirty log's to report). A page never written reads as zeros without
 * touching its chunk, {@link #knownZero} answers from the bit, and {@link #residentBytes} counts
 * written pages, not chunks: a 64 GiB guest that wrote 2 GiB in scattered pages is 2 GiB to send and
 * to hold, whatever its chunks span. The bitmap costs one bit per page (2 MiB of heap for 64 GiB).
 * Page copies are absolute bulk {@code get/put} between
 * buffers ({@code ByteBuffer.put(int, ByteBuffer, int, int)}, Java 16+), so the page loop allocates
 * nothing and a direct-to-direct copy is a {@code memcpy}. Byte order is little-endian everywhere,
 * so digests do not depend on the platform.
 *
 * <p>Chunks are operating-system mappings ({@link NativeChunks}), so guest memory is bounded by
 * what the machine can give, not by the JVM's direct-memory limit. {@link #release()} frees every
 * chunk at once. Because touching freed native memory would crash the JVM, every access through
 * the {@link GuestMemory} methods holds the read side of a {@link StampedLock} and {@code release}
 * takes the write side; afterwards every access throws {@link IllegalStateException}. The vCPU
 * threads of a {@link SimVm} write through {@link #writeSlot} without that lock: the VM joins them
 * before it releases its memory.
 *
 * <p>Thread-safety: safe for concurrent reads and writes from any number of threads, as
 * {@link GuestMemory} requires; concurrent accesses to the same page may observe torn pages, which
 * the dirty log accounts for.
 */
public final class SimMemory implements GuestMemory {
  /** Size of one lazily allocated chunk of guest memory, in bytes (16 MiB). */
  public static final int CHUNK_SIZE = 16 << 20;

  private final int pageSize;
  private final long pageCount;
  private final int pageShift;
  private final int chunkShift;
  private final long pagesPerChunkMask;
  private final int chunkPageShift;
  private final long lastChunkBytes;
  private final AtomicReferenceArray<ByteBuffer> chunks;
  private final ByteBuffer zeroPage;
  private final AtomicLong allocated = new AtomicLong();
  private final AtomicLongArray written;
  private final AtomicLong writtenPages = new AtomicLong();
  private final StampedLock lock = new StampedLock();
  private volatile boolean released;

  /**
   * Creates zero-filled memory of {@code pageCount} pages of {@code pageSize} bytes; nothing is
   * allocated until a page is written.
   *
   * @throws IllegalArgumentException if the page size is not a power of two or the page count is not
   *     positive
   */
  public SimMemory(long pageCount, int pageSize) {
    if (pageSize <= 0 || Integer.bitCount(pageSize) != 1) {
      throw new IllegalArgumentException("page size must be a positive power of two: " + pageSize);
    }
    if (pageCount <= 0) {
      throw new IllegalArgumentException("page count must be positive: " + pageCount);
    }
    this.pageSize = pageSize;
    this.pageCount = pageCount;
    this.pageShift = Integer.numberOfTrailingZeros(pageSize);
    int chunkSize = Math.max(CHUNK_SIZE, pageSize);
    this.chunkShift = Integer.numberOfTrailingZeros(chunkSize);
    this.chunkPageShift = chunkShift - pageShift;
    this.pagesPerChunkMask = (1L << chunkPageShift) - 1;
    long bytes = Math.multiplyExact(pageCount, (long) pageSize);
    long chunkCount = ((bytes - 1) >>> chunkShift) + 1;
    if (chunkCount > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("guest memory too large: " + bytes + " bytes");
    }
    this.lastChunkBytes = bytes - ((chunkCount - 1) << chunkShift);
    this.chunks = new AtomicReferenceArray<>((int) chunkCount);
    this.written = new AtomicLongArray((int) ((pageCount + 63) >>> 6));
    this.zeroPage = ByteBuffer.allocateDirect(pageSize).asReadOnlyBuffer();
  }

  @Override
  public int pageSize() {
    return pageSize;
  }

  @Override
  public long pageCount() {
    return pageCount;
  }

  /** Guest memory size in bytes. */
  public long sizeBytes() {
    return pageCount << pageShift;
  }

  /** Native memory actually allocated now, in bytes: a multiple of the chunk size, at most the size. */
  public long allocatedBytes() {
    return allocated.get();
  }

  /** What the destination must hold: the pages written so far (a page never written is zeros). */
  @Override
  public long residentBytes() {
    return writtenPages.get() << pageShift;
  }

  /** Whether page {@code page} was never written, so holds zeros; answered without reading it. */
  @Override
  public boolean knownZero(long page) {
    checkPage(page);
    return !isWritten(page);
  }

  /**
   * Guest memory this process has mapped now, in bytes: every sim VM's chunks and those kept for
   * reuse (0 where chunks fall back to direct buffers, which the JVM's direct pool counts).
   */
  public static long mappedBytes() {
    return NativeChunks.mappedBytes();
  }

  /**
   * Waits, at most {@code timeout}, until the chunks released so far have been zeroed for reuse (a
   * background thread does it); returns whether they have. For tests that measure memory after a
   * VM is gone.
   */
  public static boolean awaitReleasedChunksZeroed(java.time.Duration timeout) throws InterruptedException {
    return ChunkPool.awaitZeroed(timeout.toMillis());
  }

  /**
   * Of {@link #mappedBytes()}, what the chunk pool keeps for reuse (released chunks, at most the pool's
   * capacity, {@code ferry.sim.chunkPoolBytes}, 2 GiB by default): the rest belongs to live VMs.
   */
  public static long pooledBytes() {
    return ChunkPool.kept();
  }

  /** Whether {@link #release()} has been called. */
  public boolean isReleased() {
    return released;
  }

  @Override
  public void readPage(long page, ByteBuffer dst) {
    checkPage(page);
    int pos = dst.position();
    if (dst.limit() - pos < pageSize) {
      throw new BufferOverflowException();
    }
    long stamp = lock.readLock();
    try {
      checkLive();
      ByteBuffer chunk = chunks.get(chunkIndex(page));
      if (chunk == null || !isWritten(page)) {
        dst.put(pos, zeroPage, 0, pageSize);
      } else {
        dst.put(pos, chunk, offsetInChunk(page), pageSize);
      }
    } finally {
      lock.unlockRead(stamp);
    }
    dst.position(pos + pageSize);
  }

  @Override
  public void writePage(long page, ByteBuffer src) {
    checkPage(page);
    int pos = src.position();
    if (src.limit() - pos < pageSize) {
      throw new BufferUnderflowException();
    }
    long stamp = lock.readLock();
    try {
      checkLive();
      ByteBuffer chunk = chunkForWrite(chunkIndex(page));
      markWritten(page);
      chunk.put(offsetInChunk(page), src, pos, pageSize);
    } finally {
      lock.unlockRead(stamp);
    }
    src.position(pos + pageSize);
  }

  @Override
  public void zeroPage(long page) {
    checkPage(page);
    long stamp = lock.readLock();
    try {
      checkLive();
      ByteBuffer chunk = chunks.get(chunkIndex(page));
      int at = offsetInChunk(page);
      // A page already zero is left alone: reading a never-touched page of a mapped chunk maps the
      // kernel's zero page, writing zeros would allocate memory for nothing.
      if (chunk != null && isWritten(page) && chunk.slice(at, pageSize).mismatch(zeroPage) >= 0) {
        chunk.put(at, zeroPage, 0, pageSize);
      }
    } finally {
      lock.unlockRead(stamp);
    }
  }

  /**
   * Writes four words at byte {@code offset} of page {@code page}: the write of one vCPU. Called by
   * vCPU threads without the release lock (the VM stops them before releasing the memory).
   */
  void writeSlot(long page, int offset, long w0, long w1, long w2, long w3) {
    ByteBuffer chunk = chunkForWrite(chunkIndex(page));
    markWritten(page);
    int at = offsetInChunk(page) + offset;
    chunk.putLong(at, w0);
    chunk.putLong(at + 8, w1);
    chunk.putLong(at + 16, w2);
    chunk.putLong(at + 24, w3);
  }

  /**
   * A digest of the whole memory, equal to {@link GuestMemoryDigest#of(GuestMemory)} but computed
   * straight from the chunks, with never-written chunks hashed without reading them.
   */
  long digest() {
    long stamp = lock.readLock();
    try {
      checkLive();
      long zeroHash = GuestMemoryDigest.pageHash(zeroPage, 0, pageSize);
      long acc = GuestMemoryDigest.start(pageCount, pageSize);
      for (long page = 0; page < pageCount; page++) {
        ByteBuffer chunk = chunks.get(chunkIndex(page));
        long h = chunk == null || !isWritten(page) ? zeroHash
            : GuestMemoryDigest.pageHash(chunk, offsetInChunk(page), pageSize);
        acc = GuestMemoryDigest.combine(acc, h);
      }
      return GuestMemoryDigest.finish(acc);
    } finally {
      lock.unlockRead(stamp);
    }
  }

  /** The hash of one page, as {@link GuestMemoryDigest#pageHash} computes it. */
  long pageHash(long page) {
    checkPage(page);
    long stamp = lock.readLock();
    try {
      checkLive();
      ByteBuffer chunk = chunks.get(chunkIndex(page));
      return chunk == null || !isWritten(page)
          ? GuestMemoryDigest.pageHash(zeroPage, 0, pageSize)
          : GuestMemoryDigest.pageHash(chunk, offsetInChunk(page), pageSize);
    } finally {
      lock.unlockRead(stamp);
    }
  }

  /**
   * Frees all guest memory at once. Idempotent. Afterwards every access throws
   * {@link IllegalStateException}.
   */
  public void release() {
    long stamp = lock.writeLock();
    try {
      if (released) {
        return;
      }
      released = true;
      writtenPages.set(0);
      for (int i = 0; i < chunks.length(); i++) {
        ByteBuffer chunk = chunks.getAndSet(i, null);
        if (chunk != null) {
          allocated.addAndGet(-chunk.capacity());
          ChunkPool.give(chunk);
        }
      }
    } finally {
      lock.unlockWrite(stamp);
    }
  }

  private ByteBuffer chunkForWrite(int index) {
    ByteBuffer chunk = chunks.get(index);
    if (chunk != null) {
      return chunk;
    }
    int size = (int) (index == chunks.length() - 1 ? lastChunkBytes : 1L << chunkShift);
    ByteBuffer fresh = ChunkPool.take(size);
    if (chunks.compareAndSet(index, null, fresh)) {
      allocated.addAndGet(size);
      return fresh;
    }
    ChunkPool.give(fresh);
    return chunks.get(index);
  }

  private boolean isWritten(long page) {
    return (written.get((int) (page >>> 6)) & (1L << page)) != 0;
  }

  /** Sets the page's bit before its data lands (see the class note); counts it the first time. */
  private void markWritten(long page) {
    int word = (int) (page >>> 6);
    long bit = 1L << page;
    if ((written.get(word) & bit) == 0 && (written.getAndAccumulate(word, bit, (a, b) -> a | b) & bit) == 0) {
      writtenPages.incrementAndGet();
    }
  }

  private int chunkIndex(long page) {
    return (int) (page >>> chunkPageShift);
  }

  private int offsetInChunk(long page) {
    return (int) ((page & pagesPerChunkMask) << pageShift);
  }

  private void checkPage(long page) {
    if (page < 0 || page >= pageCount) {
      throw new IndexOutOfBoundsException("page " + page + " outside guest memory of " + pageCount + " pages");
    }
  }

  private void checkLive() {
    if (released) {
      throw new IllegalStateException("guest memory has been released (VM stopped or discarded)");
    }
  }
}
