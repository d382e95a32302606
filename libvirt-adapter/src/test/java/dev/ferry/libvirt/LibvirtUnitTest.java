package dev.ferry.libvirt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.DriverException;
import dev.ferry.spi.HypervisorMigration.Flag;
import dev.ferry.spi.HypervisorMigration.JobState;
import dev.ferry.spi.HypervisorMigration.Request;
import dev.ferry.spi.HypervisorMigration.Stats;
import java.net.URI;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Map;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;
import org.libvirt.Domain;
import org.libvirt.TypedIntParameter;
import org.libvirt.TypedParameter;
import org.libvirt.TypedStringParameter;
import org.libvirt.TypedUlongParameter;

/** What the adapter decides without a libvirt connection: URIs, parameters, flags, statistics. */
class LibvirtUnitTest {

  @Test
  void serviceLoader_findsTheLibvirtProvider() {
    assertThat(ServiceLoader.load(dev.ferry.spi.HypervisorProvider.class).stream().map(p -> p.get().name()))
        .contains("libvirt");
  }

  @Test
  void supports_libvirtQemuUris_yes_othersNoWithReason() {
    LibvirtProvider p = new LibvirtProvider();
    for (String u : new String[] {"qemu:///system", "qemu+unix:///system?socket=/tmp/a/libvirt-sock",
        "qemu+tcp://host1/system", "qemu+ssh://root@host2/system", "qemu:///session", "test:///default"}) {
      assertThat(p.supports(URI.create(u)).supported()).as(u).isTrue();
    }
    assertThat(p.supports(URI.create("sim://a")).reason()).contains("not a libvirt");
    assertThat(p.supports(URI.create("qemu:///nowhere")).reason()).contains("/system or /session");
  }

  @Test
  void jobType_isLibvirtsRawValue_notLibvirtJavasBitConstants() {
    // regression: libvirt-java's Domain.JobType.UNBOUNDED is a bit value (4), libvirt's is 2
    assertThat(JobStatsParser.active(2)).isTrue();
    assertThat(JobStatsParser.active(1)).isTrue();
    assertThat(JobStatsParser.active(3)).as("completed").isFalse();
    assertThat(JobStatsParser.active(0)).as("none").isFalse();
  }

  @Test
  void stats_runningJob_downtimeIsExpected_completedJob_downtimeIsReal() {
    TypedParameter[] params = {
        new TypedUlongParameter("time_elapsed", 2500), new TypedUlongParameter("memory_total", 64L << 20),
        new TypedUlongParameter("memory_processed", 40L << 20), new TypedUlongParameter("memory_remaining", 24L << 20),
        new TypedUlongParameter("memory_normal", 9000), new TypedUlongParameter("memory_constant", 1000),
        new TypedUlongParameter("data_processed", 41L << 20), new TypedUlongParameter("memory_dirty_rate", 2500),
        new TypedUlongParameter("memory_page_size", 4096), new TypedUlongParameter("memory_bps", 16L << 20),
        new TypedUlongParameter("memory_iteration", 3), new TypedUlongParameter("downtime", 120),
        new TypedIntParameter("auto_converge_throttle", 20), new TypedStringParameter("errmsg", "boom")};
    Map<String, Object> v = JobStatsParser.values(params);
    Stats running = JobStatsParser.stats(JobState.PRE_COPY, v, DataSize.mib(64), false);
    assertThat(running.iteration()).isEqualTo(3);
    assertThat(running.processed()).isEqualTo(DataSize.mib(40));
    assertThat(running.remaining()).isEqualTo(DataSize.mib(24));
    assertThat(running.normalPages()).isEqualTo(9000);
    assertThat(running.zeroPages()).isEqualTo(1000);
    assertThat(running.bytesOnWire()).isEqualTo(41L << 20);
    assertThat(running.dirtyRatePagesPerSecond()).isEqualTo(2500);
    assertThat(running.bandwidth()).isEqualTo(Bandwidth.mibps(16));
    assertThat(running.expectedDowntime()).isEqualTo(Duration.ofMillis(120));
    assertThat(running.downtime()).isZero();
    assertThat(running.throttlePercent()).isEqualTo(20);
    assertThat(running.elapsed()).isEqualTo(Duration.ofMillis(2500));
    Stats done = JobStatsParser.stats(JobState.ENDED, v, DataSize.mib(64), true);
    assertThat(done.downtime()).isEqualTo(Duration.ofMillis(120));
    assertThat(done.expectedDowntime()).isZero();
    assertThat(JobStatsParser.errorMessage(v)).isEqualTo("boom");
  }

