package dev.ferry.samples;

import dev.ferry.cli.FerryCommand;
import dev.ferry.cli.QuickStartCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The samples' command line: {@code java -jar samples/target/ferry-samples.jar <command>}. */
@Command(name = "ferry-samples", mixinStandardHelpOptions = true,
    description = "Runnable Ferry samples on the simulated hypervisor.",
    subcommands = {QuickStartCommand.class, WatchDirtyRate.class, HarnessExample.class, LibvirtMigrate.class, KvmMigrate.class,
        CommandLine.HelpCommand.class})
public final class Main implements Runnable {

  public static void main(String[] args) {
    // Keep the library's own logging to warnings, so the sample's output reads cleanly; pass
    // -Dorg.slf4j.simpleLogger.defaultLogLevel=info to see what the engine does.
    if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
      System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    }
    // A refusal the user can act on (a receiver that will not run open, a bad certificate file)
    // is one line, not a stack trace: the ferry command's handling, and its exit codes.
    System.exit(FerryCommand.commandLine(new Main()).execute(args));
  }

  @Override
  public void run() {
    new CommandLine(this).usage(System.out);
  }
}
