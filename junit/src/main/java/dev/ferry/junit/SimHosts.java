package dev.ferry.junit;

import dev.ferry.Ferry;
import dev.ferry.Host;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationReceiver;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationSession;
import dev.ferry.MigrationTarget;
import dev.ferry.sim.FaultyLink;
import dev.ferry.sim.SimHost;
import dev.ferry.spi.VmState;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Two fresh simulated hosts for one test, a source and a destination, each also connected through
 * the public API ({@link Host}), and a receiver for the destination on 127.0.0.1. Made by
 * {@link SimHostsExtension} (see {@link FerrySimHosts}), or by hand with {@link #create(String)}
 * and {@link #close()}.
 *
 * <p>Migrations started through {@link #migrate} are tracked, so that {@link #verify()} can check,
 * after the test, that none is still running and that each left its VM on exactly one host.
 *
 * <p>Thread-safe: the hosts are, and the list of tracked migrations is a concurrent one.
 */
public final class SimHosts implements AutoCloseable {
  /** How long {@link #verify()} waits for migrations and incoming VMs to end, at most, by default. */
  public static final Duration SETTLE = Duration.ofSeconds(10);

  private static final java.util.concurrent.atomic.AtomicInteger SEQ = new java.util.concurrent.atomic.AtomicInteger();

  private final SimHost source;
  private final SimHost destination;
  private final Host sourceHost;
  private final Host destinationHost;
  private final MigrationReceiver receiver;
  private final List<Tracked> migrations = new CopyOnWriteArrayList<>();
  private final List<FaultyLink> links = new CopyOnWriteArrayList<>();
  private final Duration settle;

  private record Tracked(String vm, MigrationSession session) {}

  private SimHosts(SimHost source, SimHost destination, Duration settle) {
    this.settle = settle;
    this.source = source;
    this.destination = destination;
    Host a = null;
    Host b = null;
    try {
      a = Ferry.connect("sim://" + source.name());
      b = Ferry.connect("sim://" + destination.name());
      this.receiver = b.listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), "");
    } catch (RuntimeException e) {
      if (a != null) {
        a.close();
      }
      if (b != null) {
        b.close();
      }
      source.destroy();
      destination.destroy();
      throw e;
    }
    this.sourceHost = a;
    this.destinationHost = b;
  }

  /**
   * Two hosts named {@code prefix-src-N} and {@code prefix-dst-N}, with N new in this JVM, and the
   * destination's receiver started; {@link #verify()} waits up to {@link #SETTLE}.
   */
  public static SimHosts create(String prefix) {
    return create(prefix, SETTLE);
  }

  /** The same, with {@link #verify()} waiting up to {@code settle}. */
  public static SimHosts create(String prefix, Duration settle) {
    Objects.requireNonNull(prefix, "prefix");
    if (settle.isNegative()) {
      throw new IllegalArgumentException("settle must not be negative: " + settle);
    }
    int n = SEQ.incrementAndGet();
    SimHost a = SimHost.named(prefix + "-src-" + n);
    SimHost b = SimHost.named(prefix + "-dst-" + n);
    if (!a.vms().isEmpty() || !b.vms().isEmpty()) {
      throw new IllegalStateException("sim hosts " + a.name() + " and " + b.name() + " are in use already");
    }
    return new SimHosts(a, b, settle);
  }

  /** The source host, to create VMs on and look at. */
  public SimHost source() {
    return source;
  }

  /** The destination host. */
  public SimHost destination() {
    return destination;
  }

  /** The source through the public API. */
  public Host sourceHost() {
    return sourceHost;
  }

  /** The destination through the public API. */
  public Host destinationHost() {
    return destinationHost;
  }

  /** The destination's receiver, on 127.0.0.1. */
  public MigrationReceiver receiver() {
    return receiver;
  }

  /** Where to send a migration to the destination. */
  public MigrationTarget target() {
    return receiver.target();
  }

  /**
   * A new relay on 127.0.0.1 in front of the destination's receiver, to cut, refuse or slow a
   * migration on purpose: send the migration to {@code new MigrationTarget(link.address(), "")}
   * through {@link #migrate(String, MigrationTarget, MigrationOptions)}. Closed with the hosts.
   */
  public FaultyLink faultyLink() throws IOException {
    FaultyLink link = FaultyLink.to(receiver.address());
    links.add(link);
    return link;
  }

  /** Migrates the source's VM of this name to the destination, and tracks the migration for {@link #verify()}. */
  public MigrationSession migrate(String vmName, MigrationOptions options) {
    return migrate(vmName, target(), options);
  }

  /** The same, to {@code target} (a {@link #faultyLink()}'s address, say), tracked the same way. */
  public MigrationSession migrate(String vmName, MigrationTarget target, MigrationOptions options) {
    MigrationSession s = sourceHost.migrate(sourceHost.vm(vmName), target, options);
    migrations.add(new Tracked(vmName, s));
    return s;
  }

  /**
   * The checks made after each test; the problems found, in words (empty when there are none).
   * Waits up to the settle time for tracked migrations to end, then cancels those still running
   * (and reports them) and waits up to as long again for each to roll back. Waits, within the
   * settle time (the settle time again after a cancel), for the receiver to end its migrations and
   * discard their incoming copies. Then: a completed migration's VM runs on the destination and is gone from the
   * source; a cancelled, rolled-back or failed one's VM is on the source and not on the
   * destination; the destination holds no incoming VM.
   */
  public List<String> verify() throws InterruptedException {
    List<String> problems = new ArrayList<>();
    long deadline = System.nanoTime() + settle.toNanos();
    boolean cancelled = false;
    for (Tracked t : migrations) {
      MigrationResult r;
      try {
        r = t.session().completion().get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (TimeoutException e) {
        problems.add("the migration of " + t.vm() + " was still running after the test (phase "
            + t.session().phase() + "); it was cancelled");
        t.session().cancel();
        cancelled = true;
        r = awaitQuietly(t.session(), settle);
        if (r == null) {
          problems.add("the migration of " + t.vm() + " had not ended " + settle.toMillis() + " ms after the cancel");
        }
      } catch (java.util.concurrent.ExecutionException e) {
        problems.add("the migration of " + t.vm() + " ended without a result: " + e.getCause());
        continue;
      }
      if (r != null) {
        checkOneCopy(t.vm(), r, problems);
      }
    }
    // A cancelled migration rolls back on the destination too: give it the settle time again.
    long quiet = cancelled ? System.nanoTime() + settle.toNanos() : deadline;
    while ((!destination.incomingVms().isEmpty() || receiver.activeMigrations() > 0)
        && System.nanoTime() < quiet) {
      Thread.sleep(10);
    }
    if (receiver.activeMigrations() > 0) {
      problems.add("the receiver still had " + receiver.activeMigrations() + " migration(s) running");
    }
    if (!destination.incomingVms().isEmpty()) {
      problems.add("the destination still held incoming VM(s): " + destination.incomingVms().stream()
          .map(v -> v.description().name()).toList());
    }
    return problems;
  }

  private static MigrationResult awaitQuietly(MigrationSession s, Duration settle) throws InterruptedException {
    try {
      return s.completion().get(settle.toMillis(), TimeUnit.MILLISECONDS);
    } catch (java.util.concurrent.ExecutionException | TimeoutException e) {
      return null;
    }
  }

  private void checkOneCopy(String vm, MigrationResult r, List<String> problems) {
    boolean onSource = source.vm(vm).isPresent();
    boolean onDestination = destination.vm(vm).isPresent();
    switch (r.outcome()) {
      case COMPLETED -> {
        if (onSource || !onDestination || destination.vm(vm).get().state() != VmState.RUNNING) {
          problems.add("the migration of " + vm + " completed, but the VM is " + where(onSource, onDestination)
              + " (it should run on the destination alone)");
        }
      }
      case CANCELLED, ROLLED_BACK, FAILED -> {
        if (!onSource || onDestination) {
          problems.add("the migration of " + vm + " ended " + r.outcome() + ", but the VM is "
              + where(onSource, onDestination) + " (it should be on the source alone)");
        }
      }
      default -> {
        // IN_DOUBT and GUEST_LOST say themselves that there is no one place to check.
      }
    }
  }

  private static String where(boolean onSource, boolean onDestination) {
    return onSource && onDestination ? "on both hosts"
        : onSource ? "on the source" : onDestination ? "on the destination" : "on neither host";
  }

  /**
   * Closes the faulty links, the receiver and the connections, and destroys both hosts with
   * whatever they hold. Idempotent.
   */
  @Override
  public void close() {
    for (FaultyLink l : links) {
      try {
        l.close();
      } catch (IOException e) {
        // Closing a relay's sockets: nothing left to do about it.
      }
    }
    links.clear();
    try {
      sourceHost.close();
      destinationHost.close();
    } finally {
      source.destroy();
      destination.destroy();
    }
  }

  @Override
  public String toString() {
    return "SimHosts[" + source.name() + " -> " + destination.name() + " at " + receiver.address() + "]";
  }
}
