package dev.ferry.libvirt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.mockito.ArgumentMatchers.any;
import static org.mockito.ArgumentMatchers.anyLong;
import static org.mockito.ArgumentMatchers.eq;
import static org.mockito.Mockito.atLeastOnce;
import static org.mockito.Mockito.doReturn;
import static org.mockito.Mockito.doThrow;
import static org.mockito.Mockito.mock;
import static org.mockito.Mockito.never;
import static org.mockito.Mockito.verify;
import static org.mockito.Mockito.when;

import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.CpuInfo;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.DriverException;
import dev.ferry.spi.HostId;
import dev.ferry.spi.HostInfo;
import dev.ferry.spi.HypervisorMigration.Flag;
import dev.ferry.spi.HypervisorMigration.Job;
import dev.ferry.spi.HypervisorMigration.JobState;
import dev.ferry.spi.HypervisorMigration.Request;
import dev.ferry.spi.HypervisorMigration.Result;
import dev.ferry.spi.HypervisorMigration.Result.Outcome;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmId;
import dev.ferry.spi.VmState;
import java.lang.reflect.Constructor;
import java.net.URI;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.DomainJobStats;
import org.libvirt.Error.ErrorNumber;
import org.libvirt.LibvirtException;
import org.libvirt.TypedParameter;
import org.libvirt.TypedUlongParameter;

/**
 * The error paths of a libvirt migration job that no real daemon produces on demand: libvirt's
 * answers are Mockito mocks of libvirt-java's {@link Domain} and {@link Connect}, and the calls
 * bound through JNA come through {@link NativeCalls}; libvirt's C library is never loaded.
 *
 * <p>Each test starts a real {@link LibvirtJob}: its migrate thread blocks in the mocked
 * {@code virDomainMigrate3} until the test says how that call ends.
 */
@Timeout(value = 20, unit = TimeUnit.SECONDS)
@SuppressWarnings("deprecation") // Domain.migrate(Connect, TypedParameter[], long) is the overload LibvirtJob calls
class LibvirtJobErrorPathTest {
  private static final URI SRC = URI.create("qemu+tcp://src.example/system");
  private static final URI DST = URI.create("qemu+tcp://dst.example/system");
  private static final String VM_UUID = "6a1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
  private static final String SRC_HOST = "8f0e3c52-1b7a-4c61-9d7e-3a5a0f000a01";
  private static final String DST_HOST = "8f0e3c52-1b7a-4c61-9d7e-3a5a0f000a02";
  private static final Duration WAIT = Duration.ofSeconds(5);

  private final NativeCalls calls = mock(NativeCalls.class);
  private final LibvirtHost host = mock(LibvirtHost.class);
  private final LibvirtVm vm = mock(LibvirtVm.class);
  /** The VM's domain on its host connection: sampling and controls. */
  private final Domain control = mock(Domain.class);
  private final Connect jobConn = mock(Connect.class);
  /** The same domain on the job's own connection: the blocking migrate call. */
  private final Domain jobDom = mock(Domain.class);
  private final Connect destConn = mock(Connect.class);
  private final Domain onDest = mock(Domain.class);

  private final CountDownLatch migrateEnds = new CountDownLatch(1);
  private volatile Callable<Domain> migrateOutcome = () -> {
    throw new AssertionError("the test did not say how the migrate call ends");
  };

