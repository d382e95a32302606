package dev.ferry.engine;

import dev.ferry.MigrationEvent;
import dev.ferry.MigrationListener;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationSession;
import dev.ferry.Phase;
import dev.ferry.Progress;
import dev.ferry.spi.VmId;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The application's handle on a source-side migration: the state the migration thread publishes
 * (phase, progress snapshot), the listeners it notifies, and the cancel request it polls.
 *
 * <p>Design: one writer (the migration thread) publishes immutable snapshots through volatile
 * fields, so any reader sees a consistent {@link Progress} without locking. Events are delivered
 * on the migration thread, in order; listener failures are logged and swallowed so an application
 * bug cannot break the rollback path. Cancel is a flag plus a hook that unblocks a thread waiting
 * on the network; the point of no return (the destination told to commit) is a flag the migration
 * sets under the same lock, so cancel and commit cannot both win.
 */
final class Session implements MigrationSession {
  private static final Logger log = LoggerFactory.getLogger(Session.class);

  private final VmId vmId;
  private final dev.ferry.Ticker ticker;
  private final long startNanos;
  private final CopyOnWriteArrayList<MigrationListener> listeners = new CopyOnWriteArrayList<>();
  private final CompletableFuture<MigrationResult> completion = new CompletableFuture<>();
  private volatile Phase phase = Phase.SETUP;
  private volatile Progress progress;
  private boolean cancelRequested; // guarded by this
  private boolean committed; // guarded by this
  private boolean postCopyRequested; // guarded by this
  private java.util.function.BooleanSupplier postCopyPossible = () -> false; // guarded by this
  private Runnable onCancel = () -> {}; // guarded by this

  Session(VmId vmId, dev.ferry.Ticker ticker, Progress initial) {
    this.vmId = vmId;
    this.ticker = ticker;
    this.startNanos = ticker.read();
    this.progress = initial;
  }

  @Override
  public VmId vmId() {
    return vmId;
  }

  @Override
  public Phase phase() {
    return phase;
  }

  @Override
  public Progress progress() {
    return progress;
  }

  @Override
  public void addListener(MigrationListener listener) {
    listeners.add(java.util.Objects.requireNonNull(listener, "listener"));
  }

  @Override
  public void removeListener(MigrationListener listener) {
    listeners.remove(listener);
  }

  @Override
  public boolean cancel() {
    Runnable hook;
    synchronized (this) {
      if (committed || completion.isDone() || cancelRequested) {
        return !committed && !completion.isDone();
      }
      cancelRequested = true;
      hook = onCancel;
    }
    log.info("migration of {}: cancel requested", vmId);
    try {
      hook.run();
    } catch (RuntimeException e) {
      log.warn("migration of {}: unblocking it for the cancel failed; it stops at its next check", vmId, e);
    }
    return true;
  }

  @Override
  public boolean switchToPostCopy() {
    synchronized (this) {
      if (committed || completion.isDone() || cancelRequested || phase != Phase.PRE_COPY
          || !postCopyPossible.getAsBoolean()) {
        return false;
      }
      postCopyRequested = true;
      return true;
    }
  }

  synchronized boolean postCopyRequested() {
    return postCopyRequested;
  }

  /** Tells {@link #switchToPostCopy()} whether a switch can be carried out now. */
  synchronized void postCopyPossible(java.util.function.BooleanSupplier possible) {
    this.postCopyPossible = possible;
  }

  @Override
  public CompletableFuture<MigrationResult> completion() {
    return completion;
  }

  // ---- used by the migration thread ----

  synchronized boolean cancelRequested() {
    return cancelRequested;
  }

  /** Sets what cancel() runs to unblock the migration thread (e.g. closing its sockets). */
  synchronized void onCancel(Runnable hook) {
    this.onCancel = hook;
  }

  /**
   * Passes the point of no return, unless a cancel came first.
   *
   * @return false if cancel was requested before; the caller must roll back
   */
  synchronized boolean commit() {
    if (cancelRequested) {
      return false;
    }
    committed = true;
    return true;
  }

  Duration elapsed() {
    return Duration.ofNanos(ticker.read() - startNanos);
  }

  /** Ticker time at which the session began. */
  long startNanos() {
    return startNanos;
  }

  dev.ferry.Ticker ticker() {
    return ticker;
  }

  /** Whether the session has a result. */
  boolean isDone() {
    return completion.isDone();
  }

  void publish(Progress p) {
    this.progress = p;
  }

  void phase(Phase next) {
    Phase from = phase;
    if (from == next) {
      return;
    }
    phase = next;
    emit(new MigrationEvent.PhaseChanged(elapsed(), from, next));
  }

  /**
   * Delivers an event to every listener. Whatever a listener throws, an {@link Error} included, is
   * logged and dropped: the migration's path to its result must not depend on application code.
   */
  void emit(MigrationEvent event) {
    for (MigrationListener l : listeners) {
      try {
        l.onEvent(event);
      } catch (Throwable e) {
        log.warn("migration listener {} failed on {}", l, event, e);
      }
    }
  }

  /**
   * Completes the session with {@code result}: the last events, then the future. Completes the
   * future even if the events fail. Idempotent: only the first result counts.
   */
  void finish(MigrationResult result) {
    try {
      phase(Phase.ENDED);
      emit(new MigrationEvent.Finished(elapsed(), result));
    } catch (Throwable t) {
      log.warn("migration of {}: delivering the last events failed", vmId, t);
    } finally {
      listeners.clear();
      completion.complete(result);
    }
  }
}
