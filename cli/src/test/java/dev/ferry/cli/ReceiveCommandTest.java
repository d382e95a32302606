package dev.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.MigrationResult;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code ferry receive} as a real process on loopback: a long-running destination that serves
 * migration after migration, and shuts down cleanly on SIGTERM.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class ReceiveCommandTest {
  /**
   * Generous on purpose: the engine predicts the pause and the destination's activation from the
   * slowest of this process's last stop-and-copies, and the first one of a cold JVM has been seen
   * near 330 ms here, above the 300 ms default, which made every later migration of this test JVM
   * roll back at its deadline. This test is about the receiver, not about downtime.
   */
  static final String DOWNTIME = "2s";
  private static final Pattern LISTENING = Pattern.compile("listening on 127\\.0\\.0\\.1:(\\d+) .*");

  static int port(FerryProcess receiver) throws InterruptedException {
    Matcher m = LISTENING.matcher(receiver.await(l -> LISTENING.matcher(l).matches(), Duration.ofSeconds(60)));
    assertThat(m.matches()).isTrue();
    return Integer.parseInt(m.group(1));
  }

  @Test
  void receive_twentyMigrationsInARow_servesEveryOneWithoutARestart() throws Exception {
    try (FerryProcess receiver = FerryProcess.start("receive", "--listen", "127.0.0.1:0", "--stop-arrived")) {
      int port = port(receiver);
      for (int i = 1; i <= 20; i++) {
        MigrateCommand migrate = new MigrateCommand();
        int code = FerryCommand.commandLine(migrate).execute("sim://cli-twenty-" + i, "web-1",
            "127.0.0.1:" + port, "--sim-vm", "16MiB:uniform=500", "--json", "--deadline", "60s", "--max-downtime",
            DOWNTIME);
        MigrationResult r = migrate.result;
        assertThat(code).as("migration %d: exit code", i).isZero();
        assertThat(r.outcome()).as("migration %d", i).isEqualTo(MigrationResult.Outcome.COMPLETED);
        assertThat(r.verified()).as("migration %d verified", i).isTrue();
        // the receiver says so, and has stopped the VM, before the same VM comes again
        String line = receiver.await(l -> l.startsWith("#"), Duration.ofSeconds(60));
        assertThat(line).startsWith("#" + i + " ARRIVED web-1 in ").endsWith("; stopped (--stop-arrived)");
      }
      assertThat(receiver.process.isAlive()).as("the receiver still runs after 20 migrations").isTrue();

      receiver.process.toHandle().destroy(); // SIGTERM (Process.destroy would close its streams)

      receiver.await(l -> l.equals("stopped after 20 migration(s) ended here"), Duration.ofSeconds(30));
      assertThat(receiver.exit(Duration.ofSeconds(30))).as("exit code after SIGTERM").isEqualTo(143);
    }
  }
}
