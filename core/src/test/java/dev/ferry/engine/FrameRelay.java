package dev.ferry.engine;

import dev.ferry.wire.FrameType;
import dev.ferry.wire.WireFormat;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32C;

/**
 * A loopback relay that understands Ferry's frames and breaks the link at a chosen message: it can
 * cut every connection when the n-th frame of a type passes in one direction (before or after
 * forwarding it), or forward that frame one byte short with a valid checksum (a malformed message,
 * which only the receiver's decoding can catch). One rule, fired once; connections opened after it
 * fired are relayed untouched (a source that reconnects to ask or recover gets through).
 *
 * <p>Thread-safe. Threads are named {@code test-relay-*}.
 */
final class FrameRelay implements AutoCloseable {
  enum Direction { TO_DESTINATION, TO_SOURCE }

  enum Action { CUT_BEFORE, CUT_AFTER, SHORTEN }

  private final ServerSocket server;
  private final InetSocketAddress upstream;
  private final List<Socket> sockets = new CopyOnWriteArrayList<>();
  private final AtomicInteger seen = new AtomicInteger();
  private volatile Direction direction;
  private volatile FrameType type;
  private volatile int nth;
  private volatile Action action;
  private volatile boolean fired;
  private volatile long firedAt;
  private volatile boolean closed;

  FrameRelay(InetSocketAddress upstream) throws IOException {
    this.upstream = upstream;
    this.server = new ServerSocket(0, 64, InetAddress.getLoopbackAddress());
    Thread t = new Thread(this::acceptLoop, "test-relay-accept-" + server.getLocalPort());
    t.setDaemon(true);
    t.start();
  }

  /** Arms the rule: at the {@code nth} frame of {@code type} going {@code direction}, do {@code action}. */
  FrameRelay when(Direction direction, FrameType type, int nth, Action action) {
    this.direction = direction;
    this.type = type;
    this.nth = nth;
    this.action = action;
    this.seen.set(0);
    return this;
  }

  boolean fired() {
    return fired;
  }

  /** {@link System#nanoTime()} when the rule fired, or 0. */
  long firedAt() {
    return firedAt;
  }

  InetSocketAddress address() {
    return new InetSocketAddress(InetAddress.getLoopbackAddress(), server.getLocalPort());
  }

  private void acceptLoop() {
    while (!closed) {
      try {
        Socket in = server.accept();
        Socket out = new Socket(upstream.getAddress(), upstream.getPort());
        boolean ruled = !fired;
        sockets.add(in);
        sockets.add(out);
        pump(in, out, Direction.TO_DESTINATION, ruled, List.of(in, out));
        pump(out, in, Direction.TO_SOURCE, ruled, List.of(in, out));
      } catch (IOException e) {
        if (!closed) {
          continue;
        }
        return;
      }
    }
  }

  private void pump(Socket from, Socket to, Direction dir, boolean ruled, List<Socket> pair) {
    Thread t = new Thread(() -> {
      try (InputStream i = from.getInputStream(); OutputStream o = to.getOutputStream()) {
        DataInputStream in = new DataInputStream(i);
        byte[] preamble = new byte[WireFormat.PREAMBLE_LENGTH];
        in.readFully(preamble);
        o.write(preamble);
        byte[] header = new byte[WireFormat.HEADER_LENGTH];
        while (true) {
          in.readFully(header);
          int length = ByteBuffer.wrap(header).getInt(0);
          FrameType ft = FrameType.ofCode(header[4] & 0xff);
          byte[] rest = new byte[length + WireFormat.TRAILER_LENGTH];
          in.readFully(rest);
          if (ruled && !fired && dir == direction && ft == type && seen.incrementAndGet() == nth) {
            fired = true;
            firedAt = System.nanoTime();
            switch (action) {
              case CUT_BEFORE -> {
                cut(pair);
                return;
              }
              case CUT_AFTER -> {
                o.write(header);
                o.write(rest);
                o.flush();
                cut(pair);
                return;
              }
              case SHORTEN -> {
                writeShortened(o, header, rest, length);
                continue;
              }
              default -> throw new AssertionError(action);
            }
          }
          o.write(header);
          o.write(rest);
        }
      } catch (IOException e) {
        cut(pair);
      }
    }, "test-relay-" + dir);
    t.setDaemon(true);
    t.start();
  }

  /** The frame with its payload one byte short and a checksum that matches: well framed, malformed inside. */
  private static void writeShortened(OutputStream o, byte[] header, byte[] rest, int length) throws IOException {
    int shorter = Math.max(0, length - 1);
    ByteBuffer h = ByteBuffer.wrap(header.clone());
    h.putInt(0, shorter);
    CRC32C crc = new CRC32C();
    crc.update(h.array(), 0, WireFormat.HEADER_LENGTH);
    crc.update(rest, 0, shorter);
    o.write(h.array());
    o.write(rest, 0, shorter);
    o.write(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
    o.flush();
  }

  private static void cut(List<Socket> pair) {
    for (Socket s : pair) {
      try {
        s.close();
      } catch (IOException ignored) {
        // closing both ends of a cut link
      }
    }
  }

  @Override
  public void close() {
    closed = true;
    try {
      server.close();
    } catch (IOException ignored) {
      // closing
    }
    for (Socket s : sockets) {
      try {
        s.close();
      } catch (IOException ignored) {
        // closing
      }
    }
  }
}
