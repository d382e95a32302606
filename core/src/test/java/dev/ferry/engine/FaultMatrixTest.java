package dev.ferry.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.MigrationEvent;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationReceiver;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationResult.Outcome;
import dev.ferry.MigrationSession;
import dev.ferry.MigrationTarget;
import dev.ferry.Phase;
import dev.ferry.ReceiverOptions;
import dev.ferry.policy.ConvergencePolicy;
import dev.ferry.policy.Decision;
import dev.ferry.policy.PolicyAction;
import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimVm;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.VmState;
import dev.ferry.wire.FrameType;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The fault matrix of the authority issue: every phase of a migration × every fault, over real TCP
 * on 127.0.0.1, with the destination in a JVM of its own where its process is killed (SIGKILL) or
 * stopped (SIGSTOP). After each: exactly one copy of the guest runs, or the result says IN_DOUBT or
 * GUEST_LOST with the reason; the future completes within the timeouts that apply plus a margin;
 * the engine's threads and sockets in this JVM are back to their count before the migration. Each
 * cell's row goes to {@code target/fault-matrix.md}.
 *
 * <p>How a cell reaches its phase: the VM (32 MiB, random contents, 3,000 pages/s) is migrated at
 * 20 MB/s with a 1 ms downtime limit, so pre-copy never converges on its own; a test policy keeps it
 * going until the round the cell needs and then forces completion (or switches to post-copy). The
 * fault is injected at a point of the protocol: by a frame-aware relay at a given message, by a hook
 * of the destination's backend, by the source's backend, by a listener, or by a signal to the
 * destination's process when it prints that it reached the point.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FaultMatrixTest {
  enum Stage { HANDSHAKE, ROUND_0, LATER_ROUND, STOP_AND_COPY, AFTER_COMMIT, POST_COPY }

  enum Fault { LINK_CUT, PEER_KILLED, PEER_STOPPED, MALFORMED, LISTENER_ERROR, BACKEND_THROWS }

  private static final Duration PEER = Duration.ofSeconds(1);
  private static final Duration IN_DOUBT = Duration.ofSeconds(3);
  private static final Duration RECOVERY = Duration.ofSeconds(2);
  private static final Duration MARGIN = Duration.ofSeconds(3);
  private static final AtomicInteger SEQ = new AtomicInteger();
  private static final List<String> ROWS = Collections.synchronizedList(new ArrayList<>());

  static Stream<Arguments> cells() {
    List<Arguments> all = new ArrayList<>();
    for (Stage s : Stage.values()) {
      for (Fault f : Fault.values()) {
        if (s == Stage.AFTER_COMMIT && f == Fault.LISTENER_ERROR) {
          continue; // no event is delivered between COMMIT and its answer: see the table's note
        }
        all.add(Arguments.of(s, f));
      }
    }
    return all.stream();
  }

  /** What a cell must end with. */
  private static Set<Outcome> expected(Stage s, Fault f) {
    if (f == Fault.LISTENER_ERROR) {
      return EnumSet.of(Outcome.COMPLETED);
    }
    return switch (s) {
      case HANDSHAKE, ROUND_0, LATER_ROUND, STOP_AND_COPY -> EnumSet.of(Outcome.FAILED);
      case AFTER_COMMIT -> switch (f) {
        case LINK_CUT, MALFORMED -> EnumSet.of(Outcome.COMPLETED);
        case PEER_KILLED, PEER_STOPPED -> EnumSet.of(Outcome.IN_DOUBT);
        default -> EnumSet.of(Outcome.FAILED);
      };
      case POST_COPY -> switch (f) {
        case LINK_CUT, MALFORMED -> EnumSet.of(Outcome.COMPLETED);
        default -> EnumSet.of(Outcome.GUEST_LOST);
      };
    };
  }

  /** How long after the fault the future may take. */
  private static Duration bound(Stage s) {
    return switch (s) {
      case AFTER_COMMIT -> PEER.plus(IN_DOUBT).plus(MARGIN);
      case POST_COPY -> PEER.plus(RECOVERY).plus(MARGIN);
      default -> PEER.plus(MARGIN);
    };
  }

  /** Keeps pre-copy going until round {@code after}, then ends it with {@code end}. */
  private record Hold(long after, PolicyAction end) implements ConvergencePolicy {
    @Override
    public Decision decide(dev.ferry.Progress p) {
      return p.round() >= after ? Decision.of("the test ends pre-copy here", end) : Decision.keepGoing();
    }
  }

  private static HookedHost.Point hookPoint(Stage s) {
    return switch (s) {
      case HANDSHAKE -> HookedHost.Point.HANDSHAKE;
      case ROUND_0 -> HookedHost.Point.FIRST_PAGE;
      case STOP_AND_COPY -> HookedHost.Point.DEVICE_STATE;
      case AFTER_COMMIT -> HookedHost.Point.ACTIVATE;
      case POST_COPY -> HookedHost.Point.POST_COPY_PAGE;
      default -> null;
    };
  }

  @ParameterizedTest(name = "{0} x {1}")
  @MethodSource("cells")
  void fault_leavesExactlyOneCopyRunning_completesInTime_leaksNothing(Stage stage, Fault fault) throws Exception {
    int n = SEQ.incrementAndGet();
    SimHost src = SimHost.named("fm-src-" + n);
    SimHost dst = null;
    MigrationReceiver receiver = null;
    FrameRelay relay = null;
    DestinationProcess child = null;
    String name = "fm-" + n;
    AtomicLong faultAt = new AtomicLong();
    try {
      SimVm sim = src.createVm(SimVmSpec.builder(name).memory(DataSize.mib(32)).vcpus(2)
          .workload(Workload.uniform(3000)).seed(n).build());
      sim.fillRandom(n);
      FailingVm vm = new FailingVm(sim);
      HookedHost hooked = null;
      boolean process = fault == Fault.PEER_KILLED || fault == Fault.PEER_STOPPED;
      InetSocketAddress target;
      if (process) {
        HookedHost.Point p = hookPoint(stage);
        child = DestinationProcess.start("fm-dst-" + n, PEER, p == null ? "none" : p.name(),
            p == HookedHost.Point.HANDSHAKE || p == HookedHost.Point.DEVICE_STATE || p == HookedHost.Point.ACTIVATE);
        target = child.address();
      } else {
        dst = SimHost.named("fm-dst-" + n);
        hooked = new HookedHost(dst.driver());
        receiver = Receiver.start(hooked, new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
            ReceiverOptions.builder().peerTimeout(PEER).build());
        target = receiver.address();
        if (fault == Fault.LINK_CUT || fault == Fault.MALFORMED) {
          relay = new FrameRelay(receiver.address());
          target = relay.address();
        }
      }
      PolicyAction end = stage == Stage.POST_COPY ? new PolicyAction.SwitchToPostCopy()
          : new PolicyAction.ForceCompletion();
      long releaseAfter = stage == Stage.LATER_ROUND ? 8 : 0;
      AtomicBoolean listenerThrew = new AtomicBoolean();
      FrameRelay r = relay;
      DestinationProcess c = child;
      List<Throwable> triggerErrors = Collections.synchronizedList(new ArrayList<>());
      Runnable signal = () -> {
        try {
          faultAt.compareAndSet(0, System.nanoTime());
          if (fault == Fault.PEER_KILLED) {
            c.kill();
          } else {
            c.signal("STOP");
          }
        } catch (Throwable t) {
          triggerErrors.add(t);
        }
      };
      dev.ferry.MigrationListener trigger = e -> {
        boolean laterRound = e instanceof MigrationEvent.RoundCompleted rc && rc.stats().round() == 1;
        boolean postCopyBegins = e instanceof MigrationEvent.PhaseChanged pc && pc.to() == Phase.POST_COPY;
        boolean preCopyBegins = e instanceof MigrationEvent.PhaseChanged pc && pc.to() == Phase.PRE_COPY;
        if (fault == Fault.LISTENER_ERROR && listenerThrows(stage, e) && listenerThrew.compareAndSet(false, true)) {
          faultAt.compareAndSet(0, System.nanoTime());
          throw new Error("a listener's error, injected by the fault matrix");
        }
        if (r != null && stage == Stage.LATER_ROUND && laterRound) {
          if (fault == Fault.LINK_CUT) {
            r.when(FrameRelay.Direction.TO_DESTINATION, FrameType.PAGES, 3, FrameRelay.Action.CUT_AFTER);
          } else {
            r.when(FrameRelay.Direction.TO_SOURCE, FrameType.PING, 1, FrameRelay.Action.SHORTEN);
          }
        }
        if (r != null && stage == Stage.ROUND_0 && fault == Fault.MALFORMED && preCopyBegins) {
          r.when(FrameRelay.Direction.TO_SOURCE, FrameType.PING, 1, FrameRelay.Action.SHORTEN);
        }
        if (r != null && stage == Stage.POST_COPY && postCopyBegins) {
          if (fault == Fault.LINK_CUT) {
            r.when(FrameRelay.Direction.TO_DESTINATION, FrameType.PAGES, 2, FrameRelay.Action.CUT_AFTER);
          } else {
            r.when(FrameRelay.Direction.TO_SOURCE, FrameType.PAGE_REQUEST, 1, FrameRelay.Action.SHORTEN);
          }
        }
        if (c != null && stage == Stage.LATER_ROUND && laterRound) {
          new Thread(signal, "test-signal").start();
        }
        if (fault == Fault.BACKEND_THROWS && stage == Stage.POST_COPY && postCopyBegins) {
          vm.readsArmed.set(true);
        }
      };
      // Faults armed before the start.
      if (relay != null) {
        switch (stage) {
          case HANDSHAKE -> relay.when(dir(fault), fault == Fault.LINK_CUT ? FrameType.HELLO : FrameType.ACCEPT, 1,
              fault == Fault.LINK_CUT ? FrameRelay.Action.CUT_BEFORE : FrameRelay.Action.SHORTEN);
          case ROUND_0 -> {
            if (fault == Fault.LINK_CUT) {
              relay.when(FrameRelay.Direction.TO_DESTINATION, FrameType.PAGES, 20, FrameRelay.Action.CUT_AFTER);
            }
          }
          case STOP_AND_COPY -> relay.when(dir(fault), fault == Fault.LINK_CUT ? FrameType.SWITCHOVER : FrameType.READY,
              1, fault == Fault.LINK_CUT ? FrameRelay.Action.CUT_BEFORE : FrameRelay.Action.SHORTEN);
          case AFTER_COMMIT -> relay.when(FrameRelay.Direction.TO_SOURCE, FrameType.RESUMED, 1,
              fault == Fault.LINK_CUT ? FrameRelay.Action.CUT_BEFORE : FrameRelay.Action.SHORTEN);
          default -> { }
        }
      }
      if (fault == Fault.BACKEND_THROWS) {
        switch (stage) {
          case HANDSHAKE -> hooked.on(HookedHost.Point.HANDSHAKE, () -> {
            faultAt.compareAndSet(0, System.nanoTime());
            throw new IllegalStateException("backend failure injected in prepareIncoming");
          });
          case ROUND_0 -> vm.failReadAt = 100;
          case LATER_ROUND -> vm.failSyncAt = 3;
          case STOP_AND_COPY -> vm.failSave = true;
          case AFTER_COMMIT -> hooked.on(HookedHost.Point.ACTIVATE, () -> {
            faultAt.compareAndSet(0, System.nanoTime());
            throw new IllegalStateException("backend failure injected in activate");
          });
          case POST_COPY -> {
            vm.readsArmed.set(false);
            vm.failReadAt = 5;
          }
          default -> { }
        }
      }
      if (child != null && hookPoint(stage) != null) {
        DestinationProcess cc = child;
        Thread watcher = new Thread(() -> {
          try {
            cc.awaitLine("AT " + hookPoint(stage).name(), Duration.ofSeconds(30));
            signal.run();
          } catch (Throwable t) {
            triggerErrors.add(t);
          }
        }, "test-watcher");
        watcher.setDaemon(true);
        watcher.start();
      }

      MigrationOptions options = MigrationOptions.builder().maxDowntime(Duration.ofMillis(1))
          .deadline(Duration.ofMinutes(1)).bandwidthLimit(Bandwidth.mbps(20)).policy(new Hold(releaseAfter, end))
          .allowPostCopy(stage == Stage.POST_COPY).peerTimeout(PEER).connectTimeout(Duration.ofSeconds(1))
          .switchoverTimeout(Duration.ofSeconds(5)).inDoubtTimeout(IN_DOUBT).postCopyRecoveryTimeout(RECOVERY)
          .listener(trigger).build();
      Resources before = Resources.now();
      long started = System.nanoTime();
      MigrationSession s = SourceMigration.start(src.info(), vm, new MigrationTarget(target, ""), options);
      MigrationResult result = s.completion().get(45, TimeUnit.SECONDS);
      long ended = System.nanoTime();
      long injected = faultAt.get() != 0 ? faultAt.get()
          : relay != null && relay.firedAt() != 0 ? relay.firedAt() : vm.failedAt != 0 ? vm.failedAt : 0;

      assertThat(triggerErrors).as("the test's own triggers").isEmpty();
      assertThat(injected).as("the fault was injected (%s x %s)", stage, fault).isPositive();
      assertThat(result.outcome()).as("outcome of %s x %s (cause %s)", stage, fault, result.cause())
          .isIn(expected(stage, fault));
      Duration afterFault = Duration.ofNanos(ended - injected);
      assertThat(afterFault).as("time from the fault to the result").isLessThanOrEqualTo(bound(stage));
      if (fault == Fault.LISTENER_ERROR) {
        assertThat(listenerThrew).isTrue();
      }
      if (result.outcome() != Outcome.COMPLETED) {
        assertThat(result.cause()).as("a reason").isPresent();
      }

      if (child != null && child.alive() && fault == Fault.PEER_STOPPED) {
        child.signal("CONT");
      }
      String where = checkOneCopy(result, sim, dst, child, name);

      Resources after = Resources.settleTo(before, 5_000);
      assertThat(after.threads()).as("engine threads after the migration (before: %s)", before.threads())
          .hasSizeLessThanOrEqualTo(before.threads().size());
      assertThat(after.sockets()).as("sockets after the migration").isLessThanOrEqualTo(before.sockets());

      ROWS.add(String.format(Locale.ROOT, "| %s | %s | %s | %d ms | %s | %s |", stage, fault, result.outcome(),
          (ended - started) / 1_000_000, afterFault.toMillis() + " ms (bound " + bound(stage).toMillis() + ")", where));
    } finally {
      if (relay != null) {
        relay.close();
      }
      if (receiver != null) {
        receiver.close();
      }
      if (child != null) {
        child.close();
      }
      src.destroy();
      if (dst != null) {
        dst.destroy();
      }
    }
  }

  private static FrameRelay.Direction dir(Fault f) {
    return f == Fault.LINK_CUT ? FrameRelay.Direction.TO_DESTINATION : FrameRelay.Direction.TO_SOURCE;
  }

  private static boolean listenerThrows(Stage s, MigrationEvent e) {
    return switch (s) {
      case HANDSHAKE -> e instanceof MigrationEvent.PhaseChanged p && p.to() == Phase.PRE_COPY;
      case ROUND_0 -> e instanceof MigrationEvent.RoundCompleted rc && rc.stats().round() == 0;
      case LATER_ROUND -> e instanceof MigrationEvent.RoundCompleted rc && rc.stats().round() == 2;
      case STOP_AND_COPY -> e instanceof MigrationEvent.PhaseChanged p && p.to() == Phase.STOP_AND_COPY;
      case POST_COPY -> e instanceof MigrationEvent.PostCopyProgress;
      default -> false;
    };
  }

  /**
   * Checks where the guest runs after {@code result} and says it in words for the table: exactly one
   * copy, or none with the result saying IN_DOUBT or GUEST_LOST.
   */
  private static String checkOneCopy(MigrationResult result, SimVm source, SimHost dst, DestinationProcess child,
      String name) throws Exception {
    switch (result.outcome()) {
      case COMPLETED -> {
        assertThat(source.state()).as("source after COMPLETED").isEqualTo(VmState.STOPPED);
        assertThat(dst.vm(name)).as("destination runs it").hasValueSatisfying(v ->
            assertThat(v.state()).isEqualTo(VmState.RUNNING));
        return "destination runs it; source stopped";
      }
      case FAILED, CANCELLED, ROLLED_BACK -> {
        assertThat(source.state()).as("source after %s", result.outcome()).isEqualTo(VmState.RUNNING);
        long writes = source.writesDone();
        awaitTrue(() -> source.writesDone() > writes, 5_000, "the source guest writes again");
        awaitDestinationEmpty(dst, child, name);
        return "source runs it; destination holds nothing";
      }
      case IN_DOUBT -> {
        assertThat(source.state()).as("source stays paused when in doubt").isEqualTo(VmState.PAUSED);
        if (child != null && child.alive()) {
          awaitTrue(() -> status(child).contains(name + ":RUNNING"), 15_000, "the destination ran it after SIGCONT");
          return "source paused; destination runs it (after SIGCONT)";
        }
        return "source paused; destination process gone with its copy";
      }
      case GUEST_LOST -> {
        assertThat(source.state()).as("a stale source is never resumed").isEqualTo(VmState.PAUSED);
        if (child != null && child.alive()) {
          awaitTrue(() -> !status(child).contains(":RUNNING"), 15_000, "the destination stopped its incomplete copy");
          return "source paused; destination stopped its incomplete copy";
        }
        if (dst != null) {
          awaitTrue(() -> dst.vm(name).map(v -> v.state() != VmState.RUNNING).orElse(true), 15_000,
              "the destination stopped its incomplete copy");
          return "source paused; destination stopped its incomplete copy";
        }
        return "source paused; destination process gone with its copy";
      }
      default -> throw new AssertionError(result.outcome());
    }
  }

  private static String status(DestinationProcess child) {
    try {
      return child.status();
    } catch (IOException e) {
      throw new AssertionError(e);
    }
  }

  private static void awaitDestinationEmpty(SimHost dst, DestinationProcess child, String name) throws Exception {
    if (dst != null) {
      awaitTrue(() -> dst.vms().isEmpty() && dst.incomingVms().isEmpty(), 10_000, "the destination discarded");
    } else if (child.alive()) {
      awaitTrue(() -> status(child).contains("vms= incoming=0 active=0"), 10_000,
          "the destination process discarded its copy");
    }
  }

  private static void awaitTrue(java.util.function.BooleanSupplier c, long millis, String what) throws Exception {
    long deadline = System.nanoTime() + millis * 1_000_000;
    while (!c.getAsBoolean()) {
      assertThat(System.nanoTime()).as(what).isLessThan(deadline);
      Thread.sleep(20);
    }
  }

  @AfterAll
  static void writeTable() throws IOException {
    List<String> rows = new ArrayList<>(ROWS);
    Collections.sort(rows);
    StringBuilder sb = new StringBuilder("| phase | fault | outcome | migration | fault to result | where the guest is |\n"
        + "|---|---|---|---|---|---|\n");
    rows.forEach(r -> sb.append(r).append('\n'));
    sb.append("\nAFTER_COMMIT x LISTENER_ERROR: no cell. No event is delivered between COMMIT and the destination's ")
        .append("answer, by design: no application code runs while the paused guest waits for it.\n");
    Path out = Path.of("target", "fault-matrix.md");
    Files.createDirectories(out.getParent());
    Files.writeString(out, sb.toString());
  }
}
