package dev.ferry.samples;

import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationSession;
import dev.ferry.Vm;
import dev.ferry.cli.EventLines;
import dev.ferry.cli.MigrationFlags;
import dev.ferry.cli.ResultJson;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * Live-migrates a libvirt domain from one libvirt host to another through Ferry: libvirt and QEMU
 * copy the memory, Ferry samples the job, applies its convergence policy and reports one line per
 * round and a line of JSON at the end, as the quick start does. Downtime and total time in the JSON
 * are libvirt's own (its completed-job statistics).
 */
@Command(name = "libvirt-migrate", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Live-migrate a libvirt domain between two libvirt hosts, under Ferry's policies.")
final class LibvirtMigrate implements Callable<Integer> {
  @Option(names = "--source", required = true,
      description = "Source libvirt URI, e.g. qemu:///system or qemu+unix:///system?socket=/path/libvirt-sock.")
  String source;

  @Option(names = "--destination", required = true, description = "Destination libvirt URI, e.g. qemu+ssh://host2/system.")
  String destination;

  @Option(names = "--domain", required = true, description = "The domain to migrate.")
  String domain;

  @Mixin
  MigrationFlags flags = new MigrationFlags();

  @Option(names = "--destination-xml",
      description = "File with the domain XML to use on the destination (serial log and disk paths that differ).")
  java.nio.file.Path destinationXml;

  @Override
  public Integer call() throws Exception {
    MigrationOptions options = flags.builder(Duration.ofSeconds(120))
        .destinationConfig(destinationXml == null ? null : java.nio.file.Files.readString(destinationXml))
        .listener(EventLines.to(System.out))
        .build();
    try (Host a = Ferry.connect(source); Host b = Ferry.connect(destination)) {
      Vm vm = a.vm(domain);
      System.out.printf(Locale.ROOT, "source: domain %s on %s (%s), %s, %d vCPU(s), %s%n", vm.name(),
          a.info().hostname(), source, vm.memory(), vm.description().vcpus(), vm.state());
      System.out.printf("migrating %s to %s with %s%n", vm.name(), destination, options);
      MigrationSession s = a.migrate(vm, b.target(), options);
      long waitSeconds = options.deadline().isZero() ? 24 * 3600 : options.deadline().toSeconds() + 180;
      MigrationResult r = s.completion().get(waitSeconds, TimeUnit.SECONDS);
      if (r.completed()) {
        System.out.printf("destination: domain %s is %s on %s%n", vm.name(), b.vm(vm.name()).state(),
            b.info().hostname());
      } else {
        System.out.printf("source: domain %s is %s on %s%n", vm.name(), a.vm(vm.name()).state(), a.info().hostname());
      }
      System.out.println(ResultJson.of(r, vm.memory().bytes()));
      return r.completed() ? 0 : 1;
    }
  }
}
