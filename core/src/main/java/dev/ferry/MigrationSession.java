package dev.ferry;

import dev.ferry.spi.VmId;
import java.util.concurrent.CompletableFuture;

/**
 * A handle on one running migration, returned at once by {@link Host#migrate}.
 *
 * <p>Thread-safe: any thread may read the phase and progress, add listeners or cancel.
 */
public interface MigrationSession {

  /** The VM being migrated. */
  VmId vmId();

  /** The phase now. */
  Phase phase();

  /** A consistent snapshot of the migration now. */
  Progress progress();

  /**
   * Adds a listener for the events still to come (see {@link MigrationListener} for their order).
   */
  void addListener(MigrationListener listener);

  void removeListener(MigrationListener listener);

  /**
   * Asks the migration to stop and roll back. Before the switchover is confirmed the guest keeps (or
   * resumes) running on the source and the destination discards its copy; the result's outcome is
   * then {@link MigrationResult.Outcome#CANCELLED}. Once the destination has confirmed, it is too
   * late: the migration completes as if cancel had not been called.
   *
   * @return false if the migration had already ended or passed the point of no return
   */
  boolean cancel();

  /**
   * Asks the migration to switch to post-copy at the end of the current pre-copy round: pause the
   * guest, resume it on the destination, and move the rest of its memory after. Honoured only when
   * {@link MigrationOptions#allowPostCopy()} is set and the destination can do post-copy.
   *
   * @return false if the migration cannot switch (not allowed, not in pre-copy, destination
   *     without post-copy, or already ended)
   */
  boolean switchToPostCopy();

  /**
   * Completes with the result when the migration ends, whatever the outcome. It completes
   * exceptionally only for a defect in Ferry itself. Cancelling this future does not cancel the
   * migration: call {@link #cancel()}.
   */
  CompletableFuture<MigrationResult> completion();
}
