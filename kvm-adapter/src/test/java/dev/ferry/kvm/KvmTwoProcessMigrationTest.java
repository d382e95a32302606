package dev.ferry.kvm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.MigrationEvent;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationSession;
import dev.ferry.MigrationTarget;
import dev.ferry.Phase;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.VmState;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The destination is another JVM ({@link KvmDestinationMain}): Ferry's engine migrates a running test
 * guest into it over TCP on 127.0.0.1, and the destination's serial output, read from that process,
 * must continue the heartbeat with no CORRUPT; a destination killed with SIGKILL mid-round leaves
 * the guest running on the source. Skipped, saying why, where /dev/kvm cannot be used.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class KvmTwoProcessMigrationTest {
  private KvmHost source;
  private Host a;
  private Process dest;
  private final TestGuests.Serial srcSerial = new TestGuests.Serial();
  private final TestGuests.Serial dstSerial = new TestGuests.Serial();
  private final List<String> destOutput = new ArrayList<>();
  private int destPort;

  @BeforeEach
  void setUp() throws Exception {
    TestGuests.requireKvm();
    source = KvmHost.named("two-proc-a");
    source.addSerialListener(srcSerial);
    a = Ferry.connect("kvm://two-proc-a");
    String java = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
    dest = new ProcessBuilder(java, "-Xmx256m", "-cp", System.getProperty("java.class.path"),
        KvmDestinationMain.class.getName(), "two-proc-b",
        Paths.get("target", "two-proc-b").toAbsolutePath().toString())
        .redirectErrorStream(true).start();
    CountDownLatch listening = new CountDownLatch(1);
    Thread reader = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(dest.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          synchronized (destOutput) {
            destOutput.add(line);
          }
          if (line.startsWith("LISTENING ")) {
            destPort = Integer.parseInt(line.substring(10).trim());
            listening.countDown();
          } else if (line.startsWith("SERIAL ")) {
            int sp = line.indexOf(' ', 7);
            dstSerial.line(line.substring(7, sp), line.substring(sp + 1));
          }
        }
      } catch (java.io.IOException e) {
        // the process ended
      }
    }, "dest-output");
    reader.setDaemon(true);
    reader.start();
    assertThat(listening.await(30, TimeUnit.SECONDS)).as("destination process listening; output: %s", destOutput)
        .isTrue();
  }

  @AfterEach
  void tearDown() throws Exception {
    if (dest != null) {
      dest.getOutputStream().close();
      if (!dest.waitFor(10, TimeUnit.SECONDS)) {
        dest.destroyForcibly();
        dest.waitFor(10, TimeUnit.SECONDS);
      }
    }
    if (a != null) {
      a.close();
    }
    if (source != null) {
      source.destroy();
    }
  }

  private KvmVm bootGuest() throws InterruptedException {
    KvmVm vm = source.createVm(KvmVmSpec.builder("guest").memory(DataSize.mib(40)).kernel(TestGuests.testGuest())
        .cmdline("mb=32 rate=8").build());
    assertThat(srcSerial.await("HB n=2 ", 0, 20_000)).as("source heartbeat; serial: %s", srcSerial.lines())
        .isPresent();
    return vm;
  }

  @Test
  void migrate_toAnotherProcess_heartbeatContinuesThereWithoutCorrupt() throws Exception {
    KvmVm vm = bootGuest();
    MigrationSession s = a.migrate(a.vm("guest"), MigrationTarget.of("127.0.0.1", destPort),
        MigrationOptions.builder().maxDowntime(Duration.ofMillis(300)).deadline(Duration.ofSeconds(60)).verify(true)
            .build());
    MigrationResult r = s.completion().get(90, TimeUnit.SECONDS);
    assertThat(r.outcome()).as("result %s", r).isEqualTo(MigrationResult.Outcome.COMPLETED);
    assertThat(r.verified()).isTrue();
    System.out.printf("two-process kvm migration: %s in %d ms, downtime %s, %d rounds, %,d bytes on the wire%n",
        r.outcome(), r.totalTime().toMillis(), r.downtimeText(), r.roundCount(), r.bytesOnWire());
    assertThat(vm.state()).isEqualTo(VmState.STOPPED);
    List<Long> before = srcSerial.heartbeats();
    assertThat(dstSerial.await("HB ", 0, 10_000)).as("heartbeat in the destination process; its output: %s",
        destOutput).isPresent();
    int n = dstSerial.lines().size();
    assertThat(dstSerial.await("HB ", n, 10_000)).isPresent();
    List<Long> after = dstSerial.heartbeats();
    assertThat(after.get(0)).isEqualTo(before.get(before.size() - 1) + 1);
    for (int i = 1; i < after.size(); i++) {
      assertThat(after.get(i)).isEqualTo(after.get(i - 1) + 1);
    }
    assertThat(srcSerial.sawCorrupt()).isFalse();
    assertThat(dstSerial.sawCorrupt()).as("destination serial: %s", dstSerial.lines()).isFalse();
  }

  @Test
  void sigkillOfDestinationProcess_midRound_guestKeepsRunningOnSource() throws Exception {
    KvmVm vm = bootGuest();
    CountDownLatch preCopy = new CountDownLatch(1);
    MigrationSession s = a.migrate(a.vm("guest"), MigrationTarget.of("127.0.0.1", destPort),
        MigrationOptions.builder().bandwidthLimit(Bandwidth.mbps(10)).deadline(Duration.ofSeconds(60)).verify(true)
            .listener(e -> {
              if (e instanceof MigrationEvent.PhaseChanged && ((MigrationEvent.PhaseChanged) e).to() == Phase.PRE_COPY) {
                preCopy.countDown();
              }
            })
            .build());
    assertThat(preCopy.await(30, TimeUnit.SECONDS)).isTrue();
    Thread.sleep(500);
    assertThat(s.phase()).isEqualTo(Phase.PRE_COPY);
    dest.destroyForcibly();                         // SIGKILL
    assertThat(dest.waitFor(10, TimeUnit.SECONDS)).isTrue();
    MigrationResult r = s.completion().get(60, TimeUnit.SECONDS);
    System.out.println("after SIGKILL of the destination: " + r.outcome() + ", " + r.cause().map(Throwable::getMessage)
        .orElse(""));
    assertThat(r.outcome()).isEqualTo(MigrationResult.Outcome.FAILED);
    assertThat(vm.state()).isEqualTo(VmState.RUNNING);
    int n = srcSerial.lines().size();
    assertThat(srcSerial.await("HB ", n, 5_000)).as("heartbeat on the source after the destination died").isPresent();
    int m = srcSerial.lines().size();
    assertThat(srcSerial.await("HB ", m, 5_000)).isPresent();
    List<Long> hb = srcSerial.heartbeats();
    for (int i = 1; i < hb.size(); i++) {
      assertThat(hb.get(i)).isEqualTo(hb.get(i - 1) + 1);
    }
    assertThat(srcSerial.sawCorrupt()).isFalse();
  }
}
