package dev.ferry.samples;

import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationReceiver;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationSession;
import dev.ferry.MigrationTarget;
import dev.ferry.ReceivedMigration;
import dev.ferry.cli.Endpoints;
import dev.ferry.cli.EventLines;
import dev.ferry.cli.MigrationFlags;
import dev.ferry.cli.Units;
import dev.ferry.kvm.KvmHost;
import dev.ferry.kvm.KvmVm;
import dev.ferry.kvm.KvmVmSpec;
import dev.ferry.spi.DataSize;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Boots the project's test guest on a KVM host of this VMM (ferry-kvm, /dev/kvm) and live-migrates
 * it with Ferry's engine to a second KVM host in another process, over TCP on 127.0.0.1: one line
 * per round, and the guest's serial heartbeat from both sides ({@code [source]}, {@code [dest]}). By
 * default the destination process is started by this one (the same jar with {@code --listen}).
 */
@Command(name = "kvm", aliases = "kvm-migrate", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Boot the test guest on /dev/kvm and live-migrate it to a second KVM host process.")
final class KvmMigrate implements Callable<Integer> {
  @Option(names = "--kernel", defaultValue = "it/target/guest.elf",
      description = "The test guest (build it with it/guest/build.sh; default ${DEFAULT-VALUE}).")
  String kernel;

  @Option(names = "--cmdline", defaultValue = "mb=64 rate=4",
      description = "The guest's command line: region MiB and dirtying MiB/s (default ${DEFAULT-VALUE}).")
  String cmdline;

  @Option(names = "--memory", defaultValue = "72MiB", description = "Guest RAM (default ${DEFAULT-VALUE}).")
  String memory;

  @Mixin
  MigrationFlags flags = new MigrationFlags();

  @Option(names = "--after", defaultValue = "3s",
      description = "How long to show the destination's heartbeat after the switchover (default ${DEFAULT-VALUE}).")
  String after;

  @Option(names = "--listen", paramLabel = "HOST:PORT",
      description = "Run the destination host only, receiving on HOST:PORT (port 0: any), until stdin closes"
          + " (and for at least --after once the guest has arrived).")
  String listen;

  @Option(names = "--connect", paramLabel = "HOST:PORT",
      description = "Run the source only, migrating to a destination started with --listen.")
  String connect;

  @Override
  public Integer call() throws Exception {
    try {
      KvmHost.unavailableReason().ifPresent(why -> {
        throw new IllegalStateException("KVM cannot be used here: " + why);
      });
      return listen != null ? receive() : migrate();
    } finally {
      KvmHost.destroyAll();
    }
  }

  private int receive() throws Exception {
    KvmHost kvm = KvmHost.named("kvm-sample-b");
    kvm.addSerialListener((vm, line) -> System.out.println("[dest] " + line));
    try (Host b = Ferry.connect("kvm://kvm-sample-b")) {
      MigrationReceiver r = b.listen(Endpoints.address(listen), "");
      System.out.println("LISTENING " + r.target().address().getPort());
      System.out.flush();
      if (r.awaitReceived(1, Duration.ofMinutes(10))) {
        ReceivedMigration in = r.received().get(0);
        System.out.println("destination: " + in.vmName() + " " + in.outcome() + " in " + in.duration().toMillis() + " ms");
      }
      long t0 = System.nanoTime();
      while (System.in.read() >= 0) {
        // keep the guest running until the source (or the terminal) closes our stdin
      }
      // With no stdin at all (run in the background), still show the guest running here for --after.
      long left = Units.duration(after).toMillis() - (System.nanoTime() - t0) / 1_000_000;
      if (left > 0) {
        Thread.sleep(left);
      }
      return 0;
    }
  }

  private int migrate() throws Exception {
    Path elf = Paths.get(kernel);
    if (!Files.isRegularFile(elf)) {
      System.err.println("no test guest at " + elf + ": build it with it/guest/build.sh (needs gcc), or pass --kernel");
      return 2;
    }
    KvmHost kvm = KvmHost.named("kvm-sample-a");
    CountDownLatch heartbeat = new CountDownLatch(2);
    kvm.addSerialListener((vm, line) -> {
      System.out.println("[source] " + line);
      if (line.startsWith("HB ")) {
        heartbeat.countDown();
      }
    });
    KvmVm vm = kvm.createVm(KvmVmSpec.builder("guest").memory(DataSize.parse(memory)).kernel(elf).cmdline(cmdline)
        .build());
    System.out.printf("source: booted %s (%s, \"%s\") on /dev/kvm%n", elf, vm.description().memory(), cmdline);
    if (!heartbeat.await(20, TimeUnit.SECONDS)) {
      System.err.println("the guest printed no heartbeat within 20 s" + vm.failure().map(f -> ": " + f).orElse(""));
      return 1;
    }
    Process dest = null;
    MigrationTarget target;
    AtomicInteger destHeartbeats = new AtomicInteger();
    if (connect != null) {
      target = Endpoints.target(connect);
    } else {
      dest = startDestination(destHeartbeats);
      target = MigrationTarget.of("127.0.0.1", destPort);
    }
    try (Host a = Ferry.connect("kvm://kvm-sample-a")) {
      MigrationOptions options = flags.builder(Duration.ofSeconds(60))
          .listener(EventLines.to(System.out))
          .build();
      System.out.printf("migrating guest to %s with %s%n", target.address(), options);
      MigrationSession s = a.migrate(a.vm("guest"), target, options);
      MigrationResult r = s.completion().join();
      Thread.sleep(Units.duration(after).toMillis());
      System.out.printf("result: %s in %d ms, downtime %s, %d rounds, %s on the wire, verified %s; source VM %s%n",
          r.outcome(), r.totalTime().toMillis(), r.downtimeText(), r.roundCount(), DataSize.bytes(r.bytesOnWire()),
          r.verified(), vm.state());
      return r.completed() ? 0 : 1;
    } finally {
      if (dest != null) {
        dest.getOutputStream().close();
        if (!dest.waitFor(10, TimeUnit.SECONDS)) {
          dest.destroyForcibly();
        }
      }
    }
  }

  private volatile int destPort;

  /** Starts this jar again as the destination, and relays its output. */
  private Process startDestination(AtomicInteger heartbeats) throws Exception {
    String java = ProcessHandle.current().info().command().orElse("java");
    List<String> cmd = new ArrayList<>(List.of(java, "-cp", System.getProperty("java.class.path"),
        Main.class.getName(), "kvm", "--listen", "127.0.0.1:0"));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    CountDownLatch listening = new CountDownLatch(1);
    Thread relay = new Thread(() -> {
      try (BufferedReader in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = in.readLine()) != null) {
          if (line.startsWith("LISTENING ")) {
            destPort = Integer.parseInt(line.substring(10).trim());
            listening.countDown();
          } else {
            System.out.println(line);
          }
        }
      } catch (java.io.IOException e) {
        // the destination ended
      }
    }, "kvm-sample-destination");
    relay.setDaemon(true);
    relay.start();
    if (!listening.await(30, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IllegalStateException("the destination process did not start listening within 30 s");
    }
    System.out.println("destination: a second process (pid " + p.pid() + ") receives on 127.0.0.1:" + destPort);
    return p;
  }
}
