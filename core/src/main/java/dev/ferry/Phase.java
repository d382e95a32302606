package dev.ferry;

/**
 * Where a migration is. Phases only move forward, in this order, though a migration may skip some
 * (a quick migration goes from {@link #SETUP} straight to {@link #STOP_AND_COPY}; a failed one
 * jumps to {@link #ENDED}).
 */
public enum Phase {
  /** Connecting to the destination and agreeing on the VM; nothing has moved yet. */
  SETUP,
  /** Copying memory while the guest runs on the source, round after round. */
  PRE_COPY,
  /** The guest is paused on the source; the last pages and the device state move. */
  STOP_AND_COPY,
  /** The guest runs on the destination; pages it lacks are fetched from the source. */
  POST_COPY,
  /** The migration is over; the result says how it ended. */
  ENDED
}
