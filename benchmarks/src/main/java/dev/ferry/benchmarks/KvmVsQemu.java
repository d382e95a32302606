package dev.ferry.benchmarks;

import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationResult;
import dev.ferry.kvm.KvmHost;
import dev.ferry.kvm.KvmVm;
import dev.ferry.kvm.KvmVmSpec;
import dev.ferry.spi.DataSize;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.Writer;
import java.net.ServerSocket;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The same test guest migrated twice on this machine, in one run: by Ferry's engine between two
 * ferry-kvm hosts (one JVM, TCP on 127.0.0.1), and by QEMU between two QEMU/KVM processes (QMP,
 * {@code -incoming defer}, TCP on 127.0.0.1). Both with a 300 ms downtime limit, no bandwidth cap
 * and no compression; QEMU's {@code max-bandwidth} is raised to 10 GB/s so it is not its default
 * cap. The guest writes its region for {@code --settle} before the migration starts, so the whole
 * region holds data (non-zero pages) and is being rewritten at {@code rate} MiB/s while it moves.
 *
 * <p>Figures: total time, downtime, bytes moved and throughput (bytes moved / total time) per side,
 * and Ferry/QEMU ratios. Needs /dev/kvm, the test guest ({@code it/guest/build.sh}) and
 * {@code qemu-system-x86_64} (Debian's qemu-system-x86).
 */
final class KvmVsQemu {
  private KvmVsQemu() {}

  record Run(String who, long totalMs, long downtimeMs, long bytes, long rounds, boolean heartbeatAfter, boolean corrupt) {
    double gbps() {
      return bytes / (totalMs / 1e3) / 1e9;
    }
  }

  static int run(String[] args, PrintStream out) throws Exception {
    Path kernel = Paths.get("it/target/guest.elf");
    int mb = 1000;
    int rate = 100;
    int settle = -1;
    int repeat = 1;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--kernel" -> kernel = Paths.get(args[++i]);
        case "--mb" -> mb = Integer.parseInt(args[++i]);
        case "--rate" -> rate = Integer.parseInt(args[++i]);
        case "--settle" -> settle = Integer.parseInt(args[++i]);
        case "--repeat" -> repeat = Integer.parseInt(args[++i]);
        default -> {
          out.println("unknown option " + args[i]);
          return 2;
        }
      }
    }
    if (!Files.isRegularFile(kernel)) {
      out.println("no test guest at " + kernel + ": run it/guest/build.sh first");
      return 2;
    }
    if (KvmHost.unavailableReason().isPresent()) {
      out.println("KVM cannot be used here: " + KvmHost.unavailableReason().get());
      return 2;
    }
    if (settle < 0) {
      settle = rate == 0 ? 3 : (int) Math.ceil((double) mb / rate) + 2;
    }
    String cmdline = "mb=" + mb + " rate=" + rate;
    int ramMiB = mb + 8;
    out.printf("guest \"%s\", %d MiB RAM, migrated after %d s of writing; %d repetition(s)%n", cmdline, ramMiB, settle,
        repeat);
    List<Run> ferry = new ArrayList<>();
    List<Run> qemu = new ArrayList<>();
    for (int r = 0; r < repeat; r++) {
      Run f = ferry(kernel, cmdline, ramMiB, settle, r);
      out.println("  " + f);
      ferry.add(f);
      Run q = qemu(kernel, cmdline, ramMiB, settle, r);
      out.println("  " + q);
      qemu.add(q);
    }
    Run f = median(ferry);
    Run q = median(qemu);
    out.println();
    out.println("| engine | total | downtime | moved | rounds | throughput | heartbeat after | CORRUPT |");
    out.println("|---|---|---|---|---|---|---|---|");
    for (Run x : List.of(f, q)) {
      out.printf(Locale.ROOT, "| %s | %.2f s | %d ms | %s | %d | %.2f GB/s | %s | %s |%n", x.who(), x.totalMs() / 1e3,
          x.downtimeMs(), DataSize.bytes(x.bytes()), x.rounds(), x.gbps(), x.heartbeatAfter() ? "yes" : "no",
          x.corrupt() ? "yes" : "no");
    }
    out.printf(Locale.ROOT, "Ferry/QEMU: throughput %.2f x, total time %.2f x, downtime %.2f x%n", f.gbps() / q.gbps(),
        (double) f.totalMs() / q.totalMs(), q.downtimeMs() == 0 ? Double.NaN : (double) f.downtimeMs() / q.downtimeMs());
    return 0;
  }

  private static Run median(List<Run> runs) {
    List<Run> s = new ArrayList<>(runs);
    s.sort((a, b) -> Double.compare(a.gbps(), b.gbps()));
    return s.get(s.size() / 2);
  }

  // ------------------------------------------------------------------ Ferry on ferry-kvm

  private static Run ferry(Path kernel, String cmdline, int ramMiB, int settle, int rep) throws Exception {
    KvmHost a = KvmHost.named("bench-a-" + rep);
    KvmHost b = KvmHost.named("bench-b-" + rep);
    try (Host ha = Ferry.connect("kvm://" + a.name()); Host hb = Ferry.connect("kvm://" + b.name())) {
      CountDownLatch dstBeat = new CountDownLatch(1);
      boolean[] corrupt = new boolean[1];
      a.addSerialListener((vm, line) -> corrupt[0] |= line.startsWith("CORRUPT"));
      b.addSerialListener((vm, line) -> {
        corrupt[0] |= line.startsWith("CORRUPT");
        if (line.startsWith("HB ")) {
          dstBeat.countDown();
        }
      });
      KvmVm vm = a.createVm(KvmVmSpec.builder("guest").memory(DataSize.mib(ramMiB)).kernel(kernel).cmdline(cmdline)
          .build());
      Thread.sleep(settle * 1000L);
      MigrationResult r = ha.migrate(ha.vm("guest"), hb.target(), MigrationOptions.builder()
          .maxDowntime(Duration.ofMillis(300)).deadline(Duration.ofMinutes(3)).verify(false).build()).completion().join();
      boolean beat = dstBeat.await(5, TimeUnit.SECONDS);
      if (!r.completed()) {
        throw new IllegalStateException("Ferry's migration ended " + r.outcome() + ": " + r.cause());
      }
      return new Run("Ferry engine, ferry-kvm", r.totalTime().toMillis(), r.downtime().map(Duration::toMillis).orElse(-1L),
          r.bytesOnWire(), r.roundCount(), beat, corrupt[0]);
    } finally {
      a.destroy();
      b.destroy();
    }
  }

  // ------------------------------------------------------------------ QEMU

  private static final Pattern TOTAL = Pattern.compile("\"total-time\":\\s*(\\d+)");
  private static final Pattern DOWNTIME = Pattern.compile("\"downtime\":\\s*(\\d+)");
  private static final Pattern TRANSFERRED = Pattern.compile("\"transferred\":\\s*(\\d+)");
  private static final Pattern SYNCS = Pattern.compile("\"dirty-sync-count\":\\s*(\\d+)");
  private static final Pattern STATUS = Pattern.compile("\"status\":\\s*\"([a-z-]+)\"");

  private static Run qemu(Path kernel, String cmdline, int ramMiB, int settle, int rep) throws Exception {
    Path dir = Files.createTempDirectory("ferry-bench-qemu");
    Process src = null;
    Process dst = null;
    try {
      src = startQemu(kernel, cmdline, ramMiB, dir, "src", false);
      dst = startQemu(kernel, cmdline, ramMiB, dir, "dst", true);
      try (Qmp s = Qmp.open(dir.resolve("src.qmp")); Qmp d = Qmp.open(dir.resolve("dst.qmp"))) {
        int port;
        try (ServerSocket free = new ServerSocket(0)) {
          port = free.getLocalPort();
        }
        d.call("{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"tcp:127.0.0.1:" + port + "\"}}");
        s.call("{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"downtime-limit\":300,"
            + "\"max-bandwidth\":10000000000}}");
        // Wait for the guest's second heartbeat (QEMU's firmware takes a few seconds), then settle.
        Path srcLog = dir.resolve("src.serial");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!Files.readString(srcLog).contains("HB n=2 ") && System.nanoTime() < deadline) {
          Thread.sleep(100);
        }
        Thread.sleep(settle * 1000L);
        s.call("{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"tcp:127.0.0.1:" + port + "\"}}");
        String info;
        long end = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        while (true) {
          info = s.call("{\"execute\":\"query-migrate\"}");
          Matcher st = STATUS.matcher(info);
          String status = st.find() ? st.group(1) : "?";
          if (status.equals("completed")) {
            break;
          }
          if (status.equals("failed") || status.equals("cancelled") || System.nanoTime() > end) {
            throw new IllegalStateException("QEMU's migration ended " + status + ": " + info);
          }
          Thread.sleep(20);
        }
        Path dstLog = dir.resolve("dst.serial");
        long beatDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        boolean beat = false;
        while (!beat && System.nanoTime() < beatDeadline) {
          beat = Files.readString(dstLog).lines().anyMatch(l -> l.startsWith("HB "));
          Thread.sleep(100);
        }
        boolean corrupt = Files.readString(srcLog).contains("CORRUPT") || Files.readString(dstLog).contains("CORRUPT");
        return new Run("QEMU " + qemuVersion() + ", KVM", num(TOTAL, info), num(DOWNTIME, info), num(TRANSFERRED, info),
            num(SYNCS, info), beat, corrupt);
      }
    } finally {
      for (Process p : new Process[] {src, dst}) {
        if (p != null) {
          p.destroy();
          if (!p.waitFor(5, TimeUnit.SECONDS)) {
            p.destroyForcibly();
          }
        }
      }
      try (var files = Files.list(dir)) {
        for (Path f : files.toList()) {
          Files.deleteIfExists(f);
        }
      }
      Files.deleteIfExists(dir);
    }
  }

  private static long num(Pattern p, String s) {
    Matcher m = p.matcher(s);
    return m.find() ? Long.parseLong(m.group(1)) : -1;
  }

  private static String qemuVersion() {
    try {
      Process p = new ProcessBuilder("qemu-system-x86_64", "--version").redirectErrorStream(true).start();
      String v = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      Matcher m = Pattern.compile("version (\\S+)").matcher(v);
      return m.find() ? m.group(1) : "?";
    } catch (IOException e) {
      return "?";
    }
  }

  private static Process startQemu(Path kernel, String cmdline, int ramMiB, Path dir, String name, boolean incoming)
      throws IOException {
    List<String> cmd = new ArrayList<>(List.of("qemu-system-x86_64", "-accel", "kvm", "-machine", "pc", "-m",
        ramMiB + "M", "-nodefaults", "-display", "none", "-kernel", kernel.toAbsolutePath().toString(), "-append", cmdline,
        "-serial", "file:" + dir.resolve(name + ".serial"), "-qmp",
        "unix:" + dir.resolve(name + ".qmp") + ",server=on,wait=off"));
    if (incoming) {
      cmd.add("-incoming");
      cmd.add("defer");
    }
    Files.writeString(dir.resolve(name + ".serial"), "");
    return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve(name + ".out").toFile()).start();
  }

  /** A minimal QMP client: one command, one answer, events skipped. */
  private static final class Qmp implements AutoCloseable {
    private final SocketChannel ch;
    private final BufferedReader in;
    private final Writer out;

    private Qmp(SocketChannel ch) {
      this.ch = ch;
      this.in = new BufferedReader(new InputStreamReader(Channels.newInputStream(ch), StandardCharsets.UTF_8));
      this.out = Channels.newWriter(ch, StandardCharsets.UTF_8);
    }

    static Qmp open(Path socket) throws Exception {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
      while (true) {
        try {
          SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(socket));
          Qmp q = new Qmp(ch);
          q.in.readLine();                            // the greeting
          q.call("{\"execute\":\"qmp_capabilities\"}");
          return q;
        } catch (IOException e) {
          if (System.nanoTime() > deadline) {
            throw e;
          }
          Thread.sleep(50);
        }
      }
    }

    String call(String json) throws IOException {
      out.write(json + "\n");
      out.flush();
      while (true) {
        String line = in.readLine();
        if (line == null) {
          throw new IOException("QMP closed");
        }
        if (line.contains("\"return\"")) {
          return line;
        }
        if (line.contains("\"error\"")) {
          throw new IOException("QMP error for " + json + ": " + line);
        }
      }
    }

    @Override
    public void close() throws IOException {
      ch.close();
    }
  }
}
