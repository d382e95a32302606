package dev.ferry.sim;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A TCP relay on the loopback address that a test harness puts between a migration's source and
 * its destination to break the link on purpose: cut every connection now or after a number of
 * bytes, refuse new connections for a while (a link that is out), or slow it to a rate.
 *
 * <p>Design note: one accept thread, and two pump threads per connection, each copying 64 KiB at a
 * time. Cutting closes both sockets of every connection, which both ends see as a reset or an end
 * of stream, as with a failed link. The rate limit paces the source-to-destination direction only
 * (the return path carries little). It listens on 127.0.0.1 only.
 *
 * <p>Thread-safety: safe from any thread.
 */
public final class FaultyLink implements AutoCloseable {
  private final ServerSocket server;
  private final InetSocketAddress upstream;
  private final List<Socket> sockets = new CopyOnWriteArrayList<>();
  private final AtomicLong forwarded = new AtomicLong();
  private volatile long cutAfter = Long.MAX_VALUE;
  private volatile boolean down;
  private volatile long bytesPerSecond = Long.MAX_VALUE;

  private FaultyLink(InetSocketAddress upstream) throws IOException {
    this.upstream = upstream;
    this.server = new ServerSocket(0, 16, InetAddress.getLoopbackAddress());
    Thread t = new Thread(this::acceptLoop, "ferry-sim-faulty-link-" + server.getLocalPort());
    t.setDaemon(true);
    t.start();
  }

  /**
   * Starts a relay on a free loopback port that forwards to {@code upstream} (a migration
   * receiver's address).
   */
  public static FaultyLink to(InetSocketAddress upstream) throws IOException {
    return new FaultyLink(upstream);
  }

  /** Where the source should connect instead of the receiver. */
  public InetSocketAddress address() {
    return new InetSocketAddress(InetAddress.getLoopbackAddress(), server.getLocalPort());
  }

  /** Bytes relayed so far from source to destination. */
  public long forwarded() {
    return forwarded.get();
  }

  /** Cuts every connection once this many bytes in all have gone from source to destination. */
  public FaultyLink cutAfter(long bytes) {
    cutAfter = bytes;
    if (forwarded.get() >= bytes) {
      cut();
    }
    return this;
  }

  /** While down, new connections are closed as soon as they are accepted. */
  public FaultyLink down(boolean down) {
    this.down = down;
    return this;
  }

  /** Limits the source-to-destination direction to this rate ({@code Long.MAX_VALUE}: no limit). */
  public FaultyLink limit(long bytesPerSecond) {
    if (bytesPerSecond <= 0) {
      throw new IllegalArgumentException("rate must be positive: " + bytesPerSecond);
    }
    this.bytesPerSecond = bytesPerSecond;
    return this;
  }

  /** Closes every open connection now. */
  public void cut() {
    for (Socket s : sockets) {
      try {
        s.close();
      } catch (IOException ignored) {
        // already closed
      }
    }
    sockets.clear();
  }

  @Override
  public void close() throws IOException {
    server.close();
    cut();
  }

  private void acceptLoop() {
    while (!server.isClosed()) {
      try {
        Socket in = server.accept();
        if (down) {
          in.close();
          continue;
        }
        Socket out;
        try {
          out = new Socket(upstream.getAddress(), upstream.getPort());
        } catch (IOException refused) {
          in.close();
          continue;
        }
        sockets.add(in);
        sockets.add(out);
        pump(in, out, true);
        pump(out, in, false);
      } catch (IOException e) {
        return;
      }
    }
  }

  private void pump(Socket from, Socket to, boolean towardsDestination) {
    Thread t = new Thread(() -> {
      byte[] buf = new byte[64 * 1024];
      long start = System.nanoTime();
      long sent = 0;
      try (InputStream is = from.getInputStream(); OutputStream os = to.getOutputStream()) {
        int n;
        while ((n = is.read(buf)) > 0) {
          if (towardsDestination) {
            long rate = bytesPerSecond;
            if (rate != Long.MAX_VALUE) {
              long due = start + (long) ((sent + n) * 1e9 / rate);
              long wait = due - System.nanoTime();
              if (wait > 0) {
                LockSupport.parkNanos(wait);
              }
            }
            sent += n;
          }
          os.write(buf, 0, n);
          if (towardsDestination && forwarded.addAndGet(n) >= cutAfter) {
            cut();
            return;
          }
        }
      } catch (IOException ignored) {
        // cut, or closed by an end
      } finally {
        closeQuietly(from);
        closeQuietly(to);
      }
    }, "ferry-sim-faulty-link-pump");
    t.setDaemon(true);
    t.start();
  }

  private static void closeQuietly(Socket s) {
    try {
      s.close();
    } catch (IOException ignored) {
      // already closed
    }
  }

  /** For tests: waits until no connection is open, at most {@code timeout}. */
  boolean awaitIdle(long timeout, TimeUnit unit) {
    long deadline = System.nanoTime() + unit.toNanos(timeout);
    while (sockets.stream().anyMatch(s -> !s.isClosed())) {
      if (System.nanoTime() > deadline) {
        return false;
      }
      LockSupport.parkNanos(10_000_000);
    }
    return true;
  }
}
