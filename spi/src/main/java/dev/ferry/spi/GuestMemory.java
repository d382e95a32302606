package dev.ferry.spi;

import java.nio.ByteBuffer;

/**
 * Guest memory, read and written one page at a time into caller-supplied buffers, so the engine's
 * page loop allocates nothing.
 *
 * <p>Reads may run while vCPUs write. A page read while it is being written may be torn; that is
 * allowed, because the {@link DirtyLog} reports the page dirty at the next sync and the engine sends
 * it again. Implementations must be safe for concurrent reads of different pages from several
 * threads, and for concurrent writes of different pages on the destination.
 */
public interface GuestMemory {

  /** Page size in bytes, a power of two. */
  int pageSize();

  /** Number of pages. */
  long pageCount();

  /**
   * Copies page {@code page} into {@code dst} at its position and advances the position by
   * {@link #pageSize()}.
   *
   * @throws IndexOutOfBoundsException if the page is outside guest memory
   * @throws java.nio.BufferOverflowException if {@code dst} has fewer than {@code pageSize()} bytes
   *     remaining
   */
  void readPage(long page, ByteBuffer dst);

  /**
   * Writes {@link #pageSize()} bytes from {@code src} at its position into page {@code page} and
   * advances the position.
   *
   * @throws IndexOutOfBoundsException if the page is outside guest memory
   * @throws java.nio.BufferUnderflowException if {@code src} has fewer than {@code pageSize()}
   *     bytes remaining
   */
  void writePage(long page, ByteBuffer src);

  /**
   * Bytes of this memory that may hold non-zero data: what a migration's first pass can send at most
   * besides zero pages, and so what a destination must be able to hold. Backends whose memory is
   * sparse (allocated on first write) report what is allocated; the default is the whole size.
   */
  default long residentBytes() {
    return pageCount() * pageSize();
  }

  /**
   * Whether page {@code page} is known to hold only zeros without reading it (a sparse backend's
   * page that was never written). The engine sends such a page as a zero entry and does not read
   * it, so a sparse guest's untouched memory costs neither reads nor faults. {@code true} is a
   * promise: a page that may hold data must answer {@code false}, which is the default (the engine
   * then reads the page and checks it for zeros itself). A page written while this is asked may
   * answer either way; the dirty log reports that write, as for a torn read.
   *
   * @throws IndexOutOfBoundsException if the page is outside guest memory
   */
  default boolean knownZero(long page) {
    return false;
  }

  /**
   * Fills page {@code page} with zeros. Backends whose memory can be sparse should release the page
   * instead of writing zeros.
   */
  default void zeroPage(long page) {
    writePage(page, ByteBuffer.allocate(pageSize()));
  }
}
