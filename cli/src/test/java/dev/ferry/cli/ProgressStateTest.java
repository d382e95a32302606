package dev.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.MigrationEvent;
import dev.ferry.MigrationResult;
import dev.ferry.Phase;
import dev.ferry.Progress;
import dev.ferry.RoundStats;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.VmId;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The progress display's frames, rendered to strings from sequences of samples and events. */
class ProgressStateTest {
  private static final long MIB = 1 << 20;

  private static Progress sample(Phase phase, long round, long elapsedMs, long transferred, long remaining,
      long expectedMs) {
    return new Progress(phase, round, Duration.ofMillis(elapsedMs), DataSize.mib(1024), DataSize.bytes(transferred),
        DataSize.bytes(remaining), 3000, 4096, DataSize.ZERO, Bandwidth.mbps(300), Duration.ofMillis(expectedMs),
        Duration.ofMillis(300), Bandwidth.UNLIMITED, 0, Duration.ofSeconds(60), Duration.ofMillis(300),
        DataSize.ZERO, 0, Duration.ZERO, true, false);
  }

  private static MigrationEvent.RoundCompleted roundEnd(long round, long elapsedMs, long transferred, long remaining) {
    RoundStats stats = new RoundStats(round, false, transferred / 4096, 0, transferred, Duration.ofMillis(100),
        Bandwidth.mbps(300), remaining / 4096, 3000, Duration.ofMillis(111), 0);
    return new MigrationEvent.RoundCompleted(Duration.ofMillis(elapsedMs), stats,
        sample(Phase.PRE_COPY, round, elapsedMs, transferred, remaining, 111));
  }

  /** Samples of a round whose dirty set grows and whose rate drops and recovers at random. */
  private static List<Progress> noisyRound(long round, long startMs, long base, Random random) {
    List<Progress> samples = new ArrayList<>();
    long sent = 0;
    long left = 400 * MIB;
    long t = startMs;
    for (int i = 0; i < 60; i++) {
      t += 100;
      sent += random.nextInt(8) * MIB; // some samples send nothing: the rate drops
      left = Math.max(0, left - random.nextInt(10) * MIB + random.nextInt(6) * MIB); // re-dirtied pages
      samples.add(sample(Phase.PRE_COPY, round, t, base + sent, left, 100 + random.nextInt(200)));
    }
    return samples;
  }

  @Test
  void render_noisySamplesAndANewRound_barBytesAndEtaNeverRunBackwardsWithinARound() {
    Random random = new Random(7);
    ProgressState state = new ProgressState("web-1");
    state.onEvent(new MigrationEvent.PhaseChanged(Duration.ofMillis(50), Phase.SETUP, Phase.PRE_COPY));
    long base = 0;
    long t = 50;
    for (long round = 0; round < 3; round++) {
      double fraction = 0;
      long sent = 0;
      long eta = Long.MAX_VALUE;
      for (Progress p : noisyRound(round, t, base, random)) {
        state.onProgress(p);
        state.render(100);
        assertThat(state.round()).isEqualTo(round);
        assertThat(state.fraction()).as("bar at %s", p.elapsed()).isGreaterThanOrEqualTo(fraction);
        assertThat(state.sentThisRound()).isGreaterThanOrEqualTo(sent);
        if (state.etaMillis() >= 0) {
          assertThat(state.etaMillis()).as("ETA at %s", p.elapsed()).isLessThanOrEqualTo(eta);
          eta = state.etaMillis();
        }
        fraction = state.fraction();
        sent = state.sentThisRound();
        t = p.elapsed().toMillis();
        base = p.transferred().bytes();
      }
      assertThat(fraction).isGreaterThan(0);
      state.onEvent(roundEnd(round, t, base, 30 * MIB));
      // the next round starts over, from an empty bar, under its own number
      assertThat(state.round()).isEqualTo(round + 1);
      assertThat(state.fraction()).isZero();
      assertThat(state.sentThisRound()).isZero();
      assertThat(state.etaMillis()).isEqualTo(-1);
      assertThat(state.render(100).get(0)).contains("round " + (round + 1)).contains("[------------------------]");
    }
  }

