package dev.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.MigrationResult;
import dev.ferry.PostCopyStats;
import dev.ferry.spi.VmId;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The JSON line the samples end with: a figure that is not known is null with the reason, never 0. */
class ResultJsonTest {

  @Test
  void json_postCopyWithoutCompletedStats_unknownFiguresAreNullWithReasons() {
    PostCopyStats pc = new PostCopyStats(Duration.ofMillis(1334), 0, Duration.ZERO, Duration.ZERO, Duration.ZERO,
        Duration.ZERO, 3, 0, 0, 0, Optional.of("faults, blocked times: not reported"));
    MigrationResult r = new MigrationResult(new VmId("u-1"), MigrationResult.Outcome.COMPLETED, Optional.empty(),
        Optional.empty(), Optional.of("libvirt kept no completed-job statistics"), Duration.ofMillis(10896),
        75_498_472, 18_000, List.of(), false, List.of(), Optional.of(pc), Optional.empty(),
        Optional.of("bytes from the last sample"));

    String json = ResultJson.of(r, 64L << 20);

    assertThat(json).contains("\"downtimeMs\":null")
        .contains("\"downtimeUnknown\":\"libvirt kept no completed-job statistics\"")
        .contains("\"bytesNotFinal\":\"bytes from the last sample\"")
        .contains("\"faults\":null").contains("\"blockedMs\":null").contains("\"pagesPushed\":null")
        .contains("\"pagesRequested\":3")
        .contains("\"notMeasured\":\"faults, blocked times: not reported\"")
        .doesNotContain("\"downtimeMs\":0");
  }

  @Test
  void json_measuredFigures_printedAsNumbers() {
    MigrationResult r = new MigrationResult(new VmId("u-1"), MigrationResult.Outcome.COMPLETED, Optional.empty(),
        Duration.ofMillis(21), Duration.ofMillis(1825), 7_522_153, 8598, List.of(), false, List.of());

    String json = ResultJson.of(r, 64L << 20);

    assertThat(json).contains("\"downtimeMs\":21").doesNotContain("downtimeUnknown").doesNotContain("bytesNotFinal");
  }
}
