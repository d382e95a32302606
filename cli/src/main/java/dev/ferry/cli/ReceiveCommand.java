package dev.ferry.cli;

import dev.ferry.Ferry;
import dev.ferry.FerryTls;
import dev.ferry.Host;
import dev.ferry.MigrationReceiver;
import dev.ferry.ReceivedMigration;
import dev.ferry.ReceiverOptions;
import dev.ferry.sim.SimVm;
import java.io.PrintStream;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code ferry receive [HOST_URI]}: a long-running destination. Listens on {@code --listen} for
 * the host {@code HOST_URI} (a sim host of this process by default), prints one line per migration
 * that ends here, and keeps serving migration after migration until SIGINT or SIGTERM, which close
 * the receiver (migrations under way before their switchover are discarded; a post-copy under way
 * is waited for) and end the process.
 */
@Command(name = "receive", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Receive migrations on HOST_URI, one after another, until SIGINT or SIGTERM.",
        "Prints `listening on ADDRESS` first, then one line per migration that ends here."})
final class ReceiveCommand implements Callable<Integer> {
  @Parameters(index = "0", arity = "0..1", paramLabel = "HOST_URI", defaultValue = "sim://ferry-receiver",
      description = "The destination host (default ${DEFAULT-VALUE}, a simulated host in this process; kvm://b for KVM).")
  String hostUri;

  @Option(names = "--listen", paramLabel = "HOST:PORT", defaultValue = "127.0.0.1:7411",
      description = "Address to receive on; port 0 takes any free port (default ${DEFAULT-VALUE}).")
  String listen;

  @Option(names = "--stop-arrived",
      description = "sim: stop each VM once it has arrived, freeing its memory, so the same VM can come again.")
  boolean stopArrived;

  @Mixin
  SecurityOptions security = new SecurityOptions();

  private final AtomicBoolean stopping = new AtomicBoolean();
  private final AtomicLong endedHere = new AtomicLong();

  @Override
  public Integer call() throws Exception {
    PrintStream out = System.out;
    BlockingQueue<ReceivedMigration> ended = new LinkedBlockingQueue<>();
    Host host = Ferry.connect(hostUri);
    if (stopArrived && !"sim".equals(host.provider())) {
      host.close();
      throw new IllegalArgumentException("--stop-arrived is for sim:// hosts, not " + hostUri);
    }
    FerryTls tls = security.tls();
    String token = security.token(System.getenv());
    MigrationReceiver receiver = host.listen(Endpoints.address(listen),
        ReceiverOptions.builder().tls(tls).token(token).listener(m -> {
          endedHere.incrementAndGet();
          ended.add(m);
        }).build());
    Thread hook = new Thread(() -> shutDown(receiver, host), "ferry-receive-shutdown");
    Runtime.getRuntime().addShutdownHook(hook);
    out.printf("listening on %s:%d for %s%s%s%n", receiver.address().getHostString(), receiver.address().getPort(),
        hostUri, tls != null ? ", TLS 1.3 with client certificates" : "", token.isEmpty() ? "" : ", token required");
    out.flush();
    long arrived = 0;
    long total = 0;
    while (!stopping.get()) {
      ReceivedMigration in = ended.poll(1, TimeUnit.SECONDS);
      if (in == null) {
        continue;
      }
      total++;
      if (in.outcome() == ReceivedMigration.Outcome.ARRIVED) {
        arrived++;
        out.printf(Locale.ROOT, "#%d ARRIVED %s in %d ms%s%n", total, in.vmName(), in.duration().toMillis(),
            stopArrived ? stop(in.vmName()) : "");
      } else {
        out.printf(Locale.ROOT, "#%d %s %s after %d ms: %s%n", total, in.outcome(), in.vmName(),
            in.duration().toMillis(), in.detail());
      }
      out.flush();
    }
    return ExitCodes.OK;
  }

  private String stop(String vmName) {
    Optional<SimVm> vm = SourceVm.simHost(hostUri).vm(vmName);
    vm.ifPresent(SimVm::stop);
    return vm.isPresent() ? "; stopped (--stop-arrived)" : "";
  }

  private void shutDown(MigrationReceiver receiver, Host host) {
    if (!stopping.compareAndSet(false, true)) {
      return;
    }
    System.out.printf("stopping: %d migration(s) under way%n", receiver.activeMigrations());
    receiver.close();
    host.close();
    SimHosts.destroy(hostUri);
    System.out.printf("stopped after %d migration(s) ended here%n", endedHere.get());
    System.out.flush();
  }
}
