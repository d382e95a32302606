package dev.ferry.engine;

import dev.ferry.spi.GuestMemory;
import java.nio.ByteBuffer;

/**
 * The destination's view of incoming guest memory that remembers which pages have arrived at least
 * once (as data, a zero marker or in a zero run), so that a guest is never activated over memory a
 * source did not send: a peer that says SWITCHOVER after a handful of pages, or none, is refused.
 *
 * <p>Design note. One bit per page (32 KiB per GiB of 4 KiB pages). Pages travel on streams by
 * 64-page block, so each word of the bitmap is only written by one stream's thread; the control
 * thread reads it after every stream has handed its round over under the session's lock. A peer
 * that sends a page on the wrong stream can at worst make a page look missing, which refuses the
 * switchover: the safe side.
 *
 * <p>Thread-safety: as described; {@link #missingPages} only after the streams handed over.
 */
final class ArrivalMemory extends ForwardingMemory {
  private final long[] arrived;

  ArrivalMemory(GuestMemory memory) {
    super(memory);
    this.arrived = new long[(int) ((memory.pageCount() + 63) >>> 6)];
  }

  @Override
  public void writePage(long page, ByteBuffer src) {
    memory.writePage(page, src);
    mark(page);
  }

  @Override
  public void zeroPage(long page) {
    memory.zeroPage(page);
    mark(page);
  }

  private void mark(long page) {
    arrived[(int) (page >>> 6)] |= 1L << page;
  }

  /** Pages that never arrived and are not in {@code excused} (a bitmap of the same size, or null). */
  long missingPages(long[] excused) {
    long pageCount = memory.pageCount();
    long missing = 0;
    for (int w = 0; w < arrived.length; w++) {
      long have = arrived[w] | (excused == null ? 0 : excused[w]);
      long valid = w == arrived.length - 1 && (pageCount & 63) != 0 ? (1L << (pageCount & 63)) - 1 : -1L;
      missing += Long.bitCount(~have & valid);
    }
    return missing;
  }
}
