package dev.ferry.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.DowntimeBreakdown;
import dev.ferry.spi.Bandwidth;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class SwitchoverModelTest {
  private static final Bandwidth LINK = Bandwidth.bytesPerSecond(1_000_000_000L);

  @BeforeEach
  @AfterEach
  void forget() {
    SwitchoverModel.forgetHistory();
  }

  private static void stopAndCopy(long pauseMs, long activationMs) {
    Duration z = Duration.ZERO;
    SwitchoverModel.learn(new DowntimeBreakdown(Duration.ofMillis(pauseMs), z, z, z, z, z, z,
        Duration.ofMillis(activationMs)), 4096);
  }

  @Test
  void fixedParts_beforeAnyStopAndCopy_areThePriors() {
    DowntimeBreakdown d = SwitchoverModel.fixedParts(1_000_000, LINK);
    assertThat(d.pause()).isEqualTo(SwitchoverModel.PAUSE_PRIOR);
    assertThat(d.activation()).isEqualTo(SwitchoverModel.ACTIVATION_PRIOR);
  }

  @Test
  void fixedParts_oneSlowStopAndCopyAmongQuickOnes_doesNotSetThePrediction() {
    // A busy moment once made an activation take 400 ms: with the largest of the last few as the
    // prediction, no later migration of the process under a 300 ms limit could ever switch over.
    stopAndCopy(1, 3);
    stopAndCopy(1, 400);
    assertThat(SwitchoverModel.fixedParts(1_000_000, LINK).activation()).isEqualTo(Duration.ofMillis(3));
    stopAndCopy(2, 5);
    DowntimeBreakdown d = SwitchoverModel.fixedParts(1_000_000, LINK);
    assertThat(d.activation()).isEqualTo(Duration.ofMillis(5));
    assertThat(d.pause()).isEqualTo(Duration.ofMillis(1));
  }

  @Test
  void fixedParts_whenMostStopAndCopiesWereSlow_predictSlow() {
    stopAndCopy(1, 3);
    stopAndCopy(30, 120);
    stopAndCopy(40, 150);
    DowntimeBreakdown d = SwitchoverModel.fixedParts(1_000_000, LINK);
    assertThat(d.activation()).isEqualTo(Duration.ofMillis(120));
    assertThat(d.pause()).isEqualTo(Duration.ofMillis(30));
  }
}
