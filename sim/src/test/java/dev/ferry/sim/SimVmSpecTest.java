package dev.ferry.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.spi.DataSize;
import org.junit.jupiter.api.Test;

class SimVmSpecTest {

  @Test
  void defaults_areTheDocumentedOnes() {
    SimVmSpec s = SimVmSpec.builder("vm").build();
    assertThat(s.memory()).isEqualTo(DataSize.mib(256));
    assertThat(s.pageSize()).isEqualTo(4096);
    assertThat(s.vcpus()).isEqualTo(1);
    assertThat(s.workload()).isEqualTo(Workload.idle());
    assertThat(s.deviceStateSize()).isEqualTo(DataSize.kib(64));
    assertThat(s.cpu()).isEmpty();
    assertThat(s.id()).isEqualTo(SimVmSpec.builder("vm").build().id());
    assertThat(s.id()).isNotEqualTo(SimVmSpec.builder("vm").seed(2).build().id());
  }

  @Test
  void blankName_rejected() {
    assertThatThrownBy(() -> SimVmSpec.builder(" ")).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("name");
  }

  @Test
  void badPageSize_rejected() {
    assertThatThrownBy(() -> SimVmSpec.builder("v").pageSize(3000).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("power of two");
    assertThatThrownBy(() -> SimVmSpec.builder("v").pageSize(0).build()).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> SimVmSpec.builder("v").pageSize(128).build())
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void badMemory_rejected() {
    assertThatThrownBy(() -> SimVmSpec.builder("v").memory(DataSize.ZERO).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("memory must be positive");
    assertThatThrownBy(() -> SimVmSpec.builder("v").memory(DataSize.bytes(4097)).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("whole number");
  }

  @Test
  void badVcpusOrDeviceState_rejected() {
    assertThatThrownBy(() -> SimVmSpec.builder("v").vcpus(0).build()).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("vCPUs");
    assertThatThrownBy(() -> SimVmSpec.builder("v").deviceStateSize(DataSize.ZERO).build())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("device-state size");
  }

  @Test
  void tinyDeviceState_isGrownToHoldTheRegisters() {
    SimVm vm = SimHost.named("spec-test").createVm(SimVmSpec.builder("v").memory(DataSize.mib(1)).vcpus(8)
        .deviceStateSize(DataSize.bytes(16)).build());
    try {
      vm.pause();
      assertThat(vm.deviceState().orElseThrow().save().length).isGreaterThan(16);
    } finally {
      SimHost.named("spec-test").destroy();
    }
  }
}
