package dev.ferry.engine;

import dev.ferry.spi.Bandwidth;
import java.time.Duration;

/**
 * What a stop-and-copy would cost if it began now, part by part.
 *
 * <p>Design note. The downtime of a stop-and-copy is the sum of its parts: pausing the vCPUs, the
 * last sync of the dirty log, sending the last dirty pages and the device state, the verification
 * of what was sent, the commit's round trips, and the destination's activation. This model
 * predicts each from what this migration measured (the bandwidth of its rounds, the round trip of
 * its handshake, the estimate of the digest), so the switchover is decided on this run's figures.
 *
 * <p>Confined to the migration thread.
 */
final class SwitchoverModel {
  /** Bytes a page costs on the wire besides its data: the entry header. */
  private static final long PAGE_OVERHEAD = 9;

  /** The predicted parts of one stop-and-copy. */
  record Prediction(Duration finalPages, Duration deviceState, Duration verification, Duration roundTrips) {
    Duration total() {
      return finalPages.plus(deviceState).plus(verification).plus(roundTrips);
    }
  }

  private final int pageSize;
  private final long rttNanos;
  private long verifyNanos;
  private long deviceStateBytes;

  SwitchoverModel(int pageSize, long rttNanos, long verifyNanos, long deviceStateBytes) {
    this.pageSize = pageSize;
    this.rttNanos = rttNanos;
    this.verifyNanos = verifyNanos;
    this.deviceStateBytes = deviceStateBytes;
  }

  Prediction predict(long dirtyPages, Bandwidth bandwidth) {
    return new Prediction(bandwidth.timeFor(dirtyPages * (pageSize + PAGE_OVERHEAD)),
        bandwidth.timeFor(deviceStateBytes), Duration.ofNanos(verifyNanos), Duration.ofNanos(2 * rttNanos));
  }

  void verifyNanos(long nanos) {
    this.verifyNanos = nanos;
  }

  long verifyNanos() {
    return verifyNanos;
  }
}
