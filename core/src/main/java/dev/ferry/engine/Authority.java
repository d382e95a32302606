package dev.ferry.engine;

import java.util.EnumSet;
import java.util.Set;

/**
 * Who holds the authoritative copy of the guest during one migration, on the source's side: the
 * one place that says whether the source may still be resumed.
 *
 * <p>Design note. Live migration keeps two copies of a guest for a while; Ferry's first invariant
 * is that exactly one of them is authoritative. The source is, until it sends COMMIT
 * (the point of no return): from then on the destination may run the guest, and the source copy
 * may be resumed only on the destination's own word that it discarded its copy. The states and
 * their transitions:
 *
 * <pre>
 *   SOURCE ──commit()──▶ COMMIT_SENT ──confirmed()──▶ DESTINATION
 *                          │    │  └──postCopyRunning()──▶ POST_COPY ──confirmed()──▶ DESTINATION
 *                          │    │                             └──lost()──▶ LOST
 *                          │    └──returned()──▶ RETURNED   (the destination said it discarded)
 *                          └──inDoubt()──▶ IN_DOUBT         (no answer: the source stays paused)
 * </pre>
 *
 * Only {@link State#SOURCE} and {@link State#RETURNED} allow {@link #mayResumeSource()}; every end
 * state is final. A transition not in the table throws {@link IllegalStateException}: a bug in the
 * caller, never a state to carry on from. Compare QEMU's {@code MigrationStatus} and its
 * {@code migrate_set_state}, which also refuses a transition from an unexpected state.
 *
 * <p>Thread-safe: transitions are atomic; the migration thread makes them, cancel and the
 * watchdog read them.
 */
final class Authority {
  /** Who is authoritative. */
  enum State {
    /** The source: a failure rolls back and resumes it. */
    SOURCE,
    /** COMMIT was sent and not yet answered: the destination may run the guest. */
    COMMIT_SENT,
    /** The destination runs the guest with pages still missing; the source holds them, paused. */
    POST_COPY,
    /** The destination runs the guest and has every page: the source copy is stale. */
    DESTINATION,
    /** The destination said it discarded its copy after COMMIT: the source is authoritative again. */
    RETURNED,
    /** Nobody could say whether the destination runs the guest: the source stays paused. */
    IN_DOUBT,
    /** Post-copy lost the guest: the destination stopped its incomplete copy; the source is stale. */
    LOST;

    boolean isFinal() {
      return this == DESTINATION || this == RETURNED || this == IN_DOUBT || this == LOST;
    }
  }

  private static final java.util.Map<State, Set<State>> NEXT = new java.util.EnumMap<>(State.class);

  static {
    NEXT.put(State.SOURCE, EnumSet.of(State.COMMIT_SENT));
    NEXT.put(State.COMMIT_SENT, EnumSet.of(State.DESTINATION, State.POST_COPY, State.RETURNED, State.IN_DOUBT));
    NEXT.put(State.POST_COPY, EnumSet.of(State.DESTINATION, State.LOST));
    for (State s : State.values()) {
      NEXT.putIfAbsent(s, EnumSet.noneOf(State.class));
    }
  }

  private State state = State.SOURCE; // guarded by this

  synchronized State state() {
    return state;
  }

  /** Whether the source copy may be resumed now: before COMMIT, or when the destination gave it back. */
  synchronized boolean mayResumeSource() {
    return state == State.SOURCE || state == State.RETURNED;
  }

  /** Whether COMMIT has been sent, whatever came of it. */
  synchronized boolean committed() {
    return state != State.SOURCE;
  }

  /** COMMIT is about to be sent: the point of no return. */
  void commit() {
    move(State.SOURCE, State.COMMIT_SENT);
  }

  /** The destination confirmed it runs the guest with every page (RESUMED, or POSTCOPY_COMPLETE). */
  synchronized void confirmed() {
    if (state != State.COMMIT_SENT && state != State.POST_COPY) {
      throw new IllegalStateException("destination confirmation in state " + state);
    }
    state = State.DESTINATION;
  }

  /** The destination runs the guest and post-copy begins. */
  void postCopyRunning() {
    move(State.COMMIT_SENT, State.POST_COPY);
  }

  /** The destination said, after COMMIT, that it discarded its copy and will never run it. */
  void returned() {
    move(State.COMMIT_SENT, State.RETURNED);
  }

  /** No one could say what became of the commit. */
  void inDoubt() {
    move(State.COMMIT_SENT, State.IN_DOUBT);
  }

  /** Post-copy could not finish. */
  void lost() {
    move(State.POST_COPY, State.LOST);
  }

  private synchronized void move(State from, State to) {
    if (state != from || !NEXT.get(from).contains(to)) {
      throw new IllegalStateException("authority cannot move from " + state + " to " + to
          + " (expected to be in " + from + ")");
    }
    state = to;
  }

  /** The transitions allowed from {@code s} (for tests of the table). */
  static Set<State> next(State s) {
    return java.util.Collections.unmodifiableSet(NEXT.get(s));
  }

  @Override
  public synchronized String toString() {
    return "Authority[" + state + "]";
  }
}
