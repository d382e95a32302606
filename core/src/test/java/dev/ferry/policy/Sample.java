package dev.ferry.policy;

import dev.ferry.Phase;
import dev.ferry.Progress;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import java.time.Duration;

/** Builds synthetic {@link Progress} samples for policy tests; every field has a plain default. */
final class Sample {
  long round = 3;
  Duration elapsed = Duration.ofSeconds(10);
  DataSize total = DataSize.gib(1);
  DataSize transferred = DataSize.gib(2);
  DataSize remaining = DataSize.mib(100);
  long dirtyPagesPerSecond = 10_000;
  int pageSize = 4096;
  DataSize workingSet = DataSize.ZERO;
  Bandwidth bandwidth = Bandwidth.mbps(100);
  Duration expectedDowntime = Duration.ofMillis(1000);
  Duration downtimeLimit = Duration.ofMillis(300);
  int throttle;
  Duration deadline = Duration.ofMinutes(10);
  Duration maxDowntime = Duration.ofMillis(300);
  DataSize lastRoundSent = DataSize.mib(100);
  long stalledRounds;
  Duration sinceProgress = Duration.ZERO;
  boolean throttleAvailable = true;
  boolean postCopyAvailable;

  static Sample sample() {
    return new Sample();
  }

  Sample round(long r) {
    round = r;
    return this;
  }

  Sample elapsed(Duration d) {
    elapsed = d;
    return this;
  }

  Sample total(DataSize d) {
    total = d;
    return this;
  }

  Sample remaining(DataSize d) {
    remaining = d;
    expectedDowntime = bandwidth.timeFor(d.bytes()).plusMillis(2);
    return this;
  }

  Sample dirtyRate(long pagesPerSecond) {
    dirtyPagesPerSecond = pagesPerSecond;
    return this;
  }

  Sample workingSet(DataSize d) {
    workingSet = d;
    return this;
  }

  Sample bandwidth(Bandwidth b) {
    bandwidth = b;
    return this;
  }

  Sample expectedDowntime(Duration d) {
    expectedDowntime = d;
    return this;
  }

  Sample limit(Duration d) {
    downtimeLimit = d;
    return this;
  }

  Sample maxDowntime(Duration d) {
    maxDowntime = d;
    return this;
  }

  Sample throttle(int t) {
    throttle = t;
    return this;
  }

  Sample deadline(Duration d) {
    deadline = d;
    return this;
  }

  Sample lastRoundSent(DataSize d) {
    lastRoundSent = d;
    return this;
  }

  Sample stalled(long rounds) {
    stalledRounds = rounds;
    return this;
  }

  Sample sinceProgress(Duration d) {
    sinceProgress = d;
    return this;
  }

  Sample throttleAvailable(boolean b) {
    throttleAvailable = b;
    return this;
  }

  Sample postCopyAvailable(boolean b) {
    postCopyAvailable = b;
    return this;
  }

  Progress build() {
    return new Progress(Phase.PRE_COPY, round, elapsed, total, transferred, remaining, dirtyPagesPerSecond, pageSize,
        workingSet, bandwidth, expectedDowntime, downtimeLimit, Bandwidth.UNLIMITED, throttle, deadline, maxDowntime,
        lastRoundSent, stalledRounds, sinceProgress, throttleAvailable, postCopyAvailable);
  }
}
