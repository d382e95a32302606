package dev.ferry.engine;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A TCP relay on loopback between a source and a receiver that a test can cut: after a given
 * number of bytes from the source, or at once, it closes both sides of every connection, as a
 * failed link would.
 */
final class CuttableProxy implements AutoCloseable {
  private final ServerSocket server;
  private final InetSocketAddress upstream;
  private final List<Socket> sockets = new CopyOnWriteArrayList<>();
  private final AtomicLong forwarded = new AtomicLong();
  private volatile long cutAfter = Long.MAX_VALUE;
  private volatile boolean down;

  CuttableProxy(InetSocketAddress upstream) throws IOException {
    this.upstream = upstream;
    this.server = new ServerSocket(0, 16, InetAddress.getLoopbackAddress());
    Thread t = new Thread(this::acceptLoop, "proxy-accept");
    t.setDaemon(true);
    t.start();
  }

  InetSocketAddress address() {
    return new InetSocketAddress(InetAddress.getLoopbackAddress(), server.getLocalPort());
  }

  /** Cuts every connection once this many bytes have gone from source to destination. */
  void cutAfter(long bytes) {
    cutAfter = bytes;
    if (forwarded.get() >= bytes) {
      cut();
    }
  }

  long forwarded() {
    return forwarded.get();
  }

  /** While down, new connections are closed as soon as they are accepted, like a link that is out. */
  void down(boolean down) {
    this.down = down;
  }

  void cut() {
    for (Socket s : sockets) {
      try {
        s.close();
      } catch (IOException ignored) {
        // already closed
      }
    }
  }

  private void acceptLoop() {
    while (!server.isClosed()) {
      try {
        Socket in = server.accept();
        if (down) {
          in.close();
          continue;
        }
        Socket out = new Socket(upstream.getAddress(), upstream.getPort());
        sockets.add(in);
        sockets.add(out);
        pump(in, out, true);
        pump(out, in, false);
      } catch (IOException e) {
        return;
      }
    }
  }

  private void pump(Socket from, Socket to, boolean counted) {
    Thread t = new Thread(() -> {
      byte[] buf = new byte[64 * 1024];
      try (InputStream is = from.getInputStream(); OutputStream os = to.getOutputStream()) {
        int n;
        while ((n = is.read(buf)) > 0) {
          os.write(buf, 0, n);
          if (counted && forwarded.addAndGet(n) >= cutAfter) {
            cut();
            return;
          }
        }
      } catch (IOException ignored) {
        // cut or closed
      } finally {
        try {
          from.close();
          to.close();
        } catch (IOException ignored) {
          // already closed
        }
      }
    }, "proxy-pump");
    t.setDaemon(true);
    t.start();
  }

  @Override
  public void close() throws IOException {
    server.close();
    cut();
  }
}
