package dev.ferry.cli;

import dev.ferry.FerryException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code ferry} command: {@code plan}, {@code migrate}, {@code receive}, {@code watch},
 * {@code report}, {@code quickstart} and {@code completion}, over every hypervisor provider on the
 * class path. {@link #main} exits with the code of {@link ExitCodes}.
 */
@Command(name = "ferry", mixinStandardHelpOptions = true, versionProvider = FerryCommand.Version.class,
    description = "Live migration of virtual machines, over any hypervisor that plugs in (sim, libvirt, kvm).",
    subcommands = {PlanCommand.class, MigrateCommand.class, ReceiveCommand.class, WatchCommand.class, ReportCommand.class,
        QuickStartCommand.class, CompletionCommand.class, CommandLine.HelpCommand.class},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {FerryCommand.EXIT_0, FerryCommand.EXIT_1, FerryCommand.EXIT_2, FerryCommand.EXIT_3,
        FerryCommand.EXIT_4, FerryCommand.EXIT_5, FerryCommand.EXIT_6, FerryCommand.EXIT_7, FerryCommand.EXIT_8})
public final class FerryCommand implements Runnable {
  // The help's list of exit codes; ExitCodes holds the same numbers (ExitCodesTest compares them).
  static final String EXIT_0 = "0:COMPLETED (or the command succeeded)";
  static final String EXIT_1 = "1:error before any outcome (host unreachable, no such VM, refused)";
  static final String EXIT_2 = "2:usage error (bad option or argument)";
  static final String EXIT_3 = "3:ROLLED_BACK (the policy or the deadline gave up; the VM runs on the source)";
  static final String EXIT_4 = "4:CANCELLED (the VM runs on the source)";
  static final String EXIT_5 = "5:FAILED (an error ended it; the VM runs on the source)";
  static final String EXIT_6 = "6:IN_DOUBT (switchover not confirmed; ask the destination)";
  static final String EXIT_7 = "7:DESTINATION_FAILED (the destination does not run the VM after the switch)";
  static final String EXIT_8 = "8:GUEST_LOST (post-copy lost its source before every page arrived)";

  public static void main(String[] args) {
    System.exit(execute(args));
  }

  /** Runs the command line {@code args} and returns its exit code (without exiting). */
  public static int execute(String... args) {
    // Keep the library's own logging to warnings, on stderr; pass
    // -Dorg.slf4j.simpleLogger.defaultLogLevel=info (FERRY_JAVA_OPTS with bin/ferry) to see more.
    if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
      System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    }
    return commandLine(new FerryCommand()).execute(args);
  }

  /**
   * The command line of {@code root} with ferry's error handling: a refusal the user can act on is
   * one line on stderr, not a stack trace; a wrong argument found late is a usage error.
   */
  public static CommandLine commandLine(Object root) {
    CommandLine cli = new CommandLine(root);
    cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
      if (e instanceof IllegalArgumentException) {
        cmd.getErr().println(cmd.getColorScheme().errorText("usage: " + e.getMessage()));
        return ExitCodes.USAGE;
      }
      if (e instanceof FerryException || e instanceof java.io.IOException || e instanceof IllegalStateException) {
        cmd.getErr().println(cmd.getColorScheme().errorText(e.getClass().getSimpleName() + ": " + e.getMessage()));
        return ExitCodes.ERROR;
      }
      e.printStackTrace(cmd.getErr());
      return ExitCodes.ERROR;
    });
    return cli;
  }

  @Override
  public void run() {
    new CommandLine(this).usage(System.out);
  }

  /** The version from the jar's manifest, or "development" when run from classes. */
  static final class Version implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      String v = FerryCommand.class.getPackage().getImplementationVersion();
      return new String[] {"ferry " + (v == null ? "development build" : v)};
    }
  }
}
