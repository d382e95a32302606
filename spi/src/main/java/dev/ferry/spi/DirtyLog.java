package dev.ferry.spi;

/**
 * A log of the guest pages written since the last sync, with the get-and-clear semantics of KVM's
 * dirty log ({@code KVM_GET_DIRTY_LOG}).
 *
 * <p>The contract the engine relies on: a guest write is marked in the log no earlier than its
 * data is visible to {@link GuestMemory#readPage}, and {@link #syncAndClear(long[])} hands over and
 * clears the marks atomically with respect to writers. Therefore every write that completes after
 * a sync either is in the bitmap of a later sync, or was already visible to a read made after the
 * sync that reported it. No write is ever lost between two syncs.
 *
 * <p>Thread-safety: {@link #syncAndClear} is called by one thread at a time (the engine);
 * vCPU writers mark pages concurrently with it.
 */
public interface DirtyLog {

  /** Starts logging. Pages written before this call are not reported. */
  void start();

  /**
   * ORs into {@code bitmap} every page written since {@link #start()} or the previous sync, and
   * clears those marks. Page {@code p} is bit {@code p & 63} of word {@code p >>> 6}.
   *
   * @param bitmap at least {@code ceil(pageCount / 64)} words
   * @return the number of pages newly reported dirty by this call
   * @throws IllegalStateException if logging has not been started
   */
  long syncAndClear(long[] bitmap);

  /** Stops logging and releases the log. */
  void stop();

  /** Whether logging is on. */
  boolean isActive();
}
