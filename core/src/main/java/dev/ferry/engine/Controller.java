package dev.ferry.engine;

import dev.ferry.ConvergenceException;
import dev.ferry.MigrationEvent;
import dev.ferry.MigrationOptions;
import dev.ferry.Progress;
import dev.ferry.policy.Decision;
import dev.ferry.policy.PolicyAction;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The control loop both data planes share: it keeps the trend over rounds, asks the convergence
 * policy, turns its actions into calls on the {@link Plane}, enforces the deadline, and says in
 * events what was decided and why.
 *
 * <p>Design note. A data plane (Ferry's own pre-copy, or a hypervisor's job) reports each
 * {@link Progress} sample to {@link #decide}; the controller answers with a {@link Verdict}:
 * carry on, switch over because the expected downtime fits, or end pre-copy by post-copy, forced
 * completion or abort. The rules, the same for both planes:
 * <ul>
 *   <li>A round makes progress when it leaves at most 90 % of the lowest remaining memory of any
 *       earlier round (Nova's and KubeVirt's progress watermark, with Nova's 10 % step);
 *       {@link #STALL_WINDOW} rounds in a row without progress are a stall, reported once as a
 *       {@link MigrationEvent.Decision} without actions. A stall is judged from the trend, never
 *       from one sample.
 *   <li>A post-copy the application asked for ({@link dev.ferry.MigrationSession#switchToPostCopy})
 *       comes before the policy.
 *   <li>The policy's downtime limit is capped at the user's maximum ({@link
 *       MigrationOptions#maxDowntime()}); only {@link PolicyAction.ForceCompletion} may exceed it.
 *       What a plane cannot do (a throttle without a throttle facet, post-copy the destination
 *       refuses) is said in the decision, never done silently.
 *   <li>When the deadline has passed and the policy ended nothing, the migration is aborted, with
 *       the same words on both planes.
 * </ul>
 * It reads time only from the {@link Progress} it is given, so a test drives it with made-up
 * samples and a fake clock. Fuzzed with its invariants in {@code ControllerTest}.
 *
 * <p>Confined to the migration's thread.
 */
final class Controller {
  /** Rounds over which a stall is judged. */
  static final int STALL_WINDOW = 3;

  /** What the controller asks a data plane to do. Each method returns what was done, in words. */
  interface Plane {
    /** Applies a new downtime limit (already capped at the user's maximum). */
    String setDowntimeLimit(Duration limit);

    String setBandwidth(Bandwidth limit);

    /** Throttles the vCPUs, or says why it cannot. */
    String setThrottle(int percent);

    /** Why a switch to post-copy would not be carried out now, or null when it would. */
    String postCopyRefusal();

    /** Switches to post-copy (called only when {@link #postCopyRefusal()} is null). */
    String switchToPostCopy();

    /** Pauses the guest and finishes now, whatever the downtime. */
    String forceCompletion();
  }

  /** What the plane does next. */
  enum Kind {
    /** Keep copying. */
    CONTINUE,
    /** The expected downtime fits the limit: stop and copy now. */
    SWITCH_OVER,
    /** Switch to post-copy now. */
    POST_COPY,
    /** Pause and finish now, over the limit if need be. */
    FORCE,
    /** Give up and roll back. */
    ABORT
  }

  /** The controller's answer to one sample. */
  record Verdict(Kind kind, ConvergenceException cause) {
    static final Verdict CONTINUE = new Verdict(Kind.CONTINUE, null);
    static final Verdict SWITCH_OVER = new Verdict(Kind.SWITCH_OVER, null);
    static final Verdict POST_COPY = new Verdict(Kind.POST_COPY, null);
    static final Verdict FORCE = new Verdict(Kind.FORCE, null);

    static Verdict abort(ConvergenceException cause) {
      return new Verdict(Kind.ABORT, Objects.requireNonNull(cause));
    }

    boolean endsPreCopy() {
      return kind != Kind.CONTINUE;
    }
  }

  private final MigrationOptions options;
  private final Session session;
  private final Plane plane;
  private final List<String> actions = new ArrayList<>();
  private Duration downtimeLimit;
  private long watermark = Long.MAX_VALUE;
  private long stalledRounds;
  private long lastProgressNanos;
  private boolean stalled;
  private boolean appPostCopyHandled;
  private String pendingNote;

  Controller(MigrationOptions options, Session session, Plane plane) {
    this.options = options;
    this.session = session;
    this.plane = plane;
    this.downtimeLimit = options.maxDowntime();
    this.lastProgressNanos = session.startNanos();
  }

  /** The downtime limit now: the user's maximum, or lower if the policy set it so. */
  Duration downtimeLimit() {
    return downtimeLimit;
  }

  /** Rounds in a row, ending with the last, that made no progress (see the class note). */
  long stalledRounds() {
    return stalledRounds;
  }

  /** Time since the last round that made progress, at ticker time {@code now}. */
  Duration sinceProgress(long now) {
    return Duration.ofNanos(Math.max(0, now - lastProgressNanos));
  }

  /** Whether a stall is being reported now. */
  boolean stalled() {
    return stalled;
  }

  /** What was decided so far, as text, in order (the result's {@code actions}). */
  List<String> actions() {
    return List.copyOf(actions);
  }

  /**
   * Updates the trend at the end of round {@code round}, which left {@code remaining} bytes to send,
   * at ticker time {@code now}. A stall that begins is reported by {@link #afterRound()}, so that its
   * decision follows the round's own event, as {@link dev.ferry.MigrationListener} orders them.
   */
  void roundEnded(long round, long remaining, long now) {
    if (round == 0 || remaining <= watermark * 0.9) {
      watermark = remaining;
      stalledRounds = 0;
      lastProgressNanos = now;
    } else {
      stalledRounds++;
    }
    boolean stalledNow = stalledRounds >= STALL_WINDOW;
    if (stalledNow && !stalled) {
      pendingNote = "pre-copy stalled: " + stalledRounds + " rounds in a row left more than 90 % of the "
          + "lowest remaining memory so far (" + DataSize.bytes(watermark) + "); now " + DataSize.bytes(remaining);
    }
    stalled = stalledNow;
  }

  /** Reports what the last round's end showed (a stall beginning); call after the round's event. */
  void afterRound() {
    String note = pendingNote;
    pendingNote = null;
    if (note != null) {
      record(List.of(), note);
    }
  }

  /**
   * Decides what follows sample {@code p}. With {@code askPolicy} false (a hypervisor sample in the
   * middle of a long round), only the application's post-copy request and the deadline are
   * considered.
   */
  Verdict decide(Progress p, boolean askPolicy) {
    afterRound();
    if (p.fitsDowntime()) {
      return Verdict.SWITCH_OVER;
    }
    if (session.postCopyRequested() && !appPostCopyHandled) {
      appPostCopyHandled = true;
      String refusal = plane.postCopyRefusal();
      if (refusal == null) {
        record(List.of(plane.switchToPostCopy()), "asked for by the application");
        return Verdict.POST_COPY;
      }
      record(List.of("post-copy refused: " + refusal), "asked for by the application");
    }
    if (!askPolicy) {
      return p.pastDeadline() ? deadlineAbort(p, List.of(), "") : Verdict.CONTINUE;
    }
    Decision d = Objects.requireNonNull(options.policy().decide(p), "the policy returned no decision");
    if (d.isEmpty()) {
      return p.pastDeadline()
          ? deadlineAbort(p, List.of(), "the policy " + options.policy() + " took no action")
          : Verdict.CONTINUE;
    }
    List<String> done = new ArrayList<>();
    Verdict verdict = Verdict.CONTINUE;
    for (PolicyAction a : d.actions()) {
      if (a instanceof PolicyAction.SetDowntimeLimit s) {
        Duration capped = s.limit().compareTo(options.maxDowntime()) > 0 ? options.maxDowntime() : s.limit();
        String r = plane.setDowntimeLimit(capped);
        downtimeLimit = capped;
        done.add(r + (capped.equals(s.limit()) ? "" : " (" + s.limit().toMillis()
            + " ms asked, capped at the max downtime)"));
      } else if (a instanceof PolicyAction.SetBandwidth b) {
        done.add(plane.setBandwidth(b.limit()));
      } else if (a instanceof PolicyAction.SetThrottle t) {
        done.add(plane.setThrottle(t.percent()));
      } else if (verdict.endsPreCopy()) {
        done.add(describe(a) + " ignored: " + verdict.kind().name().toLowerCase(java.util.Locale.ROOT)
            .replace('_', '-') + " was decided first");
      } else if (a instanceof PolicyAction.SwitchToPostCopy) {
        String refusal = plane.postCopyRefusal();
        if (refusal == null) {
          done.add(plane.switchToPostCopy());
          verdict = Verdict.POST_COPY;
        } else {
          done.add("post-copy refused: " + refusal);
        }
      } else if (a instanceof PolicyAction.ForceCompletion) {
        done.add(plane.forceCompletion());
        verdict = Verdict.FORCE;
      } else if (a instanceof PolicyAction.Abort ab) {
        done.add("abort: " + ab.reason());
        verdict = Verdict.abort(new ConvergenceException(ab.reason()
            + (d.reason().isEmpty() || d.reason().equals(ab.reason()) ? "" : " (" + d.reason() + ")")));
      }
    }
    if (!verdict.endsPreCopy() && p.pastDeadline()) {
      return deadlineAbort(p, done, d.reason());
    }
    record(done, d.reason());
    return verdict;
  }

  /** The deadline passed mid-round: the watchdog ends the round; this is what the result says. */
  ConvergenceException deadlinePassedMidRound(Duration elapsed, long round) {
    String why = "deadline of " + options.deadline().toMillis() + " ms passed during round " + round + " (at "
        + elapsed.toMillis() + " ms), before pre-copy converged";
    record(List.of("abort"), why);
    return new ConvergenceException(why);
  }

  private Verdict deadlineAbort(Progress p, List<String> done, String why) {
    List<String> all = new ArrayList<>(done);
    all.add("abort: the deadline passed and nothing ended the migration");
    String cause = "deadline of " + p.deadline().toMillis() + " ms passed before pre-copy converged (expected "
        + "downtime " + p.expectedDowntime().toMillis() + " ms, limit " + p.downtimeLimit().toMillis() + " ms)";
    record(all, why.isEmpty() ? cause : why + "; " + cause);
    return Verdict.abort(new ConvergenceException(cause));
  }

  /** Records a decision taken by the engine or the policy and tells the listeners. */
  void record(List<String> what, String why) {
    for (String w : what) {
      actions.add(w + (why.isEmpty() ? "" : " (" + why + ")"));
    }
    session.emit(new MigrationEvent.Decision(session.elapsed(), what, why));
  }

  private static String describe(PolicyAction a) {
    if (a instanceof PolicyAction.SwitchToPostCopy) {
      return "post-copy";
    }
    if (a instanceof PolicyAction.ForceCompletion) {
      return "force completion";
    }
    if (a instanceof PolicyAction.Abort ab) {
      return "abort (" + ab.reason() + ")";
    }
    return String.valueOf(a);
  }
}
