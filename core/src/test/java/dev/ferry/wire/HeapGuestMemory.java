package dev.ferry.wire;

import dev.ferry.spi.GuestMemory;
import java.nio.ByteBuffer;
import java.util.Arrays;

/** A heap-backed {@link GuestMemory} for tests: one byte array, bounds-checked like a real backend. */
final class HeapGuestMemory implements GuestMemory {
  private final int pageSize;
  private final long pageCount;
  private final byte[] bytes;

  HeapGuestMemory(int pageSize, int pageCount) {
    this.pageSize = pageSize;
    this.pageCount = pageCount;
    this.bytes = new byte[Math.multiplyExact(pageSize, pageCount)];
  }

  @Override
  public int pageSize() {
    return pageSize;
  }

  @Override
  public long pageCount() {
    return pageCount;
  }

  private int offset(long page) {
    if (page < 0 || page >= pageCount) {
      throw new IndexOutOfBoundsException("page " + page + " outside 0.." + (pageCount - 1));
    }
    return (int) page * pageSize;
  }

  @Override
  public void readPage(long page, ByteBuffer dst) {
    dst.put(bytes, offset(page), pageSize);
  }

  @Override
  public void writePage(long page, ByteBuffer src) {
    src.get(bytes, offset(page), pageSize);
  }

  @Override
  public void zeroPage(long page) {
    int off = offset(page);
    Arrays.fill(bytes, off, off + pageSize, (byte) 0);
  }

  /** Copies {@code content} (exactly one page) into page {@code page}. */
  void set(long page, byte[] content) {
    if (content.length != pageSize) {
      throw new IllegalArgumentException("not a page: " + content.length);
    }
    System.arraycopy(content, 0, bytes, offset(page), pageSize);
  }

  /** A copy of page {@code page}. */
  byte[] get(long page) {
    int off = offset(page);
    return Arrays.copyOfRange(bytes, off, off + pageSize);
  }

  /** Fills every page with a non-zero marker, so a test sees which pages were written. */
  void poison() {
    Arrays.fill(bytes, (byte) 0x5a);
  }
}
