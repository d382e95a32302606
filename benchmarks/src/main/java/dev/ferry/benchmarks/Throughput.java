package dev.ferry.benchmarks;

import dev.ferry.Compression;
import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationResult;
import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimMemory;
import dev.ferry.sim.SimVm;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.DataSize;
import java.io.File;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The one-stream throughput scenario: how close a Ferry migration comes to what loopback TCP itself
 * moves in this JVM, measured in one run so that both figures see the same machine and load.
 *
 * <p>Each repetition runs, in this order:
 * <ol>
 *   <li><b>raw</b>: a writer thread sends {@code size} bytes through a loopback {@link SocketChannel}
 *       in 64 KiB writes from a direct buffer, and a reader thread reads them in 64 KiB reads; the
 *       sockets get the engine's own options (TCP_NODELAY, and the send and receive buffer sizes of
 *       {@code dev.ferry.engine.Link}, read reflectively so the two cannot drift apart). The figure
 *       is bytes over the time from the first write to the last byte read.
 *   <li><b>ferry</b>: an idle sim VM of {@code size} bytes whose every page is filled with random
 *       bytes (non-zero, incompressible) migrates to a second sim host through that host's receiver
 *       on 127.0.0.1, with default options (one stream, no compression, no verification). The figure
 *       is guest bytes over {@link MigrationResult#totalTime()}, which includes the connection,
 *       handshake, rounds, switchover and commit.
 *   <li><b>zero</b>: the same with a VM that was never written (all pages zero, sent as markers).
 * </ol>
 * With {@code --tls}, a <b>tls</b> migration (the same, over TLS 1.3 with mutual authentication on
 * every connection) follows each <b>ferry</b> one, and after <b>zero</b> a plaintext and a TLS
 * migration on two streams; the TLS ratios are medians of each pair's ratio, since the machine is
 * shared and a pair run back to back sees the same load.
 *
 * <p>One warm-up repetition of the same size runs first and is not counted: it compiles the hot
 * paths and leaves the sim's chunk pool holding faulted-in memory, so the counted runs measure the
 * engine, not the JIT or the kernel's first touch. The machine is small and noisy, so the report
 * uses medians; {@code throughput-ratio: X.XX} is the median Ferry rate over the median raw rate.
 *
 * <p>Then the <b>cold</b> figure, what a user meets in the first migration of a process: each cold
 * repetition runs twice, in a fresh JVM each time (the order alternates between repetitions):
 * <ul>
 *   <li><b>raw-cold</b>: the raw transfer above from a filled source region (as the VM is filled),
 *       page by page, the reader writing every page it receives into a
 *       fresh {@link SimMemory} of {@code size} bytes, so the baseline pays what a destination pays
 *       for memory never touched before;
 *   <li><b>ferry-cold</b>: the ferry migration above, the first in its JVM.
 * </ul>
 * The last line is {@code throughput-ratio-cold: Y.YY}, the median over the medians.
 *
 * <p>After each migration the destination's memory digest is compared with the source's (outside
 * the timed region), so a fast but wrong engine cannot pass.
 */
final class Throughput {
  private static final int IO_SIZE = 64 * 1024;

  static int run(String[] args, PrintStream out) throws Exception {
    long size = DataSize.gib(1).bytes();
    int repeat = 3;
    int cold = 3;
    String child = null;
    boolean tls = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--tls" -> tls = true;
        case "--size" -> size = DataSize.parse(value(args, ++i, "--size")).bytes();
        case "--repeat" -> repeat = Integer.parseInt(value(args, ++i, "--repeat"));
        case "--cold" -> cold = Integer.parseInt(value(args, ++i, "--cold"));
        case "--child" -> child = value(args, ++i, "--child");
        default -> {
          System.err.println("unknown option '" + args[i] + "'");
          Main.usage(System.err);
          return 2;
        }
      }
    }
    if (size < (1 << 20) || size % 4096 != 0 || repeat < 1 || cold < 0) {
      System.err.println("--size must be a multiple of 4 KiB, at least 1 MiB; --repeat at least 1; --cold at least 0");
      return 2;
    }
    Throughput t = new Throughput(out, tls ? BenchTls.loopback() : null);
    if (child != null) {
      return t.child(child, size);
    }
    t.measure(size, repeat);
    if (cold > 0) {
      t.measureCold(size, cold);
    }
    return 0;
  }

  private static String value(String[] args, int i, String option) {
    if (i >= args.length) {
      throw new IllegalArgumentException(option + " needs a value");
    }
    return args[i];
  }

  // ------------------------------------------------------------------ the scenario

  private final PrintStream out;
  /** With {@code --tls}: TLS for the TLS rows, else null. */
  private final dev.ferry.FerryTls tls;
  private int run;

  private Throughput(PrintStream out, dev.ferry.FerryTls tls) {
    this.out = out;
    this.tls = tls;
  }

  private void measure(long size, int repeat) throws Exception {
    int sockBuf = engineSocketBuffer();
    out.printf(Locale.ROOT, "throughput: %s, %d repetition(s), socket buffers %d KiB, %d CPUs, load %.2f%n",
        DataSize.bytes(size), repeat, sockBuf >> 10, Runtime.getRuntime().availableProcessors(), load());
    // Full size: besides the JIT, the warm-up lets the C allocator hold the memory that the sim's
    // lazily allocated chunks reuse, so the counted runs do not pay the kernel's first touch of
    // fresh pages (about 0.4 s per GiB here) in some repetitions and not in others.
    out.printf(Locale.ROOT, "warm-up (not counted): raw %.2f GB/s, ferry %.2f GB/s, zero %.2f GB/s%n",
        gbps(size, raw(size, sockBuf)), gbps(size, ferry(size, true).nanos), gbps(size, ferry(size, false).nanos));
    if (tls != null) {
      out.printf(Locale.ROOT, "warm-up (not counted): tls %.2f GB/s, plain2 %.2f GB/s, tls2 %.2f GB/s%n",
          gbps(size, ferry(size, true, 1, tls).nanos), gbps(size, ferry(size, true, 2, null).nanos),
          gbps(size, ferry(size, true, 2, tls).nanos));
    }
    double[] raw = new double[repeat];
    double[] ferry = new double[repeat];
    double[] zero = new double[repeat];
    double[] tls1 = new double[repeat];
    double[] plain2 = new double[repeat];
    double[] tls2 = new double[repeat];
    double[] ratio1 = new double[repeat];
    double[] ratio2 = new double[repeat];
    double[] plainCpu = new double[repeat];
    double[] tlsCpu = new double[repeat];
    for (int i = 0; i < repeat; i++) {
      String at = String.format(Locale.ROOT, "[%d/%d]", i + 1, repeat);
      long cpu0 = processCpuNanos();
      long rawNanos = raw(size, sockBuf);
      long cpu = processCpuNanos() - cpu0;
      raw[i] = gbps(size, rawNanos);
      out.printf(Locale.ROOT, "%s raw   %s in %7.3f s = %5.2f GB/s  (process CPU %.2f s)%n", at,
          DataSize.bytes(size), rawNanos / 1e9, raw[i], cpu / 1e9);
      Run f = ferry(size, true);
      ferry[i] = gbps(size, f.nanos);
      out.printf(Locale.ROOT, "%s ferry %s in %7.3f s = %5.2f GB/s  (%s)%n", at, DataSize.bytes(size),
          f.nanos / 1e9, ferry[i], f.detail);
      if (tls != null) {
        // Right after the plaintext run it is compared with: the pair sees the same machine and load.
        Run t = ferry(size, true, 1, tls);
        tls1[i] = row(at, "tls   ", size, t);
        ratio1[i] = tls1[i] / ferry[i];
        plainCpu[i] = f.cpuNanos / 1e9 / (size / (double) (1L << 30));
        tlsCpu[i] = t.cpuNanos / 1e9 / (size / (double) (1L << 30));
      }
      Run z = ferry(size, false);
      zero[i] = gbps(size, z.nanos);
      out.printf(Locale.ROOT, "%s zero  %s in %7.3f s = %5.2f GB/s  (%s)%n", at, DataSize.bytes(size),
          z.nanos / 1e9, zero[i], z.detail);
      if (tls != null) {
        plain2[i] = row(at, "plain2", size, ferry(size, true, 2, null));
        tls2[i] = row(at, "tls2  ", size, ferry(size, true, 2, tls));
        ratio2[i] = tls2[i] / plain2[i];
      }
    }
    double rawMedian = median(raw);
    double ferryMedian = median(ferry);
    out.printf(Locale.ROOT, "load at end: %.2f%n", load());
    out.printf(Locale.ROOT, "raw-loopback-median: %.2f GB/s%n", rawMedian);
    out.printf(Locale.ROOT, "ferry-median: %.2f GB/s%n", ferryMedian);
    out.printf(Locale.ROOT, "zero-vm-rate: %.2f GB/s%n", median(zero));
    if (tls != null) {
      out.printf(Locale.ROOT, "tls-median: %.2f GB/s%n", median(tls1));
      out.printf(Locale.ROOT, "plain-2-streams-median: %.2f GB/s%n", median(plain2));
      out.printf(Locale.ROOT, "tls-2-streams-median: %.2f GB/s%n", median(tls2));
      out.printf(Locale.ROOT, "process CPU per GiB, median: plaintext %.2f s, TLS %.2f s (1 stream)%n",
          median(plainCpu), median(tlsCpu));
      // Each ratio is the median of the pairs' ratios (TLS over the plaintext run just before it).
      out.printf(Locale.ROOT, "tls-ratio-1-stream: %.2f%n", median(ratio1));
      out.printf(Locale.ROOT, "tls-ratio-2-streams: %.2f%n", median(ratio2));
    }
    out.printf(Locale.ROOT, "throughput-ratio: %.2f%n", ferryMedian / rawMedian);
  }

  /** The cold figures: each repetition a fresh JVM for raw-into-fresh-memory and one for Ferry. */
  private void measureCold(long size, int repeat) throws Exception {
    double[] raw = new double[repeat];
    double[] ferry = new double[repeat];
    for (int i = 0; i < repeat; i++) {
      String at = String.format(Locale.ROOT, "[cold %d/%d]", i + 1, repeat);
      boolean rawFirst = i % 2 == 0;
      for (String kind : rawFirst ? List.of("raw", "ferry") : List.of("ferry", "raw")) {
        ChildRun c = fork(kind, size);
        (kind.equals("raw") ? raw : ferry)[i] = c.gbps;
        out.printf(Locale.ROOT, "%s %-5s %s = %5.2f GB/s  (fresh JVM; %s)%n", at, kind, DataSize.bytes(size), c.gbps, c.detail);
      }
    }
    double rawMedian = median(raw);
    double ferryMedian = median(ferry);
    out.printf(Locale.ROOT, "raw-cold-median: %.2f GB/s%n", rawMedian);
    out.printf(Locale.ROOT, "ferry-cold-median: %.2f GB/s%n", ferryMedian);
    out.printf(Locale.ROOT, "throughput-ratio-cold: %.2f%n", ferryMedian / rawMedian);
  }

  record ChildRun(double gbps, String detail) {}

  /** Runs one cold repetition of {@code kind} in a fresh JVM and reads back its one result line. */
  private static ChildRun fork(String kind, long size) throws Exception {
    String javaCmd = ProcessHandle.current().info().command()
        .orElse(System.getProperty("java.home") + File.separator + "bin" + File.separator + "java");
    List<String> cmd = new ArrayList<>();
    cmd.add(javaCmd);
    cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
    cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "throughput",
        "--child", kind, "--size", Long.toString(size)));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    List<String> lines = new ArrayList<>();
    try (var r = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream(),
        java.nio.charset.StandardCharsets.UTF_8))) {
      for (String line; (line = r.readLine()) != null; ) {
        lines.add(line);
      }
    }
    if (!p.waitFor(10, java.util.concurrent.TimeUnit.MINUTES)) {
      p.destroyForcibly();
      throw new IllegalStateException("cold " + kind + " run did not end within 10 minutes");
    }
    for (String line : lines) {
      if (line.startsWith("child-rate: ")) {
        String[] f = line.substring("child-rate: ".length()).split(" ", 2);
        return new ChildRun(Double.parseDouble(f[0]), f.length > 1 ? f[1] : "");
      }
    }
    throw new IllegalStateException("cold " + kind + " run (exit " + p.exitValue() + ") printed no result:\n"
        + String.join("\n", lines));
  }

  /** In a fresh JVM: one cold repetition, printed as {@code child-rate: GB/s detail}. */
  private int child(String kind, long size) throws Exception {
    switch (kind) {
      case "raw" -> {
        // As the Ferry run holds a filled source VM and a fresh destination, so does this one:
        // source memory filled with random pages (not timed), read page by page by the writer.
        SimMemory source = new SimMemory(size / 4096, 4096);
        ByteBuffer page = ByteBuffer.allocateDirect(4096);
        SplittableRandom rnd = new SplittableRandom(1);
        for (long p = 0; p < source.pageCount(); p++) {
          page.clear();
          while (page.hasRemaining()) {
            page.putLong(rnd.nextLong());
          }
          page.flip();
          source.writePage(p, page);
        }
        SimMemory fresh = new SimMemory(size / 4096, 4096);
        long faults0 = minorFaults();
        long nanos = rawInto(size, engineSocketBuffer(), source, fresh);
        source.release();
        out.printf(Locale.ROOT, "child-rate: %.4f %.3f s, %d k page faults%n", gbps(size, nanos), nanos / 1e9,
            (minorFaults() - faults0) / 1000);
        fresh.release();
      }
      case "ferry" -> {
        Run f = ferry(size, true);
        out.printf(Locale.ROOT, "child-rate: %.4f %.3f s, %s%n", gbps(size, f.nanos), f.nanos / 1e9, f.detail);
      }
      default -> {
        System.err.println("--child must be raw or ferry, not " + kind);
        return 2;
      }
    }
    return 0;
  }

  /** Moves {@code bytes} through a loopback socket pair in this JVM; returns the nanoseconds taken. */
  static long raw(long bytes, int sockBuf) throws Exception {
    return rawInto(bytes, sockBuf, null, null);
  }

  /**
   * As {@link #raw}, the writer reading each 4 KiB page it sends from {@code source} and the reader
   * writing each page it receives into {@code memory}, page after page, where they are not null.
   */
  static long rawInto(long bytes, int sockBuf, SimMemory source, SimMemory memory) throws Exception {
    InetAddress lo = InetAddress.getLoopbackAddress();
    try (ServerSocketChannel server = ServerSocketChannel.open()) {
      server.bind(new InetSocketAddress(lo, 0));
      // As in the engine: the connecting side is tuned before connect, the accepted side after.
      SocketChannel client = SocketChannel.open();
      tune(client, sockBuf);
      client.connect(server.getLocalAddress());
      SocketChannel accepted = server.accept();
      tune(accepted, sockBuf);
      try (client; accepted) {
        AtomicLong end = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread reader = new Thread(() -> {
          ByteBuffer in = ByteBuffer.allocateDirect(IO_SIZE);
          long left = bytes;
          long page = 0;
          try {
            while (left > 0) {
              in.clear();
              if (left < IO_SIZE) {
                in.limit((int) left);
              }
              while (in.hasRemaining()) {
                int n = accepted.read(in);
                if (n < 0) {
                  throw new java.io.EOFException(left + " bytes short");
                }
                left -= n;
              }
              if (memory != null) {
                in.flip();
                while (in.remaining() >= 4096) {
                  memory.writePage(page++, in);
                }
              }
            }
            end.set(System.nanoTime());
          } catch (Throwable t) {
            failure.set(t);
          }
        }, "raw-reader");
        ByteBuffer out = ByteBuffer.allocateDirect(IO_SIZE);
        SplittableRandom rnd = new SplittableRandom(7);
        while (out.hasRemaining()) {
          out.putLong(rnd.nextLong());
        }
        reader.start();
        long start = System.nanoTime();
        long left = bytes;
        long sent = 0;
        while (left > 0) {
          out.clear();
          if (left < IO_SIZE) {
            out.limit((int) left);
          }
          if (source != null) {
            while (out.remaining() >= 4096) {
              source.readPage(sent++, out);
            }
            out.flip();
          }
          while (out.hasRemaining()) {
            left -= client.write(out);
          }
        }
        reader.join();
        if (failure.get() != null) {
          throw new IllegalStateException("raw loopback reader failed", failure.get());
        }
        return end.get() - start;
      }
    }
  }

  private static void tune(SocketChannel ch, int sockBuf) throws java.io.IOException {
    ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
    ch.setOption(StandardSocketOptions.SO_SNDBUF, sockBuf);
    ch.setOption(StandardSocketOptions.SO_RCVBUF, sockBuf);
  }

  /** One timed migration and a line of what the result said. */
  record Run(long nanos, long cpuNanos, String detail) {}

  private double row(String at, String name, long size, Run r) {
    double rate = gbps(size, r.nanos);
    out.printf(Locale.ROOT, "%s %s %s in %7.3f s = %5.2f GB/s  (%s)%n", at, name, DataSize.bytes(size), r.nanos / 1e9,
        rate, r.detail);
    return rate;
  }

  /** Migrates an idle VM of {@code bytes} between two fresh sim hosts; random pages when {@code fill}. */
  Run ferry(long bytes, boolean fill) {
    return ferry(bytes, fill, 1, null);
  }

  /**
   * The same over {@code streams} streams, with TLS 1.3 and mutual authentication on every
   * connection when {@code tls} is not null (the receiver then takes only TLS).
   */
  Run ferry(long bytes, boolean fill, int streams, dev.ferry.FerryTls tls) {
    int n = ++run;
    String a = "bench-src-" + n;
    String b = "bench-dst-" + n;
    SimHost sa = SimHost.named(a);
    SimHost sb = SimHost.named(b);
    try {
      SimVm vm = sa.createVm(SimVmSpec.builder("vm").memory(DataSize.bytes(bytes)).vcpus(1)
          .workload(Workload.idle()).seed(1).build());
      if (fill) {
        vm.fillRandom(n);
      }
      long digest = vm.memoryDigest();
      MigrationResult r;
      long faults0 = minorFaults();
      long cpu0 = processCpuNanos();
      try (Host src = Ferry.connect("sim://" + a); Host dst = Ferry.connect("sim://" + b)) {
        MigrationOptions options = MigrationOptions.builder().streams(streams).compression(Compression.NONE)
            .verify(false).tls(tls).build();
        dev.ferry.MigrationTarget target = tls == null ? dst.target()
            : dst.listen(new InetSocketAddress("127.0.0.1", 0), dev.ferry.ReceiverOptions.builder().tls(tls).build())
                .target();
        r = src.migrate(src.vm("vm"), target, options).completion().join();
      }
      long faults = minorFaults() - faults0;
      long cpu = processCpuNanos() - cpu0;
      if (!r.completed()) {
        throw new IllegalStateException("migration did not complete: " + r.outcome() + " "
            + r.cause().map(Throwable::toString).orElse(""));
      }
      SimVm moved = sb.vm("vm").orElseThrow(() -> new IllegalStateException("VM not on the destination"));
      if (moved.memoryDigest() != digest) {
        throw new IllegalStateException("destination memory differs from the source's");
      }
      long round0 = r.rounds().get(0).duration().toNanos();
      String detail = String.format(Locale.ROOT,
          "process CPU %.2f s; round 0: %.3f s = %.2f GB/s; %d rounds, %d pages, %.3f GB on the wire, downtime %d ms, %d k page faults",
          cpu / 1e9, round0 / 1e9, gbps(r.rounds().get(0).pagesSent() * vm.description().pageSize(), round0), r.roundCount(), r.pagesSent(),
          r.bytesOnWire() / 1e9, r.downtimeMillisOrMinusOne(), faults / 1000);
      return new Run(r.totalTime().toNanos(), cpu, detail);
    } finally {
      sa.destroy();
      sb.destroy();
    }
  }

  // ------------------------------------------------------------------ helpers

  /** The engine's socket buffer size ({@code dev.ferry.engine.Link.SOCKET_BUFFER}). */
  static int engineSocketBuffer() {
    try {
      var f = Class.forName("dev.ferry.engine.Link").getDeclaredField("SOCKET_BUFFER");
      f.setAccessible(true);
      return f.getInt(null);
    } catch (ReflectiveOperationException | RuntimeException e) {
      throw new IllegalStateException("cannot read the engine's socket buffer size: " + e, e);
    }
  }

  static double gbps(long bytes, long nanos) {
    return bytes / (double) nanos;
  }

  static double median(double[] values) {
    double[] v = values.clone();
    Arrays.sort(v);
    int m = v.length / 2;
    return v.length % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
  }

  /**
   * Minor page faults of this process so far (Linux {@code /proc/self/stat}), or 0 elsewhere: how
   * much fresh memory a run touched, which is what makes repetitions of the same run differ.
   */
  static long minorFaults() {
    try {
      String stat = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/self/stat"));
      String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
      return Long.parseLong(f[7]); // field 10 of stat, counting from the state field (3)
    } catch (java.io.IOException | RuntimeException e) {
      return 0;
    }
  }

  /** CPU time of the whole process so far (all threads, JIT and GC included), in nanoseconds. */
  static long processCpuNanos() {
    if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
      return os.getProcessCpuTime();
    }
    return 0;
  }

  private static double load() {
    return ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
  }
}