  @BeforeEach
  void libvirt() throws Exception {
    when(host.uri()).thenReturn(SRC);
    when(host.info()).thenReturn(new HostInfo(new HostId(SRC_HOST), "src", new CpuInfo("x86_64", Set.of()),
        DataSize.gib(8)));
    when(vm.description()).thenReturn(new VmDescription(new VmId(VM_UUID), "guest", DataSize.mib(64), 4096, 1,
        new CpuInfo("libvirt-domain", Set.of())));
    when(vm.state()).thenReturn(VmState.RUNNING);
    when(vm.domain()).thenReturn(control);
    when(vm.persistent()).thenReturn(true);

    when(calls.connect(DST)).thenReturn(destConn);
    when(calls.connect(SRC)).thenReturn(jobConn);
    when(destConn.getCapabilities()).thenReturn(capabilities(DST_HOST));
    doThrow(noDomain()).when(destConn).domainLookupByUUIDString(VM_UUID);
    when(jobConn.domainLookupByUUIDString(VM_UUID)).thenReturn(jobDom);

    when(control.getJobStats(0)).thenReturn(running(VirtNative.JOB_UNBOUNDED, 8));
    when(calls.state(control)).thenReturn(state(VirtNative.STATE_RUNNING, 1));
    // the destination runs the domain once the job ends, unless a test says otherwise
    when(calls.state(onDest)).thenReturn(state(VirtNative.STATE_RUNNING, 2 /* migrated */));
    when(jobDom.migrate(eq(destConn), any(TypedParameter[].class), anyLong())).thenAnswer(inv -> {
      if (!migrateEnds.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new AssertionError("the migrate call was never released");
      }
      return migrateOutcome.call();
    });
  }

  // ------------------------------------------------------------ the source gone after switchover

  @Test
  void result_migrateReturnsDestinationDomain_completedWithDestinationsCompletedStats() throws Exception {
    Job job = start(request());
    // after the switchover libvirt removes the source: sampling and state say "Domain not found"
    doThrow(noDomain()).when(control).getJobStats(0);
    doThrow(new VirtNative.DomainGoneException("virDomainGetState: Domain not found")).when(calls).state(control);
    when(onDest.getJobStats(VirtNative.JOB_STATS_COMPLETED)).thenReturn(completed(37));

    Result r = finish(job, () -> onDest);

    assertThat(r.outcome()).isEqualTo(Outcome.COMPLETED);
    assertThat(r.message()).isEmpty();
    assertThat(r.stats().downtime()).as("the destination's completed-job statistics")
        .isEqualTo(Duration.ofMillis(37));
    assertThat(r.downtimeUnknown()).isEmpty();
    assertThat(r.statsNotFinal()).as("the completed job's totals").isEmpty();
    assertThat(job.stats()).isEqualTo(r.stats());
    verify(control, never()).resume();
  }

  @Test
  void result_migrateReturnsButDestinationDomainGone_destinationFailedNeverCompleted() throws Exception {
    Job job = start(postCopyRequest());
    job.startPostCopy();
    doThrow(new VirtNative.DomainGoneException("virDomainGetState: Domain not found: no domain with matching uuid"))
        .when(calls).state(onDest);
    doThrow(noDomain()).when(onDest).getJobStats(VirtNative.JOB_STATS_COMPLETED);

    Result r = finish(job, () -> onDest);

    assertThat(r.outcome()).isEqualTo(Outcome.DESTINATION_FAILED);
    assertThat(r.message()).contains("gone from the destination").contains("Domain not found");
    assertThat(r.downtimeUnknown()).isPresent();
    verify(control, never()).resume();
  }

  @Test
  void result_migrateReturnsButDestinationShutOffCrashed_destinationFailedWithStateAndReason() throws Exception {
    Job job = start(request());
    when(calls.state(onDest)).thenReturn(state(VirtNative.STATE_SHUTOFF, 3 /* crashed */));

    Result r = finish(job, () -> onDest);

    assertThat(r.outcome()).isEqualTo(Outcome.DESTINATION_FAILED);
    assertThat(r.message()).contains("shut off (reason crashed)");
    verify(control, never()).resume();
  }

  @Test
  void result_postCopyCompletedWithoutCompletedStats_completedWithDowntimeUnknownAndReason() throws Exception {
    Job job = start(postCopyRequest());
    job.startPostCopy();
    when(onDest.getJobStats(VirtNative.JOB_STATS_COMPLETED))
        .thenReturn(new DomainJobStats(VirtNative.JOB_NONE, new TypedParameter[0]));

    Result r = finish(job, () -> onDest);

    assertThat(r.outcome()).isEqualTo(Outcome.COMPLETED);
    assertThat(r.downtimeUnknown()).hasValueSatisfying(w -> assertThat(w)
        .isEqualTo("libvirt kept no completed-job statistics after the post-copy migration"));
    assertThat(r.statsNotFinal()).as("bytes and pages from the last sample, and said so").contains(LibvirtJob.LAST_SAMPLE);
  }

