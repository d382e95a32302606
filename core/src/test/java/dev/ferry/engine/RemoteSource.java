package dev.ferry.engine;

import dev.ferry.MigrationEvent;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationTarget;
import dev.ferry.policy.Decision;
import dev.ferry.policy.PolicyAction;
import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimVm;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;

/**
 * A source in a JVM of its own, for the tests that kill or stop the source's process: migrates a
 * busy 32 MiB simulated VM to 127.0.0.1:PORT at 20 MB/s, holding pre-copy until round {@code hold},
 * then ending it by stop-and-copy or post-copy, and prints {@code RESULT <outcome>} at the end.
 *
 * <p>Arguments: port, peer timeout in ms, hold round, {@code stop-and-copy} or {@code post-copy},
 * post-copy recovery timeout in ms.
 */
public final class RemoteSource {
  private RemoteSource() {}

  public static void main(String[] args) throws Exception {
    int port = Integer.parseInt(args[0]);
    Duration peer = Duration.ofMillis(Long.parseLong(args[1]));
    long hold = Long.parseLong(args[2]);
    boolean postCopy = args[3].equals("post-copy");
    SimHost host = SimHost.named("remote-source");
    SimVm vm = host.createVm(SimVmSpec.builder("remote-vm").memory(DataSize.mib(32)).vcpus(2)
        .workload(Workload.uniform(3000)).seed(5).build());
    vm.fillRandom(5);
    PolicyAction end = postCopy ? new PolicyAction.SwitchToPostCopy() : new PolicyAction.ForceCompletion();
    MigrationOptions o = MigrationOptions.builder().maxDowntime(Duration.ofMillis(1)).deadline(Duration.ofMinutes(1))
        .bandwidthLimit(Bandwidth.mbps(20)).allowPostCopy(postCopy).peerTimeout(peer)
        .postCopyRecoveryTimeout(Duration.ofMillis(Long.parseLong(args[4])))
        .policy(p -> p.round() >= hold ? Decision.of("the test ends pre-copy here", end) : Decision.keepGoing())
        .listener(e -> {
          if (e instanceof MigrationEvent.RoundCompleted rc) {
            System.out.println("ROUND " + rc.stats().round());
            System.out.flush();
          }
        }).build();
    MigrationResult r = SourceMigration.start(host.info(), vm,
        new MigrationTarget(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), ""), o)
        .completion().get();
    System.out.println("RESULT " + r.outcome());
    System.out.flush();
    System.exit(0);
  }
}
