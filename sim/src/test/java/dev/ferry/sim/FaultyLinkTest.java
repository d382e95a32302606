package dev.ferry.sim;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The relay a harness puts in a migration's path: it forwards, cuts, refuses and slows on demand. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class FaultyLinkTest {
  private ServerSocket sink;
  private final AtomicLong received = new AtomicLong();

  @BeforeEach
  void startSink() throws IOException {
    sink = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
    Thread t = new Thread(() -> {
      while (!sink.isClosed()) {
        try (Socket s = sink.accept(); InputStream in = s.getInputStream()) {
          byte[] buf = new byte[65536];
          int n;
          while ((n = in.read(buf)) > 0) {
            received.addAndGet(n);
          }
        } catch (IOException e) {
          // next connection, or closed
        }
      }
    });
    t.setDaemon(true);
    t.start();
  }

  @AfterEach
  void stopSink() throws IOException {
    sink.close();
  }

  private InetSocketAddress sinkAddress() {
    return new InetSocketAddress(InetAddress.getLoopbackAddress(), sink.getLocalPort());
  }

  private static long send(InetSocketAddress to, int bytes) {
    long sent = 0;
    try (Socket s = new Socket(to.getAddress(), to.getPort())) {
      byte[] chunk = new byte[8192];
      while (sent < bytes) {
        s.getOutputStream().write(chunk);
        sent += chunk.length;
      }
    } catch (IOException cut) {
      // the link was cut under us
    }
    return sent;
  }

  @Test
  void forwards_everyByte() throws Exception {
    try (FaultyLink link = FaultyLink.to(sinkAddress())) {
      send(link.address(), 1 << 20);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (received.get() < (1 << 20) && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      assertThat(received.get()).isEqualTo(1 << 20);
      assertThat(link.forwarded()).isEqualTo(1 << 20);
    }
  }

  @Test
  void cutAfter_stopsTheConnectionNearThatManyBytes() throws Exception {
    try (FaultyLink link = FaultyLink.to(sinkAddress()).cutAfter(100_000)) {
      send(link.address(), 10 << 20);
      assertThat(link.awaitIdle(10, TimeUnit.SECONDS)).isTrue();
      assertThat(link.forwarded()).isBetween(100_000L, 100_000L + 65536);
    }
  }

  @Test
  void down_refusesNewConnectionsUntilUp() throws Exception {
    try (FaultyLink link = FaultyLink.to(sinkAddress()).down(true)) {
      send(link.address(), 1 << 16);
      Thread.sleep(100);
      assertThat(link.forwarded()).isZero();
      link.down(false);
      send(link.address(), 1 << 16);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (link.forwarded() < (1 << 16) && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      assertThat(link.forwarded()).isEqualTo(1 << 16);
    }
  }

  @Test
  void limit_slowsTheLinkDown() throws Exception {
    try (FaultyLink link = FaultyLink.to(sinkAddress()).limit(2_000_000)) {
      long t0 = System.nanoTime();
      send(link.address(), 1 << 20);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (link.forwarded() < (1 << 20) && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
      // 1 MiB at 2 MB/s takes about half a second; unlimited loopback takes a few milliseconds.
      assertThat(elapsedMs).isGreaterThanOrEqualTo(400);
    }
  }
}