  @Test
  void start_bandwidthOf8MBps_libvirtGets7MiBpsNever8() throws Exception {
    Job job = start(new Request(DST, Duration.ofMillis(300), Bandwidth.mbps(8), 1, EnumSet.of(Flag.LIVE)));
    verify(calls).setMaxSpeed(control, 7);
    verify(jobDom).migrate(eq(destConn), org.mockito.ArgumentMatchers.argThat((TypedParameter[] ps) -> {
      for (TypedParameter p : ps) {
        if (p.field.equals(Domain.DomainMigrateParameters.VIR_MIGRATE_PARAM_BANDWIDTH)) {
          return ((TypedUlongParameter) p).value == 7;
        }
      }
      return false;
    }), anyLong());
    finish(job, () -> onDest);
  }

  @Test
  void start_postCopyAllowedWithCap_postCopyGetsTheSameCap_qemuWouldOtherwiseLeaveItUnlimited() throws Exception {
    Job job = start(new Request(DST, Duration.ofMillis(300), Bandwidth.mibps(4), 1, EnumSet.of(Flag.LIVE,
        Flag.POST_COPY)));
    verify(calls).setMaxSpeed(control, 4);
    verify(calls).setMaxPostCopySpeed(control, 4);
    verify(jobDom).migrate(eq(destConn), org.mockito.ArgumentMatchers.argThat((TypedParameter[] ps) ->
        ulong(ps, Domain.DomainMigrateParameters.VIR_MIGRATE_PARAM_BANDWIDTH_POSTCOPY) == 4), anyLong());
    job.setBandwidth(Bandwidth.mibps(9));
    verify(calls).setMaxPostCopySpeed(control, 9);
    job.setBandwidth(Bandwidth.UNLIMITED);
    verify(calls).setMaxPostCopySpeed(control, 0);
    finish(job, () -> onDest);
  }

  @Test
  void start_preCopyOnly_postCopySpeedLeftAlone() throws Exception {
    Job job = start(request());
    verify(calls, never()).setMaxPostCopySpeed(any(), anyLong());
    finish(job, () -> onDest);
  }

  @Test
  void start_libvirtOptions_migrateUriListenAddressAndFlagsPassedAsGiven() throws Exception {
    LibvirtMigrationOptions o = LibvirtMigrationOptions.builder().tls(true).migrateUri("tcp://10.1.2.3:49300")
        .listenAddress("10.1.2.3").persistDestination(false).undefineSource(false).build();
    Job job = start(withOptions(request(), o));
    verify(jobDom).migrate(eq(destConn), org.mockito.ArgumentMatchers.argThat((TypedParameter[] ps) ->
        "tcp://10.1.2.3:49300".equals(string(ps, Domain.DomainMigrateParameters.VIR_MIGRATE_PARAM_URI))
            && "10.1.2.3".equals(string(ps, Domain.DomainMigrateParameters.VIR_MIGRATE_PARAM_LISTEN_ADDRESS))),
        org.mockito.ArgumentMatchers.longThat(f -> (f & Domain.MigrateFlags.TLS) != 0
            && (f & Domain.MigrateFlags.PERSIST_DEST) == 0 && (f & Domain.MigrateFlags.UNDEFINE_SOURCE) == 0
            && (f & Domain.MigrateFlags.PEER2PEER) == 0));
    assertThat(finish(job, () -> onDest).outcome()).isEqualTo(Outcome.COMPLETED);
  }

