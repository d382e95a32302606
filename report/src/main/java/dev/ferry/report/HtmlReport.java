package dev.ferry.report;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A report of one migration: a self-contained HTML page (inline CSS and SVG, no fetch of anything,
 * works opened from disk) drawn from an {@link EventLog}, read from a file or recorded in process
 * by a {@link MigrationRecorder}.
 *
 * <pre>{@code
 * MigrationRecorder recorder = new MigrationRecorder();
 * MigrationResult r = host.migrate(vm, target, MigrationOptions.builder().listener(recorder).build())
 *     .completion().join();
 * HtmlReport.of(recorder.log()).write(Path.of("migration.html"));
 * }</pre>
 *
 * <p>The page: a header with the outcome, totals and the limits the migration ran under; charts on
 * the migration's time axis (phases and the policy's decisions, pages sent per round, memory
 * remaining, dirty rate against bandwidth, vCPU throttle, expected downtime against the limit,
 * post-copy pages over time) with the decisions marked on each; the downtime's breakdown; tables
 * of decisions and rounds. Each chart is also available as standalone SVG ({@link #charts()},
 * {@link #writeCharts(Path)}), for embedding elsewhere.
 *
 * <p>The charts are SVG written directly: small, crisp at any zoom, readable in any browser and
 * in files, and no charting dependency.
 *
 * <p>Immutable and thread-safe.
 */
public final class HtmlReport {
  private static final String BLUE = "#2f6db5";
  private static final String ORANGE = "#e07b1a";
  private static final String GREEN = "#2e9a4d";
  private static final String RED = "#c8322b";
  private static final String GREY = "#9a9a9a";
  private static final String PURPLE = "#7a4cb0";
  private static final String[] PARTS_COLORS = {"#2f6db5", "#5b9bd5", "#e07b1a", "#f2b134", "#2e9a4d", "#8fd19e",
      "#7a4cb0", "#c8322b"};
  private static final Map<String, String> PHASE_COLORS = Map.of("SETUP", "#d9d9d9", "PRE_COPY", "#9ec5ea",
      "STOP_AND_COPY", "#f4b183", "POST_COPY", "#b4d9a2", "ENDED", "#eeeeee");

  private final EventLog log;
  private final String title;
  private final List<Span> rounds;
  private final double end;

  /** One round placed on the time axis: from {@code start} to {@code end}, in ms. */
  private record Span(double start, double end, EventLog.Round round, Optional<EventLog.ProgressAt> progress) {}

  private HtmlReport(EventLog log, String title) {
    this.log = log;
    this.title = title;
    this.rounds = spans(log);
    double e = 0;
    for (EventLog.Entry x : log.entries()) {
      e = Math.max(e, x.elapsedMs());
    }
    for (Span s : rounds) {
      e = Math.max(e, s.end());
    }
    if (log.result().isPresent()) {
      e = Math.max(e, log.result().get().totalTimeMs());
    }
    this.end = e;
  }

  /** A report of the migration in {@code log}. */
  public static HtmlReport of(EventLog log) {
    Objects.requireNonNull(log, "log");
    return new HtmlReport(log, defaultTitle(log));
  }

  /** The same report under another title (the page's heading). */
  public HtmlReport withTitle(String title) {
    return new HtmlReport(log, Objects.requireNonNull(title, "title"));
  }

  private static String defaultTitle(EventLog log) {
    return log.result().map(r -> "Migration of " + r.vmId() + ": " + r.outcome())
        .orElse("Migration (the log ends before its result)");
  }

  /**
   * The rounds on the time axis. The result's history is complete (a switch to post-copy ends with
   * a round that has no RoundCompleted event), so it is the list when the log has a result; each of
   * its rounds takes its time and progress from the RoundCompleted event of the same number, and a
   * round without one follows the one before it. Without a result, the RoundCompleted events.
   */
  private static List<Span> spans(EventLog log) {
    List<Span> events = new ArrayList<>();
    for (EventLog.RoundCompleted rc : log.rounds()) {
      events.add(new Span(Math.max(0, rc.elapsedMs() - rc.round().durationMs()), rc.elapsedMs(), rc.round(),
          Optional.of(rc.progress())));
    }
    if (log.result().isEmpty()) {
      return events;
    }
    List<Span> out = new ArrayList<>();
    double t = 0;
    for (EventLog.Round r : log.result().get().rounds()) {
      Optional<Span> seen = events.stream().filter(s -> s.round().round() == r.round()
          && s.round().stopAndCopy() == r.stopAndCopy()).findFirst();
      Span s = seen.orElse(new Span(t, t + r.durationMs(), r, Optional.empty()));
      out.add(s);
      t = s.end();
    }
    return out;
  }

  // ---------------------------------------------------------------- output

  /** The page. */
  public String html() {
    StringBuilder h = new StringBuilder(64 * 1024);
    h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
        .append("<meta name=\"generator\" content=\"ferry-report, event schema ").append(EventJson.SCHEMA_VERSION)
        .append("\"><title>").append(Html.escape(title)).append("</title>")
        // Records script errors in the page itself, so that a browser test can see them in the DOM.
        .append("<script>window.addEventListener('error',function(e){var d=document.documentElement;")
        .append("d.setAttribute('data-errors',(d.getAttribute('data-errors')||'')+e.message+';');});")
        .append("document.addEventListener('DOMContentLoaded',function(){document.documentElement.setAttribute(")
        .append("'data-charts',String(document.querySelectorAll('svg.chart').length));});</script>")
        .append("<style>").append(CSS).append("</style></head><body>\n");
    header(h);
    Map<String, String> charts = charts();
    h.append("<section class=\"charts\">\n");
    for (Map.Entry<String, String> c : charts.entrySet()) {
      h.append("<figure id=\"figure-").append(c.getKey()).append("\">").append(c.getValue())
          .append("<figcaption>").append(Html.escape(caption(c.getKey()))).append("</figcaption></figure>\n");
    }
    h.append("</section>\n");
    decisionsTable(h);
    roundsTable(h);
    h.append("<footer>Written by ferry-report from ").append(log.entries().size())
        .append(" events (event schema ").append(EventJson.SCHEMA_VERSION).append(").</footer>\n</body></html>\n");
    return h.toString();
  }

  /** Writes the page to {@code file} (UTF-8), replacing it. */
  public void write(Path file) throws IOException {
    Files.writeString(file, html(), StandardCharsets.UTF_8);
  }

  /**
   * Each chart as a standalone SVG document, by name, in the page's order: {@code timeline},
   * {@code pages}, {@code remaining}, {@code rates}, {@code throttle}, {@code downtime},
   * {@code breakdown}, {@code post-copy}. A chart with nothing to draw says so in its plot.
   */
  public Map<String, String> charts() {
    Map<String, String> c = new LinkedHashMap<>();
    c.put("timeline", timeline());
    c.put("pages", pages());
    c.put("remaining", remaining());
    c.put("rates", rates());
    c.put("throttle", throttle());
    c.put("downtime", downtime());
    c.put("breakdown", breakdown());
    c.put("post-copy", postCopy());
    return c;
  }

  /** Writes each chart to {@code dir} as {@code <name>.svg} (creating the directory); returns the files. */
  public List<Path> writeCharts(Path dir) throws IOException {
    Files.createDirectories(dir);
    List<Path> files = new ArrayList<>();
    for (Map.Entry<String, String> c : charts().entrySet()) {
      Path f = dir.resolve(c.getKey() + ".svg");
      Files.writeString(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + c.getValue() + "\n",
          StandardCharsets.UTF_8);
      files.add(f);
    }
    return files;
  }

  // ---------------------------------------------------------------- header and tables

  private void header(StringBuilder h) {
    h.append("<header><h1>").append(Html.escape(title)).append("</h1>\n");
    Optional<EventLog.Result> result = log.result();
    h.append("<table class=\"summary\">");
    if (result.isEmpty()) {
      row(h, "outcome", "unknown: the log ends before the migration's Finished event");
    } else {
      EventLog.Result r = result.get();
      h.append("<tr><th>outcome</th><td class=\"outcome ").append(r.completed() ? "ok" : "bad").append("\">")
          .append(Html.escape(r.outcome())).append("</td></tr>");
      r.cause().ifPresent(c -> row(h, "cause", c));
      row(h, "total time", Html.millis(r.totalTimeMs()));
      row(h, "downtime", r.downtimeMs().isPresent() ? Html.millis(r.downtimeMs().getAsDouble())
          : "unknown (" + r.downtimeUnknown().orElse("no reason given") + ")");
      row(h, "bytes on the wire", Html.bytes(r.bytesOnWire()) + " (" + Html.count(r.bytesOnWire()) + " B)"
          + r.bytesNotFinal().map(w -> "; a lower bound: " + w).orElse(""));
      row(h, "pages sent", Html.count(r.pagesSent()));
      row(h, "rounds", Integer.toString(r.rounds().size()));
      row(h, "verified", r.verified() ? "yes: source and destination memory compared equal" : "no");
      row(h, "guest slowdown by throttling", Html.millis(r.guestSlowdownMs()));
      r.postCopy().ifPresent(pc -> row(h, "post-copy", postCopyText(pc)));
    }
    for (EventLog.VerificationFailed v : log.verificationFailures()) {
      row(h, "verification failed", v.pages() + " pages differ: " + v.reason());
    }
    Optional<EventLog.ProgressAt> first = rounds.stream().flatMap(s -> s.progress().stream()).findFirst();
    if (first.isPresent()) {
      EventLog.ProgressAt p = first.get();
      row(h, "guest memory", Html.bytes(p.totalBytes()));
      row(h, "downtime limit", Html.millis(p.downtimeLimitMs()) + " at first, at most "
          + Html.millis(p.maxDowntimeMs()));
      row(h, "deadline", p.deadlineMs().isPresent() ? Html.millis(p.deadlineMs().getAsDouble()) : "none");
      row(h, "bandwidth limit", p.bandwidthLimitBytesPerSecond().isPresent()
          ? Html.rate(p.bandwidthLimitBytesPerSecond().getAsLong()) : "none");
    }
    h.append("</table></header>\n");
  }

  private static String postCopyText(EventLog.PostCopy pc) {
    StringBuilder s = new StringBuilder(Html.millis(pc.durationMs()));
    s.append("; faults ").append(opt(pc.faults()));
    s.append(", blocked ").append(pc.blockedTotalMs().isPresent() ? Html.millis(pc.blockedTotalMs().getAsDouble())
        : "not measured");
    s.append(" (p99 ").append(pc.blockedP99Ms().isPresent() ? Html.millis(pc.blockedP99Ms().getAsDouble())
        : "not measured").append(')');
    s.append("; pages requested ").append(opt(pc.pagesRequested())).append(", prepaged ")
        .append(opt(pc.pagesPrepaged())).append(", pushed ").append(opt(pc.pagesPushed()));
    s.append("; recoveries ").append(opt(pc.recoveries()));
    pc.notMeasured().ifPresent(w -> s.append("; not measured: ").append(w));
    return s.toString();
  }

  private static String opt(OptionalLong v) {
    return v.isPresent() ? Html.count(v.getAsLong()) : "not measured";
  }

  private static void row(StringBuilder h, String name, String value) {
    h.append("<tr><th>").append(Html.escape(name)).append("</th><td>").append(Html.escape(value))
        .append("</td></tr>");
  }

  private void decisionsTable(StringBuilder h) {
    List<EventLog.Decision> ds = log.decisions();
    h.append("<section><h2>Decisions</h2>");
    if (ds.isEmpty()) {
      h.append("<p>No decision was taken: the migration ran on its defaults.</p>");
    } else {
      h.append("<table class=\"decisions\"><tr><th>#</th><th>at</th><th>actions</th><th>reason</th></tr>");
      int n = 1;
      for (EventLog.Decision d : ds) {
        h.append("<tr><td>D").append(n++).append("</td><td>").append(Html.millis(d.elapsedMs())).append("</td><td>")
            .append(Html.escape(d.actions().isEmpty() ? "(none)" : String.join(", ", d.actions())))
            .append("</td><td>").append(Html.escape(d.reason())).append("</td></tr>");
      }
      h.append("</table>");
    }
    h.append("</section>\n");
  }

  private void roundsTable(StringBuilder h) {
    h.append("<section><h2>Rounds</h2><table class=\"rounds\"><tr><th>round</th><th>ended at</th><th>took</th>")
        .append("<th>pages sent</th><th>zero pages</th><th>on the wire</th><th>bandwidth</th><th>pages dirtied</th>")
        .append("<th>dirty rate</th><th>expected downtime</th><th>throttle</th></tr>");
    for (Span s : rounds) {
      EventLog.Round r = s.round();
      h.append("<tr><td>").append(r.round()).append(r.stopAndCopy() ? " (stop-and-copy)" : "").append("</td><td>")
          .append(Html.millis(s.end())).append("</td><td>").append(Html.millis(r.durationMs())).append("</td><td>")
          .append(Html.count(r.pagesSent())).append("</td><td>").append(Html.count(r.zeroPages())).append("</td><td>")
          .append(Html.bytes(r.bytesOnWire())).append("</td><td>")
          .append(r.bandwidthBytesPerSecond().isPresent() ? Html.rate(r.bandwidthBytesPerSecond().getAsLong())
              : "too short to measure")
          .append("</td><td>").append(Html.count(r.pagesDirtied())).append("</td><td>")
          .append(Html.count(r.dirtyRatePagesPerSecond())).append(" pages/s</td><td>")
          .append(Html.millis(r.expectedDowntimeMs())).append("</td><td>").append(r.throttlePercent())
          .append(" %</td></tr>");
    }
    h.append("</table>");
    if (rounds.isEmpty()) {
      h.append("<p>No round completed.</p>");
    }
    h.append("</section>\n");
  }

  private static String caption(String chart) {
    return switch (chart) {
      case "timeline" -> "Phases on the time axis; D1, D2... are the policy's decisions (table below).";
      case "pages" -> "Pages sent in each round, drawn over the round's time span; grey: zero pages.";
      case "remaining" -> "Memory known dirty and not yet sent, at the end of each round.";
      case "rates" -> "The guest's dirty rate against the bandwidth achieved, per round: pre-copy converges "
          + "when the bandwidth stays clearly above the dirty rate.";
      case "throttle" -> "How much the vCPUs were slowed down in each round.";
      case "downtime" -> "The downtime predicted at the end of each round, against the limit in force; "
          + "the red dot is the downtime measured.";
      case "breakdown" -> "Where the downtime went, part by part, as the source measured it.";
      case "post-copy" -> "During post-copy: pages still missing on the destination, and pages sent on request "
          + "and by the background push so far.";
      default -> chart;
    };
  }

  // ---------------------------------------------------------------- charts

  private static String timeAxis(double ms) {
    return Html.millis(ms);
  }

  private SvgChart timeChart(String id, String chartTitle, double yMax, java.util.function.DoubleFunction<String> y) {
    return new SvgChart(id, chartTitle, end, yMax, HtmlReport::timeAxis, y);
  }

  /** The policy's decisions as numbered markers. */
  private SvgChart decisions(SvgChart c) {
    int n = 1;
    for (EventLog.Decision d : log.decisions()) {
      c.marker(d.elapsedMs(), "D" + n++, (d.actions().isEmpty() ? "" : String.join(", ", d.actions()) + ": ")
          + d.reason(), PURPLE);
    }
    return c;
  }

  private String timeline() {
    SvgChart c = timeChart("chart-timeline", "Phases and decisions", 1, v -> "").withoutYTicks();
    List<EventLog.PhaseChanged> phases = log.phases();
    for (int i = 0; i < phases.size(); i++) {
      EventLog.PhaseChanged p = phases.get(i);
      double to = i + 1 < phases.size() ? phases.get(i + 1).elapsedMs() : end;
      c.bar(p.elapsedMs(), Math.max(to, p.elapsedMs()), 0.6, PHASE_COLORS.getOrDefault(p.to(), GREY),
          p.to() + " from " + Html.millis(p.elapsedMs()));
    }
    for (Span s : rounds) {
      c.bar(s.start(), s.end(), 0.25, s.round().stopAndCopy() ? ORANGE : BLUE, "round " + s.round().round()
          + ": " + Html.millis(s.start()) + " to " + Html.millis(s.end()));
    }
    for (String phase : List.of("PRE_COPY", "STOP_AND_COPY", "POST_COPY")) {
      if (phases.stream().anyMatch(p -> p.to().equals(phase))) {
        c.series(phase, PHASE_COLORS.get(phase));
      }
    }
    c.series("round", BLUE);
    if (phases.isEmpty() && rounds.isEmpty()) {
      c.note("no phase change and no round in this log");
    }
    return decisions(c).svg();
  }

  private String pages() {
    double max = rounds.stream().mapToDouble(s -> s.round().pagesSent()).max().orElse(0);
    // at least 5 pages high, so that the ticks are whole pages
    SvgChart c = timeChart("chart-pages", "Pages sent per round", Math.max(max, 5), Html::count);
    for (Span s : rounds) {
      EventLog.Round r = s.round();
      c.bar(s.start(), s.end(), r.pagesSent(), r.stopAndCopy() ? ORANGE : BLUE, "round " + r.round() + ": "
          + Html.count(r.pagesSent()) + " pages sent, " + Html.count(r.zeroPages()) + " of them zero pages");
      if (r.zeroPages() > 0) {
        c.bar(s.start(), s.end(), r.zeroPages(), GREY, "round " + r.round() + ": " + Html.count(r.zeroPages())
            + " zero pages");
      }
    }
    c.series("pre-copy round", BLUE).series("stop-and-copy round", ORANGE).series("zero pages", GREY);
    if (rounds.isEmpty()) {
      c.note("no round completed");
    }
    return decisions(c).svg();
  }

  private List<Span> withProgress() {
    return rounds.stream().filter(s -> s.progress().isPresent()).toList();
  }

  private String remaining() {
    List<Span> ps = withProgress();
    double max = ps.stream().mapToDouble(s -> s.progress().get().remainingBytes()).max().orElse(0);
    SvgChart c = timeChart("chart-remaining", "Memory remaining", max, Html::bytes);
    double[] xs = new double[ps.size()];
    double[] ys = new double[ps.size()];
    String[] tips = new String[ps.size()];
    for (int i = 0; i < ps.size(); i++) {
      xs[i] = ps.get(i).end();
      ys[i] = ps.get(i).progress().get().remainingBytes();
      tips[i] = "after round " + ps.get(i).round().round() + ": " + Html.bytes(ys[i]) + " remaining";
    }
    c.line(xs, ys, tips, BLUE, false).series("remaining", BLUE);
    if (ps.isEmpty()) {
      c.note(rounds.isEmpty() ? "no round completed" : "the log has no progress snapshots");
    }
    return decisions(c).svg();
  }

  private String rates() {
    List<Span> ps = withProgress();
    double max = 0;
    for (Span s : rounds) {
      max = Math.max(max, s.round().bandwidthBytesPerSecond().orElse(0));
    }
    for (Span s : ps) {
      max = Math.max(max, s.progress().get().dirtyRateBytesPerSecond());
    }
    SvgChart c = timeChart("chart-rates", "Dirty rate and bandwidth", max, Html::rate);
    List<Span> measured = rounds.stream().filter(s -> s.round().bandwidthBytesPerSecond().isPresent()).toList();
    c.steps(measured.stream().mapToDouble(Span::start).toArray(), measured.stream().mapToDouble(Span::end).toArray(),
        measured.stream().mapToDouble(s -> s.round().bandwidthBytesPerSecond().getAsLong()).toArray(),
        measured.stream().map(s -> "round " + s.round().round() + ": bandwidth "
            + Html.rate(s.round().bandwidthBytesPerSecond().getAsLong())).toArray(String[]::new), GREEN, false);
    // The round's own dirty rate is in pages/s; in bytes it needs the page size, which the progress has.
    c.steps(ps.stream().mapToDouble(Span::start).toArray(), ps.stream().mapToDouble(Span::end).toArray(),
        ps.stream().mapToDouble(s -> (double) s.round().dirtyRatePagesPerSecond() * s.progress().get().pageSize())
            .toArray(),
        ps.stream().map(s -> "round " + s.round().round() + ": dirty rate "
            + Html.rate((double) s.round().dirtyRatePagesPerSecond() * s.progress().get().pageSize()) + " ("
            + Html.count(s.round().dirtyRatePagesPerSecond()) + " pages/s)").toArray(String[]::new), RED, false);
    c.series("bandwidth", GREEN).series(ps.isEmpty() ? "dirty rate (no page size in this log)" : "dirty rate", RED);
    if (rounds.isEmpty()) {
      c.note("no round completed");
    }
    return decisions(c).svg();
  }

  private String throttle() {
    SvgChart c = timeChart("chart-throttle", "vCPU throttle", 100, v -> String.format(Locale.ROOT, "%.0f %%", v));
    c.steps(rounds.stream().mapToDouble(Span::start).toArray(), rounds.stream().mapToDouble(Span::end).toArray(),
        rounds.stream().mapToDouble(s -> s.round().throttlePercent()).toArray(),
        rounds.stream().map(s -> "round " + s.round().round() + ": throttle " + s.round().throttlePercent() + " %")
            .toArray(String[]::new), ORANGE, false);
    c.series("throttle", ORANGE);
    if (rounds.isEmpty()) {
      c.note("no round completed");
    }
    return decisions(c).svg();
  }

  private String downtime() {
    List<Span> ps = withProgress();
    Optional<EventLog.Result> result = log.result();
    double measured = result.flatMap(r -> r.downtimeMs().isPresent()
        ? Optional.of(r.downtimeMs().getAsDouble()) : Optional.empty()).orElse(-1.0);
    double max = Math.max(measured, 0);
    for (Span s : rounds) {
      max = Math.max(max, s.round().expectedDowntimeMs());
    }
    for (Span s : ps) {
      max = Math.max(max, s.progress().get().downtimeLimitMs());
    }
    SvgChart c = timeChart("chart-downtime", "Expected downtime against the limit", max, Html::millis);
    c.steps(ps.stream().mapToDouble(Span::start).toArray(), ps.stream().mapToDouble(Span::end).toArray(),
        ps.stream().mapToDouble(s -> s.progress().get().downtimeLimitMs()).toArray(),
        ps.stream().map(s -> "round " + s.round().round() + ": limit "
            + Html.millis(s.progress().get().downtimeLimitMs())).toArray(String[]::new), GREY, true);
    c.line(rounds.stream().mapToDouble(Span::end).toArray(),
        rounds.stream().mapToDouble(s -> s.round().expectedDowntimeMs()).toArray(),
        rounds.stream().map(s -> "round " + s.round().round() + ": expected downtime "
            + Html.millis(s.round().expectedDowntimeMs())).toArray(String[]::new), BLUE, false);
    c.series("expected downtime", BLUE).series("limit", GREY);
    if (measured >= 0 && result.get().downtimeMs().getAsDouble() > 0) {
      double at = rounds.isEmpty() ? end : rounds.get(rounds.size() - 1).end();
      c.line(new double[] {at}, new double[] {measured}, new String[] {"measured downtime " + Html.millis(measured)},
          RED, false).series("measured downtime", RED);
    } else if (result.isPresent() && result.get().downtimeMs().isEmpty()) {
      c.note("downtime unknown: " + result.get().downtimeUnknown().orElse("no reason given"));
    }
    if (rounds.isEmpty() && result.isPresent() && result.get().downtimeMs().isPresent()) {
      c.note("no round completed");
    }
    return decisions(c).svg();
  }

  private String breakdown() {
    Optional<EventLog.Breakdown> b = log.result().flatMap(EventLog.Result::downtimeBreakdown);
    double total = b.map(EventLog.Breakdown::totalMs).orElse(0.0);
    SvgChart c = new SvgChart("chart-breakdown", "Downtime breakdown", total, 1, Html::millis, v -> "")
        .withoutYTicks().withLegendAtTop();
    if (b.isPresent()) {
      EventLog.Breakdown d = b.get();
      String[] names = {"pause", "final sync", "final pages", "device state", "confirmation", "commit", "activation"};
      double[] parts = {d.pauseMs(), d.finalSyncMs(), d.finalPagesMs(), d.deviceStateMs(), d.confirmationMs(),
          d.commitMs(), d.activationMs()};
      double x = 0;
      for (int i = 0; i < parts.length; i++) {
        String tip = names[i] + ": " + Html.millis(parts[i]) + (i == 4 && d.verificationMs() > 0
            ? " (of which verification " + Html.millis(d.verificationMs()) + ")" : "");
        c.bar(x, x + parts[i], 0.55, PARTS_COLORS[i], tip);
        c.series(names[i] + " " + Html.millis(parts[i]), PARTS_COLORS[i]);
        x += parts[i];
      }
    } else {
      Optional<EventLog.Result> r = log.result();
      c.note(r.isEmpty() ? "the log ends before the result"
          : r.get().downtimeMs().isEmpty() ? "downtime unknown: " + r.get().downtimeUnknown().orElse("")
          : r.get().downtimeMs().getAsDouble() == 0 ? "the guest was never paused"
          : "the backend did not measure the downtime's parts");
    }
    return c.svg();
  }

  private String postCopy() {
    List<EventLog.PostCopyProgress> pcs = log.postCopy();
    double max = 0;
    for (EventLog.PostCopyProgress p : pcs) {
      max = Math.max(max, p.pagesMissing());
      max = Math.max(max, p.postCopy().pagesRequested().orElse(0));
      max = Math.max(max, p.postCopy().pagesPushed().orElse(0));
    }
    SvgChart c = timeChart("chart-post-copy", "Post-copy", Math.max(max, 5), Html::count);
    double[] xs = pcs.stream().mapToDouble(EventLog.PostCopyProgress::elapsedMs).toArray();
    c.line(xs, pcs.stream().mapToDouble(EventLog.PostCopyProgress::pagesMissing).toArray(),
        pcs.stream().map(p -> Html.millis(p.elapsedMs()) + ": " + Html.count(p.pagesMissing()) + " pages missing")
            .toArray(String[]::new), RED, false).series("pages missing", RED);
    List<EventLog.PostCopyProgress> requested = pcs.stream().filter(p -> p.postCopy().pagesRequested().isPresent())
        .toList();
    c.line(requested.stream().mapToDouble(EventLog.PostCopyProgress::elapsedMs).toArray(),
        requested.stream().mapToDouble(p -> p.postCopy().pagesRequested().getAsLong()).toArray(),
        requested.stream().map(p -> Html.millis(p.elapsedMs()) + ": " + Html.count(p.postCopy().pagesRequested()
            .getAsLong()) + " pages sent on request").toArray(String[]::new), BLUE, false)
        .series("requested", BLUE);
    List<EventLog.PostCopyProgress> pushed = pcs.stream().filter(p -> p.postCopy().pagesPushed().isPresent())
        .toList();
    c.line(pushed.stream().mapToDouble(EventLog.PostCopyProgress::elapsedMs).toArray(),
        pushed.stream().mapToDouble(p -> p.postCopy().pagesPushed().getAsLong()).toArray(),
        pushed.stream().map(p -> Html.millis(p.elapsedMs()) + ": " + Html.count(p.postCopy().pagesPushed()
            .getAsLong()) + " pages pushed").toArray(String[]::new), GREEN, true).series("pushed", GREEN);
    if (pcs.isEmpty()) {
      c.note(log.result().flatMap(EventLog.Result::postCopy).isPresent()
          ? "post-copy ran, but the log has no progress samples of it" : "no post-copy in this migration");
    }
    return decisions(c).svg();
  }

  private static final String CSS = "body{font-family:sans-serif;margin:24px;color:#222;background:#fafafa}"
      + "h1{font-size:22px;margin:0 0 12px}h2{font-size:17px;margin:24px 0 8px}"
      + "table{border-collapse:collapse;font-size:13px;background:#fff}"
      + "th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}"
      + "table.summary th{background:#f0f0f0;width:210px}"
      + "td.outcome.ok{color:#1f7a37;font-weight:bold}td.outcome.bad{color:#b3261e;font-weight:bold}"
      + "section.charts{display:flex;flex-wrap:wrap;gap:12px;margin-top:16px}"
      + "figure{margin:0;background:#fff;border:1px solid #ddd;padding:6px}"
      + "figcaption{font-size:12px;color:#555;max-width:720px;padding:4px}"
      + "footer{margin-top:24px;font-size:12px;color:#777}";
}
