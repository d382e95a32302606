package dev.ferry.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.spi.CpuInfo;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.DriverException;
import dev.ferry.spi.HostDriver;
import dev.ferry.spi.HypervisorProvider;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** URIs, the host registry and discovery. */
class SimProviderTest {
  private final SimProvider provider = new SimProvider();

  @AfterEach
  void cleanUp() {
    SimHost.destroyAll();
  }

  @Test
  void serviceLoader_findsSim() {
    // The tests run inside the dev.ferry.sim module, which provides the service but does not use
    // it; ServiceLoader answers a named module only for services it uses (Ferry's core declares it).
    SimProviderTest.class.getModule().addUses(HypervisorProvider.class);
    assertThat(ServiceLoader.load(HypervisorProvider.class).stream().map(p -> p.get().name())).contains("sim");
  }

  @Test
  void supports_answersFromTheSchemeAlone() {
    assertThat(provider.supports(URI.create("sim://a")).supported()).isTrue();
    assertThat(provider.supports(URI.create("SIM://a")).supported()).isTrue();
    HypervisorProvider.Support no = provider.supports(URI.create("qemu+ssh://h/system"));
    assertThat(no.supported()).isFalse();
    assertThat(no.reason()).contains("scheme is not sim");
    assertThat(provider.supports(URI.create("just-a-path")).reason()).contains("no scheme");
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "sim:a                          | missing '//'",
      "sim:///                        | no host",
      "sim://a_b                      | invalid host 'a_b'",
      "sim://a/vm1                    | path ('/vm1')",
      "sim://a:22                     | port",
      "sim://u@a                      | user info",
      "sim://a#frag                   | fragment",
      "sim://a?colour=red             | unknown query parameter 'colour'",
      "sim://a?memory=lots            | bad value 'lots' for query parameter 'memory'",
      "sim://a?memory=0               | 'memory' must be positive",
      "sim://a?memory                 | malformed query parameter 'memory'",
      "sim://a?cpu=                   | bad value '' for query parameter 'cpu'",
      "sim://a?features=sse4,,avx2    | bad feature ''",
      "sim://a?cpu=x&cpu=y            | 'cpu' given twice",
  })
  void open_malformedUri_namesTheBadPart(String uri, String expected) {
    assertThatThrownBy(() -> provider.open(URI.create(uri))).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(expected);
  }

  @Test
  void open_sameNameTwice_reachesTheSameHost() {
    SimVm vm = SimHost.named("rack1-a").createVm(SimVmSpec.builder("web").memory(DataSize.mib(4)).build());
    try (HostDriver d1 = provider.open(URI.create("sim://rack1-a"));
         HostDriver d2 = provider.open(URI.create("sim://Rack1-A"))) {
      assertThat(SimHost.of(d1)).isSameAs(SimHost.of(d2)).isSameAs(SimHost.get("rack1-a").orElseThrow());
      assertThat(d1.vm("web")).containsSame(vm);
      assertThat(d2.vms()).containsExactly(vm);
      assertThat(d1.info().id()).isEqualTo(d2.info().id());
    }
  }

  @Test
  void hostId_isStableAndDerivedFromTheName() {
    String expected = UUID.nameUUIDFromBytes("ferry-sim-host:h1".getBytes(StandardCharsets.UTF_8)).toString();
    assertThat(SimHost.named("h1").id().value()).isEqualTo(expected);
    SimHost.named("h1").destroy();
    assertThat(SimHost.named("h1").id().value()).isEqualTo(expected);
  }

  @Test
  void open_queryParameters_configureANewHost() {
    try (HostDriver d = provider.open(URI.create("sim://big?memory=64GiB&cpu=sim-x86&features=sse4,avx2"))) {
      assertThat(d.info().memory()).isEqualTo(DataSize.gib(64));
      assertThat(d.info().cpu()).isEqualTo(new CpuInfo("sim-x86", Set.of("sse4", "avx2")));
      assertThat(d.info().hostname()).isEqualTo("big");
    }
    // Same parameters again: fine. Others: refused.
    provider.open(URI.create("sim://big?memory=64GiB")).close();
    assertThatThrownBy(() -> provider.open(URI.create("sim://big?memory=1GiB"))).isInstanceOf(DriverException.class)
        .hasMessageContaining("64 GiB");
  }

  @Test
  void defaults_areTheDocumentedOnes() {
    try (HostDriver d = provider.open(URI.create("sim://plain"))) {
      assertThat(d.info().cpu().model()).isEqualTo("sim-x86");
      assertThat(d.info().cpu().features()).isNotEmpty();
      assertThat(d.info().memory()).isEqualTo(SimHost.DEFAULT_MEMORY);
    }
  }

  @Test
  void destroy_removesHostAndClosesItsDrivers() {
    HostDriver d = provider.open(URI.create("sim://doomed"));
    SimVm vm = SimHost.named("doomed").createVm(SimVmSpec.builder("v").memory(DataSize.mib(4)).build());
    SimHost.named("doomed").destroy();
    assertThat(SimHost.get("doomed")).isEmpty();
    assertThat(vm.state()).isEqualTo(dev.ferry.spi.VmState.STOPPED);
    assertThatThrownBy(d::vms).isInstanceOf(IllegalStateException.class).hasMessageContaining("destroyed");
  }

  @Test
  void closedDriver_refusesCallsAndCloseIsIdempotent() {
    HostDriver d = provider.open(URI.create("sim://closing"));
    d.close();
    d.close();
    assertThatThrownBy(d::info).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
    assertThat(SimHost.get("closing")).isPresent();
  }

  @Test
  void createVm_duplicateName_refused() {
    SimHost h = SimHost.named("dups");
    h.createVm(SimVmSpec.builder("v").memory(DataSize.mib(4)).build());
    assertThatThrownBy(() -> h.createVm(SimVmSpec.builder("v").memory(DataSize.mib(4)).seed(2).build()))
        .isInstanceOf(DriverException.class).hasMessageContaining("already has a VM named v");
  }
}
