package dev.ferry.samples;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The samples' command line: {@code java -jar samples/target/ferry-samples.jar <command>}. */
@Command(name = "ferry-samples", mixinStandardHelpOptions = true,
    description = "Runnable Ferry samples on the simulated hypervisor.",
    subcommands = {QuickStart.class, WatchDirtyRate.class, HarnessExample.class, LibvirtMigrate.class, KvmMigrate.class,
        CommandLine.HelpCommand.class})
public final class Main implements Runnable {

  public static void main(String[] args) {
    // Keep the library's own logging to warnings, so the sample's output reads cleanly; pass
    // -Dorg.slf4j.simpleLogger.defaultLogLevel=info to see what the engine does.
    if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
      System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    }
    CommandLine cli = new CommandLine(new Main());
    // A refusal the user can act on (a receiver that will not run open, a bad certificate file)
    // is one line, not a stack trace.
    cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
      if (e instanceof dev.ferry.FerryException || e instanceof IllegalArgumentException) {
        cmd.getErr().println(cmd.getColorScheme().errorText(e.getClass().getSimpleName() + ": " + e.getMessage()));
        return 2;
      }
      throw e;
    });
    System.exit(cli.execute(args));
  }

  @Override
  public void run() {
    new CommandLine(this).usage(System.out);
  }
}
