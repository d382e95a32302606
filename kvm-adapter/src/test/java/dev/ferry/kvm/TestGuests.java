package dev.ferry.kvm;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Builds the guests the tests boot, with gcc, once per JVM: the project's test guest
 * ({@code it/guest/build.sh}) and the misbehaving ones ({@code misbehave.S}). Tests call
 * {@link #requireKvm()} and the builders first, which skip the test (a JUnit assumption with the
 * reason) when {@code /dev/kvm} cannot be used or gcc is missing — never a silent pass.
 */
final class TestGuests {
  private static final Path TARGET = Paths.get("target", "test-guests").toAbsolutePath();
  private static final Map<String, Object> BUILT = new ConcurrentHashMap<>();

  private TestGuests() {}

  /** Skips the calling test, saying why, when KVM cannot run VMs here. */
  static void requireKvm() {
    Optional<String> why = KvmHost.unavailableReason();
    assumeTrue(why.isEmpty(), () -> "SKIPPED: /dev/kvm cannot be used on this machine: " + why.orElse(""));
  }

  /** Skips the calling test when gcc is not installed. */
  static void requireGcc() {
    assumeTrue(gccAvailable(), "SKIPPED: gcc is not installed (apt-get install gcc binutils)");
  }

  static boolean gccAvailable() {
    try {
      Process p = new ProcessBuilder("gcc", "--version").redirectErrorStream(true).start();
      p.getInputStream().readAllBytes();
      return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  /** The project's test guest (it/guest), built with its own script. */
  static Path testGuest() {
    requireGcc();
    return build("guest.elf", out -> {
      Path script = Paths.get("..", "it", "guest", "build.sh").toAbsolutePath().normalize();
      run(List.of("bash", script.toString(), out.toString()));
    });
  }

  /** A guest from misbehave.S of the given kind (1 bad port, 2 hlt, 3 triple fault). */
  static Path misbehaving(int kind) {
    requireGcc();
    return build("misbehave-" + kind + ".elf", out -> {
      Path src = TARGET.resolve("misbehave.S");
      try (InputStream in = TestGuests.class.getResourceAsStream("/misbehave.S")) {
        Files.write(src, in.readAllBytes());
      }
      Path obj = TARGET.resolve("misbehave-" + kind + ".o");
      run(List.of("gcc", "-m32", "-ffreestanding", "-nostdlib", "-DKIND=" + kind, "-c", src.toString(), "-o",
          obj.toString()));
      Path ld = Paths.get("..", "it", "guest", "link.ld").toAbsolutePath().normalize();
      run(List.of("ld", "-m", "elf_i386", "-z", "noexecstack", "-T", ld.toString(), "-nostdlib", "-o", out.toString(),
          obj.toString()));
    });
  }

  interface Step {
    void build(Path out) throws IOException;
  }

  private static synchronized Path build(String name, Step step) {
    Object o = BUILT.get(name);
    if (o == null) {
      Path out = TARGET.resolve(name);
      try {
        Files.createDirectories(TARGET);
        step.build(out);
        o = out;
      } catch (IOException | RuntimeException e) {
        o = new IllegalStateException("building " + name + " failed: " + e.getMessage(), e);
      }
      BUILT.put(name, o);
    }
    if (o instanceof IllegalStateException) {
      throw (IllegalStateException) o;
    }
    return (Path) o;
  }

  static void run(List<String> command) throws IOException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    try {
      if (!p.waitFor(120, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IOException("timed out: " + command);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted: " + command, e);
    }
    if (p.exitValue() != 0) {
      throw new IOException(String.join(" ", command) + " exited " + p.exitValue() + ":\n" + output);
    }
  }

  /** Collects a VM's serial lines, and waits for one. */
  static final class Serial implements SerialListener {
    private final List<String> lines = new ArrayList<>();

    @Override
    public synchronized void line(String vm, String line) {
      lines.add(line);
      notifyAll();
    }

    synchronized List<String> lines() {
      return List.copyOf(lines);
    }

    /** Waits up to {@code millis} for a line starting with {@code prefix} at or after index {@code from}. */
    synchronized Optional<String> await(String prefix, int from, long millis) throws InterruptedException {
      long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
      while (true) {
        for (int i = from; i < lines.size(); i++) {
          if (lines.get(i).startsWith(prefix)) {
            return Optional.of(lines.get(i));
          }
        }
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          return Optional.empty();
        }
        TimeUnit.NANOSECONDS.timedWait(this, left);
      }
    }

    /** The heartbeat counts seen (from "HB n=<count> gen=..."). */
    synchronized List<Long> heartbeats() {
      List<Long> n = new ArrayList<>();
      for (String l : lines) {
        if (l.startsWith("HB n=")) {
          n.add(Long.parseLong(l.substring(5, l.indexOf(' ', 5))));
        }
      }
      return n;
    }

    synchronized boolean sawCorrupt() {
      return lines.stream().anyMatch(l -> l.startsWith("CORRUPT"));
    }
  }
}