  @Test
  void render_midRound_showsBytesRateEtaPhaseDowntimeAgainstLimitAndTheLastDecision() {
    ProgressState state = new ProgressState("web-1");
    state.onEvent(new MigrationEvent.PhaseChanged(Duration.ofMillis(10), Phase.SETUP, Phase.PRE_COPY));
    state.onEvent(roundEnd(0, 50, 0, 400 * MIB));
    state.onProgress(sample(Phase.PRE_COPY, 1, 1050, 100 * MIB, 300 * MIB, 250));
    state.onEvent(new MigrationEvent.Decision(Duration.ofMillis(1060), List.of("throttle 20%"),
        "dirty rate 12 MB/s outruns the link"));

    List<String> frame = state.render(200);

    // 100 MiB of 400 MiB in 1000 ms of the round: 25 %, 104.9 MB/s, 3 s to go
    assertThat(frame.get(0)).contains("web-1 round 1").contains("[######------------------]").contains(" 25%")
        .contains("100 MiB / 400 MiB").contains("104.9 MB/s").contains("ETA 3.0 s");
    assertThat(frame.get(1)).contains("phase PRE_COPY").contains("expected downtime 250 ms / limit 300 ms");
    assertThat(frame.get(2)).isEqualTo("policy: throttle 20% (dirty rate 12 MB/s outruns the link)");
  }

  @Test
  void render_roundZero_expectedDowntimeUnknown_notZero() {
    ProgressState state = new ProgressState("web-1");
    state.onProgress(sample(Phase.PRE_COPY, 0, 1000, 100 * MIB, 300 * MIB, 0));

    assertThat(state.render(200).get(1)).contains("expected downtime -- / limit 300 ms");
  }

  @Test
  void render_staleSampleAfterAPhaseChange_phaseDoesNotGoBack_andADecisionWithoutActionsShowsItsReason() {
    ProgressState state = new ProgressState("web-1");
    state.onEvent(new MigrationEvent.PhaseChanged(Duration.ofMillis(900), Phase.PRE_COPY, Phase.STOP_AND_COPY));
    state.onProgress(sample(Phase.PRE_COPY, 2, 880, 100 * MIB, 1 * MIB, 20));
    state.onEvent(new MigrationEvent.Decision(Duration.ofMillis(950), List.of(), "activation took 352 ms"));

    List<String> frame = state.render(200);

    assertThat(frame.get(1)).startsWith("phase STOP_AND_COPY");
    assertThat(frame.get(2)).isEqualTo("policy: activation took 352 ms");
  }

  @Test
  void render_etaRunsOutWhileBytesRemain_saysOverdueInsteadOfGrowing() {
    ProgressState state = new ProgressState("web-1");
    state.onProgress(sample(Phase.PRE_COPY, 0, 1000, 100 * MIB, 100 * MIB, 100));
    long first = state.etaMillis();
    // nothing more is sent for five seconds: the rate falls, and the ETA may not rise
    state.onProgress(sample(Phase.PRE_COPY, 0, 6000, 100 * MIB, 100 * MIB, 100));

    assertThat(first).isEqualTo(1000);
    assertThat(state.etaMillis()).isZero();
    assertThat(state.render(200).get(0)).contains("ETA overdue");
  }

  @Test
  void render_finished_lastLineIsTheOutcome_andNoLineIsWiderThanAsked() {
    ProgressState state = new ProgressState("a-vm-with-a-rather-long-name");
    state.onProgress(sample(Phase.PRE_COPY, 0, 1000, 100 * MIB, 300 * MIB, 250));
    MigrationResult r = new MigrationResult(new VmId("u-1"), MigrationResult.Outcome.COMPLETED, java.util.Optional.empty(),
        Duration.ofMillis(21), Duration.ofMillis(1825), 7_522_153, 8598, List.of(), true, List.of());
    state.onEvent(new MigrationEvent.Finished(Duration.ofMillis(1900), r));

    List<String> frame = state.render(60);

    assertThat(frame).allSatisfy(line -> assertThat(line.length()).isLessThanOrEqualTo(60));
    assertThat(frame.get(1)).startsWith("phase ENDED");
    assertThat(frame.get(2)).startsWith("finished: COMPLETED in 1825 ms, downtime 21 ms");
  }
}
