package dev.ferry.engine;

import dev.ferry.TransportException;
import dev.ferry.wire.FrameReader;
import dev.ferry.wire.FrameWriter;
import dev.ferry.wire.Message;
import dev.ferry.wire.Messages;
import dev.ferry.wire.Preamble;
import dev.ferry.wire.WireFormat;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.SocketChannel;
import java.time.Duration;

/**
 * One TCP stream of a migration, on either side: the blocking socket channel with its frame writer
 * and reader, and the preamble exchange every stream opens with.
 *
 * <p>Socket tuning, from the measurements in {@code machine-limits.md}: large send and receive
 * buffers (loopback and LAN links both gain), Nagle off on the control stream so that switchover
 * messages are not delayed. Writes come from one thread at a time; reads from one thread.
 */
final class Link implements AutoCloseable {
  static final int SOCKET_BUFFER = 4 << 20;

  final SocketChannel channel;
  final FrameWriter writer;
  final FrameReader reader;

  private Link(SocketChannel channel) {
    this.channel = channel;
    this.writer = new FrameWriter(channel);
    this.reader = new FrameReader(channel, WireFormat.HANDSHAKE_MAX_PAYLOAD);
  }

  /** Connects to a receiver and exchanges preambles. */
  static Link connect(InetSocketAddress address, Duration timeout) throws TransportException {
    SocketChannel ch = null;
    try {
      ch = SocketChannel.open();
      tune(ch);
      ch.socket().connect(address, (int) Math.min(Integer.MAX_VALUE, timeout.toMillis()));
      Link link = new Link(ch);
      Preamble.write(ch);
      Preamble.read(ch);
      return link;
    } catch (IOException e) {
      closeQuietly(ch);
      throw new TransportException("cannot connect to the migration receiver at "
          + address.getHostString() + ":" + address.getPort() + ": " + e.getMessage(), e);
    }
  }

  /** Wraps an accepted connection; the caller exchanges preambles. */
  static Link accepted(SocketChannel ch) throws IOException {
    tune(ch);
    return new Link(ch);
  }

  private static void tune(SocketChannel ch) throws IOException {
    ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
    ch.setOption(StandardSocketOptions.SO_SNDBUF, SOCKET_BUFFER);
    ch.setOption(StandardSocketOptions.SO_RCVBUF, SOCKET_BUFFER);
  }

  void send(Message m) throws IOException {
    writer.write(m);
  }

  /** Reads the next frame and decodes it as a control message. */
  Message receive() throws IOException {
    return Messages.decode(reader.next());
  }

  @Override
  public void close() {
    closeQuietly(channel);
  }

  static void closeQuietly(AutoCloseable c) {
    if (c == null) {
      return;
    }
    try {
      c.close();
    } catch (Exception ignored) {
      // closing on a failure path: the first error is the one to report
    }
  }
}
