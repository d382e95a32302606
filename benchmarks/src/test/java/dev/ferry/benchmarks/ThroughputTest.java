package dev.ferry.benchmarks;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The scenario runs end to end and reports in the agreed format; the figures are not checked. */
class ThroughputTest {

  @Test
  void run_smallSize_printsEveryMeasurementAndEndsWithTheWarmAndColdRatios() throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    int status = Throughput.run(new String[] {"--size", "16MiB", "--repeat", "2", "--cold", "1"},
        new PrintStream(bytes, true, StandardCharsets.UTF_8));

    List<String> lines = bytes.toString(StandardCharsets.UTF_8).lines().toList();
    assertThat(status).isZero();
    assertThat(lines).filteredOn(l -> l.matches("\\[\\d/2] raw .*")).hasSize(2);
    assertThat(lines).filteredOn(l -> l.matches("\\[\\d/2] ferry .*")).hasSize(2);
    assertThat(lines).filteredOn(l -> l.matches("\\[\\d/2] zero .*")).hasSize(2);
    assertThat(lines).anyMatch(l -> l.matches("zero-vm-rate: \\d+\\.\\d\\d GB/s"));
    assertThat(lines).anyMatch(l -> l.matches("throughput-ratio: \\d+\\.\\d\\d"));
    assertThat(lines).filteredOn(l -> l.matches("\\[cold 1/1] raw .*fresh JVM.*")).hasSize(1);
    assertThat(lines).filteredOn(l -> l.matches("\\[cold 1/1] ferry .*fresh JVM.*")).hasSize(1);
    assertThat(lines.get(lines.size() - 1)).matches("throughput-ratio-cold: \\d+\\.\\d\\d");
  }

  @Test
  void run_withTlsAndNoColdRuns_printsTheTlsRowsAndRatiosAndEndsWithTheThroughputRatio() throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    int status = Throughput.run(new String[] {"--size", "16MiB", "--repeat", "1", "--tls", "--cold", "0"},
        new PrintStream(bytes, true, StandardCharsets.UTF_8));

    List<String> lines = bytes.toString(StandardCharsets.UTF_8).lines().toList();
    assertThat(status).isZero();
    assertThat(lines).filteredOn(l -> l.matches("\\[1/1] tls +16 MiB .*")).hasSize(1);
    assertThat(lines).filteredOn(l -> l.matches("\\[1/1] plain2 16 MiB .*")).hasSize(1);
    assertThat(lines).filteredOn(l -> l.matches("\\[1/1] tls2 +16 MiB .*")).hasSize(1);
    assertThat(lines).anyMatch(l -> l.matches("tls-ratio-1-stream: \\d+\\.\\d\\d"));
    assertThat(lines).anyMatch(l -> l.matches("tls-ratio-2-streams: \\d+\\.\\d\\d"));
    assertThat(lines.get(lines.size() - 1)).matches("throughput-ratio: \\d+\\.\\d\\d");
  }

  @Test
  void run_unknownOption_failsWithUsage() throws Exception {
    assertThat(Throughput.run(new String[] {"--bogus"}, new PrintStream(new ByteArrayOutputStream()))).isEqualTo(2);
  }

  @Test
  void median_evenAndOddCounts_middleValue() {
    assertThat(Throughput.median(new double[] {3, 1, 2})).isEqualTo(2);
    assertThat(Throughput.median(new double[] {4, 1, 3, 2})).isEqualTo(2.5);
  }

  @Test
  void engineSocketBuffer_readsTheLinkConstant() {
    assertThat(Throughput.engineSocketBuffer()).isPositive();
  }
}
