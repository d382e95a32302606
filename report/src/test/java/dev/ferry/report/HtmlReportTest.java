package dev.ferry.report;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.MigrationEvent;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationResult.Outcome;
import dev.ferry.junit.SimHosts;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.DataSize;
import java.time.Duration;
import java.util.concurrent.CopyOnWriteArrayList;
import java.io.StringReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.xml.sax.InputSource;

/**
 * Each shape of migration a report must draw, from real sim migrations over loopback (and a
 * hypervisor-shaped result with the downtime unknown): every chart is well-formed SVG and draws
 * what the log holds.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class HtmlReportTest {
  private static final List<String> CHARTS = List.of("timeline", "pages", "remaining", "rates", "throttle",
      "downtime", "breakdown", "post-copy");

  private static int count(String text, String what) {
    Matcher m = Pattern.compile(Pattern.quote(what)).matcher(text);
    int n = 0;
    while (m.find()) {
      n++;
    }
    return n;
  }

  /** Checks what every report has, and returns its charts. */
  private static Map<String, String> checkCommon(HtmlReport report, EventLog log) throws Exception {
    String html = report.html();
    Map<String, String> charts = report.charts();
    assertThat(charts.keySet()).containsExactlyElementsOf(CHARTS);
    for (Map.Entry<String, String> c : charts.entrySet()) {
      // well-formed XML, so also a valid standalone .svg file
      DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(new InputSource(new StringReader(c.getValue())));
      assertThat(html).contains(c.getValue());
      assertThat(c.getValue()).contains("id=\"chart-" + c.getKey() + "\"");
    }
    assertThat(html).as("no fetch of anything").doesNotContain("src=", "href=", "<link", "@import", "url(", "https://");
    assertThat(count(html, "http://")).as("the only URL is the SVG namespace").isEqualTo(count(html, "xmlns=\"http://www.w3.org/2000/svg\""));
    int decisions = log.decisions().size();
    for (String timeChart : List.of("timeline", "pages", "remaining", "rates", "throttle", "downtime", "post-copy")) {
      assertThat(count(charts.get(timeChart), "class=\"marker\"")).as("decision markers in %s", timeChart)
          .isEqualTo(decisions);
    }
    return charts;
  }

  @Test
  void html_manyRounds_drawsEachRoundAndTheBreakdown() throws Exception {
    SimRuns.Run run = SimRuns.manyRounds();
    MigrationResult r = run.result();
    assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(Outcome.COMPLETED);
    EventLog log = EventLog.of(run.events());
    Map<String, String> charts = checkCommon(HtmlReport.of(log), log);
    long zeroRounds = r.rounds().stream().filter(s -> s.zeroPages() > 0).count();
    assertThat(count(charts.get("pages"), "class=\"bar\"")).isEqualTo(r.roundCount() + (int) zeroRounds);
    assertThat(count(charts.get("remaining"), "class=\"point\"")).isEqualTo(r.roundCount());
    assertThat(count(charts.get("downtime"), "class=\"point\"")).as("expected per round, and the measured one")
        .isEqualTo(r.roundCount() + 1);
    assertThat(count(charts.get("breakdown"), "class=\"bar\"")).isEqualTo(7);
    assertThat(charts.get("post-copy")).contains("no post-copy in this migration");
    String html = HtmlReport.of(log).html();
    assertThat(html).contains("COMPLETED").contains(Html.millis(EventJson.millis(r.downtime().orElseThrow())));
    assertThat(count(html, "<tr><td>D")).isEqualTo(log.decisions().size());
  }

  @Test
  void html_oneRound_drawsTheSingleStopAndCopyRound() throws Exception {
    SimRuns.Run run = SimRuns.oneRound();
    assertThat(run.result().outcome()).as("cause %s", run.result().cause()).isEqualTo(Outcome.COMPLETED);
    assertThat(run.result().roundCount()).isEqualTo(1);
    EventLog log = EventLog.of(run.events());
    Map<String, String> charts = checkCommon(HtmlReport.of(log), log);
    assertThat(count(charts.get("pages"), "class=\"bar\"")).isBetween(1, 2);
    assertThat(charts.get("pages")).contains("round 0:");
  }

  @Test
  void html_postCopy_drawsPagesMissingOverTime() throws Exception {
    SimRuns.Run run = SimRuns.postCopy();
    assertThat(run.result().outcome()).as("cause %s", run.result().cause()).isEqualTo(Outcome.COMPLETED);
    EventLog log = EventLog.of(run.events());
    Map<String, String> charts = checkCommon(HtmlReport.of(log), log);
    assertThat(count(charts.get("post-copy"), "class=\"point\"")).isGreaterThanOrEqualTo(log.postCopy().size());
    assertThat(charts.get("post-copy")).contains("pages missing").doesNotContain("no post-copy");
    assertThat(charts.get("timeline")).contains("POST_COPY from");
    assertThat(HtmlReport.of(log).html()).contains("faults " + Html.count(run.result().postCopy().get().faults()));
  }

  @Test
  void html_failedAndRolledBack_showTheOutcomeAndCause() throws Exception {
    for (SimRuns.Run run : List.of(SimRuns.failed(), SimRuns.rolledBack())) {
      EventLog log = EventLog.of(run.events());
      Map<String, String> charts = checkCommon(HtmlReport.of(log), log);
      String html = HtmlReport.of(log).html();
      assertThat(html).contains(run.result().outcome().name()).contains("class=\"outcome bad\"")
          .contains(Html.escape(run.result().cause().orElseThrow().getMessage()));
      if (run.result().roundCount() == 0) {
        assertThat(charts.get("pages")).contains("no round completed");
      }
      assertThat(charts.get("breakdown")).contains("the guest was never paused");
    }
  }

  @Test
  void html_unknownDowntime_saysSoWithTheReason() throws Exception {
    MigrationResult r = SimRuns.unknownDowntime();
    EventLog log = EventLog.read(new StringReader(EventJson.result(r) + "\n"));
    Map<String, String> charts = checkCommon(HtmlReport.of(log), log);
    String reason = r.downtimeUnknown().orElseThrow();
    assertThat(charts.get("downtime")).contains("downtime unknown: " + reason);
    assertThat(charts.get("breakdown")).contains("downtime unknown: " + reason);
    String html = HtmlReport.of(log).html();
    assertThat(html).contains("unknown (" + reason + ")").contains("faults not measured")
        .contains(Html.escape("a lower bound: " + r.bytesNotFinal().orElseThrow()));
    assertThat(count(charts.get("pages"), "class=\"bar\"")).as("round 0 from the result's history, and its zero pages")
        .isEqualTo(2);
  }

  @Test
  void html_logCutShort_saysTheResultIsMissing() throws Exception {
    SimRuns.Run run = SimRuns.manyRounds();
    List<MigrationEvent> cut = run.events().subList(0, run.events().size() - 3);
    EventLog log = EventLog.of(cut);
    checkCommon(HtmlReport.of(log), log);
    assertThat(HtmlReport.of(log).html()).contains(Html.escape("the log ends before the migration's Finished event"));
  }

  @Test
  void recorder_asTheListenerOfARealMigration_givesTheLogOfItsEvents() throws Exception {
    try (SimHosts hosts = SimHosts.create("recorder")) {
      hosts.source().createVm(SimVmSpec.builder("rec").memory(DataSize.mib(8)).vcpus(1)
          .workload(Workload.uniform(2000)).build());
      MigrationRecorder recorder = new MigrationRecorder();
      List<MigrationEvent> events = new CopyOnWriteArrayList<>();
      MigrationResult r = hosts.migrate("rec", MigrationOptions.builder().deadline(Duration.ofSeconds(30))
          .listener(recorder).listener(events::add).build()).completion().get(60, TimeUnit.SECONDS);
      assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(Outcome.COMPLETED);
      assertThat(recorder.events()).isEqualTo(events);
      EventLog log = recorder.log();
      assertThat(log.entries()).isEqualTo(EventLog.of(events).entries());
      assertThat(log.result().orElseThrow().bytesOnWire()).isEqualTo(r.bytesOnWire());
      assertThat(HtmlReport.of(log).html()).contains("COMPLETED");
      assertThat(hosts.verify()).isEmpty();
    }
  }

  @Test
  void writeCharts_writesEachChartAsAStandaloneSvgFile(@TempDir Path dir) throws Exception {
    SimRuns.Run run = SimRuns.manyRounds();
    HtmlReport report = HtmlReport.of(EventLog.of(run.events()));
    List<Path> files = report.writeCharts(dir.resolve("charts"));
    assertThat(files).extracting(f -> f.getFileName().toString())
        .containsExactlyElementsOf(CHARTS.stream().map(c -> c + ".svg").toList());
    for (Path f : files) {
      assertThat(DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(f.toFile()).getDocumentElement()
          .getTagName()).isEqualTo("svg");
    }
    Path page = dir.resolve("report.html");
    report.write(page);
    assertThat(Files.readString(page)).isEqualTo(report.html());
  }
}
