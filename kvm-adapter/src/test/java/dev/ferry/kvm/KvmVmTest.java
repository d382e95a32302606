package dev.ferry.kvm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.ferry.spi.DataSize;
import dev.ferry.spi.VmState;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The VMM on real /dev/kvm: booting the test guest, its serial output, pause, and guests that misbehave. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class KvmVmTest {
  private KvmHost host;

  @BeforeEach
  void setUp() {
    TestGuests.requireKvm();
    host = KvmHost.named("kvm-vm-test");
  }

  @AfterEach
  void tearDown() {
    if (host != null) {
      host.destroy();
    }
  }

  private KvmVm boot(String name, String cmdline, TestGuests.Serial serial) {
    KvmVm vm = host.createVm(KvmVmSpec.builder(name).memory(DataSize.mib(16)).kernel(TestGuests.testGuest())
        .cmdline(cmdline).build());
    vm.addSerialListener(serial);
    return vm;
  }

  @Test
  void createVm_testGuest_printsStartAndHeartbeatsOnSerialAndLog() throws Exception {
    TestGuests.Serial serial = new TestGuests.Serial();
    host.addSerialListener(serial);
    KvmVm vm = host.createVm(KvmVmSpec.builder("boot").memory(DataSize.mib(16)).kernel(TestGuests.testGuest())
        .cmdline("mb=4 rate=2").build());
    assertThat(vm.state()).isEqualTo(VmState.RUNNING);
    assertThat(serial.await("HB n=2 ", 0, 15_000)).as("second heartbeat; serial so far: %s", serial.lines())
        .isPresent();
    assertThat(serial.lines().get(0)).isEqualTo("FERRY-GUEST start mb=4 rate=2");
    assertThat(serial.lines()).anyMatch(l -> l.startsWith("FERRY-GUEST tsc_hz="));
    assertThat(serial.sawCorrupt()).isFalse();
    assertThat(Files.readAllLines(vm.serialLog())).contains("FERRY-GUEST start mb=4 rate=2");
    assertThat(vm.failure()).isEmpty();
  }

  @Test
  void pause_stopsTheGuest_resumeContinuesTheHeartbeat() throws Exception {
    TestGuests.Serial serial = new TestGuests.Serial();
    KvmVm vm = boot("pause", "mb=4 rate=2", serial);
    assertThat(serial.await("HB n=1 ", 0, 15_000)).isPresent();
    List<Long> latencies = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      vm.pause();
      latencies.add(vm.lastPauseLatency().orElseThrow().toNanos() / 1000);
      long exits = vm.exits();
      int lines = serial.lines().size();
      Thread.sleep(20);
      assertThat(vm.exits()).as("guest exits while paused").isEqualTo(exits);
      assertThat(serial.lines()).hasSize(lines);
      vm.resume();
      Thread.sleep(5);
    }
    latencies.sort(null);
    System.out.println("pause latency over 20 pauses (us): median " + latencies.get(10) + ", max "
        + latencies.get(19));
    int after = serial.lines().size();
    assertThat(serial.await("HB ", after, 5_000)).as("heartbeat after resume").isPresent();
    List<Long> hb = serial.heartbeats();
    for (int i = 1; i < hb.size(); i++) {
      assertThat(hb.get(i)).isEqualTo(hb.get(i - 1) + 1);
    }
  }

  @Test
  void pause_deeplyThrottledGuest_stopsItAndResumeRunsItOn() throws Exception {
    TestGuests.Serial serial = new TestGuests.Serial();
    KvmVm vm = boot("throttled", "mb=4 rate=2", serial);
    assertThat(serial.await("HB n=1 ", 0, 15_000)).isPresent();
    vm.throttle().orElseThrow().setPercent(99);
    Thread.sleep(200);
    for (int i = 0; i < 5; i++) {
      vm.pause();
      long exits = vm.exits();
      Thread.sleep(20);
      assertThat(vm.exits()).as("guest exits while paused").isEqualTo(exits);
      vm.resume();
    }
    System.out.println("pause latency at 99 % throttle: " + vm.lastPauseLatency().orElseThrow().toNanos() / 1000 + " us");
    long exits = vm.exits();
    vm.throttle().orElseThrow().setPercent(0);
    int n = serial.lines().size();
    assertThat(serial.await("HB ", n, 5_000)).as("heartbeat once the throttle is lifted").isPresent();
    assertThat(vm.exits()).isGreaterThan(exits);
  }

  @Test
  void guestTsc_whilePaused_standsStill() {
    KvmVm vm = boot("tsc", "mb=4 rate=0", new TestGuests.Serial());
    assertThrows(IllegalStateException.class, vm::guestTsc);
    vm.pause();
    long a = vm.guestTsc();
    long b = vm.guestTsc();
    assertThat(a).isPositive();
    assertThat(b).as("the guest's clock while paused").isEqualTo(a);
  }

  @Test
  void unknownPort_failsTheVmWithAClearError() throws Exception {
    assertMisbehaviourFails(1, "port 0x1234");
  }

  @Test
  void hltWithNoInterrupts_failsTheVmWithAClearError() throws Exception {
    assertMisbehaviourFails(2, "hlt");
  }

  /**
   * An exception with an empty IDT is a triple fault on bare metal (KVM_EXIT_SHUTDOWN); the nested
   * KVM of this machine kind reports it as an emulation failure instead. Either way the VM stops.
   */
  @Test
  void faultWithEmptyIdt_failsTheVmWithAClearError() throws Exception {
    assertMisbehaviourFails(3, "rip=0x1000");
    assertThat(host.vms()).isEmpty();
  }

  private void assertMisbehaviourFails(int kind, String expected) throws Exception {
    TestGuests.Serial serial = new TestGuests.Serial();
    host.addSerialListener(serial);
    KvmVm vm = host.createVm(KvmVmSpec.builder("bad-" + kind).memory(DataSize.mib(4))
        .kernel(TestGuests.misbehaving(kind)).build());
    assertThat(serial.await(KvmVm.FAILURE_PREFIX, 0, 10_000)).as("failure line; serial: %s", serial.lines())
        .isPresent();
    assertThat(serial.lines().get(0)).isEqualTo("BAD " + kind);
    assertThat(vm.failure()).hasValueSatisfying(f -> assertThat(f).contains(expected));
    System.out.println("guest " + kind + " failed: " + vm.failure().orElseThrow());
    assertThat(vm.state()).isEqualTo(VmState.PAUSED);
    IllegalStateException e = assertThrows(IllegalStateException.class, vm::resume);
    assertThat(e.getMessage()).contains(expected);
    vm.stop();
    assertThat(vm.state()).isEqualTo(VmState.STOPPED);
    assertThat(host.vm("bad-" + kind)).isEmpty();
  }
}
