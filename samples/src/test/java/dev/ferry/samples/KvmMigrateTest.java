package dev.ferry.samples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.ferry.kvm.KvmHost;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

/**
 * The {@code kvm} sample as the README runs it: boots the test guest, starts the destination as a
 * second process, migrates, and prints the guest's heartbeat from both sides. Skipped, saying why,
 * where /dev/kvm cannot be used or the guest cannot be built (gcc).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class KvmMigrateTest {

  @Test
  void kvmSample_migratesTheGuest_andPrintsTheDestinationsHeartbeat() throws Exception {
    assumeTrue(KvmHost.unavailableReason().isEmpty(),
        () -> "SKIPPED: /dev/kvm cannot be used: " + KvmHost.unavailableReason().orElse(""));
    Path elf = Paths.get("target", "kvm-sample", "guest.elf").toAbsolutePath();
    Process build = new ProcessBuilder("bash", Paths.get("..", "it", "guest", "build.sh").toString(), elf.toString())
        .redirectErrorStream(true).start();
    String log = new String(build.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assumeTrue(build.waitFor(60, TimeUnit.SECONDS) && build.exitValue() == 0,
        () -> "SKIPPED: the test guest could not be built (gcc missing?): " + log);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    PrintStream old = System.out;
    int code;
    try (PrintStream capture = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
      System.setOut(capture);
      code = new CommandLine(new KvmMigrate()).execute("--kernel", elf.toString(), "--cmdline", "mb=16 rate=4",
          "--memory", "24MiB", "--after", "2s");
    } finally {
      System.setOut(old);
    }
    String out = bytes.toString(StandardCharsets.UTF_8);
    System.out.println(out);
    assertThat(code).as("exit code; output:%n%s", out).isZero();
    assertThat(out).contains("[source] HB n=2 ").contains("finished: COMPLETED").contains("verified true")
        .contains("source VM STOPPED");
    assertThat(out).containsPattern("\\[dest\\] HB n=\\d+ ");
    assertThat(out).doesNotContain("CORRUPT");
  }
}
