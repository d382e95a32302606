package dev.ferry.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.MigrationReceiver;
import dev.ferry.ReceiverOptions;
import dev.ferry.sim.SimHost;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.HostDriver;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * The stage of the engine's end-to-end tests: a source and a destination simulated host with fresh
 * names, and a receiver for the destination on 127.0.0.1; and the check every rolled-back migration
 * ends with, that the destination holds nothing.
 */
final class SimPair implements AutoCloseable {
  private static final AtomicInteger SEQ = new AtomicInteger();

  final SimHost source;
  final SimHost dest;
  final MigrationReceiver receiver;

  /** Hosts named {@code prefix-src-N} and {@code prefix-dst-N}; the receiver serves the destination as it is. */
  SimPair(String prefix) {
    this(prefix, SimHost::driver);
  }

  /** The same, with the receiver serving {@code destDriver} of the destination (an observing wrapper, say). */
  SimPair(String prefix, Function<SimHost, HostDriver> destDriver) {
    this(prefix, destDriver, ReceiverOptions.builder().build());
  }

  /** The same, with the receiver's options (TLS, say). */
  SimPair(String prefix, Function<SimHost, HostDriver> destDriver, ReceiverOptions options) {
    int n = SEQ.incrementAndGet();
    source = SimHost.named(prefix + "-src-" + n);
    dest = SimHost.named(prefix + "-dst-" + n);
    receiver = Receiver.start(destDriver.apply(dest), new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
        options);
  }

  /**
   * Waits up to 10 s for the receiver to end its migrations and discard their incoming copies, then
   * checks that the destination lists no VM, holds no incoming one and has no memory committed.
   */
  void assertDestinationEmpty() throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while ((!dest.incomingVms().isEmpty() || receiver.activeMigrations() > 0) && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    assertThat(dest.vms()).as("VMs on the destination").isEmpty();
    assertThat(dest.incomingVms()).as("destination discarded its copy").isEmpty();
    assertThat(receiver.activeMigrations()).isZero();
    assertThat(dest.committedMemory()).isEqualTo(DataSize.ZERO);
  }

  @Override
  public void close() {
    receiver.close();
    source.destroy();
    dest.destroy();
  }
}
