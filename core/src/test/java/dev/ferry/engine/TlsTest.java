package dev.ferry.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.DestinationRefusedException;
import dev.ferry.Ferry;
import dev.ferry.FerryTls;
import dev.ferry.MigrationEvent;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationResult.Outcome;
import dev.ferry.MigrationSession;
import dev.ferry.MigrationTarget;
import dev.ferry.ReceiverOptions;
import dev.ferry.TransportException;
import dev.ferry.policy.ConvergencePolicy;
import dev.ferry.policy.Decision;
import dev.ferry.policy.PolicyAction;
import dev.ferry.sim.FaultyLink;
import dev.ferry.sim.SimVm;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.VmState;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Migrations over TLS 1.3 with mutual authentication, between two simulated hosts over real TCP on
 * 127.0.0.1, with certificates made in memory by {@link TestPki}: a migration completes and is
 * verified on every kind of connection (control, data streams, post-copy recovery); a source the
 * destination does not trust, a destination that is not the host the source meant, and a peer that
 * does not speak TLS are each refused before any page moves, with an error that says which.
 *
 * <p>The receiver in these tests takes only TLS (a plaintext connection is refused, as one test
 * shows), so a migration that completes against it ran TLS on every connection it opened.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class TlsTest {
  private static final ConvergencePolicy SWITCH_AFTER_ROUND_1 = p -> p.round() >= 1
      ? Decision.of("test: switch after round 1", new PolicyAction.SwitchToPostCopy())
      : Decision.keepGoing();

  private final TestPki ca = TestPki.authority("Ferry test CA");
  private final TestPki.Identity destId = ca.issue("dest", "127.0.0.1", "dest.test");
  private final TestPki.Identity sourceId = ca.issue("source", "source.test");
  private SimPair pair;
  private ObservedHost observedDest;

  @AfterEach
  void cleanUp() {
    if (pair != null) {
      pair.close();
    }
  }

  /** A source and a destination (observed: it records its memory at activation) with a receiver. */
  private SimPair pair(FerryTls receiverTls) {
    pair = new SimPair("tls", h -> observedDest = new ObservedHost(h.driver()),
        ReceiverOptions.builder().tls(receiverTls).build());
    return pair;
  }

  /** The same, unobserved: the observing wrapper offers no post-copy. */
  private SimPair postCopyPair(FerryTls receiverTls) {
    pair = new SimPair("tls", dev.ferry.sim.SimHost::driver, ReceiverOptions.builder().tls(receiverTls).build());
    return pair;
  }

  private SimVm vm(String name, DataSize memory, Workload workload) {
    SimVm vm = pair.source.createVm(SimVmSpec.builder(name).memory(memory).vcpus(2).workload(workload).seed(5)
        .build());
    vm.fillRandom(11);
    return vm;
  }

  private MigrationResult migrate(dev.ferry.spi.VmDriver vm, MigrationTarget target, MigrationOptions options) throws Exception {
    MigrationSession s = SourceMigration.start(pair.source.info(), vm, target, options);
    return s.completion().get(60, TimeUnit.SECONDS);
  }

  /** The source runs as before, nothing was sent, and the destination holds nothing. */
  private void assertRefusedBeforeAnyPage(MigrationResult r, SimVm vm) throws Exception {
    assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(Outcome.FAILED);
    assertThat(r.rounds()).as("rounds sent").isEmpty();
    assertThat(vm.state()).isEqualTo(VmState.RUNNING);
    assertThat(pair.source.vm(vm.description().name())).isPresent();
    assertThat(pair.receiver.received()).as("migrations the receiver saw end").isEmpty();
    pair.assertDestinationEmpty();
  }

  private static String causeMessage(MigrationResult r) {
    return r.cause().map(Throwable::getMessage).orElse("");
  }

  @Test
  void migrate_mutualTlsTwoStreamsVerified_completesWithIdenticalMemory() throws Exception {
    pair(ca.tls(destId, "source.test"));
    SimVm sim = vm("tls-web", DataSize.mib(32), Workload.uniform(2000));
    ObservedVm vm = new ObservedVm(sim);
    MigrationResult r = migrate(vm, pair.receiver.target(), MigrationOptions.builder().streams(2).verify(true)
        .tls(ca.tls(sourceId)).build());

    assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(Outcome.COMPLETED);
    assertThat(r.verified()).isTrue();
    assertThat(observedDest.digestAtActivate).as("destination memory at activation").isNotNull()
        .isEqualTo(vm.digestAtPause);
    assertThat(sim.state()).isEqualTo(VmState.STOPPED);
    SimVm moved = pair.dest.vm("tls-web").orElseThrow();
    assertThat(moved.state()).isEqualTo(VmState.RUNNING);
    assertThat(pair.receiver.received()).hasSize(1);
  }

  @Test
  void postCopy_overTlsWithTheLinkCutThenBack_recoversOnANewTlsConnectionAndCompletes() throws Exception {
    postCopyPair(ca.tls(destId));
    SimVm sim = vm("tls-pc", DataSize.mib(16), Workload.uniform(40_000));
    try (FaultyLink proxy = FaultyLink.to(pair.receiver.address())) {
      AtomicBoolean cut = new AtomicBoolean();
      // By its IP, the name the destination's certificate carries (the proxy's own address says "localhost").
      MigrationTarget target = new MigrationTarget(new InetSocketAddress("127.0.0.1", proxy.address().getPort()), "");
      MigrationSession s = SourceMigration.start(pair.source.info(), sim, target,
          MigrationOptions.builder().allowPostCopy(true).maxDowntime(Duration.ofMillis(100))
              .bandwidthLimit(Bandwidth.mbps(20)).policy(SWITCH_AFTER_ROUND_1)
              .postCopyRecoveryTimeout(Duration.ofSeconds(20)).tls(ca.tls(sourceId)).build());
      s.addListener(e -> {
        if (e instanceof MigrationEvent.PostCopyProgress && proxy.forwarded() > 0 && cut.compareAndSet(false, true)) {
          Thread t = new Thread(() -> {
            proxy.down(true);
            proxy.cut();
            try {
              Thread.sleep(300);
            } catch (InterruptedException ignored) {
              Thread.currentThread().interrupt();
            }
            proxy.down(false);
          });
          t.start();
        }
      });
      MigrationResult r = s.completion().get(60, TimeUnit.SECONDS);
      assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(Outcome.COMPLETED);
      assertThat(r.postCopy().orElseThrow().recoveries()).isGreaterThanOrEqualTo(1);
      assertThat(pair.dest.vm("tls-pc").orElseThrow().state()).isEqualTo(VmState.RUNNING);
    }
  }

  @Test
  void migrate_sourceCertificateFromAnotherAuthority_isRefusedBeforeAnyPageMoves() throws Exception {
    pair(ca.tls(destId));
    TestPki stranger = TestPki.authority("Some other CA");
    // The source trusts our CA (so it accepts the destination) but its own certificate is the stranger's.
    FerryTls sourceTls = FerryTls.builder().keyStore(stranger.issue("source", "source.test").keyStore(),
        TestPki.PASSWORD).trustStore(ca.trustStore()).build();
    SimVm vm = vm("tls-stranger", DataSize.mib(8), Workload.uniform(500));
    MigrationResult r = migrate(vm, pair.receiver.target(), MigrationOptions.builder().tls(sourceTls).build());

    assertRefusedBeforeAnyPage(r, vm);
    assertThat(r.cause()).containsInstanceOf(TransportException.class);
    assertThat(causeMessage(r)).contains("127.0.0.1").contains("refused this host's TLS certificate");
  }

  @Test
  void migrate_sourceCertificateNotAnAllowedPeer_isRefusedBeforeAnyPageMoves() throws Exception {
    pair(ca.tls(destId, "trusted-source.test"));
    SimVm vm = vm("tls-not-allowed", DataSize.mib(8), Workload.uniform(500));
    MigrationResult r = migrate(vm, pair.receiver.target(), MigrationOptions.builder().tls(ca.tls(sourceId)).build());

    assertRefusedBeforeAnyPage(r, vm);
    assertThat(r.cause()).containsInstanceOf(TransportException.class);
    assertThat(causeMessage(r)).contains("refused this host's TLS certificate");
  }

  @Test
  void migrate_destinationCertificateNotNamingTheTargetHost_isRefusedByTheSource() throws Exception {
    pair(ca.tls(ca.issue("elsewhere", "elsewhere.test")));
    SimVm vm = vm("tls-misnamed", DataSize.mib(8), Workload.uniform(500));
    MigrationResult r = migrate(vm, pair.receiver.target(), MigrationOptions.builder().tls(ca.tls(sourceId)).build());

    assertRefusedBeforeAnyPage(r, vm);
    assertThat(r.cause()).containsInstanceOf(TransportException.class);
    assertThat(causeMessage(r)).contains("elsewhere.test").contains("127.0.0.1");
  }

  @Test
  void migrate_destinationCertificateNamingTheConfiguredServerName_completesThoughItDoesNotNameTheTargetHost()
      throws Exception {
    pair(ca.tls(ca.issue("named", "receiver.ferry.test")));
    SimVm sim = vm("tls-server-name", DataSize.mib(8), Workload.uniform(500));
    FerryTls sourceTls = FerryTls.builder().keyStore(sourceId.keyStore(), TestPki.PASSWORD)
        .trustStore(ca.trustStore()).serverName("receiver.ferry.test").build();
    MigrationResult r = migrate(sim, pair.receiver.target(), MigrationOptions.builder().tls(sourceTls).build());

    assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(Outcome.COMPLETED);
    assertThat(pair.dest.vm("tls-server-name")).isPresent();
  }

  @Test
  void migrate_destinationCertificateNotNamingTheConfiguredServerName_isRefusedByTheSource() throws Exception {
    pair(ca.tls(ca.issue("named", "receiver.ferry.test", "127.0.0.1")));
    SimVm vm = vm("tls-wrong-server-name", DataSize.mib(8), Workload.uniform(500));
    FerryTls sourceTls = FerryTls.builder().keyStore(sourceId.keyStore(), TestPki.PASSWORD)
        .trustStore(ca.trustStore()).serverName("other.ferry.test").build();
    MigrationResult r = migrate(vm, pair.receiver.target(), MigrationOptions.builder().tls(sourceTls).build());

    // The certificate names the target's address too: the configured name, not the address, is checked.
    assertRefusedBeforeAnyPage(r, vm);
    assertThat(r.cause()).containsInstanceOf(TransportException.class);
    assertThat(causeMessage(r)).contains("other.ferry.test");
  }

  @Test
  void migrate_plaintextSourceToTlsReceiver_isRefusedSayingTheReceiverTakesOnlyTls() throws Exception {
    pair(ca.tls(destId));
    SimVm vm = vm("tls-plain-source", DataSize.mib(8), Workload.uniform(500));
    MigrationResult r = migrate(vm, pair.receiver.target(), MigrationOptions.builder().build());

    assertRefusedBeforeAnyPage(r, vm);
    assertThat(r.cause()).containsInstanceOf(DestinationRefusedException.class);
    assertThat(causeMessage(r)).contains("UNAUTHORIZED").contains("takes only TLS");
  }

  @Test
  void migrate_tlsSourceToPlaintextReceiver_failsSayingTheReceiverSpeaksPlaintext() throws Exception {
    pair(null);
    SimVm vm = vm("tls-plain-dest", DataSize.mib(8), Workload.uniform(500));
    MigrationResult r = migrate(vm, pair.receiver.target(), MigrationOptions.builder().tls(ca.tls(sourceId)).build());

    assertRefusedBeforeAnyPage(r, vm);
    assertThat(causeMessage(r)).contains("plaintext, not TLS");
  }

  @Test
  void migrate_toATlsReceiverOverItsConnectionBound_isToldBusy() throws Exception {
    pair = new SimPair("tls", dev.ferry.sim.SimHost::driver,
        ReceiverOptions.builder().tls(ca.tls(destId)).maxConnections(2).build());
    Receiver r = (Receiver) pair.receiver;
    SimVm vm = vm("tls-busy", DataSize.mib(8), Workload.uniform(500));
    try (java.nio.channels.SocketChannel a = java.nio.channels.SocketChannel.open(r.address());
        java.nio.channels.SocketChannel b = java.nio.channels.SocketChannel.open(r.address())) {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (r.openConnections() < 2 && System.nanoTime() < deadline) {
        Thread.sleep(5);
      }
      assertThat(r.openConnections()).as("silent connections holding the slots").isEqualTo(2);

      MigrationResult res = migrate(vm, r.target(), MigrationOptions.builder().tls(ca.tls(sourceId)).build());

      assertRefusedBeforeAnyPage(res, vm);
      assertThat(res.cause()).containsInstanceOf(DestinationRefusedException.class);
      assertThat(causeMessage(res)).contains("BUSY").contains("2 connections are open");
    }
  }

  @Test
  void silentConnectionToATlsReceiver_isClosedAtTheHandshakeTimeoutAndFreesItsSlot() throws Exception {
    pair = new SimPair("tls", dev.ferry.sim.SimHost::driver,
        ReceiverOptions.builder().tls(ca.tls(destId)).handshakeTimeout(Duration.ofMillis(200)).build());
    Receiver r = (Receiver) pair.receiver;
    try (java.nio.channels.SocketChannel ch = java.nio.channels.SocketChannel.open(r.address())) {
      ch.socket().setSoTimeout(10_000); // bounds the read below; the receiver should close far sooner
      int n = java.nio.channels.Channels.newInputStream(ch).read();
      assertThat(n).as("the receiver closed the silent connection without a byte").isEqualTo(-1);
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (r.openConnections() > 0 && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    assertThat(r.openConnections()).isZero();
  }

  @Test
  void garbageToATlsReceiver_isClosedWithoutAnAnswerAndTheReceiverKeepsServing() throws Exception {
    pair(ca.tls(destId));
    try (java.nio.channels.SocketChannel ch = java.nio.channels.SocketChannel.open(pair.receiver.address())) {
      ch.write(java.nio.ByteBuffer.wrap("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(
          java.nio.charset.StandardCharsets.US_ASCII)));
      ch.socket().setSoTimeout(10_000);
      assertThat(java.nio.channels.Channels.newInputStream(ch).read()).isEqualTo(-1);
    }
    SimVm sim = vm("tls-after-garbage", DataSize.mib(8), Workload.uniform(500));
    MigrationResult r = migrate(sim, pair.receiver.target(), MigrationOptions.builder().verify(true)
        .tls(ca.tls(sourceId)).build());
    assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(Outcome.COMPLETED);
  }

  @Test
  void migrate_toADestinationInAnotherProcessOverMutualTls_completesVerified_andAnUntrustedSourceIsRefused(
      @TempDir Path dir) throws Exception {
    destId.writePem(dir.resolve("dest.pem"), dir.resolve("dest.key"));
    ca.writeCaPem(dir.resolve("ca.pem"));
    pair(null); // its source host only; the destination is the child process
    try (DestinationProcess child = DestinationProcess.startTls("tls-child-dst", Duration.ofSeconds(10), dir)) {
      MigrationTarget target = new MigrationTarget(new InetSocketAddress("127.0.0.1", child.address().getPort()), "");

      SimVm stranger = vm("tls-proc-stranger", DataSize.mib(8), Workload.uniform(500));
      TestPki other = TestPki.authority("Some other CA");
      FerryTls untrusted = FerryTls.builder().keyStore(other.issue("s", "source.test").keyStore(), TestPki.PASSWORD)
          .trustStore(ca.trustStore()).build();
      MigrationResult refused = migrate(stranger, target, MigrationOptions.builder().tls(untrusted).build());
      assertThat(refused.outcome()).isEqualTo(Outcome.FAILED);
      assertThat(refused.rounds()).isEmpty();
      assertThat(stranger.state()).isEqualTo(VmState.RUNNING);
      assertThat(child.status()).as("the child after the refusal").contains("vms= incoming=0 active=0");

      SimVm sim = vm("tls-proc", DataSize.mib(32), Workload.uniform(2000));
      MigrationResult r = migrate(sim, target, MigrationOptions.builder().streams(2).verify(true)
          .tls(ca.tls(sourceId)).build());
      assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(Outcome.COMPLETED);
      assertThat(r.verified()).isTrue();
      assertThat(sim.state()).isEqualTo(VmState.STOPPED);
      assertThat(child.status()).contains("tls-proc:RUNNING");
    }
  }

  @Test
  void measureLink_withTlsFromPkcs12AndPemFiles_succeedsOverTls(@TempDir Path dir) throws Exception {
    destId.writePem(dir.resolve("dest.pem"), dir.resolve("dest.key"));
    FerryTls receiverTls = FerryTls.builder().pem(dir.resolve("dest.pem"), dir.resolve("dest.key"))
        .trustPem(ca.writeCaPem(dir.resolve("ca.pem"))).build();
    pair(receiverTls);
    java.security.KeyStore trust = ca.trustStore();
    try (var out = java.nio.file.Files.newOutputStream(dir.resolve("trust.p12"))) {
      trust.store(out, TestPki.PASSWORD);
    }
    FerryTls sourceTls = FerryTls.pkcs12(sourceId.writePkcs12(dir.resolve("source.p12")), TestPki.PASSWORD,
        dir.resolve("trust.p12"), TestPki.PASSWORD);

    Bandwidth b = Ferry.measureLink(pair.receiver.target(), Duration.ofMillis(50),
        MigrationOptions.builder().tls(sourceTls).build());

    assertThat(b.bytesPerSecond()).isPositive();
  }
}
