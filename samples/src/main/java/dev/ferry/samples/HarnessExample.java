package dev.ferry.samples;

import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationReceiver;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationTarget;
import dev.ferry.cli.ResultJson;
import dev.ferry.sim.FaultyLink;
import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimVm;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.VmState;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * What a test harness does with the simulated hypervisor: drive real migrations through a link it
 * breaks on purpose, and check that the orchestration's invariants hold. Here: a link cut in the
 * middle of round 0 must leave the VM running on the source and nothing on the destination; the
 * retry over a healthy link must move it, with identical memory.
 */
@Command(name = "harness", mixinStandardHelpOptions = true,
    description = "Migrate through a link cut on purpose, check the VM survives, retry, check it moved.")
final class HarnessExample implements Callable<Integer> {
  @Option(names = "--memory", defaultValue = "256MiB", description = "Guest memory (default ${DEFAULT-VALUE}).")
  String memory;

  @Option(names = "--cut-after", defaultValue = "64MiB",
      description = "Cut the link after this much has crossed it (default ${DEFAULT-VALUE}).")
  String cutAfter;

  private final List<String> failures = new ArrayList<>();

  @Override
  public Integer call() throws Exception {
    SimVm vm = SimHost.named("harness-a").createVm(SimVmSpec.builder("app-1").memory(DataSize.parse(memory))
        .vcpus(2).workload(Workload.hotSet(5_000)).seed(3).build());
    vm.fillRandom(3);
    try (Host a = Ferry.connect("sim://harness-a"); Host b = Ferry.connect("sim://harness-b")) {
      MigrationReceiver receiver = b.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), "");
      MigrationOptions options = MigrationOptions.builder().verify(true).deadline(Duration.ofSeconds(60)).build();

      try (FaultyLink link = FaultyLink.to(receiver.address())) {
        link.cutAfter(DataSize.parse(cutAfter).bytes());
        MigrationResult r = a.migrate(a.vm("app-1"), new MigrationTarget(link.address(), ""), options)
            .completion().join();
        System.out.println("attempt 1, link cut after " + cutAfter + ": " + ResultJson.of(r, vm.description()
            .memory().bytes()));
        expect(r.outcome() == MigrationResult.Outcome.FAILED, "attempt 1 failed");
        expect(vm.state() == VmState.RUNNING, "the VM still runs on the source");
        expect(a.vms().size() == 1 && b.vms().isEmpty(), "the source lists the VM, the destination nothing");
        expect(awaitNoIncoming(), "the destination discarded its partial copy");
      }

      MigrationResult r = a.migrate(a.vm("app-1"), receiver.target(), options).completion().join();
      System.out.println("attempt 2, healthy link: " + ResultJson.of(r, vm.description().memory().bytes()));
      expect(r.completed() && r.verified(), "attempt 2 completed with memory verified");
      expect(a.vms().isEmpty() && b.vms().size() == 1, "the VM is on the destination only");
      expect(b.vm("app-1").state() == VmState.RUNNING, "the VM runs on the destination");
    } finally {
      SimHost.destroyAll();
    }
    if (failures.isEmpty()) {
      System.out.println("all checks passed");
      return 0;
    }
    System.out.println("FAILED: " + String.join("; ", failures));
    return 1;
  }

  private boolean awaitNoIncoming() throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (!SimHost.named("harness-b").incomingVms().isEmpty()) {
      if (System.nanoTime() > deadline) {
        return false;
      }
      Thread.sleep(10);
    }
    return true;
  }

  private void expect(boolean holds, String what) {
    System.out.println((holds ? "  ok:     " : "  FAILED: ") + what);
    if (!holds) {
      failures.add(what);
    }
  }
}