  @Test
  void start_peerToPeer_migrateToUri3WithTheDestinationUri_destinationLookedUpToConfirm() throws Exception {
    when(jobDom.migrateToURI(eq(DST.toString()), any(TypedParameter[].class),
        org.mockito.ArgumentMatchers.intThat(f -> (f & Domain.MigrateFlags.PEER2PEER) != 0))).thenAnswer(inv -> {
          if (!migrateEnds.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError("the migrate call was never released");
          }
          doReturn(onDest).when(destConn).domainLookupByUUIDString(VM_UUID);
          return 0;
        });
    Job job = start(withOptions(request(), LibvirtMigrationOptions.builder().peerToPeer(true).build()));
    Result r = finish(job, () -> {
      throw new AssertionError("peer-to-peer must not call virDomainMigrate3");
    });
    assertThat(r.outcome()).as("%s", r).isEqualTo(Outcome.COMPLETED);
    verify(jobDom, never()).migrate(any(Connect.class), any(TypedParameter[].class), anyLong());
    verify(calls, atLeastOnce()).state(onDest);
  }

  @Test
  void start_anotherBackendsOptions_refusedBeforeAnythingIsOpened() {
    Request r = withOptions(request(), new dev.ferry.spi.HypervisorMigration.BackendOptions() {
      @Override
      public String toString() {
        return "SomeVmmOptions";
      }
    });
    assertThatThrownBy(() -> LibvirtJob.start(host, vm, r, calls)).isInstanceOf(DriverException.class)
        .hasMessageContaining("takes LibvirtMigrationOptions").hasMessageContaining("SomeVmmOptions");
    verify(calls, never()).connect(any());
  }

  private static Request withOptions(Request r, dev.ferry.spi.HypervisorMigration.BackendOptions o) {
    return new Request(r.destination(), r.maxDowntime(), r.bandwidth(), r.parallelConnections(), r.flags(),
        r.destinationConfig(), java.util.Optional.of(o));
  }

  private static long ulong(TypedParameter[] ps, String field) {
    for (TypedParameter p : ps) {
      if (p.field.equals(field)) {
        return ((TypedUlongParameter) p).value;
      }
    }
    return -1;
  }

  private static String string(TypedParameter[] ps, String field) {
    for (TypedParameter p : ps) {
      if (p.field.equals(field)) {
        return ((org.libvirt.TypedStringParameter) p).value;
      }
    }
    return null;
  }

  @Test
  void result_sourceGoneAndDestinationRunsTheDomain_completedConfirmedByDestination() throws Exception {
    Job job = start(request());
    doThrow(noDomain()).when(control).getJobStats(0);
    doThrow(new VirtNative.DomainGoneException("virDomainGetState: Domain not found")).when(calls).state(control);
    doReturn(onDest).when(destConn).domainLookupByUUIDString(VM_UUID);
    when(calls.state(onDest)).thenReturn(state(VirtNative.STATE_RUNNING, 2 /* migrated */));
    when(onDest.getJobStats(VirtNative.JOB_STATS_COMPLETED)).thenReturn(completed(41));

    Result r = finish(job, () -> {
      throw libvirtError(ErrorNumber.VIR_ERR_NO_DOMAIN, "Domain not found: no domain with matching uuid '" + VM_UUID + "'");
    });

    assertThat(r.outcome()).isEqualTo(Outcome.COMPLETED);
    assertThat(r.message()).isEmpty();
    assertThat(r.stats().downtime()).isEqualTo(Duration.ofMillis(41));
    verify(calls, atLeastOnce()).state(onDest);
  }

  @Test
  void result_sourceGoneAndDestinationLacksTheDomain_failedNeverCompleted() throws Exception {
    Job job = start(request());
    doThrow(noDomain()).when(control).getJobStats(0);
    doThrow(new VirtNative.DomainGoneException("virDomainGetState: Domain not found")).when(calls).state(control);
    // the destination still answers "Domain not found", as it did when the job started

    Result r = finish(job, () -> {
      throw libvirtError(ErrorNumber.VIR_ERR_NO_DOMAIN, "Domain not found: no domain with matching uuid '" + VM_UUID + "'");
    });

    assertThat(r.outcome()).isEqualTo(Outcome.FAILED);
    assertThat(r.message())
        .startsWith("Domain not found: no domain with matching uuid")
        .contains("gone from the source and the destination does not run it");
    verify(destConn, atLeastOnce()).close();
  }

