package dev.ferry.wire;

import dev.ferry.spi.GuestMemory;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Objects;
import java.util.zip.CRC32C;
import net.jpountz.lz4.LZ4Compressor;
import net.jpountz.lz4.LZ4Factory;

/**
 * Builds PAGES frames — the hot path of the sender. One direct buffer holds a whole frame (header,
 * page count, up to {@link #maxPages()} page entries, CRC32C); {@link #add} reads a page from guest
 * memory straight into it, and {@link #flush} fills in the header and checksum and writes the frame
 * with one buffer. Nothing is allocated per page or per frame.
 *
 * <p>Per page: a page the backend {@linkplain GuestMemory#knownZero knows to be zero} is a zero entry
 * without being read; any other page is read into place as RAW; if it is all zeros the entry is cut back to a
 * ZERO marker (a vectorized {@link ByteBuffer#mismatch} against a zero buffer, about 13 GB/s here);
 * otherwise, with LZ4 enabled, it is compressed into a scratch buffer and kept compressed only when
 * that saves at least an eighth of the page (incompressible memory compresses at about 2.6 GB/s
 * for nothing, so LZ4 only pays on slow links). With {@linkplain #zeroRuns zero runs} on (the
 * engine's page streams), a zero page that follows the previous entry's zero pages extends that entry into
 * a ZERO_RUN instead of taking one of its own: a mostly empty guest costs 13 bytes per run of
 * zeros, not 9 per page.
 *
 * <p>Invariant between calls: the buffer's position is the end of the last complete entry; the
 * header, count and trailer are written only by {@link #flush}.
 *
 * <p>Not thread-safe: one encoder per sending thread (per data stream).
 */
public final class PageBatchEncoder {
  private static final int COUNT_OFFSET = WireFormat.HEADER_LENGTH;
  private static final int FIRST_ENTRY = COUNT_OFFSET + 4;

  private final int pageSize;
  private final int maxPages;
  private final int keepCompressedBelow;
  private final ByteBuffer frame;
  private final ByteBuffer zeros;
  private final LZ4Compressor compressor;
  private final ByteBuffer compressed;
  private final CRC32C crc = new CRC32C();
  private int count;
  private int batchPages;
  private boolean zeroRuns;
  private int lastEntry = -1;
  private long lastIndex;
  private int lastRun;

  private long pages;
  private long zeroPages;
  private long compressedPages;
  private long wireBytes;
  private long frames;

  /**
   * @param pageSize the session's page size (from HELLO), a power of two up to
   *     {@link WireFormat#MAX_PAGE_SIZE}
   * @param maxPages pages per frame at most; lowered so that a frame never exceeds
   *     {@link WireFormat#DEFAULT_MAX_PAYLOAD}
   * @param compression {@link WireCompression#LZ4} to compress pages that shrink
   */
  public PageBatchEncoder(int pageSize, int maxPages, WireCompression compression) {
    Objects.requireNonNull(compression, "compression");
    if (pageSize <= 0 || Integer.bitCount(pageSize) != 1 || pageSize > WireFormat.MAX_PAGE_SIZE) {
      throw new IllegalArgumentException("page size must be a power of two up to "
          + WireFormat.MAX_PAGE_SIZE + ": " + pageSize);
    }
    if (maxPages < 1) {
      throw new IllegalArgumentException("a frame holds at least one page: " + maxPages);
    }
    int entry = WireFormat.PAGE_ENTRY_HEADER + pageSize;
    this.pageSize = pageSize;
    this.maxPages = Math.min(maxPages, (WireFormat.DEFAULT_MAX_PAYLOAD - 4) / entry);
    this.keepCompressedBelow = pageSize - pageSize / 8 - 4;
    this.frame = ByteBuffer.allocateDirect(FIRST_ENTRY + this.maxPages * entry + WireFormat.TRAILER_LENGTH);
    this.zeros = ByteBuffer.allocateDirect(pageSize);
    if (compression == WireCompression.LZ4) {
      this.compressor = LZ4Factory.fastestInstance().fastCompressor();
      this.compressed = ByteBuffer.allocateDirect(compressor.maxCompressedLength(pageSize));
    } else {
      this.compressor = null;
      this.compressed = null;
    }
    frame.position(FIRST_ENTRY);
  }

  /** Whether consecutive zero pages may share a ZERO_RUN entry (off by default). */
  public PageBatchEncoder zeroRuns(boolean on) {
    this.zeroRuns = on;
    return this;
  }

  /** An encoder of {@link WireFormat#DEFAULT_PAGES_PER_FRAME} pages per frame. */
  public PageBatchEncoder(int pageSize, WireCompression compression) {
    this(pageSize, WireFormat.DEFAULT_PAGES_PER_FRAME, compression);
  }

