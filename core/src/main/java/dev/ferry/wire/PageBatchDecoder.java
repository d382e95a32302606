package dev.ferry.wire;

import dev.ferry.spi.GuestMemory;
import java.nio.ByteBuffer;
import net.jpountz.lz4.LZ4Exception;
import net.jpountz.lz4.LZ4Factory;
import net.jpountz.lz4.LZ4SafeDecompressor;

/**
 * Applies PAGES payloads to guest memory on the receiver — the hot path of the destination.
 *
 * <p>Validation is strict and happens before each page touches memory: the count must fit the
 * payload (every entry takes at least 9 bytes), each page index must be inside the target memory,
 * the encoding known, a RAW page complete, an LZ4 block shorter than a page and inside the payload
 * and decompressing to exactly one page (with LZ4's bounds-checked "safe" decompressor), and the
 * payload consumed exactly. A violation is a {@link ProtocolException} naming the entry, the page
 * index and the reason; hostile input never raises another exception, allocates, or loops longer
 * than the payload is long. Pages before the bad entry may already have been written: the session
 * is over anyway, and the destination discards its copy.
 *
 * <p>RAW pages are written to memory straight from the payload; LZ4 pages through one scratch
 * buffer. Nothing is allocated per page.
 *
 * <p>Not thread-safe: one decoder per receiving thread (per data stream).
 */
public final class PageBatchDecoder {
  private final int pageSize;
  private final ByteBuffer scratch;
  private final LZ4SafeDecompressor decompressor = LZ4Factory.fastestInstance().safeDecompressor();

  private long pages;
  private long zeroPages;
  private long compressedPages;

  /** @param pageSize the session's page size (from HELLO) */
  public PageBatchDecoder(int pageSize) {
    if (pageSize <= 0 || Integer.bitCount(pageSize) != 1 || pageSize > WireFormat.MAX_PAGE_SIZE) {
      throw new IllegalArgumentException("page size must be a power of two up to "
          + WireFormat.MAX_PAGE_SIZE + ": " + pageSize);
    }
    this.pageSize = pageSize;
    this.scratch = ByteBuffer.allocateDirect(pageSize);
  }

  /**
   * Validates a PAGES payload and writes its pages into {@code target}. The payload's position and
   * limit are left as they were.
   *
   * @return the number of pages applied (a zero run counts its pages)
   * @throws ProtocolException when the payload is malformed
   * @throws IllegalArgumentException when the target's page size is not the decoder's (a bug, not
   *     the peer's doing)
   */
  public long apply(ByteBuffer payload, GuestMemory target) throws ProtocolException {
    if (target.pageSize() != pageSize) {
      throw new IllegalArgumentException(
          "target page size " + target.pageSize() + " differs from the session's " + pageSize);
    }
    final long pages0 = pages;
    final int start = payload.position();
    final int limit = payload.limit();
    final long pageCount = target.pageCount();
    int length = limit - start;
    if (length < 4) {
      throw new ProtocolException("PAGES payload of " + length + " bytes has no page count");
    }
    long count = Integer.toUnsignedLong(payload.getInt(start));
    if (count > (length - 4) / WireFormat.PAGE_ENTRY_HEADER) {
      throw new ProtocolException("PAGES count " + count + " cannot fit a payload of " + length + " bytes");
    }
    int p = start + 4;
    try {
      for (int i = 0; i < count; i++) {
        if (limit - p < WireFormat.PAGE_ENTRY_HEADER) {
          throw new ProtocolException("PAGES entry " + i + ": entry header cut short (" + (limit - p) + " bytes left)");
        }
        long index = payload.getLong(p);
        int encoding = payload.get(p + 8) & 0xff;
        p += WireFormat.PAGE_ENTRY_HEADER;
        if (index < 0 || index >= pageCount) {
          throw bad(i, index, "page index outside guest memory of " + pageCount + " pages");
        }
        switch (encoding) {
          case WireFormat.PAGE_RAW:
            if (limit - p < pageSize) {
              throw bad(i, index, "RAW page cut short (" + (limit - p) + " of " + pageSize + " bytes)");
            }
            payload.limit(p + pageSize).position(p);
            target.writePage(index, payload);
            payload.limit(limit);
            p += pageSize;
            break;
          case WireFormat.PAGE_ZERO:
            target.zeroPage(index);
            zeroPages++;
            break;
          case WireFormat.PAGE_ZERO_RUN: {
            if (limit - p < 4) {
              throw bad(i, index, "ZERO_RUN count cut short");
            }
            long run = Integer.toUnsignedLong(payload.getInt(p));
            p += 4;
            if (run < 2 || run > WireFormat.MAX_ZERO_RUN || index + run > pageCount) {
              throw bad(i, index, "ZERO_RUN of " + run + " pages: not 2.." + WireFormat.MAX_ZERO_RUN
                  + " or past guest memory of " + pageCount + " pages");
            }
            if (pages - pages0 + run > WireFormat.MAX_FRAME_PAGES) {
              throw bad(i, index, "the frame covers more than " + WireFormat.MAX_FRAME_PAGES + " pages");
            }
            for (long z = index; z < index + run; z++) {
              target.zeroPage(z);
            }
            zeroPages += run;
            pages += run - 1; // the entry's own page is counted below
            break;
          }
          case WireFormat.PAGE_LZ4:
            p = applyLz4(payload, p, limit, i, index, target);
            compressedPages++;
            break;
          default:
            throw bad(i, index, "unknown page encoding " + encoding);
        }
        pages++;
      }
      if (p != limit) {
        throw new ProtocolException("PAGES payload has " + (limit - p) + " trailing bytes after "
            + count + " pages");
      }
      return pages - pages0;
    } finally {
      payload.limit(limit).position(start);
    }
  }

  private int applyLz4(ByteBuffer payload, int p, int limit, int i, long index, GuestMemory target)
      throws ProtocolException {
    if (limit - p < 4) {
      throw bad(i, index, "LZ4 length cut short");
    }
    long clen = Integer.toUnsignedLong(payload.getInt(p));
    p += 4;
    if (clen == 0 || clen >= pageSize) {
      throw bad(i, index, "LZ4 length " + clen + " not in 1.." + (pageSize - 1));
    }
    if (clen > limit - p) {
      throw bad(i, index, "LZ4 block of " + clen + " bytes runs past the payload (" + (limit - p) + " left)");
    }
    int n;
    try {
      n = decompressor.decompress(payload, p, (int) clen, scratch, 0, pageSize);
    } catch (LZ4Exception e) {
      throw new ProtocolException(where(i, index) + ": corrupt LZ4 block of " + clen + " bytes", e);
    }
    if (n != pageSize) {
      throw bad(i, index, "LZ4 block decompressed to " + n + " bytes, not a page of " + pageSize);
    }
    scratch.clear();
    target.writePage(index, scratch);
    return p + (int) clen;
  }

  private static ProtocolException bad(int entry, long index, String reason) {
    return new ProtocolException(where(entry, index) + ": " + reason);
  }

  private static String where(int entry, long index) {
    return "PAGES entry " + entry + " (page " + Long.toUnsignedString(index) + ")";
  }

  /** Pages applied so far. */
  public long pages() {
    return pages;
  }

  /** Of {@link #pages()}, the ZERO markers. */
  public long zeroPages() {
    return zeroPages;
  }

  /** Of {@link #pages()}, the LZ4 pages. */
  public long compressedPages() {
    return compressedPages;
  }

  /** Guest bytes applied: {@code pages() * pageSize}. */
  public long rawBytes() {
    return pages * pageSize;
  }
}
