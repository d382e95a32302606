package dev.ferry.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.DowntimeBreakdown;
import dev.ferry.MigrationEvent;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationResult.Outcome;
import dev.ferry.sim.SimVm;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.DirtyLog;
import dev.ferry.spi.VmState;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Verification by per-page hashes: what it costs at switchover, what it proves, and that it catches
 * a dirty log that loses writes (a deliberately lossy test backend).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class VerificationTest {
  private SimPair pair;

  @BeforeEach
  void hosts() {
    pair = new SimPair("verify");
  }

  @AfterEach
  void cleanUp() {
    pair.close();
  }

  /** A source whose dirty log drops one mark in {@code every}: writes it never reports. */
  static final class LossyVm extends ObservedVm {
    final int every;
    volatile long dropped;

    LossyVm(SimVm delegate, int every) {
      super(delegate);
      this.every = every;
    }

    @Override
    public Optional<DirtyLog> dirtyLog() {
      DirtyLog d = delegate.dirtyLog().orElseThrow();
      return Optional.of(new DirtyLog() {
        private long seen;

        @Override
        public void start() {
          d.start();
        }

        @Override
        public long syncAndClear(long[] bitmap) {
          long[] mine = new long[bitmap.length];
          long n = d.syncAndClear(mine);
          for (int w = 0; w < mine.length; w++) {
            long bits = mine[w];
            while (bits != 0) {
              long bit = Long.lowestOneBit(bits);
              bits &= bits - 1;
              if (++seen % every == 0) {
                mine[w] &= ~bit;
                dropped++;
                n--;
              }
            }
          }
          for (int w = 0; w < mine.length; w++) {
            bitmap[w] |= mine[w];
          }
          return n;
        }

        @Override
        public void stop() {
          d.stop();
        }

        @Override
        public boolean isActive() {
          return d.isActive();
        }
      });
    }
  }

  @Test
  void migrate_lossyDirtyLog_isCaughtAndTheFrozenSourceKeptPaused() throws Exception {
    SimVm sim = pair.source.createVm(SimVmSpec.builder("lossy").memory(DataSize.mib(32)).vcpus(2)
        .workload(Workload.uniform(4000)).seed(11).build());
    sim.fillRandom(11);
    LossyVm vm = new LossyVm(sim, 5);
    List<MigrationEvent> events = new CopyOnWriteArrayList<>();
    MigrationResult r = SourceMigration.start(pair.source.info(), vm, pair.receiver.target(),
        MigrationOptions.builder().verify(true).listener(events::add).build()).completion().get(30, TimeUnit.SECONDS);

    assertThat(vm.dropped).as("the test backend lost marks").isPositive();
    assertThat(r.outcome()).isEqualTo(Outcome.COMPLETED);
    assertThat(r.verified()).as("verification must fail").isFalse();
    MigrationEvent.VerificationFailed failed = events.stream().filter(MigrationEvent.VerificationFailed.class::isInstance)
        .map(MigrationEvent.VerificationFailed.class::cast).findFirst().orElseThrow();
    assertThat(failed.pages()).isPositive().isLessThanOrEqualTo(vm.dropped);
    assertThat(failed.firstPages()).isNotEmpty();
    assertThat(r.actions()).anyMatch(a -> a.startsWith("keep the source paused"));
    assertThat(sim.state()).as("the frozen source is not released").isEqualTo(VmState.PAUSED);
    assertThat(pair.dest.vm("lossy")).hasValueSatisfying(v -> assertThat(v.state()).isEqualTo(VmState.RUNNING));
    // What verification says is true: the destination's copy of a page it named is stale.
    long page = failed.firstPages().get(0);
    java.nio.ByteBuffer a = java.nio.ByteBuffer.allocate(4096);
    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4096);
    assertThat(pair.dest.vm("lossy").orElseThrow()).isNotNull();
    sim.memory().orElseThrow().readPage(page, a);
    observedAt(page, b);
    assertThat(a.array()).as("source and destination differ at page %d", page).isNotEqualTo(b.array());
  }

  private void observedAt(long page, java.nio.ByteBuffer into) {
    SimVm moved = pair.dest.vm("lossy").orElseThrow();
    moved.pause(); // stop its writes so the comparison reads a page at rest
    moved.memory().orElseThrow().readPage(page, into);
  }

  @Test
  void migrate_lossless_isVerifiedAndTheBreakdownAddsUpToTheDowntime() throws Exception {
    SimVm sim = pair.source.createVm(SimVmSpec.builder("clean").memory(DataSize.mib(32)).vcpus(2)
        .workload(Workload.uniform(3000)).seed(12).build());
    sim.fillRandom(12);
    MigrationResult r = SourceMigration.start(pair.source.info(), sim, pair.receiver.target(),
        MigrationOptions.builder().verify(true).streams(2).build()).completion().get(30, TimeUnit.SECONDS);

    assertThat(r.outcome()).isEqualTo(Outcome.COMPLETED);
    assertThat(r.verified()).isTrue();
    assertThat(sim.state()).isEqualTo(VmState.STOPPED);
    DowntimeBreakdown d = r.downtimeBreakdown().orElseThrow();
    assertThat(d.total()).as("the parts add up to the downtime").isEqualTo(r.downtime().orElseThrow());
    assertThat(List.of(d.pause(), d.finalSync(), d.finalPages(), d.deviceState(), d.confirmation(), d.verification(),
        d.commit(), d.activation())).allSatisfy(p -> assertThat(p).isGreaterThanOrEqualTo(Duration.ZERO));
    assertThat(d.finalPages()).as("the last dirty pages took some time").isPositive();
    assertThat(d.activation()).as("the destination reported its activation").isPositive();
  }
}
