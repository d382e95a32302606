package dev.ferry.engine;

import dev.ferry.spi.GuestMemory;
import dev.ferry.wire.Message;
import dev.ferry.wire.PageBatchEncoder;
import dev.ferry.wire.WireCompression;
import java.io.IOException;

/**
 * Sends one stream's share of a round: the pages of every 64-page block {@code w} with
 * {@code w % streams == stream}, batched into PAGES frames, then ROUND_END.
 *
 * <p>The page loop walks the round's bitmap a word at a time and clears the lowest set bit with
 * {@code word & (word - 1)}: no allocation, no lock, no syscall per page; a frame (64 pages by
 * default) is one write. The rate limiter is charged with each frame's real size after it is
 * written, which paces the stream at frame granularity. The abort check runs once per frame. Each
 * frame is written under the link's write lock, so a keepalive can slip in between two frames of
 * the control stream but never inside one.
 * Not thread-safe: one thread per stream.
 */
final class StreamSender {
  private final Link link;
  private final PageBatchEncoder encoder;
  private final RateLimiter limiter;
  private final java.util.concurrent.atomic.AtomicLong sentThisRound;

  /** @param sentThisRound counts the pages every stream has sent in the current round, for progress */
  StreamSender(Link link, int pageSize, WireCompression compression, RateLimiter limiter,
      java.util.concurrent.atomic.AtomicLong sentThisRound) {
    this.link = link;
    this.encoder = new PageBatchEncoder(pageSize, compression).zeroRuns(true);
    this.limiter = limiter;
    this.sentThisRound = sentThisRound;
  }

  RoundTotals sendRound(int round, long[] bitmap, long pageCount, GuestMemory memory, int stream,
      int streams, Runnable abortCheck) throws IOException, InterruptedException {
    long pages0 = encoder.pages();
    long zero0 = encoder.zeroPages();
    long wire0 = link.writer.bytesWritten();
    for (int w = stream; w < bitmap.length; w += streams) {
      long word = bitmap[w];
      long base = (long) w << 6;
      while (word != 0) {
        long page = base + Long.numberOfTrailingZeros(word);
        word &= word - 1;
        if (page >= pageCount) {
          break;
        }
        if (!encoder.add(page, memory)) {
          flush(abortCheck);
          encoder.add(page, memory);
        }
      }
    }
    flush(abortCheck);
    link.send(new Message.RoundEnd(round));
    RoundTotals t = new RoundTotals();
    t.pages = encoder.pages() - pages0;
    t.zeroPages = encoder.zeroPages() - zero0;
    t.wireBytes = link.writer.bytesWritten() - wire0;
    return t;
  }

  private void flush(Runnable abortCheck) throws IOException, InterruptedException {
    if (encoder.isEmpty()) {
      return;
    }
    abortCheck.run();
    int pages = encoder.batchPages();
    limiter.acquire(link.sendPages(encoder));
    sentThisRound.addAndGet(pages);
  }
}
