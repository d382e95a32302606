package dev.ferry.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.ReceivedMigration;
import dev.ferry.ReceiverOptions;
import dev.ferry.sim.SimHost;
import dev.ferry.spi.VmState;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The other side of the fault matrix: the source's process is killed (SIGKILL) or stopped (SIGSTOP)
 * at each phase, and the destination, in this JVM, must notice within its peer timeout and end up
 * as the authority allows: before COMMIT it discards its copy and frees the session's slot (a
 * vanished source never holds an incoming VM); once it has the COMMIT it runs the guest; in
 * post-copy it pauses the guest, waits the recovery window, and stops the incomplete copy.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class SourceProcessFaultTest {
  private static final Duration PEER = Duration.ofSeconds(1);
  private static final Duration RECOVERY = Duration.ofSeconds(2);
  private static final AtomicInteger SEQ = new AtomicInteger();

  @ParameterizedTest(name = "{0} x {1}")
  @CsvSource({
      "ROUND_0, KILL", "ROUND_0, STOP",
      "LATER_ROUND, KILL", "LATER_ROUND, STOP",
      "STOP_AND_COPY, KILL", "STOP_AND_COPY, STOP",
      "AFTER_COMMIT, KILL", "AFTER_COMMIT, STOP",
      "POST_COPY, KILL", "POST_COPY, STOP"})
  void sourceProcessFault_destinationEndsAsTheAuthorityAllows_withinItsTimeouts(String stage, String signal)
      throws Exception {
    SimHost dst = SimHost.named("spf-dst-" + SEQ.incrementAndGet());
    HookedHost hooked = new HookedHost(dst.driver());
    AtomicLong faultAt = new AtomicLong();
    List<Throwable> errors = Collections.synchronizedList(new ArrayList<>());
    DestinationProcess[] source = new DestinationProcess[1];
    Runnable hit = () -> {
      try {
        faultAt.compareAndSet(0, System.nanoTime());
        if (signal.equals("KILL")) {
          source[0].kill();
        } else {
          source[0].signal("STOP");
        }
      } catch (Throwable t) {
        errors.add(t);
      }
    };
    switch (stage) {
      case "ROUND_0" -> hooked.on(HookedHost.Point.FIRST_PAGE, hit);
      case "STOP_AND_COPY" -> hooked.on(HookedHost.Point.DEVICE_STATE, hit);
      case "AFTER_COMMIT" -> hooked.on(HookedHost.Point.ACTIVATE, hit);
      case "POST_COPY" -> hooked.on(HookedHost.Point.POST_COPY_PAGE, hit);
      default -> { }
    }
    Receiver receiver = Receiver.start(hooked, new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
        ReceiverOptions.builder().peerTimeout(PEER).build());
    try {
      Resources before = Resources.now();
      boolean postCopy = stage.equals("POST_COPY");
      source[0] = DestinationProcess.source(receiver.address().getPort(), PEER, stage.equals("LATER_ROUND") ? 8 : 0,
          postCopy, RECOVERY);
      if (stage.equals("LATER_ROUND")) {
        source[0].awaitLine("ROUND 1", Duration.ofSeconds(30));
        hit.run();
      }
      assertThat(receiver.awaitReceived(1, Duration.ofSeconds(30))).as("the incoming migration ended").isTrue();
      long ended = System.nanoTime();
      assertThat(errors).isEmpty();
      assertThat(faultAt.get()).as("the fault was injected").isPositive();
      ReceivedMigration in = receiver.received().get(0);
      Duration afterFault = Duration.ofNanos(ended - faultAt.get());
      switch (stage) {
        case "AFTER_COMMIT" -> {
          assertThat(in.outcome()).as("%s", in).isEqualTo(ReceivedMigration.Outcome.ARRIVED);
          assertThat(dst.vm("remote-vm")).hasValueSatisfying(v -> assertThat(v.state()).isEqualTo(VmState.RUNNING));
        }
        case "POST_COPY" -> {
          assertThat(in.outcome()).as("%s", in).isEqualTo(ReceivedMigration.Outcome.LOST);
          assertThat(afterFault).isLessThanOrEqualTo(PEER.plus(RECOVERY).plusSeconds(3));
          assertThat(dst.vm("remote-vm").map(v -> v.state() != VmState.RUNNING).orElse(true))
              .as("the incomplete copy is not running").isTrue();
        }
        default -> {
          assertThat(in.outcome()).as("%s", in).isEqualTo(ReceivedMigration.Outcome.DISCARDED);
          assertThat(afterFault).as("a vanished source is noticed within the peer timeout")
              .isLessThanOrEqualTo(PEER.plusSeconds(3));
          assertThat(dst.vms()).isEmpty();
          assertThat(dst.incomingVms()).isEmpty();
        }
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
      while ((receiver.activeMigrations() > 0 || receiver.openConnections() > 0) && System.nanoTime() < deadline) {
        Thread.sleep(20);
      }
      assertThat(receiver.activeMigrations()).as("session slots").isZero();
      assertThat(receiver.openConnections()).as("connections").isZero();
      Resources after = Resources.settleTo(before, 5_000);
      assertThat(after.threads()).as("receiver threads (before: %s)", before.threads())
          .hasSizeLessThanOrEqualTo(before.threads().size());
    } finally {
      if (source[0] != null) {
        source[0].close();
      }
      receiver.close();
      dst.destroy();
    }
  }
}
