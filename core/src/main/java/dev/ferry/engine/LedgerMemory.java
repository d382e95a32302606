package dev.ferry.engine;

import dev.ferry.spi.GuestMemory;
import java.nio.ByteBuffer;

/**
 * Guest memory seen through a {@link PageLedger}: on the source every page read to be sent is
 * recorded, on the destination every page written or zeroed on arrival. Delegates everything, so
 * the page loop reads and writes the backend's memory as before, with one hash of bytes already in
 * a buffer added.
 *
 * <p>Thread-safe as the memory it wraps, with the ledger's rule: a page is read (or written) only
 * by its stream's thread.
 */
final class LedgerMemory extends ForwardingMemory {
  private final PageLedger ledger;
  private final boolean onRead;

  private LedgerMemory(GuestMemory memory, PageLedger ledger, boolean onRead) {
    super(memory);
    this.ledger = ledger;
    this.onRead = onRead;
  }

  /** The source's view: records what is read to be sent. */
  static GuestMemory sending(GuestMemory memory, PageLedger ledger) {
    return new LedgerMemory(memory, ledger, true);
  }

  /** The destination's view: records what is written. */
  static GuestMemory receiving(GuestMemory memory, PageLedger ledger) {
    return new LedgerMemory(memory, ledger, false);
  }

  @Override
  public void readPage(long page, ByteBuffer dst) {
    int at = dst.position();
    memory.readPage(page, dst);
    if (onRead) {
      ledger.record(page, dst, at);
    }
  }

  /**
   * Asked by the sender's encoder just before it sends the page: a page known to be zero is sent as
   * a zero entry without being read, so on the source that is where it is recorded as sent.
   */
  @Override
  public boolean knownZero(long page) {
    boolean zero = memory.knownZero(page);
    if (zero && onRead) {
      ledger.recordZero(page);
    }
    return zero;
  }

  @Override
  public void writePage(long page, ByteBuffer src) {
    int at = src.position();
    if (!onRead) {
      ledger.record(page, src, at);
    }
    memory.writePage(page, src);
  }

  @Override
  public void zeroPage(long page) {
    if (!onRead) {
      ledger.recordZero(page);
    }
    memory.zeroPage(page);
  }
}
