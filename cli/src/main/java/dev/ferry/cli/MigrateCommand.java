package dev.ferry.cli;

import dev.ferry.Host;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationSession;
import dev.ferry.Vm;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code ferry migrate SOURCE_URI VM TARGET}: one live migration, from any host a provider on the
 * class path opens (sim, libvirt, kvm) to a host URI (opened in this process) or to a remote
 * receiver at {@code HOST:PORT} (a {@code ferry receive}). Exits with the outcome's code
 * ({@link ExitCodes}). SIGINT or SIGTERM cancels the migration (the VM keeps running at home).
 */
@Command(name = "migrate", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Live-migrate VM from the host SOURCE_URI to TARGET.",
        "TARGET is a host URI (sim://b, qemu+tcp://host2/system, kvm://b) or HOST:PORT of a `ferry receive`."},
    exitCodeListHeading = "%nExit codes:%n", exitCodeList = {FerryCommand.EXIT_0, FerryCommand.EXIT_1,
        FerryCommand.EXIT_2, FerryCommand.EXIT_3, FerryCommand.EXIT_4, FerryCommand.EXIT_5, FerryCommand.EXIT_6,
        FerryCommand.EXIT_7, FerryCommand.EXIT_8})
final class MigrateCommand implements Callable<Integer> {
  @Parameters(index = "2", paramLabel = "TARGET", description = "A host URI, or HOST:PORT of a receiver.")
  String target;

  @Mixin
  SourceVm source = new SourceVm();

  @Mixin
  MigrationFlags flags = new MigrationFlags();

  @Option(names = "--destination-xml", paramLabel = "FILE",
      description = "libvirt: the domain XML to use on the destination (serial log and disk paths that differ).")
  Path destinationXml;

  @Mixin
  SecurityOptions security = new SecurityOptions();

  @Mixin
  OutputOptions output = new OutputOptions();

  /** The result of the migration, once it has ended (for tests that run the command in-process). */
  volatile MigrationResult result;

  @Override
  public Integer call() throws Exception {
    // the options first: a wrong one is a usage error before any host is opened
    MigrationOptions.Builder builder = flags.builder(Duration.ofSeconds(60));
    try (Host a = source.connect()) {
      Vm vm = source.vm(a);
      boolean libvirt = "libvirt".equals(a.provider());
      try (Destination to = Destination.open(target, security); EventOutput out = output.open(vm.name())) {
        MigrationOptions options = builder.deadline(flags.deadline(Duration.ofSeconds(libvirt ? 120 : 60)))
            .tls(to.tls())
            .destinationConfig(destinationXml == null ? null : java.nio.file.Files.readString(destinationXml))
            .listener(out.listener())
            .build();
        out.log("migrating " + vm.name() + " (" + vm.memory() + ") from " + source.uri() + " to " + target + " with "
            + options);
        MigrationSession session = a.migrate(vm, to.target(), options);
        out.started(session);
        Thread cancel = new Thread(() -> cancelled(session, out), "ferry-migrate-cancel");
        Runtime.getRuntime().addShutdownHook(cancel);
        try {
          result = await(session, options.deadline());
        } finally {
          removeHook(cancel);
        }
      }
      return ExitCodes.of(result.outcome());
    } finally {
      SimHosts.destroy(source.uri());
    }
  }

  /** Waits for the end: the deadline and then some (the engine ends at its deadline), or a day without one. */
  static MigrationResult await(MigrationSession session, Duration deadline) throws Exception {
    long seconds = deadline.isZero() ? 24 * 3600 : deadline.toSeconds() + 180;
    try {
      return session.completion().get(seconds, TimeUnit.SECONDS);
    } catch (TimeoutException e) {
      session.cancel();
      throw new IllegalStateException("the migration did not end within " + seconds + " s; cancelled", e);
    }
  }

  /**
   * SIGINT or SIGTERM (a shutdown hook): cancels the migration, waits up to 30 s for it to end
   * (the Finished event is printed), and ends the process with the outcome's code rather than the
   * signal's, so a script sees 4 (CANCELLED), or the outcome it had reached if it was too late.
   */
  private static void cancelled(MigrationSession session, EventOutput out) {
    session.cancel();
    try {
      MigrationResult r = session.completion().get(30, TimeUnit.SECONDS);
      out.close();
      System.out.flush();
      Runtime.getRuntime().halt(ExitCodes.of(r.outcome()));
    } catch (Exception e) {
      System.err.println("ferry: the migration did not end within 30 s of the cancel: " + e);
    }
  }

  private static void removeHook(Thread hook) {
    try {
      Runtime.getRuntime().removeShutdownHook(hook);
    } catch (IllegalStateException e) {
      // the JVM is shutting down: the hook runs
    }
  }
}