  @Test
  void runningState_postCopyIsSeenFromTheStateReason() {
    // libvirt-java's SuspendedDetail has no post-copy values: the reason comes from virDomainGetState
    assertThat(JobStatsParser.runningState(VirtNative.STATE_PAUSED, VirtNative.PAUSED_POSTCOPY)).isEqualTo(JobState.POST_COPY);
    assertThat(JobStatsParser.runningState(VirtNative.STATE_PAUSED, VirtNative.PAUSED_POSTCOPY_FAILED))
        .isEqualTo(JobState.POST_COPY);
    assertThat(JobStatsParser.runningState(VirtNative.STATE_PAUSED, VirtNative.PAUSED_MIGRATION))
        .isEqualTo(JobState.STOP_AND_COPY);
    assertThat(JobStatsParser.runningState(VirtNative.STATE_RUNNING, 1)).isEqualTo(JobState.PRE_COPY);
  }

  @Test
  void bandwidth_inMibPerSecond_unlimitedIsLibvirtsMaximum() {
    assertThat(LibvirtJob.mibps(Bandwidth.UNLIMITED)).isEqualTo(Long.MAX_VALUE / (1024 * 1024));
    assertThat(LibvirtJob.mibps(Bandwidth.mibps(8))).isEqualTo(8);
  }

  @Test
  void bandwidth_notWholeMib_roundedDownNeverUp() {
    // 8 MB/s is 7.63 MiB/s: 8 MiB/s would be 8,388,608 B/s, about 5 % over the cap given
    assertThat(LibvirtJob.mibps(Bandwidth.mbps(8))).isEqualTo(7);
    assertThat(LibvirtJob.mibps(Bandwidth.mbps(10))).isEqualTo(9);
    assertThat(LibvirtJob.mibps(Bandwidth.bytesPerSecond((8L << 20) - 1))).isEqualTo(7);
    for (long bps : new long[] {1L << 20, 8_000_000L, 12_345_678L, 999_999_999L, 5L << 30}) {
      assertThat(LibvirtJob.mibps(Bandwidth.bytesPerSecond(bps)) << 20).as("%d B/s", bps).isLessThanOrEqualTo(bps);
    }
  }

  @Test
  void bandwidth_belowOneMib_refusedRatherThanRoundedUpOrUnlimited() {
    assertThatThrownBy(() -> LibvirtJob.mibps(Bandwidth.bytesPerSecond(1)))
        .isInstanceOf(DriverException.class).hasMessageContaining("whole MiB/s");
    assertThatThrownBy(() -> LibvirtJob.mibps(Bandwidth.bytesPerSecond((1L << 20) - 1)))
        .isInstanceOf(DriverException.class);
  }

  @Test
  void downtimeUnknown_noCompletedStats_saysSo_completedStatsWithDowntime_known() {
    assertThat(JobStatsParser.downtimeUnknown(Map.of(), true))
        .hasValueSatisfying(w -> assertThat(w).contains("no completed-job statistics").contains("post-copy"));
    assertThat(JobStatsParser.downtimeUnknown(Map.of("memory_total", 64L << 20), false))
        .hasValueSatisfying(w -> assertThat(w).contains("no downtime"));
    assertThat(JobStatsParser.downtimeUnknown(Map.of("downtime", 0L), false)).as("0 ms measured is a figure")
        .isEmpty();
  }

  @Test
  void stats_postCopyRequests_parsed() {
    Stats s = JobStatsParser.stats(JobState.POST_COPY, Map.of("memory_total", 64L << 20,
        "memory_postcopy_requests", 42L), DataSize.mib(64), false);
    assertThat(s.postCopyRequests()).isEqualTo(42);
  }

  @Test
  void notRunning_onlyRunningWithoutPostCopyFailureIsRunning() {
    assertThat(LibvirtJob.notRunning(VirtNative.STATE_RUNNING, 2)).isNull();
    assertThat(LibvirtJob.notRunning(VirtNative.STATE_RUNNING, VirtNative.RUNNING_POSTCOPY)).isNull();
    assertThat(LibvirtJob.notRunning(VirtNative.STATE_RUNNING, VirtNative.RUNNING_POSTCOPY_FAILED))
        .isEqualTo("running (reason post-copy failed)");
    assertThat(LibvirtJob.notRunning(VirtNative.STATE_SHUTOFF, 3)).isEqualTo("shut off (reason crashed)");
    assertThat(LibvirtJob.notRunning(VirtNative.STATE_PAUSED, VirtNative.PAUSED_POSTCOPY_FAILED))
        .isEqualTo("paused (reason post-copy failed)");
  }

