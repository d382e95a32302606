package dev.ferry;

/**
 * A source of monotonic time, in nanoseconds: what the engine reads for every timeout, deadline,
 * elapsed time and rate. The default is {@link #system()}; tests pass a ticker they advance by hand
 * so that a deadline or a peer timeout can be reached without sleeping.
 *
 * <p>Implementations must be thread-safe: the migration's threads and its watchdog read it at once.
 * Only differences between two readings mean anything.
 */
@FunctionalInterface
public interface Ticker {

  /** Nanoseconds since some fixed but arbitrary origin. */
  long read();

  /** {@link System#nanoTime()}. */
  static Ticker system() {
    return SystemTicker.INSTANCE;
  }
}

/** The system ticker, a singleton so that options holding it compare equal. */
enum SystemTicker implements Ticker {
  INSTANCE;

  @Override
  public long read() {
    return System.nanoTime();
  }

  @Override
  public String toString() {
    return "Ticker.system()";
  }
}
