package dev.ferry.kvm;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Paths;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Where there is no KVM device, the backend says so in words (the tests' skip messages and
 * {@code Ferry.connect}'s error use that text): a second JVM, pointed at a device that does not
 * exist ({@code -Dferry.kvm.device}), prints {@link KvmHost#unavailableReason()} and the error of
 * opening {@code kvm://x}.
 */
class NoKvmTest {

  public static void main(String[] args) {
    System.out.println("REASON " + KvmHost.unavailableReason().orElse("(none)"));
    try {
      new KvmProvider().open(java.net.URI.create("kvm://x"));
      System.out.println("OPEN ok");
    } catch (RuntimeException e) {
      System.out.println("OPEN " + e.getClass().getSimpleName() + ": " + e.getMessage());
    }
  }

  @Test
  void missingDevice_unavailableReasonAndOpenErrorSaySo() throws Exception {
    String java = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder(java, "-Dferry.kvm.device=/nonexistent/kvm", "-cp",
        System.getProperty("java.class.path"), NoKvmTest.class.getName()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(out).contains("REASON cannot open /nonexistent/kvm: ENOENT").contains("no KVM on this machine");
    assertThat(out).contains("OPEN DriverException: cannot open kvm://x: cannot open /nonexistent/kvm");
  }
}
