package dev.ferry.engine;

import dev.ferry.spi.GuestMemory;
import java.nio.ByteBuffer;

/**
 * Guest memory that forwards every call to the backend's; the engine's views of memory (the page
 * ledger's, the destination's record of arrived pages) extend it and add to the calls they watch.
 *
 * <p>Thread-safe as the memory it wraps.
 */
abstract class ForwardingMemory implements GuestMemory {
  final GuestMemory memory;

  ForwardingMemory(GuestMemory memory) {
    this.memory = memory;
  }

  @Override
  public int pageSize() {
    return memory.pageSize();
  }

  @Override
  public long pageCount() {
    return memory.pageCount();
  }

  @Override
  public void readPage(long page, ByteBuffer dst) {
    memory.readPage(page, dst);
  }

  @Override
  public void writePage(long page, ByteBuffer src) {
    memory.writePage(page, src);
  }

  @Override
  public void zeroPage(long page) {
    memory.zeroPage(page);
  }

  @Override
  public boolean knownZero(long page) {
    return memory.knownZero(page);
  }

  @Override
  public long residentBytes() {
    return memory.residentBytes();
  }
}
