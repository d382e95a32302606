package dev.ferry.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Runs a {@link RemoteDestination} (or a {@link RemoteSource}) in a child JVM and does to it what a
 * test needs: wait for its lines, kill it with SIGKILL, stop it with SIGSTOP and let it go on with
 * SIGCONT, ask its status. {@link #close()} always continues and kills it, so no child outlives its
 * test.
 */
final class DestinationProcess implements AutoCloseable {
  private final Process process;
  private final LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
  private final Writer stdin;
  private final int port;
  private final List<String> all = new ArrayList<>();

  private DestinationProcess(Class<?> main, boolean listens, String... args) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    // These tests run inside the dev.ferry.core module: its modules are on the module path, the
    // test classes and test-only libraries on the class path. The child takes both as its class path.
    String cp = Stream.of(System.getProperty("jdk.module.path"),
            System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")))
        .filter(p -> p != null && !p.isEmpty())
        .collect(Collectors.joining(File.pathSeparator));
    List<String> cmd = new ArrayList<>(List.of(java, "-Xmx256m", "-cp", cp, main.getName()));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.redirectErrorStream(true);
    process = pb.start();
    stdin = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
    Thread reader = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
          StandardCharsets.UTF_8))) {
        String l;
        while ((l = r.readLine()) != null) {
          synchronized (all) {
            all.add(l);
          }
          lines.add(l);
        }
      } catch (IOException ignored) {
        // the child ended
      }
    }, "test-child-reader");
    reader.setDaemon(true);
    reader.start();
    port = listens ? Integer.parseInt(awaitLine("PORT ", Duration.ofSeconds(30)).substring(5).trim()) : -1;
  }

  /** A destination host listening on a free port of 127.0.0.1 (see {@link RemoteDestination}). */
  static DestinationProcess start(String host, Duration peerTimeout, String hook, boolean block) throws IOException {
    return new DestinationProcess(RemoteDestination.class, true, host, String.valueOf(peerTimeout.toMillis()), hook,
        block ? "block" : "mark");
  }

  /** A destination that takes only TLS, with the PEM files in {@code tlsDir} (see {@link RemoteDestination}). */
  static DestinationProcess startTls(String host, Duration peerTimeout, java.nio.file.Path tlsDir) throws IOException {
    return new DestinationProcess(RemoteDestination.class, true, host, String.valueOf(peerTimeout.toMillis()), "none",
        "mark", tlsDir.toString());
  }

  /** A source migrating to {@code port} (see {@link RemoteSource}). */
  static DestinationProcess source(int port, Duration peerTimeout, long hold, boolean postCopy, Duration recovery)
      throws IOException {
    return new DestinationProcess(RemoteSource.class, false, String.valueOf(port), String.valueOf(peerTimeout.toMillis()),
        String.valueOf(hold), postCopy ? "post-copy" : "stop-and-copy", String.valueOf(recovery.toMillis()));
  }

  InetSocketAddress address() {
    return new InetSocketAddress(InetAddress.getLoopbackAddress(), port);
  }

  long pid() {
    return process.pid();
  }

  /** The next line that starts with {@code prefix}, waiting at most {@code timeout}. */
  String awaitLine(String prefix, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    try {
      while (true) {
        long left = deadline - System.nanoTime();
        assertThat(left).as("the child printed no line starting with '%s'; it printed: %s", prefix, output())
            .isPositive();
        String l = lines.poll(left, TimeUnit.NANOSECONDS);
        if (l != null && l.startsWith(prefix)) {
          return l;
        }
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  String output() {
    synchronized (all) {
      return String.join("\n", all.subList(Math.max(0, all.size() - 40), all.size()));
    }
  }

  /** SIGKILL, and waits for it to be gone. */
  void kill() throws InterruptedException {
    process.destroyForcibly();
    assertThat(process.waitFor(10, TimeUnit.SECONDS)).isTrue();
  }

  void signal(String sig) throws IOException, InterruptedException {
    Process k = new ProcessBuilder("kill", "-" + sig, String.valueOf(process.pid())).start();
    assertThat(k.waitFor(10, TimeUnit.SECONDS)).isTrue();
    assertThat(k.exitValue()).as("kill -%s", sig).isZero();
  }

  boolean alive() {
    return process.isAlive();
  }

  /** The child's {@code STATUS} line: its VMs with their states, its incoming VMs, its migrations. */
  String status() throws IOException {
    lines.clear();
    stdin.write("status\n");
    stdin.flush();
    return awaitLine("STATUS ", Duration.ofSeconds(10));
  }

  @Override
  public void close() throws Exception {
    if (process.isAlive()) {
      try {
        signal("CONT");
      } catch (IOException | AssertionError ignored) {
        // it may be gone already
      }
      process.destroyForcibly();
      process.waitFor(10, TimeUnit.SECONDS);
    }
  }
}