  @Test
  void result_sourceGoneAndDestinationHasItShutOff_failedNeverCompleted() throws Exception {
    Job job = start(request());
    doThrow(new VirtNative.DomainGoneException("virDomainGetState: Domain not found")).when(calls).state(control);
    doReturn(onDest).when(destConn).domainLookupByUUIDString(VM_UUID);
    when(calls.state(onDest)).thenReturn(state(VirtNative.STATE_SHUTOFF, 6 /* failed */));

    Result r = finish(job, () -> {
      throw libvirtError(ErrorNumber.VIR_ERR_NO_DOMAIN, "Domain not found: no domain with matching uuid '" + VM_UUID + "'");
    });

    assertThat(r.outcome()).isEqualTo(Outcome.FAILED);
    assertThat(r.message()).contains("the destination does not run it");
  }

  @Test
  void stats_sourceDomainGoneWhileJobRuns_keepsLastSampleWithoutThrowing() throws Exception {
    Job job = start(request());
    when(control.getJobStats(0)).thenReturn(running(VirtNative.JOB_UNBOUNDED, 16));
    assertThat(job.stats().processed()).isEqualTo(DataSize.mib(16));
    doThrow(noDomain()).when(control).getJobStats(0);

    assertThat(job.stats().processed()).isEqualTo(DataSize.mib(16));
    assertThat(job.stats().state()).isEqualTo(JobState.PRE_COPY);
    assertThat(job.isDone()).as("only the migrate call decides").isFalse();
    finish(job, () -> onDest);
  }

  // ------------------------------------------------------------ job types

  @Test
  void stats_rawJobTypeFailedThatEqualsLibvirtJavasUnboundedBit_notReadAsRunning() throws Exception {
    // LibvirtUnitTest checks JobStatsParser.active; this checks that the job itself reads the raw type
    assertThat(Domain.JobType.UNBOUNDED).as("libvirt-java's bit value").isEqualTo(VirtNative.JOB_FAILED);
    Job job = start(request());
    when(control.getJobStats(0)).thenReturn(running(VirtNative.JOB_FAILED, 60));
    assertThat(job.stats().processed()).as("a failed job's figures are not a running sample")
        .isEqualTo(DataSize.mib(8));
    when(control.getJobStats(0)).thenReturn(running(VirtNative.JOB_BOUNDED, 20));
    assertThat(job.stats().processed()).isEqualTo(DataSize.mib(20));
    finish(job, () -> onDest);
  }

