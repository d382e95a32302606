package dev.ferry.report;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.MigrationResult.Outcome;
import java.awt.image.BufferedImage;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The report as a person sees it: the page of a real sim migration opened from disk in headless
 * Chromium, which takes a screenshot and dumps the DOM it rendered. The checks: the rendered DOM
 * holds every chart and the page's own script ran without error; the browser's console logged
 * nothing; the screenshot is not blank and shows the charts' colours.
 *
 * <p>The browser runs in a network namespace of its own ({@code unshare -n}), so it cannot reach
 * anything but its own loopback. Skipped, with the reason, where there is no {@code chromium} (the
 * Debian package; {@code .ci/run} installs it) or no network namespace can be made.
 *
 * <p>The screenshot is copied to {@code report/target/report-screenshot.png}.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class ChromiumReportTest {
  private static final long BROWSER_TIMEOUT_SECONDS = 90;
  private static final int WIDTH = 1600;
  private static final int HEIGHT = 2000;
  private static Path chromium;

  @BeforeAll
  static void findChromium() throws Exception {
    chromium = onPath("chromium").or(() -> onPath("chromium-browser")).orElse(null);
    Assumptions.assumeTrue(chromium != null,
        "no chromium on PATH: install Debian's package (apt-get install -y chromium) to run the browser check");
    Run probe = run(List.of("unshare", "-n", "true"), 20);
    Assumptions.assumeTrue(probe.exit == 0, "cannot make a network namespace (unshare -n exited " + probe.exit
        + ": " + probe.err.trim() + "), so the browser would not be confined to loopback");
  }

  private static java.util.Optional<Path> onPath(String name) {
    for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
      Path p = Path.of(dir, name);
      if (Files.isExecutable(p)) {
        return java.util.Optional.of(p);
      }
    }
    return java.util.Optional.empty();
  }

  private record Run(int exit, String out, String err) {}

  /** Runs a command to its end, at most {@code seconds}; kills it and fails the test past that. */
  private static Run run(List<String> command, long seconds) throws IOException, InterruptedException {
    Path out = Files.createTempFile("ferry-chromium", ".out");
    Path err = Files.createTempFile("ferry-chromium", ".err");
    try {
      Process p = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
      if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        throw new AssertionError(command.get(0) + " did not end within " + seconds + " s: " + command);
      }
      return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
          Files.readString(err, StandardCharsets.UTF_8));
    } finally {
      Files.deleteIfExists(out);
      Files.deleteIfExists(err);
    }
  }

  private static List<String> browser(Path profile, String... args) {
    List<String> c = new ArrayList<>(List.of("unshare", "-n", chromium.toString(), "--headless", "--no-sandbox",
        "--disable-gpu", "--user-data-dir=" + profile, "--no-first-run", "--no-default-browser-check",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"));
    c.addAll(List.of(args));
    return c;
  }

  private static int count(String text, String regex) {
    Matcher m = Pattern.compile(regex).matcher(text);
    int n = 0;
    while (m.find()) {
      n++;
    }
    return n;
  }

  /** Pixels within a small distance of {@code rgb}. */
  private static long near(BufferedImage img, int rgb) {
    long n = 0;
    for (int y = 0; y < img.getHeight(); y++) {
      for (int x = 0; x < img.getWidth(); x++) {
        int p = img.getRGB(x, y);
        if (Math.abs(((p >> 16) & 0xff) - ((rgb >> 16) & 0xff)) + Math.abs(((p >> 8) & 0xff) - ((rgb >> 8) & 0xff))
            + Math.abs((p & 0xff) - (rgb & 0xff)) < 24) {
          n++;
        }
      }
    }
    return n;
  }

  private static void look(SimRuns.Run run, String name, Path tmp) throws Exception {
    EventLog log = EventLog.of(run.events());
    HtmlReport report = HtmlReport.of(log);
    Path dir = Files.createDirectories(Path.of("target", "chromium"));
    Path page = dir.resolve(name + ".html").toAbsolutePath();
    report.write(page);
    String url = page.toUri().toString();

    Path png = dir.resolve(name + ".png").toAbsolutePath();
    Files.deleteIfExists(png);
    Run shot = run(browser(tmp.resolve("profile-shot"), "--screenshot=" + png,
        "--window-size=" + WIDTH + "," + HEIGHT, url), BROWSER_TIMEOUT_SECONDS);
    assertThat(shot.exit).as("chromium --screenshot: %s", shot.err).isZero();

    Run dom = run(browser(tmp.resolve("profile-dom"), "--enable-logging=stderr", "--v=0", "--dump-dom", url),
        BROWSER_TIMEOUT_SECONDS);
    assertThat(dom.exit).as("chromium --dump-dom: %s", dom.err).isZero();
    String rendered = dom.out;
    int charts = report.charts().size();
    String root = rendered.substring(rendered.indexOf("<html"), rendered.indexOf('>', rendered.indexOf("<html")) + 1);
    assertThat(root).as("the page's script counted the charts once the DOM was built")
        .contains("data-charts=\"" + charts + "\"");
    assertThat(root).as("script errors recorded by the page").doesNotContain("data-errors");
    assertThat(count(rendered, "<svg [^>]*class=\"chart\"")).isEqualTo(charts);
    assertThat(count(rendered, "class=\"bar\"")).isPositive();
    assertThat(count(rendered, "class=\"marker\"")).isEqualTo(7 * log.decisions().size());
    List<String> console = dom.err.lines().filter(l -> l.contains(":CONSOLE") || l.contains("Uncaught")).toList();
    assertThat(console).as("the browser's console").isEmpty();

    BufferedImage img = ImageIO.read(png.toFile());
    assertThat(img).as("a PNG at %s", png).isNotNull();
    assertThat(img.getWidth()).isEqualTo(WIDTH);
    long notWhite = 0;
    Set<Integer> colours = new HashSet<>();
    for (int y = 0; y < img.getHeight(); y++) {
      for (int x = 0; x < img.getWidth(); x++) {
        int p = img.getRGB(x, y) & 0xffffff;
        colours.add(p);
        if (p != 0xffffff && p != 0xfafafa) {
          notWhite++;
        }
      }
    }
    double share = (double) notWhite / ((long) img.getWidth() * img.getHeight());
    assertThat(share).as("share of pixels that are not the page's background").isGreaterThan(0.03);
    assertThat(colours.size()).as("distinct colours").isGreaterThan(200);
    assertThat(near(img, 0x2f6db5)).as("pixels of the rounds' blue").isGreaterThan(500);
    assertThat(near(img, 0xc8322b)).as("pixels of the dirty rate's red").isGreaterThan(100);
    assertThat(near(img, 0x7a4cb0)).as("pixels of the decisions' purple").isGreaterThan(log.decisions().isEmpty() ? -1 : 10);
    Files.copy(png, Path.of("target", name.equals("many-rounds") ? "report-screenshot.png" : name + "-screenshot.png"),
        StandardCopyOption.REPLACE_EXISTING);
  }

  @Test
  void page_ofAManyRoundMigration_rendersEveryChartWithoutErrorsAndIsNotBlank(@TempDir Path tmp) throws Exception {
    SimRuns.Run run = SimRuns.manyRounds();
    assertThat(run.result().outcome()).as("cause %s", run.result().cause()).isEqualTo(Outcome.COMPLETED);
    look(run, "many-rounds", tmp);
  }

  @Test
  void page_ofAPostCopyMigration_rendersEveryChartWithoutErrorsAndIsNotBlank(@TempDir Path tmp) throws Exception {
    SimRuns.Run run = SimRuns.postCopy();
    assertThat(run.result().outcome()).as("cause %s", run.result().cause()).isEqualTo(Outcome.COMPLETED);
    look(run, "post-copy", tmp);
  }
}
