package dev.ferry.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * The ferry command in a process of its own (this test class path, no terminal), its stdout read
 * line by line and stderr kept. Every wait is bounded.
 */
final class FerryProcess implements AutoCloseable {
  final Process process;
  private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
  private final List<String> all = new ArrayList<>();
  private final StringBuffer err = new StringBuffer();
  private final List<Thread> pumps = new ArrayList<>();

  private FerryProcess(Process process) {
    this.process = process;
    pump(new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8)), true);
    pump(new BufferedReader(new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8)), false);
  }

  static FerryProcess start(String... args) throws IOException {
    String java = ProcessHandle.current().info().command().orElse("java");
    List<String> cmd = new ArrayList<>(List.of(java, "-Xmx512m", "-cp", System.getProperty("java.class.path"),
        FerryCommand.class.getName()));
    cmd.addAll(List.of(args));
    return new FerryProcess(new ProcessBuilder(cmd).start());
  }

  private void pump(BufferedReader in, boolean stdout) {
    Thread t = new Thread(() -> {
      try (in) {
        String line;
        while ((line = in.readLine()) != null) {
          if (stdout) {
            synchronized (all) {
              all.add(line);
            }
            lines.add(line);
          } else {
            err.append(line).append('\n');
          }
        }
      } catch (IOException e) {
        // the process ended
      }
    }, "ferry-process-" + (stdout ? "out" : "err"));
    t.setDaemon(true);
    t.start();
    pumps.add(t);
  }

  /** The next stdout line that matches, waiting at most {@code timeout}; fails the test otherwise. */
  String await(Predicate<String> match, Duration timeout) throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    while (true) {
      long left = end - System.nanoTime();
      String line = left > 0 ? lines.poll(left, TimeUnit.NANOSECONDS) : null;
      if (line == null) {
        throw new AssertionError("no matching line within " + timeout + "; stdout so far:\n" + String.join("\n", stdout())
            + "\nstderr:\n" + err);
      }
      if (match.test(line)) {
        return line;
      }
    }
  }

  /** Waits for the process to end (at most {@code timeout}) and returns its exit code. */
  int exit(Duration timeout) throws InterruptedException {
    if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      throw new AssertionError("still running after " + timeout + "; stderr:\n" + err);
    }
    for (Thread t : pumps) {
      t.join(5_000); // the last lines, read after the exit
    }
    return process.exitValue();
  }

  List<String> stdout() {
    synchronized (all) {
      return List.copyOf(all);
    }
  }

  String stderr() {
    return err.toString();
  }

  @Override
  public void close() throws InterruptedException {
    if (process.isAlive()) {
      process.destroyForcibly();
      process.waitFor(10, TimeUnit.SECONDS);
    }
  }
}
