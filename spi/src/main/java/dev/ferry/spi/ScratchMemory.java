package dev.ferry.spi;

/**
 * Fresh memory of the kind an incoming VM is given, lent for a moment and then given back: what a
 * link probe writes into, so that the rate it reports includes what a destination pays to write
 * into memory it has just been given (on most hosts, the kernel's first touch of every page).
 *
 * <p>Thread-safety: as {@link GuestMemory}; {@link #close()} is idempotent and called once the
 * writes are done.
 */
public interface ScratchMemory extends AutoCloseable {

  /** The memory: zeros, {@code pageCount} pages of {@code pageSize} bytes. */
  GuestMemory memory();

  /** Gives the memory back. */
  @Override
  void close();
}
