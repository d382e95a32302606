package dev.ferry.kvm;

import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.MigrationReceiver;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;

/**
 * A KVM destination host in a process of its own, for the two-process migration tests: opens
 * {@code kvm://<host>}, listens on 127.0.0.1 (a free port), prints {@code LISTENING <port>}, then one
 * {@code SERIAL <vm> <line>} per serial line of any VM migrated in, until its standard input closes.
 */
public final class KvmDestinationMain {
  private KvmDestinationMain() {}

  public static void main(String[] args) throws Exception {
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    String name = args[0];
    KvmHost kvm = KvmHost.named(name, args.length > 1 ? java.nio.file.Paths.get(args[1]) : null);
    kvm.addSerialListener((vm, line) -> out.println("SERIAL " + vm + " " + line));
    try (Host host = Ferry.connect("kvm://" + name)) {
      MigrationReceiver r = host.listen(new InetSocketAddress("127.0.0.1", 0), "");
      out.println("LISTENING " + r.target().address().getPort());
      while (System.in.read() >= 0) {
        // runs until the test closes our stdin (or kills us)
      }
      out.println("VMS " + kvm.vms());
    } finally {
      kvm.destroy();
    }
  }
}