  /**
   * Adds page {@code pageIndex} of {@code memory} to the batch, reading it straight into the frame.
   *
   * @return {@code false}, adding nothing, when the batch is full: {@link #flush} it and add again
   * @throws IllegalArgumentException when the memory's page size is not the encoder's
   * @throws IndexOutOfBoundsException when the page is outside the memory (from the backend); the
   *     batch is left as it was
   */
  public boolean add(long pageIndex, GuestMemory memory) {
    if (isFull()) {
      return false;
    }
    if (memory.pageSize() != pageSize) {
      throw new IllegalArgumentException(
          "guest page size " + memory.pageSize() + " differs from the session's " + pageSize);
    }
    ByteBuffer f = frame;
    int entry = f.position();
    int data = entry + WireFormat.PAGE_ENTRY_HEADER;
    int end = data + pageSize;
    boolean zero;
    if (memory.knownZero(pageIndex)) {
      // The backend knows the page was never written: a zero entry, and the page is not read.
      zero = true;
    } else {
      f.position(data);
      try {
        memory.readPage(pageIndex, f);
      } catch (RuntimeException e) {
        f.position(entry);
        throw e;
      }
      // Zero check: compare [data, end) with the zero buffer, by position and limit (no slice).
      f.limit(end).position(data);
      zero = f.mismatch(zeros) < 0;
      f.limit(f.capacity());
    }
    f.putLong(entry, pageIndex);
    if (zero && zeroRuns && lastRun > 0 && lastIndex + lastRun == pageIndex && lastRun < WireFormat.MAX_ZERO_RUN) {
      // Extends the previous zero entry; the page read after it is dropped.
      if (lastRun == 1) {
        f.put(lastEntry + 8, (byte) WireFormat.PAGE_ZERO_RUN);
      }
      lastRun++;
      f.putInt(lastEntry + WireFormat.PAGE_ENTRY_HEADER, lastRun);
      f.position(lastEntry + WireFormat.PAGE_ENTRY_HEADER + 4);
      zeroPages++;
      pages++;
      batchPages++;
      return true;
    }
    lastEntry = entry;
    lastIndex = pageIndex;
    lastRun = zero ? 1 : 0;
    if (zero) {
      f.put(entry + 8, (byte) WireFormat.PAGE_ZERO);
      f.position(data);
      zeroPages++;
    } else if (compressor != null && compress(f, entry, data)) {
      compressedPages++;
    } else {
      f.put(entry + 8, (byte) WireFormat.PAGE_RAW);
      f.position(end);
    }
    count++;
    pages++;
    batchPages++;
    return true;
  }

  /** Compresses the page at {@code data}; when it pays, rewrites the entry as LZ4 and returns true. */
  private boolean compress(ByteBuffer f, int entry, int data) {
    int len = compressor.compress(f, data, pageSize, compressed, 0, compressed.capacity());
    if (len >= keepCompressedBelow) {
      return false;
    }
    f.put(entry + 8, (byte) WireFormat.PAGE_LZ4);
    f.putInt(data, len);
    f.put(data + 4, compressed, 0, len);
    f.position(data + 4 + len);
    return true;
  }

  /**
   * Completes the frame (header, count, CRC32C) and writes it through {@code writer}, then starts an
   * empty batch. Does nothing when the batch is empty.
   *
   * @return the number of pages written (a zero run counts its pages)
   */
  public int flush(FrameWriter writer) throws IOException {
    if (count == 0) {
      return 0;
    }
    ByteBuffer f = frame;
    int end = f.position();
    int payload = end - WireFormat.HEADER_LENGTH;
    f.putInt(0, payload).put(4, (byte) FrameType.PAGES.code()).put(5, (byte) 0).putShort(6, (short) 0);
    f.putInt(COUNT_OFFSET, count);
    crc.reset();
    f.position(0).limit(end);
    crc.update(f);
    f.limit(end + WireFormat.TRAILER_LENGTH);
    f.putInt(end, (int) crc.getValue());
    f.position(0);
    int n = batchPages;
    try {
      writer.writeBuiltFrame(f);
      wireBytes += end + WireFormat.TRAILER_LENGTH;
      frames++;
    } finally {
      clear();
    }
    return n;
  }

  /** Discards the pages of the current batch. */
  public void clear() {
    frame.limit(frame.capacity()).position(FIRST_ENTRY);
    count = 0;
    batchPages = 0;
    lastEntry = -1;
    lastRun = 0;
  }

  /** Entries in the current batch (a zero run is one). */
  public int size() {
    return count;
  }

  /** Pages in the current batch (a zero run counts its pages). */
  public int batchPages() {
    return batchPages;
  }

  /** Whether the current batch has no page. */
  public boolean isEmpty() {
    return count == 0;
  }

  /** Whether the next {@link #add} would return false. */
  public boolean isFull() {
    return count == maxPages || batchPages == WireFormat.MAX_FRAME_PAGES;
  }

  /** The session's page size. */
  public int pageSize() {
    return pageSize;
  }

  /** Pages per frame at most. */
  public int maxPages() {
    return maxPages;
  }

  /** Pages added so far (all batches, including the current one). */
  public long pages() {
    return pages;
  }

  /** Of {@link #pages()}, those sent as ZERO markers. */
  public long zeroPages() {
    return zeroPages;
  }

  /** Of {@link #pages()}, those sent LZ4-compressed. */
  public long compressedPages() {
    return compressedPages;
  }

  /** Guest bytes represented by the pages added: {@code pages() * pageSize()}. */
  public long rawBytes() {
    return pages * pageSize;
  }

  /** Bytes of the PAGES frames written so far, framing included. */
  public long wireBytes() {
    return wireBytes;
  }

  /** PAGES frames written so far. */
  public long frames() {
    return frames;
  }
}
