package dev.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.MigrationResult.Outcome;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

/** The ferry command's exit codes: one per outcome, the same in the help, and what real runs exit with. */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ExitCodesTest {

  @Test
  void exitCodes_everyOutcome_hasItsOwnCode_listedUnderItsNameInTheHelp() {
    String help = new CommandLine(new FerryCommand()).getUsageMessage(CommandLine.Help.Ansi.OFF);
    String migrateHelp = new CommandLine(new MigrateCommand()).getUsageMessage(CommandLine.Help.Ansi.OFF);
    Set<Integer> codes = new HashSet<>(Set.of(ExitCodes.ERROR, ExitCodes.USAGE));
    for (Outcome o : Outcome.values()) {
      int code = ExitCodes.of(o);
      assertThat(o == Outcome.COMPLETED || codes.add(code)).as("%s has a code of its own: %d", o, code).isTrue();
      Pattern line = Pattern.compile("(?m)^\\s+" + code + "\\s+" + o + "\\b");
      assertThat(help).as("ferry --help lists %d for %s", code, o).containsPattern(line);
      assertThat(migrateHelp).as("ferry migrate --help lists %d for %s", code, o).containsPattern(line);
    }
    assertThat(ExitCodes.of(Outcome.COMPLETED)).isZero();
    assertThat(codes).hasSize(Outcome.values().length - 1 + 2);
  }

  @Test
  void migrate_completes_exitsZero() {
    assertThat(FerryCommand.execute("migrate", "sim://cli-exit-a", "web-1", "sim://cli-exit-b", "--sim-vm",
        "16MiB:idle", "--json", "--max-downtime", ReceiveCommandTest.DOWNTIME)).isZero();
  }

  @Test
  void migrate_thatCannotConvergeByItsDeadline_rollsBack_exitsThree() {
    // a guest dirtying ~800 MB/s over a 20 MB/s link with a 10 ms pause allowed cannot converge
    assertThat(FerryCommand.execute("migrate", "sim://cli-exit-c", "web-1", "sim://cli-exit-d", "--sim-vm",
        "32MiB:uniform=200000", "--bandwidth", "20MB/s", "--max-downtime", "10ms", "--deadline", "4s",
        "--policy", "fixed-downtime", "--json")).isEqualTo(3);
  }

  @Test
  void migrate_toAPortNobodyListensOn_failsWithExitFive() {
    int code = FerryCommand.execute("migrate", "sim://cli-exit-e", "web-1", "127.0.0.1:1", "--sim-vm", "16MiB:idle",
        "--json");
    assertThat(code).isEqualTo(ExitCodes.of(Outcome.FAILED));
  }

  @Test
  void migrate_noSuchVm_exitsOne() {
    assertThat(FerryCommand.execute("migrate", "sim://cli-exit-f", "nobody", "sim://cli-exit-g", "--json"))
        .isEqualTo(ExitCodes.ERROR);
  }

  @Test
  void migrate_badDurationOrMissingArgument_exitsTwo() {
    assertThat(FerryCommand.execute("migrate", "sim://a", "web-1", "sim://b", "--max-downtime", "soon"))
        .isEqualTo(ExitCodes.USAGE);
    assertThat(FerryCommand.execute("migrate", "sim://a")).isEqualTo(ExitCodes.USAGE);
    assertThat(FerryCommand.execute("migrate", "sim://cli-exit-h", "web-1", "sim://cli-exit-i", "--policy", "hope"))
        .isEqualTo(ExitCodes.USAGE);
  }

  @Test
  void completion_printsABashCompletionScriptOfEverySubcommand() {
    java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
    java.io.PrintStream old = System.out;
    int code;
    try (java.io.PrintStream capture = new java.io.PrintStream(bytes, true, java.nio.charset.StandardCharsets.UTF_8)) {
      System.setOut(capture);
      code = FerryCommand.execute("completion");
    } finally {
      System.setOut(old);
    }
    String script = bytes.toString(java.nio.charset.StandardCharsets.UTF_8);
    assertThat(code).isZero();
    assertThat(script).startsWith("#!/usr/bin/env bash").contains("complete -F _complete_ferry");
    for (String sub : Arrays.asList("plan", "migrate", "receive", "watch", "report", "quickstart", "completion")) {
      assertThat(script).contains(sub);
    }
  }
}
