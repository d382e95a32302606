package dev.ferry.benchmarks.jmh;

import dev.ferry.spi.GuestMemory;
import dev.ferry.wire.FrameWriter;
import dev.ferry.wire.PageBatchDecoder;
import dev.ferry.wire.PageBatchEncoder;
import dev.ferry.wire.ProtocolException;
import dev.ferry.wire.WireCompression;
import dev.ferry.wire.WireFormat;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;

/**
 * The page codec without the network: {@link PageBatchEncoder} building PAGES frames from guest
 * memory (copy, zero check, optional LZ4, CRC32C) into a channel that discards them, and
 * {@link PageBatchDecoder} applying a frame's payload to guest memory. Guest memory here is one
 * resident direct buffer, so the figures are the codec's cost alone, without the page faults of
 * freshly allocated memory. Scores are pages per microsecond (multiply by 4.096 for GB/s).
 *
 * <p>Run: {@code java -jar benchmarks/target/ferry-benchmarks.jar jmh PageCodec}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class PageCodecBenchmark {
  private static final int PAGE = 4096;
  private static final int PAGES = 4096; // 16 MiB of guest memory
  private static final int PER_FRAME = WireFormat.DEFAULT_PAGES_PER_FRAME;

  /** {@code random}: incompressible non-zero pages; {@code zero}: all-zero pages (sent as markers). */
  @Param({"random", "zero"})
  public String content;

  /** {@code NONE} or {@code LZ4} ({@code -p compression=NONE,LZ4} to compare). */
  @Param({"NONE"})
  public String compression;

  private DirectMemory memory;
  private PageBatchEncoder encoder;
  private FrameWriter sink;
  private PageBatchDecoder decoder;
  private ByteBuffer payload;
  private ByteBuffer frameBytes;
  private final CRC32C crc = new CRC32C();
  private long next;

  @Setup
  public void setup() throws Exception {
    memory = new DirectMemory(PAGES, PAGE);
    if (content.equals("random")) {
      SplittableRandom rnd = new SplittableRandom(42);
      ByteBuffer all = memory.bytes;
      for (int i = 0; i < all.capacity(); i += 8) {
        all.putLong(i, rnd.nextLong());
      }
    }
    WireCompression c = WireCompression.valueOf(compression);
    encoder = new PageBatchEncoder(PAGE, PER_FRAME, c);
    sink = new FrameWriter(new Discard());
    // One frame's payload for the decoder, captured from the encoder.
    Capture capture = new Capture(PER_FRAME * (PAGE + WireFormat.PAGE_ENTRY_HEADER) + 64);
    PageBatchEncoder e = new PageBatchEncoder(PAGE, PER_FRAME, c);
    for (int p = 0; p < PER_FRAME; p++) {
      e.add(p, memory);
    }
    e.flush(new FrameWriter(capture));
    frameBytes = capture.buffer.flip();
    payload = frameBytes.duplicate()
        .position(WireFormat.HEADER_LENGTH)
        .limit(frameBytes.limit() - WireFormat.TRAILER_LENGTH)
        .slice();
    decoder = new PageBatchDecoder(PAGE);
  }

  /** Encodes one frame of consecutive pages and writes it to a discarding channel. */
  @Benchmark
  @OperationsPerInvocation(PER_FRAME)
  public int encodeFrame() throws Exception {
    long p = next;
    for (int i = 0; i < PER_FRAME; i++) {
      encoder.add(p + i, memory);
    }
    next = (p + PER_FRAME) % PAGES;
    return encoder.flush(sink);
  }

  /** Validates one frame's payload and writes its pages into guest memory. */
  @Benchmark
  @OperationsPerInvocation(PER_FRAME)
  public long decodeFrame() throws ProtocolException {
    return decoder.apply(payload, memory);
  }

  /** CRC32C over one whole frame in a direct buffer, as both ends compute it. */
  @Benchmark
  @OperationsPerInvocation(PER_FRAME)
  public long crc32cFrame() {
    crc.reset();
    crc.update(frameBytes.duplicate());
    return crc.getValue();
  }

  /** Guest memory in one resident direct buffer. */
  static final class DirectMemory implements GuestMemory {
    private static final ByteBuffer ZERO_PAGE = ByteBuffer.allocateDirect(PAGE);
    final ByteBuffer bytes;
    final int pageSize;
    final long pageCount;

    DirectMemory(int pages, int pageSize) {
      this.bytes = ByteBuffer.allocateDirect(pages * pageSize);
      this.pageSize = pageSize;
      this.pageCount = pages;
    }

    @Override
    public int pageSize() {
      return pageSize;
    }

    @Override
    public long pageCount() {
      return pageCount;
    }

    @Override
    public void readPage(long page, ByteBuffer dst) {
      int pos = dst.position();
      dst.put(pos, bytes, (int) page * pageSize, pageSize);
      dst.position(pos + pageSize);
    }

    @Override
    public void writePage(long page, ByteBuffer src) {
      int pos = src.position();
      bytes.put((int) page * pageSize, src, pos, pageSize);
      src.position(pos + pageSize);
    }

    @Override
    public void zeroPage(long page) {
      bytes.put((int) page * pageSize, ZERO_PAGE, 0, pageSize);
    }
  }

  /** A channel that accepts and drops everything. */
  static final class Discard implements WritableByteChannel {
    @Override
    public int write(ByteBuffer src) {
      int n = src.remaining();
      src.position(src.limit());
      return n;
    }

    @Override
    public boolean isOpen() {
      return true;
    }

    @Override
    public void close() {}
  }

  /** A channel that keeps what is written. */
  static final class Capture implements WritableByteChannel {
    final ByteBuffer buffer;

    Capture(int capacity) {
      buffer = ByteBuffer.allocateDirect(capacity);
    }

    @Override
    public int write(ByteBuffer src) {
      int n = src.remaining();
      buffer.put(src);
      return n;
    }

    @Override
    public boolean isOpen() {
      return true;
    }

    @Override
    public void close() {}
  }
}
