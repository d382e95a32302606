package dev.ferry.wire;

import static dev.ferry.wire.WireTestSupport.bytesOf;
import static dev.ferry.wire.WireTestSupport.in;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.spi.GuestMemory;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class PageBatchCodecTest {
  private static final int PAGES = 64;

  enum Kind { ZERO, RANDOM, COMPRESSIBLE, SPARSE }

  /** Page content of a kind, from a seed. */
  static byte[] content(Kind kind, int pageSize, long seed) {
    byte[] b = new byte[pageSize];
    Random r = new Random(seed);
    switch (kind) {
      case ZERO:
        break;
      case RANDOM:
        r.nextBytes(b);
        break;
      case COMPRESSIBLE:
        byte[] words = "migrate the running guest ".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        for (int i = 0; i < b.length; i++) {
          b[i] = words[(i + r.nextInt(2)) % words.length];
        }
        break;
      case SPARSE:
        b[r.nextInt(pageSize)] = (byte) (1 + r.nextInt(255));
        break;
      default:
        throw new AssertionError(kind);
    }
    return b;
  }

  /** Encodes {@code order} of {@code src} into frames, decodes them into {@code dst}; returns the bytes. */
  static byte[] transfer(GuestMemory src, List<Long> order, PageBatchEncoder enc, HeapGuestMemory dst)
      throws Exception {
    byte[] bytes = bytesOf(w -> {
      for (long p : order) {
        if (!enc.add(p, src)) {
          assertThat(enc.isFull()).isTrue();
          enc.flush(w);
          assertThat(enc.add(p, src)).isTrue();
        }
      }
      enc.flush(w);
    });
    FrameReader r = new FrameReader(in(bytes));
    PageBatchDecoder dec = new PageBatchDecoder(src.pageSize());
    long applied = 0;
    while (r.bytesRead() < bytes.length) {
      Frame f = r.next();
      assertThat(f.type()).isEqualTo(FrameType.PAGES);
      applied += dec.apply(f.payload(), dst);
    }
    assertThat(applied).isEqualTo(order.size());
    assertThat(dec.pages()).isEqualTo(order.size());
    return bytes;
  }

  @Provide
  Arbitrary<List<Kind>> kinds() {
    return Arbitraries.of(Kind.class).list().ofMinSize(0).ofMaxSize(PAGES);
  }

  @Property(tries = 150)
  void apply_randomPageSet_reproducesSentPagesExactly(
      @ForAll("kinds") List<Kind> kinds,
      @ForAll WireCompression compression,
      @ForAll @IntRange(min = 1, max = 20) int pagesPerFrame,
      @ForAll @IntRange(min = 9, max = 13) int pageShift,
      @ForAll boolean zeroRuns,
      @ForAll boolean ascending,
      @ForAll long seed) throws Exception {
    int pageSize = 1 << pageShift;
    HeapGuestMemory src = new HeapGuestMemory(pageSize, PAGES);
    HeapGuestMemory dst = new HeapGuestMemory(pageSize, PAGES);
    dst.poison();
    Random r = new Random(seed);
    Set<Long> chosen = new LinkedHashSet<>();
    for (Kind k : kinds) {
      long p = r.nextInt(PAGES);
      if (chosen.add(p)) {
        src.set(p, content(k, pageSize, r.nextLong()));
      }
    }
    List<Long> order = new ArrayList<>(chosen);
    if (ascending) {
      order.sort(null); // as a round sends them: adjacent zero pages form runs
    }
    PageBatchEncoder enc = new PageBatchEncoder(pageSize, pagesPerFrame, compression).zeroRuns(zeroRuns);
    transfer(src, order, enc, dst);

    for (long p = 0; p < PAGES; p++) {
      if (chosen.contains(p)) {
        assertThat(dst.get(p)).as("page %d", p).isEqualTo(src.get(p));
      } else {
        assertThat(dst.get(p)[0]).as("page %d untouched", p).isEqualTo((byte) 0x5a);
      }
    }
    assertThat(enc.pages()).isEqualTo(order.size());
    assertThat(enc.rawBytes()).isEqualTo((long) order.size() * pageSize);
    assertThat(enc.isEmpty()).isTrue();
    if (compression == WireCompression.NONE) {
      assertThat(enc.compressedPages()).isZero();
    }
  }

  @Test
  void zeroRuns_adjacentZeroPages_shareOneEntryAndArriveAsZeros() throws Exception {
    int ps = 4096;
    HeapGuestMemory src = new HeapGuestMemory(ps, 10);
    src.set(3, content(Kind.RANDOM, ps, 3));
    HeapGuestMemory dst = new HeapGuestMemory(ps, 10);
    dst.poison();
    PageBatchEncoder enc = new PageBatchEncoder(ps, WireCompression.NONE).zeroRuns(true);
    // 0-2 zero (one run), 3 raw, 4 zero (a plain marker), 6-9 zero (one run).
    byte[] bytes = transfer(src, List.of(0L, 1L, 2L, 3L, 4L, 6L, 7L, 8L, 9L), enc, dst);
    assertThat(enc.zeroPages()).isEqualTo(8);
    int header = WireFormat.HEADER_LENGTH + 4 + WireFormat.TRAILER_LENGTH;
    int entries = (9 + 4) + (9 + ps) + 9 + (9 + 4);
    assertThat(bytes.length).isEqualTo(header + entries);
    for (long p = 0; p < 10; p++) {
      if (p != 5) {
        assertThat(dst.get(p)).as("page %d", p).isEqualTo(src.get(p));
      } else {
        assertThat(dst.get(p)[0]).as("page 5 was not sent").isEqualTo((byte) 0x5a);
      }
    }
  }

  @Test
  void zeroRuns_aLargeZeroGuest_isSentInBoundedFramesAndArrivesWhole() throws Exception {
    // 200,000 zero pages: runs of at most MAX_ZERO_RUN, frames of at most MAX_FRAME_PAGES pages, so
    // the sender's checks between frames run every 256 MiB of guest memory at the latest.
    long pageCount = 200_000;
    ZeroMemory zeros = new ZeroMemory(pageCount);
    PageBatchEncoder enc = new PageBatchEncoder(4096, WireCompression.NONE).zeroRuns(true);
    List<Integer> framePages = new ArrayList<>();
    byte[] bytes = bytesOf(w -> {
      for (long p = 0; p < pageCount; p++) {
        if (!enc.add(p, zeros)) {
          framePages.add(enc.flush(w));
          assertThat(enc.add(p, zeros)).isTrue();
        }
      }
      framePages.add(enc.flush(w));
    });
    assertThat(framePages).hasSize(4).allSatisfy(n -> assertThat(n).isLessThanOrEqualTo(WireFormat.MAX_FRAME_PAGES));
    assertThat(bytes.length).as("13 bytes per run of 4096 pages, and the framing").isLessThan(1024);
    FrameReader r = new FrameReader(in(bytes));
    PageBatchDecoder dec = new PageBatchDecoder(4096);
    long applied = 0;
    while (r.bytesRead() < bytes.length) {
      applied += dec.apply(r.next().payload(), zeros);
    }
    assertThat(applied).isEqualTo(pageCount);
    assertThat(zeros.zeroedPages()).as("every page zeroed").isEqualTo(pageCount);
  }

  @Test
  void add_pagesTheBackendKnowsAreZero_areSentAsZerosWithoutBeingRead() throws Exception {
    int ps = 4096;
    HeapGuestMemory data = new HeapGuestMemory(ps, 8);
    data.set(5, content(Kind.RANDOM, ps, 5));
    // Pages 0-4 and 6-7 were never written: the backend says so, and reading them is an error.
    GuestMemory sparse = new GuestMemory() {
      @Override
      public int pageSize() {
        return ps;
      }

      @Override
      public long pageCount() {
        return 8;
      }

      @Override
      public boolean knownZero(long page) {
        return page != 5;
      }

      @Override
      public void readPage(long page, ByteBuffer dst) {
        if (page != 5) {
          throw new AssertionError("page " + page + " is known to be zero and was read");
        }
        data.readPage(page, dst);
      }

      @Override
      public void writePage(long page, ByteBuffer src) {
        throw new UnsupportedOperationException();
      }
    };
    HeapGuestMemory dst = new HeapGuestMemory(ps, 8);
    dst.poison();
    PageBatchEncoder enc = new PageBatchEncoder(ps, WireCompression.NONE).zeroRuns(true);
    byte[] bytes = transfer(sparse, List.of(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L), enc, dst);
    assertThat(enc.zeroPages()).isEqualTo(7);
    int header = WireFormat.HEADER_LENGTH + 4 + WireFormat.TRAILER_LENGTH;
    assertThat(bytes.length).as("a run of 5, the raw page, a run of 2").isEqualTo(header + (9 + 4) + (9 + ps) + (9 + 4));
    for (long p = 0; p < 8; p++) {
      assertThat(dst.get(p)).as("page %d", p).isEqualTo(data.get(p));
    }
  }

  @Test
  void apply_zeroRunsCoveringMoreThanAFrameMay_isRefused() {
    PageBatchDecoder dec = new PageBatchDecoder(4096);
    ZeroMemory dst = new ZeroMemory(1 << 17);
    int runs = WireFormat.MAX_FRAME_PAGES / WireFormat.MAX_ZERO_RUN + 1;
    ByteBuffer payload = ByteBuffer.allocate(4 + 13 * runs).putInt(runs);
    for (int i = 0; i < runs; i++) {
      payload.putLong((long) i * WireFormat.MAX_ZERO_RUN).put((byte) WireFormat.PAGE_ZERO_RUN)
          .putInt(WireFormat.MAX_ZERO_RUN);
    }
    payload.flip();
    assertThatThrownBy(() -> dec.apply(payload, dst)).isInstanceOf(ProtocolException.class)
        .hasMessageContaining("the frame covers more than 65536 pages");
  }

  @Test
  void apply_zeroRunPastGuestMemoryOrOfOnePage_isRefused() {
    PageBatchDecoder dec = new PageBatchDecoder(4096);
    HeapGuestMemory dst = new HeapGuestMemory(4096, 10_000);
    for (long[] bad : new long[][] {{9_998, 3}, {0, 1}, {0, 0}, {0, WireFormat.MAX_ZERO_RUN + 1}}) {
      ByteBuffer payload = ByteBuffer.allocate(4 + 13);
      payload.putInt(1).putLong(bad[0]).put((byte) WireFormat.PAGE_ZERO_RUN).putInt((int) bad[1]).flip();
      assertThatThrownBy(() -> dec.apply(payload, dst)).isInstanceOf(ProtocolException.class)
          .hasMessageContaining("ZERO_RUN of " + bad[1] + " pages");
    }
  }

  @Test
  void add_zeroAndCompressiblePages_shrinkTheWire() throws Exception {
    int ps = 4096;
    HeapGuestMemory src = new HeapGuestMemory(ps, 4);
    src.set(1, content(Kind.RANDOM, ps, 1));
    src.set(2, content(Kind.COMPRESSIBLE, ps, 2));
    src.set(3, content(Kind.SPARSE, ps, 3));
    PageBatchEncoder enc = new PageBatchEncoder(ps, WireCompression.LZ4);
    HeapGuestMemory dst = new HeapGuestMemory(ps, 4);
    byte[] bytes = transfer(src, List.of(0L, 1L, 2L, 3L), enc, dst);
    assertThat(enc.zeroPages()).isEqualTo(1);
    assertThat(enc.compressedPages()).isEqualTo(2);
    assertThat(enc.frames()).isEqualTo(1);
    assertThat(enc.wireBytes()).isEqualTo(bytes.length).isLessThan(2L * ps);
    for (long p = 0; p < 4; p++) {
      assertThat(dst.get(p)).isEqualTo(src.get(p));
    }
  }

  @Test
  void add_randomPageWithLz4_staysRaw() throws Exception {
    int ps = 4096;
    HeapGuestMemory src = new HeapGuestMemory(ps, 1);
    src.set(0, content(Kind.RANDOM, ps, 9));
    PageBatchEncoder enc = new PageBatchEncoder(ps, WireCompression.LZ4);
    byte[] bytes = transfer(src, List.of(0L), enc, new HeapGuestMemory(ps, 1));
    assertThat(enc.compressedPages()).isZero();
    assertThat(bytes).hasSize(WireFormat.FRAME_OVERHEAD + 4 + WireFormat.PAGE_ENTRY_HEADER + ps);
    assertThat(bytes[WireFormat.HEADER_LENGTH + 4 + 8]).isEqualTo((byte) WireFormat.PAGE_RAW);
  }

  @Test
  void add_whenFull_returnsFalseAndAddsNothing() throws Exception {
    HeapGuestMemory src = new HeapGuestMemory(512, 8);
    PageBatchEncoder enc = new PageBatchEncoder(512, 3, WireCompression.NONE);
    assertThat(enc.add(0, src)).isTrue();
    assertThat(enc.add(1, src)).isTrue();
    assertThat(enc.add(2, src)).isTrue();
    assertThat(enc.isFull()).isTrue();
    assertThat(enc.add(3, src)).isFalse();
    assertThat(enc.size()).isEqualTo(3);
    assertThat(enc.pages()).isEqualTo(3);
  }

  @Test
  void add_pageOutsideMemory_leavesBatchIntact() throws Exception {
    HeapGuestMemory src = new HeapGuestMemory(512, 2);
    src.set(0, content(Kind.RANDOM, 512, 1));
    PageBatchEncoder enc = new PageBatchEncoder(512, 4, WireCompression.NONE);
    enc.add(0, src);
    assertThatThrownBy(() -> enc.add(5, src)).isInstanceOf(IndexOutOfBoundsException.class);
    assertThat(enc.size()).isEqualTo(1);
    byte[] bytes = bytesOf(enc::flush);
    HeapGuestMemory dst = new HeapGuestMemory(512, 2);
    assertThat(new PageBatchDecoder(512).apply(new FrameReader(in(bytes)).next().payload(), dst)).isEqualTo(1);
    assertThat(dst.get(0)).isEqualTo(src.get(0));
  }

  @Test
  void add_otherPageSize_isRefused() {
    PageBatchEncoder enc = new PageBatchEncoder(4096, WireCompression.NONE);
    assertThatThrownBy(() -> enc.add(0, new HeapGuestMemory(512, 1)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("512");
  }

  @Test
  void constructor_hugePages_capsPagesPerFrameToMaxPayload() {
    PageBatchEncoder enc = new PageBatchEncoder(WireFormat.MAX_PAGE_SIZE, 64, WireCompression.NONE);
    assertThat(enc.maxPages()).isEqualTo(7);
  }

  @Test
  void flush_emptyBatch_writesNothing() throws Exception {
    PageBatchEncoder enc = new PageBatchEncoder(4096, WireCompression.NONE);
    assertThat(bytesOf(w -> assertThat(enc.flush(w)).isZero())).isEmpty();
  }

  // ---- strict decoding of hand-made payloads ----

  private static ByteBuffer payload(int count, byte[]... entries) {
    ByteBuffer b = ByteBuffer.allocate(4 + Arrays.stream(entries).mapToInt(e -> e.length).sum());
    b.putInt(count);
    for (byte[] e : entries) {
      b.put(e);
    }
    return b.flip();
  }

  private static byte[] entry(long index, int encoding, byte[] rest) {
    return ByteBuffer.allocate(9 + rest.length).putLong(index).put((byte) encoding).put(rest).array();
  }

  private static byte[] lz4(int clen, byte[] block) {
    return ByteBuffer.allocate(4 + block.length).putInt(clen).put(block).array();
  }

  private static void assertRejected(ByteBuffer p, String reason) {
    HeapGuestMemory dst = new HeapGuestMemory(512, 4);
    assertThatThrownBy(() -> new PageBatchDecoder(512).apply(p, dst))
        .isInstanceOf(ProtocolException.class).hasMessageContaining(reason);
  }

  @Test
  void apply_pageIndexOutsideMemory_failsNamingPage() {
    assertRejected(payload(1, entry(4, WireFormat.PAGE_ZERO, new byte[0])),
        "PAGES entry 0 (page 4): page index outside guest memory of 4 pages");
    assertRejected(payload(1, entry(-1, WireFormat.PAGE_ZERO, new byte[0])), "page 18446744073709551615");
  }

  @Test
  void apply_unknownEncoding_fails() {
    assertRejected(payload(1, entry(0, 4, new byte[0])), "unknown page encoding 4");
  }

  @Test
  void apply_countBeyondPayload_failsBeforeTouchingMemory() {
    assertRejected(payload(2, entry(0, WireFormat.PAGE_ZERO, new byte[0])), "cannot fit");
    assertRejected(payload(-1), "PAGES count 4294967295 cannot fit");
    assertRejected(ByteBuffer.allocate(3), "no page count");
  }

  @Test
  void apply_truncatedRawPage_fails() {
    assertRejected(payload(1, entry(0, WireFormat.PAGE_RAW, new byte[511])), "RAW page cut short (511 of 512");
  }

  @Test
  void apply_trailingBytes_fail() {
    assertRejected(payload(1, entry(0, WireFormat.PAGE_ZERO, new byte[3])), "3 trailing bytes");
  }

  @Test
  void apply_lz4LengthOutOfBounds_fails() {
    assertRejected(payload(1, entry(0, WireFormat.PAGE_LZ4, lz4(0, new byte[0]))), "LZ4 length 0 not in 1..511");
    assertRejected(payload(1, entry(0, WireFormat.PAGE_LZ4, lz4(512, new byte[512]))), "LZ4 length 512");
    assertRejected(payload(1, entry(0, WireFormat.PAGE_LZ4, lz4(100, new byte[50]))), "runs past the payload");
    assertRejected(payload(1, entry(0, WireFormat.PAGE_LZ4, new byte[2])), "LZ4 length cut short");
  }

  @Test
  void apply_lz4BlockOfWrongSize_fails() {
    var c = net.jpountz.lz4.LZ4Factory.fastestInstance().fastCompressor();
    byte[] half = c.compress(new byte[256]); // a valid block, but of half a page
    assertRejected(payload(1, entry(0, WireFormat.PAGE_LZ4, lz4(half.length, half))),
        "decompressed to 256 bytes, not a page of 512");
    byte[] twice = c.compress(new byte[1024]); // longer than a page
    assertRejected(payload(1, entry(0, WireFormat.PAGE_LZ4, lz4(twice.length, twice))), "corrupt LZ4 block");
    assertRejected(payload(1, entry(0, WireFormat.PAGE_LZ4, lz4(5, new byte[] {(byte) 0xf0, 1, 2, 3, 4}))),
        "PAGES entry 0 (page 0)");
  }

  @Test
  void apply_payloadPositionAndLimit_areRestored() throws Exception {
    ByteBuffer p = payload(1, entry(2, WireFormat.PAGE_RAW, new byte[512]));
    new PageBatchDecoder(512).apply(p, new HeapGuestMemory(512, 4));
    assertThat(p.position()).isZero();
    assertThat(p.limit()).isEqualTo(4 + 9 + 512);
    ByteBuffer bad = payload(1, entry(9, WireFormat.PAGE_RAW, new byte[512]));
    assertThatThrownBy(() -> new PageBatchDecoder(512).apply(bad, new HeapGuestMemory(512, 4)))
        .isInstanceOf(ProtocolException.class);
    assertThat(bad.position()).isZero();
    assertThat(bad.limit()).isEqualTo(4 + 9 + 512);
  }

  @Test
  void apply_targetOfOtherPageSize_isRefusedAsBug() {
    assertThatThrownBy(() -> new PageBatchDecoder(512).apply(payload(0), new HeapGuestMemory(1024, 1)))
        .isInstanceOf(IllegalArgumentException.class);
  }

  /** Guest memory that is all zeros and remembers which pages were zeroed, at 1 bit a page. */
  static final class ZeroMemory implements GuestMemory {
    private static final byte[] ZERO_PAGE = new byte[4096];
    private final long pageCount;
    private final java.util.BitSet zeroed = new java.util.BitSet();

    ZeroMemory(long pageCount) {
      this.pageCount = pageCount;
    }

    @Override
    public int pageSize() {
      return 4096;
    }

    @Override
    public long pageCount() {
      return pageCount;
    }

    @Override
    public void readPage(long page, ByteBuffer dst) {
      dst.put(ZERO_PAGE, 0, 4096);
    }

    @Override
    public void writePage(long page, ByteBuffer src) {
      throw new AssertionError("a zero page arrived as data: " + page);
    }

    @Override
    public void zeroPage(long page) {
      zeroed.set((int) page);
    }

    /** Pages zeroed so far. */
    long zeroedPages() {
      return zeroed.cardinality();
    }
  }
}
