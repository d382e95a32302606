package dev.ferry.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.MigrationReceiver;
import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimMemory;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.GuestMemory;
import dev.ferry.spi.HostDriver;
import dev.ferry.spi.HostInfo;
import dev.ferry.spi.ScratchMemory;
import dev.ferry.spi.VmDriver;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The link probe over real loopback TCP: what it measures and where the receiver puts the bytes. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class LinkProbeTest {
  private static final InetSocketAddress LOOPBACK = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);

  @AfterEach
  void cleanUp() {
    SimHost.destroyAll();
  }

  @Test
  void measure_hostLendingScratchMemory_writesTheProbeIntoItAndGivesItBack() {
    Lending host = new Lending(SimHost.named("probe-dst").driver());
    try (MigrationReceiver r = Receiver.start(host, LOOPBACK, "")) {
      Bandwidth b = LinkProbe.measure(r.target(), Duration.ofMillis(200), Duration.ofSeconds(5));
      assertThat(b.bytesPerSecond()).isPositive();
    }
    SimMemory lent = host.lent.get();
    assertThat(lent).as("the receiver asked the host for scratch memory").isNotNull();
    assertThat(lent.isReleased()).as("and gave it back").isTrue();
    assertThat(host.peakAllocated).as("the probe's pages were written into it").isPositive();
  }

  @Test
  void measure_hostWithoutScratchMemory_measuresTheLinkAlone() {
    HostDriver plain = new Lending(SimHost.named("probe-plain").driver()) {
      @Override
      public Optional<ScratchMemory> scratchMemory(DataSize size) {
        return Optional.empty();
      }
    };
    try (MigrationReceiver r = Receiver.start(plain, LOOPBACK, "")) {
      assertThat(LinkProbe.measure(r.target(), Duration.ofMillis(100), Duration.ofSeconds(5)).bytesPerSecond())
          .isPositive();
    }
  }

  /** A sim host driver that keeps the scratch memory it lends and how much of it was written. */
  private static class Lending implements HostDriver {
    final HostDriver delegate;
    final AtomicReference<SimMemory> lent = new AtomicReference<>();
    volatile long peakAllocated;

    Lending(HostDriver delegate) {
      this.delegate = delegate;
    }

    @Override
    public HostInfo info() {
      return delegate.info();
    }

    @Override
    public List<VmDriver> vms() {
      return delegate.vms();
    }

    @Override
    public Optional<VmDriver> vm(String name) {
      return delegate.vm(name);
    }

    @Override
    public Optional<ScratchMemory> scratchMemory(DataSize size) {
      ScratchMemory s = delegate.scratchMemory(size).orElseThrow();
      lent.set((SimMemory) s.memory());
      return Optional.of(new ScratchMemory() {
        @Override
        public GuestMemory memory() {
          return s.memory();
        }

        @Override
        public void close() {
          peakAllocated = ((SimMemory) s.memory()).allocatedBytes();
          s.close();
        }
      });
    }

    @Override
    public void close() {
      delegate.close();
    }
  }
}
