package dev.ferry.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.wire.FrameType;
import dev.ferry.wire.Message;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The watchdog on a fake clock over a real loopback socket pair: the time that passes is the test's
 * own, so a 10-second peer timeout is reached without waiting 10 seconds.
 */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class LinkWatchdogTest {
  private static final Duration TIMEOUT = Duration.ofSeconds(10);

  private final FakeTicker ticker = new FakeTicker();
  private LinkWatchdog watchdog;
  private Link near;
  private Link far;

  @BeforeEach
  void pair() throws IOException {
    watchdog = new LinkWatchdog(ticker, TIMEOUT, Thread::new, "test"); // not started: the test calls check()
    try (ServerSocketChannel server = ServerSocketChannel.open()) {
      server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
      SocketChannel a = SocketChannel.open(server.getLocalAddress());
      SocketChannel b = server.accept();
      near = Link.accepted(a, watchdog);
      far = Link.accepted(b, new LinkWatchdog(ticker, TIMEOUT, Thread::new, "far"));
    }
  }

  @AfterEach
  void close() {
    near.close();
    far.close();
    watchdog.close();
  }

  /** Waits, bounded, until another thread is inside a blocking call (not a timed sleep of the test). */
  private static void awaitBlocked(BooleanSupplier inCall) {
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!inCall.getAsBoolean()) {
      assertThat(System.nanoTime()).as("the call never blocked").isLessThan(until);
      Thread.onSpinWait();
    }
  }

  @Test
  void check_peerSilentPastTheTimeout_closesTheLinkAndTheReaderSaysWhy() {
    CompletableFuture<Throwable> read = CompletableFuture.supplyAsync(() -> {
      try {
        near.reader.next();
        return null;
      } catch (Throwable t) {
        return t;
      }
    });
    awaitBlocked(() -> near.readStartedAt() != 0);
    ticker.advance(TIMEOUT);
    assertThat(watchdog.check(ticker.read())).as("not yet: exactly the timeout").isZero();
    ticker.advance(Duration.ofMillis(1));
    assertThat(watchdog.check(ticker.read())).isEqualTo(1);
    Throwable t = read.join();
    assertThat(t).isInstanceOf(Link.PeerTimeoutException.class)
        .hasMessageContaining("sent nothing for 10001 ms (peer timeout 10000 ms)");
    assertThat(near.isOpen()).isFalse();
  }

  @Test
  void check_peerThatStoppedReading_closesTheLinkAndTheWriterSaysWhy() {
    CompletableFuture<Throwable> write = CompletableFuture.supplyAsync(() -> {
      ByteBuffer chunk = ByteBuffer.allocateDirect(1 << 20);
      try {
        for (int i = 0; i < 10_000; i++) { // far more than both socket buffers hold
          chunk.clear();
          near.writer.write(FrameType.PAGES, chunk);
        }
        return null;
      } catch (Throwable t) {
        return t;
      }
    });
    awaitBlocked(() -> near.writeStartedAt() != 0);
    assertThat(watchdog.check(ticker.read())).as("a write in progress, no time passed").isZero();
    // On the fake clock a write that is still moving and one that is blocked look alike until the
    // buffers fill, so time is advanced past the timeout until the write that started before it is
    // still there: bounded, as the far end never reads, the buffers fill and one write stays.
    long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    int closed = 0;
    while (closed == 0) {
      assertThat(System.nanoTime()).as("the writer never blocked").isLessThan(until);
      ticker.advance(TIMEOUT.plusMillis(1));
      closed = watchdog.check(ticker.read());
    }
    assertThat(closed).isEqualTo(1);
    assertThat(write.join()).isInstanceOf(Link.PeerTimeoutException.class).hasMessageContaining("took no data");
    assertThat(near.isOpen()).isFalse();
  }

  @Test
  void check_quietLinkWithKeepalive_sendsAPingThePeerReads() throws IOException {
    near.keepalive(true);
    ticker.advance(TIMEOUT.dividedBy(4).minusMillis(1));
    watchdog.check(ticker.read());
    ticker.advance(Duration.ofMillis(1));
    assertThat(watchdog.check(ticker.read())).isZero();
    Message m = far.receive();
    assertThat(m).isInstanceOf(Message.Ping.class);
  }

  @Test
  void check_dataStreamWithUntimedReads_isLeftAloneWhileIdle() {
    near.readsTimed(false);
    CompletableFuture<Throwable> read = CompletableFuture.supplyAsync(() -> {
      try {
        near.reader.next();
        return null;
      } catch (Throwable t) {
        return t;
      }
    });
    awaitBlocked(() -> near.readStartedAt() != 0);
    ticker.advance(TIMEOUT.multipliedBy(6));
    assertThat(watchdog.check(ticker.read())).isZero();
    assertThat(near.isOpen()).isTrue();
    near.close();
    assertThat(read.join()).isInstanceOf(IOException.class).isNotInstanceOf(Link.PeerTimeoutException.class);
  }

  @Test
  void check_handshakePastItsDeadline_closesTheLinkWithTheReasonGiven() {
    near.closeAt(ticker.read() + Duration.ofSeconds(3).toNanos(), "no handshake within 3000 ms");
    ticker.advance(Duration.ofMillis(2999));
    assertThat(watchdog.check(ticker.read())).isZero();
    ticker.advance(Duration.ofMillis(1));
    assertThat(watchdog.check(ticker.read())).isEqualTo(1);
    assertThat(near.failure()).isEqualTo("no handshake within 3000 ms");
    assertThatThrownBy(() -> near.reader.next()).isInstanceOf(Link.PeerTimeoutException.class)
        .hasMessage("no handshake within 3000 ms");
  }
}
