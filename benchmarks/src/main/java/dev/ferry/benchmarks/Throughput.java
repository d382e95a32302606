package dev.ferry.benchmarks;

import com.sun.management.HotSpotDiagnosticMXBean;
import dev.ferry.Compression;
import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationResult;
import dev.ferry.sim.SimHost;
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
 * paths, and it leaves the C allocator holding the memory that the sim's lazily allocated chunks
 * come from, so every counted run finds it already mapped (otherwise whichever runs happen to get
 * fresh pages pay the kernel's first touch, about 0.4 s per GiB on this machine). The machine is small and noisy, so the report uses medians; the last line is
 * {@code throughput-ratio: X.XX}, the median Ferry rate over the median raw rate.
 *
 * <p>After each migration the destination's memory digest is compared with the source's (outside
 * the timed region), so a fast but wrong engine cannot pass.
 */
final class Throughput {
  private static final int IO_SIZE = 64 * 1024;
  private static final String RELAUNCHED = "ferry.benchmarks.relaunched";
  private static final long HEADROOM = 512L << 20;

  static int run(String[] args, PrintStream out) throws Exception {
    long size = DataSize.gib(1).bytes();
    int repeat = 3;
    boolean tls = false;
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--tls" -> tls = true;
        case "--size" -> size = DataSize.parse(value(args, ++i, "--size")).bytes();
        case "--repeat" -> repeat = Integer.parseInt(value(args, ++i, "--repeat"));
        default -> {
          System.err.println("unknown option '" + args[i] + "'");
          Main.usage(System.err);
          return 2;
        }
      }
    }
    if (size < (1 << 20) || size % 4096 != 0 || repeat < 1) {
      System.err.println("--size must be a multiple of 4 KiB, at least 1 MiB; --repeat at least 1");
      return 2;
    }
    // A migration holds the source and the destination copy of guest memory off-heap at once.
    long needed = 2 * size + HEADROOM;
    if (maxDirectMemory() < needed) {
      if (System.getProperty(RELAUNCHED) != null) {
        System.err.println("direct memory limit " + maxDirectMemory() + " bytes is below the " + needed
            + " needed; run with -XX:MaxDirectMemorySize=" + (needed >> 20) + "m");
        return 2;
      }
      return relaunch(needed, args, out);
    }
    new Throughput(out, tls ? BenchTls.loopback() : null).measure(size, repeat);
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

  /** Moves {@code bytes} through a loopback socket pair in this JVM; returns the nanoseconds taken. */
  static long raw(long bytes, int sockBuf) throws Exception {
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
          try {
            while (left > 0) {
              in.clear();
              if (left < IO_SIZE) {
                in.limit((int) left);
              }
              int n = accepted.read(in);
              if (n < 0) {
                throw new java.io.EOFException(left + " bytes short");
              }
              left -= n;
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
        while (left > 0) {
          out.clear();
          if (left < IO_SIZE) {
            out.limit((int) left);
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

  /** The JVM's direct memory limit: -XX:MaxDirectMemorySize, or the maximum heap when it is 0. */
  static long maxDirectMemory() {
    try {
      HotSpotDiagnosticMXBean hs = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
      long v = Long.parseLong(hs.getVMOption("MaxDirectMemorySize").getValue());
      return v > 0 ? v : Runtime.getRuntime().maxMemory();
    } catch (RuntimeException e) {
      return Runtime.getRuntime().maxMemory();
    }
  }

  /** Runs this command again in a JVM whose direct memory limit is {@code needed} bytes. */
  private static int relaunch(long needed, String[] args, PrintStream out) throws Exception {
    String java = ProcessHandle.current().info().command()
        .orElse(System.getProperty("java.home") + File.separator + "bin" + File.separator + "java");
    List<String> cmd = new ArrayList<>();
    cmd.add(java);
    for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if (!a.startsWith("-XX:MaxDirectMemorySize")) {
        cmd.add(a);
      }
    }
    cmd.add("-XX:MaxDirectMemorySize=" + ((needed >> 20) + 1) + "m");
    cmd.add("-D" + RELAUNCHED + "=true");
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(Main.class.getName());
    cmd.add("throughput");
    cmd.addAll(List.of(args));
    out.println("(relaunching with -XX:MaxDirectMemorySize=" + ((needed >> 20) + 1)
        + "m: the sim's guest memory is off-heap and the default limit is the heap size)");
    return new ProcessBuilder(cmd).inheritIO().start().waitFor();
  }
}