  // ------------------------------------------------------------ refused at start

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', quoteCharacter = '"', value = {
      "VIR_ERR_CPU_INCOMPATIBLE | the CPU is incompatible with host CPU: Host CPU does not provide required features: avx512f",
      "VIR_ERR_INTERNAL_ERROR | internal error: Attempt to migrate guest to the same host " + SRC_HOST,
      "VIR_ERR_SYSTEM_ERROR | unable to connect to server at 'dst.example:49152': Connection refused"})
  void start_libvirtRefusesTheMigration_throwsDriverExceptionWithLibvirtsMessage(ErrorNumber code, String message)
      throws Exception {
    // refused before QEMU moved any memory: libvirt reports no job
    when(control.getJobStats(0)).thenReturn(new DomainJobStats(VirtNative.JOB_NONE, new TypedParameter[0]));
    migrateOutcome = () -> {
      throw libvirtError(code, message);
    };
    migrateEnds.countDown();

    assertThatThrownBy(() -> LibvirtJob.start(host, vm, request(), calls))
        .isInstanceOf(DriverException.class)
        .hasMessageContaining("libvirt refused to migrate 'guest'")
        .hasMessageEndingWith(": " + message);
    assertNothingChangedOnTheSource();
    verify(jobConn, atLeastOnce()).close();
    verify(destConn, atLeastOnce()).close();
  }

  @Test
  void start_destinationUnreachable_throwsDriverExceptionWithLibvirtsMessageBeforeTouchingTheDomain()
      throws Exception {
    when(calls.connect(DST)).thenThrow(new DriverException("cannot connect to libvirt at " + DST
        + ": unable to connect to server at 'dst.example:16509': Connection refused"));

    assertThatThrownBy(() -> LibvirtJob.start(host, vm, request(), calls))
        .isInstanceOf(DriverException.class)
        .hasMessageStartingWith("destination unreachable: ")
        .hasMessageEndingWith("unable to connect to server at 'dst.example:16509': Connection refused");
    verify(calls, never()).connect(SRC);
    verify(control, never()).migrateSetMaxDowntime(anyLong());
    assertNothingChangedOnTheSource();
  }

  @Test
  void start_destinationIsTheSameLibvirtHost_throwsDriverExceptionWithoutMigrating() throws Exception {
    when(destConn.getCapabilities()).thenReturn(capabilities(SRC_HOST));

    assertThatThrownBy(() -> LibvirtJob.start(host, vm, request(), calls))
        .isInstanceOf(DriverException.class)
        .hasMessageContaining("is the same libvirt host as the source");
    verify(calls, never()).connect(SRC);
    verify(jobDom, never()).migrate(any(Connect.class), any(TypedParameter[].class), anyLong());
    verify(destConn).close();
    assertNothingChangedOnTheSource();
  }

  @Test
  void start_settingMaxDowntimeFails_throwsDriverExceptionWithLibvirtsMessageWithoutMigrating() throws Exception {
    doThrow(libvirtError(ErrorNumber.VIR_ERR_OPERATION_INVALID, "Requested operation is not valid: domain is not running"))
        .when(control).migrateSetMaxDowntime(anyLong());

    assertThatThrownBy(() -> LibvirtJob.start(host, vm, request(), calls))
        .isInstanceOf(DriverException.class)
        .hasMessage("setting the max downtime of 'guest': Requested operation is not valid: domain is not running");
    verify(jobDom, never()).migrate(any(Connect.class), any(TypedParameter[].class), anyLong());
    verify(jobConn).close();
    verify(destConn).close();
  }

  // ------------------------------------------------------------ failed mid-job

  @Test
  void result_libvirtFailsMidJob_failedWithLibvirtsMessageAndDomainRunsOnSource() throws Exception {
    Job job = start(request());
    String message = "operation failed: migration out job: Unable to write to socket: Connection reset by peer";

    Result r = finish(job, () -> {
      throw libvirtError(ErrorNumber.VIR_ERR_OPERATION_FAILED, message);
    });

    assertThat(r.outcome()).isEqualTo(Outcome.FAILED);
    assertThat(r.message()).isEqualTo(message);
    assertThat(r.stats().state()).isEqualTo(JobState.ENDED);
    assertNothingChangedOnTheSource();
    verify(control, never()).resume();
  }

  @Test
  void result_failedSwitchoverLeftSourcePaused_failedAndSourceResumed() throws Exception {
    Job job = start(request());
    when(calls.state(control)).thenReturn(state(VirtNative.STATE_PAUSED, VirtNative.PAUSED_MIGRATION));
    String message = "operation failed: migration out job: unexpectedly failed";

    Result r = finish(job, () -> {
      throw libvirtError(ErrorNumber.VIR_ERR_OPERATION_FAILED, message);
    });

    assertThat(r.outcome()).isEqualTo(Outcome.FAILED);
    assertThat(r.message()).isEqualTo(message);
    verify(control).resume();
    verify(control, never()).destroy();
  }

  // ------------------------------------------------------------ post-copy

  @Test
  void result_postCopyFailedSeenFromStateReason_postCopyFailedAndStaleSourceNotResumed() throws Exception {
    // libvirt-java's SuspendedDetail has no post-copy values: the reason comes from virDomainGetState.
    // startPostCopy is not called here, so only the reason can tell.
    Job job = start(postCopyRequest());
    when(calls.state(control)).thenReturn(state(VirtNative.STATE_PAUSED, VirtNative.PAUSED_POSTCOPY));
    assertThat(job.stats().state()).isEqualTo(JobState.POST_COPY);
    when(calls.state(control)).thenReturn(state(VirtNative.STATE_PAUSED, VirtNative.PAUSED_POSTCOPY_FAILED));
    String message = "operation failed: migration out job: post-copy phase failed";

    Result r = finish(job, () -> {
      throw libvirtError(ErrorNumber.VIR_ERR_OPERATION_FAILED, message);
    });

    assertThat(r.outcome()).isEqualTo(Outcome.POST_COPY_FAILED);
    assertThat(r.message()).isEqualTo(message);
    verify(control, never()).resume();
  }

  @Test
  void result_runningWithPostCopyFailedReason_postCopyFailedNotFailed() throws Exception {
    Job job = start(postCopyRequest());
    when(calls.state(control)).thenReturn(state(VirtNative.STATE_RUNNING, VirtNative.RUNNING_POSTCOPY_FAILED));

    Result r = finish(job, () -> {
      throw libvirtError(ErrorNumber.VIR_ERR_OPERATION_FAILED, "operation failed: post-copy failed");
    });

    assertThat(r.outcome()).as("FAILED would say the source is authoritative").isEqualTo(Outcome.POST_COPY_FAILED);
    verify(control, never()).resume();
  }

  @Test
  void result_failureAfterStartPostCopy_postCopyFailedAndStaleSourceNotResumed() throws Exception {
    Job job = start(postCopyRequest());
    job.startPostCopy();
    verify(calls).startPostCopy(control);
    when(calls.state(control)).thenReturn(state(VirtNative.STATE_PAUSED, VirtNative.PAUSED_MIGRATION));

    Result r = finish(job, () -> {
      throw libvirtError(ErrorNumber.VIR_ERR_OPERATION_FAILED, "operation failed: migration out job: Connection reset");
    });

    assertThat(r.outcome()).isEqualTo(Outcome.POST_COPY_FAILED);
    verify(control, never()).resume();
  }

  @Test
  void startPostCopy_withoutPostCopyFlag_throwsDriverExceptionWithoutCallingLibvirt() throws Exception {
    Job job = start(request());

    assertThatThrownBy(job::startPostCopy).isInstanceOf(DriverException.class)
        .hasMessageContaining("post-copy was not enabled");
    verify(calls, never()).startPostCopy(any());
    finish(job, () -> onDest);
  }

  // ------------------------------------------------------------ abort

  @Test
  void abort_runningJob_abortedWithLibvirtsMessageAndDomainRunsOnSource() throws Exception {
    Job job = start(request());
    String message = "operation aborted: migration out job: canceled by client";
    abortEndsMigrateWith(message);

    job.abort();
    Result r = job.await(WAIT).orElseThrow();

    verify(control).abortJob();
    assertThat(r.outcome()).isEqualTo(Outcome.ABORTED);
    assertThat(r.message()).isEqualTo(message);
    assertNothingChangedOnTheSource();
    verify(control, never()).resume();
  }

  @Test
  void abort_afterForcedPause_abortedAndSourceResumed() throws Exception {
    Job job = start(request());
    job.forceCompletion();
    verify(control).suspend();
    when(calls.state(control)).thenReturn(state(VirtNative.STATE_PAUSED, VirtNative.PAUSED_USER));
    abortEndsMigrateWith("operation aborted: migration out job: canceled by client");

    job.abort();
    Result r = job.await(WAIT).orElseThrow();

    assertThat(r.outcome()).isEqualTo(Outcome.ABORTED);
    verify(control).resume();
    verify(control, never()).destroy();
  }

  @Test
  void abort_afterJobEnded_isHarmlessAndDoesNotCallLibvirt() throws Exception {
    Job job = start(request());
    Result r = finish(job, () -> onDest);

    job.abort();

    verify(control, never()).abortJob();
    assertThat(job.result()).contains(r);
    assertThat(r.outcome()).isEqualTo(Outcome.COMPLETED);
  }

  // ------------------------------------------------------------ helpers

  private Job start(Request r) {
    Job job = LibvirtJob.start(host, vm, r, calls);
    assertThat(job.isDone()).isFalse();
    return job;
  }

  private Result finish(Job job, Callable<Domain> how) throws InterruptedException {
    migrateOutcome = how;
    migrateEnds.countDown();
    return job.await(WAIT).orElseThrow(() -> new AssertionError("the job did not end"));
  }

  private void abortEndsMigrateWith(String message) throws LibvirtException {
    when(control.abortJob()).thenAnswer(inv -> {
      migrateOutcome = () -> {
        throw libvirtError(ErrorNumber.VIR_ERR_OPERATION_ABORTED, message);
      };
      migrateEnds.countDown();
      return 0;
    });
  }

  private void assertNothingChangedOnTheSource() throws LibvirtException {
    verify(control, never()).suspend();
    verify(control, never()).destroy();
    verify(control, never()).undefine();
    verify(vm, never()).stop();
    verify(vm, never()).pause();
  }

  private static Request request() {
    return new Request(DST, Duration.ofMillis(300), Bandwidth.mibps(100), 1, EnumSet.of(Flag.LIVE));
  }

  private static Request postCopyRequest() {
    return new Request(DST, Duration.ofMillis(300), Bandwidth.mibps(100), 1, EnumSet.of(Flag.LIVE, Flag.POST_COPY));
  }

  private static int[] state(int state, int reason) {
    return new int[] {state, reason};
  }

  private static String capabilities(String hostUuid) {
    return "<capabilities><host><uuid>" + hostUuid + "</uuid><cpu><arch>x86_64</arch></cpu></host></capabilities>";
  }

  /** A running job's sample as virDomainGetJobStats gives it, with libvirt's raw job type. */
  private static DomainJobStats running(int rawType, long processedMib) {
    return new DomainJobStats(rawType, new TypedParameter[] {
        new TypedUlongParameter("memory_total", 64L << 20),
        new TypedUlongParameter("memory_processed", processedMib << 20),
        new TypedUlongParameter("memory_remaining", (64L - processedMib) << 20),
        new TypedUlongParameter("memory_iteration", 1)});
  }

  /** A completed job's statistics (VIR_DOMAIN_JOB_STATS_COMPLETED), where downtime is the real one. */
  private static DomainJobStats completed(long downtimeMs) {
    return new DomainJobStats(VirtNative.JOB_COMPLETED, new TypedParameter[] {
        new TypedUlongParameter("memory_total", 64L << 20),
        new TypedUlongParameter("memory_processed", 70L << 20),
        new TypedUlongParameter("memory_iteration", 3),
        new TypedUlongParameter("downtime", downtimeMs)});
  }

  private static LibvirtException noDomain() throws Exception {
    return libvirtError(ErrorNumber.VIR_ERR_NO_DOMAIN, "Domain not found: no domain with matching uuid '" + VM_UUID + "'");
  }

  /**
   * A LibvirtException as libvirt-java throws it. Its constructor is package-private and its Error
   * is built from libvirt's native virError, so the Error is a mock.
   */
  static LibvirtException libvirtError(ErrorNumber code, String message) throws Exception {
    org.libvirt.Error error = mock(org.libvirt.Error.class);
    when(error.getCode()).thenReturn(code);
    when(error.getMessage()).thenReturn(message);
    Constructor<LibvirtException> c = LibvirtException.class.getDeclaredConstructor(org.libvirt.Error.class);
    c.setAccessible(true);
    return c.newInstance(error);
  }
}
