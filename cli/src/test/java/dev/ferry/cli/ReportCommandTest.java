package dev.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.report.EventLog;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code ferry migrate --events --report} and {@code ferry report}: the files a migration leaves, and the page made from them. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ReportCommandTest {

  @Test
  void migrateWithEventsAndReport_thenReport_writeTheEventLogAndTwoHtmlPagesOfIt(@TempDir Path dir) throws Exception {
    Path events = dir.resolve("events.jsonl");
    Path direct = dir.resolve("migrate.html");
    Path rendered = dir.resolve("report.html");

    int migrated = FerryCommand.execute("migrate", "sim://cli-report-a", "web-1", "sim://cli-report-b", "--sim-vm",
        "32MiB:uniform=2000", "--json", "--max-downtime", ReceiveCommandTest.DOWNTIME, "--events", events.toString(),
        "--report", direct.toString());
    int reported = FerryCommand.execute("report", events.toString(), "-o", rendered.toString(), "--charts",
        dir.resolve("charts").toString());

    assertThat(migrated).isZero();
    assertThat(reported).isZero();
    EventLog log = EventLog.read(events);
    assertThat(log.result()).hasValueSatisfying(r -> assertThat(r.outcome()).isEqualTo("COMPLETED"));
    assertThat(log.rounds()).isNotEmpty();
    for (Path page : new Path[] {direct, rendered}) {
      String html = Files.readString(page, StandardCharsets.UTF_8);
      assertThat(html).as("%s", page).startsWith("<!DOCTYPE html>").contains("COMPLETED").contains("<svg");
    }
    assertThat(Files.readString(direct, StandardCharsets.UTF_8)).contains("Migration of web-1: COMPLETED");
    try (var charts = Files.list(dir.resolve("charts"))) {
      assertThat(charts.filter(p -> p.toString().endsWith(".svg")).count()).isPositive();
    }
  }

  @Test
  void report_missingOutput_isAUsageError(@TempDir Path dir) {
    assertThat(FerryCommand.execute("report", dir.resolve("events.jsonl").toString())).isEqualTo(ExitCodes.USAGE);
  }
}
