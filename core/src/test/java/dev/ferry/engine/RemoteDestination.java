package dev.ferry.engine;

import dev.ferry.MigrationReceiver;
import dev.ferry.ReceiverOptions;
import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimVm;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.stream.Collectors;

/**
 * A destination host in a JVM of its own, for the tests that kill or stop the destination's process:
 * a simulated host behind a {@link Receiver} on 127.0.0.1, with at most one {@link HookedHost} hook
 * that prints {@code AT <point>} and then either goes on or blocks (so that the test can signal the
 * process while the migration is at that point). It prints {@code PORT <port>} once it listens, and
 * answers {@code status} on standard input with one {@code STATUS ...} line.
 *
 * <p>Arguments: host name, peer timeout in ms, hook point (a {@link HookedHost.Point} or
 * {@code none}), {@code mark} or {@code block}; optionally a directory holding {@code dest.pem},
 * {@code dest.key} and {@code ca.pem}, to receive over TLS only.
 */
public final class RemoteDestination {
  private RemoteDestination() {}

  public static void main(String[] args) throws Exception {
    SimHost host = SimHost.named(args[0]);
    HookedHost hooked = new HookedHost(host.driver());
    if (!args[2].equals("none")) {
      boolean block = args[3].equals("block");
      hooked.on(HookedHost.Point.valueOf(args[2]), () -> {
        System.out.println("AT " + args[2]);
        System.out.flush();
        if (block) {
          try {
            Thread.sleep(3_000); // long enough for the test to signal the process while it is here
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        }
      });
    }
    MigrationReceiver r = Receiver.start(hooked, new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
        ReceiverOptions.builder().peerTimeout(Duration.ofMillis(Long.parseLong(args[1])))
            .tls(args.length > 4 ? dev.ferry.FerryTls.builder()
                .pem(java.nio.file.Path.of(args[4], "dest.pem"), java.nio.file.Path.of(args[4], "dest.key"))
                .trustPem(java.nio.file.Path.of(args[4], "ca.pem")).build() : null)
            .build());
    System.out.println("PORT " + r.address().getPort());
    System.out.flush();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      if (line.equals("status")) {
        String vms = host.vms().stream().map(v -> v.name() + ":" + v.state()).collect(Collectors.joining(","));
        System.out.println("STATUS vms=" + vms + " incoming=" + host.incomingVms().size() + " active="
            + r.activeMigrations());
        System.out.flush();
      } else if (line.equals("exit")) {
        break;
      }
    }
    for (SimVm v : host.vms()) {
      v.stop();
    }
    System.exit(0);
  }
}
