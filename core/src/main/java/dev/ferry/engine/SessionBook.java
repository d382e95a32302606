package dev.ferry.engine;

import dev.ferry.Ticker;
import dev.ferry.wire.Message.Status.State;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;

/**
 * What a receiver remembers of its sessions, to answer a source that asks (QUERY) what became of a
 * commit it could not confirm.
 *
 * <p>Design note. A session is PENDING from its ACCEPT until it ends; RUNNING once the guest ran
 * here (activated, or resumed in post-copy: even a post-copy that later lost the guest answers
 * RUNNING, because the source copy is stale from the moment the guest ran here); DISCARDED once
 * the incoming copy was discarded without ever running. The state only moves forward, and once a
 * session ran here it never reads DISCARDED: that answer lets a source resume, and must be true.
 * Ended sessions are kept for a bounded time and count (least recently ended dropped first), so
 * that no peer can make the book grow without bound; a forgotten session answers UNKNOWN, which
 * never lets a source resume.
 *
 * <p>Thread-safe.
 */
final class SessionBook {
  private record Entry(State state, String detail, long at) {}

  private final Ticker ticker;
  private final int capacity;
  private final long keepNanos;
  private final Map<UUID, Entry> entries;

  SessionBook(Ticker ticker, int capacity, Duration keepFor) {
    this.ticker = ticker;
    this.capacity = capacity;
    this.keepNanos = keepFor.toNanos();
    this.entries = new LinkedHashMap<>(16, 0.75f, false) {
      private static final long serialVersionUID = 1L;

      @Override
      protected boolean removeEldestEntry(Map.Entry<UUID, Entry> eldest) {
        return size() > Math.max(SessionBook.this.capacity, 0) && eldest.getValue().state() != State.PENDING;
      }
    };
  }

  /** A session was accepted. */
  synchronized void pending(UUID id) {
    entries.put(id, new Entry(State.PENDING, "", ticker.read()));
  }

  /** The guest ran here: from now on the answer is RUNNING, whatever follows. */
  synchronized void running(UUID id, String detail) {
    entries.remove(id);
    entries.put(id, new Entry(State.RUNNING, detail, ticker.read()));
  }

  /** The incoming copy was discarded; ignored once the guest ran here. */
  synchronized void discarded(UUID id, String detail) {
    Entry e = entries.get(id);
    if (e != null && e.state() == State.RUNNING) {
      return;
    }
    entries.remove(id);
    entries.put(id, new Entry(State.DISCARDED, detail, ticker.read()));
  }

  /** What to answer about {@code id}, with the detail. */
  synchronized Map.Entry<State, String> lookup(UUID id) {
    Entry e = entries.get(id);
    if (e == null || (e.state() != State.PENDING && ticker.read() - e.at() > keepNanos)) {
      return Map.entry(State.UNKNOWN, "no record of session " + id + " on this receiver");
    }
    return Map.entry(e.state(), e.detail());
  }

  synchronized int size() {
    return entries.size();
  }
}
