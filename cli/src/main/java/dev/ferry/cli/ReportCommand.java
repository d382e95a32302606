package dev.ferry.cli;

import dev.ferry.report.EventLog;
import dev.ferry.report.HtmlReport;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code ferry report EVENTS -o OUT.html}: the HTML report ({@link HtmlReport}) of a migration
 * from its events as JSON Lines (what {@code ferry migrate --events} or {@code --json} wrote).
 */
@Command(name = "report", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Render the HTML report of a migration from its events (JSON Lines, as ferry migrate --events writes).")
final class ReportCommand implements Callable<Integer> {
  @Parameters(index = "0", paramLabel = "EVENTS", description = "The events file (JSON Lines).")
  Path events;

  @Option(names = {"-o", "--output"}, paramLabel = "FILE", required = true, description = "The HTML page to write.")
  Path output;

  @Option(names = "--charts", paramLabel = "DIR", description = "Also write each chart as an .svg file into DIR.")
  Path charts;

  @Override
  public Integer call() throws Exception {
    EventLog log = EventLog.read(events);
    HtmlReport report = HtmlReport.of(log);
    report.write(output);
    System.out.printf("%s: %d event(s), %s%n", output, log.entries().size(),
        log.result().map(r -> "outcome " + r.outcome()).orElse("no result (the log ends before it)"));
    if (charts != null) {
      java.nio.file.Files.createDirectories(charts);
      System.out.printf("%d chart(s) in %s%n", report.writeCharts(charts).size(), charts);
    }
    return ExitCodes.OK;
  }
}