  @Test
  void migrateUri_localDestinationIsLoopback_remoteIsItsHost() {
    assertThat(LibvirtJob.migrateUri(URI.create("qemu+unix:///system?socket=/x"))).isEqualTo("tcp://127.0.0.1");
    assertThat(LibvirtJob.migrateUri(URI.create("qemu+ssh://root@host2/system"))).isEqualTo("tcp://host2");
  }

  @Test
  void flags_persistenceOnlyForDefinedDomains_parallelWithSeveralConnections() {
    Request r = new Request(URI.create("qemu:///system"), Duration.ofMillis(300), Bandwidth.UNLIMITED, 2,
        EnumSet.of(Flag.LIVE, Flag.PERSIST_DESTINATION, Flag.UNDEFINE_SOURCE, Flag.COMPRESSED));
    long transientFlags = LibvirtJob.flags(r, LibvirtMigrationOptions.defaults(), false);
    assertThat(transientFlags & Domain.MigrateFlags.LIVE).isNotZero();
    assertThat(transientFlags & Domain.MigrateFlags.PERSIST_DEST).isZero();
    assertThat(transientFlags & Domain.MigrateFlags.PARALLEL).isNotZero();
    assertThat(transientFlags & Domain.MigrateFlags.COMPRESSED).isNotZero();
    long persistentFlags = LibvirtJob.flags(r, LibvirtMigrationOptions.defaults(), true);
    assertThat(persistentFlags & Domain.MigrateFlags.PERSIST_DEST).isNotZero();
    assertThat(persistentFlags & Domain.MigrateFlags.UNDEFINE_SOURCE).isNotZero();
  }

  @Test
  void flags_libvirtOptions_peerToPeerTlsAndPersistenceAsAsked_whateverTheSourceDefinition() {
    Request r = new Request(URI.create("qemu:///system"), Duration.ofMillis(300), Bandwidth.UNLIMITED, 1,
        EnumSet.of(Flag.LIVE, Flag.PERSIST_DESTINATION, Flag.UNDEFINE_SOURCE));
    LibvirtMigrationOptions o = LibvirtMigrationOptions.builder().peerToPeer(true).tls(true)
        .persistDestination(true).undefineSource(false).build();
    long f = LibvirtJob.flags(r, o, false);
    assertThat(f & Domain.MigrateFlags.PEER2PEER).isNotZero();
    assertThat(f & Domain.MigrateFlags.TLS).isNotZero();
    assertThat(f & Domain.MigrateFlags.PERSIST_DEST).as("asked for, on a transient domain too").isNotZero();
    assertThat(f & Domain.MigrateFlags.UNDEFINE_SOURCE).as("asked not to, on a defined domain too").isZero();
    long defaults = LibvirtJob.flags(r, LibvirtMigrationOptions.defaults(), true);
    assertThat(defaults & (Domain.MigrateFlags.PEER2PEER | Domain.MigrateFlags.TLS)).isZero();
  }

  @Test
  void libvirtOptions_blankUri_refused_defaultsSayManagedDirect() {
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> LibvirtMigrationOptions.builder().migrateUri(" "))
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(LibvirtMigrationOptions.defaults().toString()).isEqualTo("LibvirtMigrationOptions[managed direct]");
    assertThat(LibvirtMigrationOptions.defaults().migrateUri()).isEmpty();
    assertThat(LibvirtMigrationOptions.defaults().persistDestination()).isEmpty();
  }

  @Test
  void capabilities_hostUuidAndCpu() {
    LibvirtHost.Capabilities c = LibvirtHost.Capabilities.parse("<capabilities><host>"
        + "<uuid>8f0e3c52-1b7a-4c61-9d7e-3a5a0f000a01</uuid><cpu><arch>x86_64</arch><model>EPYC-Rome</model>"
        + "<vendor>AMD</vendor><feature name='x2apic'/><feature name='svm'/></cpu></host></capabilities>");
    assertThat(c.uuid).isEqualTo("8f0e3c52-1b7a-4c61-9d7e-3a5a0f000a01");
    assertThat(c.cpu.model()).isEqualTo("EPYC-Rome");
    assertThat(c.cpu.features()).containsExactlyInAnyOrder("x2apic", "svm");
  }
}
