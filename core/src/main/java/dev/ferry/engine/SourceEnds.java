package dev.ferry.engine;

import dev.ferry.ConvergenceException;
import dev.ferry.DestinationRefusedException;
import dev.ferry.MigrationCancelledException;
import dev.ferry.MigrationException;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationResult.Outcome;
import dev.ferry.wire.Message;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How a source migration ends when something went wrong: the one place that turns whatever was
 * thrown into a result, as the {@link Authority} allows.
 *
 * <p>Design note. While the source is authoritative (or the destination gave it back), anything rolls
 * back: the destination is told to cancel, the links close, the dirty log and the throttle are put
 * back, the guest resumes; if even the resume fails, the result says the guest is paused. A failure
 * between COMMIT and its answer is settled by asking the destination ({@link CommitResolver}), never
 * guessed. In post-copy a failure loses the guest and the stale source stays paused. After the
 * destination confirmed, a failure changes nothing: the migration completed. {@link #fallback} is the
 * result when even this failed, said plainly.
 *
 * <p>Confined to the migration thread.
 */
final class SourceEnds {
  private static final Logger log = LoggerFactory.getLogger(SourceEnds.class);

  private final SourceContext c;
  private final SourceParts p;
  private final Function<Switchover.PostCopyStart, MigrationResult> postCopy;

  SourceEnds(SourceContext c, SourceParts p, Function<Switchover.PostCopyStart, MigrationResult> postCopy) {
    this.c = c;
    this.p = p;
    this.postCopy = postCopy;
  }

  /** Whatever was thrown, the end the authority allows. */
  MigrationResult unwind(Throwable t, boolean deadlineHit) {
    Abort a;
    if (t instanceof Abort abort) {
      a = abort;
    } else {
      log.error("migration of {} failed with an internal error in {}", c.name(), c.authority, t);
      a = new Abort(Outcome.FAILED, new MigrationException("internal error: " + t, t));
    }
    if (deadlineHit && c.authority.state() == Authority.State.SOURCE && a.outcome == Outcome.FAILED
        && !c.session.cancelRequested()) {
      long round = p.pre == null ? 0 : p.pre.history.size();
      ConvergenceException why = p.controller != null ? p.controller.deadlinePassedMidRound(c.session.elapsed(), round)
          : new ConvergenceException("deadline of " + c.options.deadline().toMillis() + " ms passed during the setup");
      a = new Abort(Outcome.ROLLED_BACK, why);
    }
    switch (c.authority.state()) {
      case SOURCE, RETURNED:
        return rollBack(a.outcome, a.cause);
      case COMMIT_SENT:
        return settleAfterFailure(a);
      case IN_DOUBT:
        return inDoubt(a.cause);
      case POST_COPY:
        c.authority.lost();
        return lost(a.cause);
      case LOST:
        return lost(a.cause);
      case DESTINATION:
      default:
        log.warn("VM {} runs on the destination; a failure after the confirmation changes nothing: {}", c.name(),
            a.cause.getMessage());
        p.releaseSource();
        return new MigrationResult(c.desc.id(), Outcome.COMPLETED, Optional.empty(), Duration.ZERO,
            c.session.elapsed(), p.wireBytes(), p.pagesSent(), p.history(), p.verified, p.actions(),
            Optional.ofNullable(p.postCopyStats));
    }
  }

  /** A failure between COMMIT and its answer (a bug, a listener): settle it the one safe way, by asking. */
  private MigrationResult settleAfterFailure(Abort a) {
    CommitResolver.Answer answer = new CommitResolver(c).resolve(a.cause.getMessage());
    if (answer.state() == Message.Status.State.DISCARDED) {
      c.authority.returned();
      return rollBack(Outcome.FAILED, new MigrationException(a.cause.getMessage() + "; the destination says it "
          + "discarded its copy (" + answer.detail() + "), so the source resumes", a.cause));
    }
    if (answer.state() == Message.Status.State.RUNNING && p.switchover.missing() != null) {
      // The destination runs the guest in post-copy: it waits for the pages, so serve them.
      c.authority.postCopyRunning();
      long[] missing = p.switchover.missing();
      long count = 0;
      for (long w : missing) {
        count += Long.bitCount(w);
      }
      return postCopy.apply(new Switchover.PostCopyStart(new Switchover.Committed(p.switchover.sincePause(), false,
          "settled by asking the destination", true, null), missing, count, true));
    }
    if (answer.state() == Message.Status.State.RUNNING) {
      c.authority.confirmed();
      Duration downtime = p.switchover.sincePause();
      p.releaseSource();
      return new MigrationResult(c.desc.id(), Outcome.COMPLETED, Optional.empty(), downtime, c.session.elapsed(),
          p.wireBytes(), p.pagesSent(), p.history(), p.verified, p.actions());
    }
    c.authority.inDoubt();
    return inDoubt(new MigrationException(a.cause.getMessage() + "; asking the destination did not settle the "
        + "commit (" + answer.detail() + ")", a.cause));
  }

  private MigrationResult rollBack(Outcome outcome, MigrationException cause) {
    if (c.session.cancelRequested() && outcome != Outcome.CANCELLED) {
      cause = new MigrationCancelledException("cancelled (" + cause.getMessage() + ")");
      outcome = Outcome.CANCELLED;
    }
    log.warn("migration of {} rolls back ({}): {}", c.name(), outcome, cause.getMessage());
    if (p.opened != null && p.opened.returnPath().failure() == null && !(cause instanceof DestinationRefusedException)) {
      p.switchover.sendQuietly(new Message.Cancel(cause.getMessage() == null ? outcome.name() : cause.getMessage()));
    }
    p.closeLinks();
    p.quietly("stopping the dirty log", () -> {
      if (p.pre != null) {
        p.pre.stopDirtyLog();
      }
    });
    p.quietly("restoring the throttle", () -> c.throttle.ifPresent(t -> t.setPercent(p.initialThrottle)));
    Duration downtime = Duration.ZERO;
    if (p.switchover != null && p.switchover.paused()) {
      try {
        downtime = p.switchover.resumeSource();
      } catch (RuntimeException e) {
        log.error("migration of {} rolled back, but resuming the source failed", c.name(), e);
        cause = new MigrationException(cause.getMessage() + "; the source copy could not be resumed ("
            + e.getMessage() + "): it is paused, and the destination holds nothing", cause);
        downtime = p.switchover.sincePause();
      }
    }
    return new MigrationResult(c.desc.id(), outcome, Optional.of(cause), downtime, c.session.elapsed(),
        p.wireBytes(), p.pagesSent(), p.history(), false, p.actions());
  }

  private MigrationResult inDoubt(MigrationException cause) {
    log.error("switchover of {} unconfirmed: the destination may run the guest; the source copy stays paused: {}",
        c.name(), cause.getMessage());
    p.quietly("stopping the dirty log", () -> {
      if (p.pre != null) {
        p.pre.stopDirtyLog();
      }
    });
    return new MigrationResult(c.desc.id(), Outcome.IN_DOUBT, Optional.of(cause),
        p.switchover == null ? Duration.ZERO : p.switchover.sincePause(), c.session.elapsed(), p.wireBytes(), p.pagesSent(),
        p.history(), false, p.actions());
  }

  private MigrationResult lost(MigrationException cause) {
    log.error("guest {} lost during post-copy: {}", c.name(), cause.getMessage());
    return new MigrationResult(c.desc.id(), Outcome.GUEST_LOST, Optional.of(cause), Duration.ZERO,
        c.session.elapsed(), p.wireBytes(), p.pagesSent(), p.history(), false, p.actions(),
        Optional.ofNullable(p.postCopyStats));
  }

  /** The result when even building one failed: what the authority allows, said plainly. */
  MigrationResult fallback() {
    Authority.State s = c.authority.state();
    Outcome o = switch (s) {
      case SOURCE, RETURNED -> Outcome.FAILED;
      case DESTINATION -> Outcome.COMPLETED;
      case LOST, POST_COPY -> Outcome.GUEST_LOST;
      default -> Outcome.IN_DOUBT;
    };
    Optional<MigrationException> cause = o == Outcome.COMPLETED ? Optional.empty()
        : Optional.of(new MigrationException("the migration ended in an internal error with the authority in " + s
            + "; see the log"));
    try {
      return new MigrationResult(c.desc.id(), o, cause, Duration.ZERO, c.session.elapsed(), 0, 0, List.of(), false,
          List.of());
    } catch (RuntimeException e) {
      return new MigrationResult(c.desc.id(), Outcome.FAILED, Optional.of(new MigrationException(e.toString())),
          Duration.ZERO, Duration.ZERO, 0, 0, List.of(), false, List.of());
    }
  }

}
