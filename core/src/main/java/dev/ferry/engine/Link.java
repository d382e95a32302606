package dev.ferry.engine;

import dev.ferry.DestinationRefusedException;
import dev.ferry.FerryTls;
import dev.ferry.Ticker;
import dev.ferry.TransportException;
import dev.ferry.wire.FrameReader;
import dev.ferry.wire.FrameWriter;
import dev.ferry.wire.Message;
import dev.ferry.wire.Messages;
import dev.ferry.wire.PageBatchEncoder;
import dev.ferry.wire.Preamble;
import dev.ferry.wire.WireFormat;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.GatheringByteChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One TCP stream of a migration, on either side: the socket with its frame writer and reader, the
 * preamble every stream opens with, and the bookkeeping that lets a {@link LinkWatchdog} bound every
 * read and write.
 *
 * <p>Design note. A blocking socket channel has no timeout of its own (SO_TIMEOUT does not apply to
 * {@code SocketChannel.read}, and nothing in Java bounds a write). So every read and write of a
 * link goes through a {@link Guarded} channel that stamps, with the migration's {@link Ticker},
 * when the call began; the watchdog closes a link whose call has run longer than the peer timeout,
 * which wakes the blocked thread, and the thread then sees a {@link PeerTimeoutException} that says
 * what happened instead of "socket closed". Reads are bounded only where the peer promises traffic
 * (the control stream, where both ends send keepalives); a data stream may rightly sit idle between
 * rounds, and is closed with its session. The blocking path costs two volatile writes per call, no
 * syscall: the page loop keeps the speed of a plain blocking channel.
 *
 * <p>With TLS ({@link FerryTls}), a {@link TlsChannel} sits between the guarded channel and the
 * socket: the frames and the watchdog see the same blocking calls, and the handshake runs as one
 * guarded call (bounded by the peer timeout, and on a receiver by the handshake timeout too) before
 * the preambles.
 *
 * <p>Socket tuning, measured on loopback TCP between two JVMs, where the receive buffer's size
 * mattered most: large send and receive buffers ({@link #SOCKET_BUFFER}, which the benchmarks'
 * {@code throughput} command also gives its raw-TCP baseline, see BENCHMARKS.md), Nagle off so
 * that switchover messages are not delayed.
 *
 * <p>Thread-safety: writes are serialised by the link's write lock ({@link #send}, {@link #sendPages}
 * and the keepalive take it), so a keepalive never lands inside another frame. Reads come from one
 * thread at a time. {@link #close()} is safe from any thread.
 */
final class Link implements AutoCloseable {
  private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(Link.class);
  static final int SOCKET_BUFFER = 4 << 20;

  final SocketChannel channel;
  /** The TLS layer over {@link #channel}, or null for a plaintext link. */
  final TlsChannel tls;
  final FrameWriter writer;
  final FrameReader reader;
  private final String peer;
  private final Guarded guarded;
  private final ReentrantLock writeLock = new ReentrantLock();
  private volatile boolean readsTimed;
  private volatile boolean keepalive;
  private volatile long closeAt = Long.MAX_VALUE;
  private volatile String closeAtReason = "";
  private volatile String failure;
  private final java.util.concurrent.atomic.AtomicLong pingsSent = new java.util.concurrent.atomic.AtomicLong();
  private final java.util.concurrent.atomic.AtomicLong roundEndsSent = new java.util.concurrent.atomic.AtomicLong();

  private Link(SocketChannel channel, TlsChannel tls, Ticker ticker, String peer) {
    this.channel = channel;
    this.tls = tls;
    this.peer = peer;
    this.guarded = tls == null ? new Guarded(channel, channel, ticker) : new Guarded(tls, tls, ticker);
    this.writer = new FrameWriter(guarded);
    this.reader = new FrameReader(guarded, WireFormat.HANDSHAKE_MAX_PAYLOAD);
  }

  /** Connects in plaintext and without a token. */
  static Link connect(InetSocketAddress address, Duration connectTimeout, LinkWatchdog watchdog)
      throws TransportException {
    return connect(address, connectTimeout, watchdog, null, "");
  }

  /**
   * Connects to a receiver, runs the TLS handshake when {@code tls} is given (the receiver's
   * certificate must name the address's host), exchanges preambles, answers the receiver's
   * AUTH_CHALLENGE with a proof of {@code token} (the token itself never travels) and checks the
   * receiver's proof in AUTH_OK when it required the token, with every step
   * bounded: the connect by {@code connectTimeout}, the rest by the watchdog's peer timeout.
   *
   * @throws DestinationRefusedException if the receiver refuses the connection (BUSY, a wrong token,
   *     or it requires a token and {@code token} is empty) or cannot prove the token itself (without
   *     TLS, a receiver that requires no token cannot)
   */
  static Link connect(InetSocketAddress address, Duration connectTimeout, LinkWatchdog watchdog, FerryTls tls,
      String token) throws TransportException {
    SocketChannel ch = null;
    Link link = null;
    String where = address.getHostString() + ":" + address.getPort();
    try {
      ch = SocketChannel.open();
      tune(ch);
      ch.socket().connect(address, (int) Math.max(1, Math.min(Integer.MAX_VALUE, connectTimeout.toMillis())));
      TlsChannel t = tls == null ? null : TlsChannel.client(ch, tls, address.getHostString(), address.getPort());
      link = new Link(ch, t, watchdog.ticker(), "the migration receiver at " + where);
      link.readsTimed = true;
      watchdog.watch(link);
      link.guarded.handshake();
      if (t != null && log.isDebugEnabled()) {
        log.debug("TLS to {}: {}", where, t.describe());
      }
      Preamble.write(link.guarded);
      Preamble.read(link.guarded);
      Message first = link.receive();
      if (first instanceof Message.ErrorMessage err) {
        throw new DestinationRefusedException("the migration receiver at " + where + " refused the connection: "
            + err.code() + ": " + err.message());
      }
      if (!(first instanceof Message.AuthChallenge challenge)) {
        throw new dev.ferry.wire.ProtocolException("the migration receiver at " + where + " opened with "
            + first.type() + ", not AUTH_CHALLENGE");
      }
      if (challenge.tokenRequired() && token.isEmpty()) {
        throw new DestinationRefusedException("the migration receiver at " + where
            + " requires a token, and this migration has none (MigrationTarget.withToken)");
      }
      if (!challenge.tokenRequired() && !token.isEmpty() && tls == null) {
        // Without TLS the token is all that tells this source the destination is the right host.
        throw new DestinationRefusedException("the migration receiver at " + where + " requires no token, so it"
            + " cannot prove it is a host this migration's token was shared with (without TLS, a source with a"
            + " token migrates only to a receiver with that token)");
      }
      Message.AuthResponse response = TokenAuth.respond(token, challenge);
      link.send(response);
      Message verdict = link.receive();
      if (verdict instanceof Message.ErrorMessage err) {
        throw new DestinationRefusedException("the migration receiver at " + where + " refused the connection: "
            + err.code() + ": " + err.message());
      }
      if (!(verdict instanceof Message.AuthOk ok)) {
        throw new dev.ferry.wire.ProtocolException("the migration receiver at " + where + " answered AUTH_RESPONSE"
            + " with " + verdict.type() + ", not AUTH_OK");
      }
      if (challenge.tokenRequired() && !TokenAuth.verifyDestination(token, challenge, response, ok)) {
        throw new DestinationRefusedException("the migration receiver at " + where + " could not prove the token:"
            + " it is not a host this token was shared with");
      }
      return link;
    } catch (DestinationRefusedException e) {
      if (link != null) {
        link.close();
      }
      closeQuietly(ch);
      throw e;
    } catch (TlsChannel.NotTlsException e) {
      if (link != null) {
        link.close();
      }
      closeQuietly(ch);
      Message.ErrorMessage refusal = e.plaintextRefusal();
      if (refusal != null) {
        throw new DestinationRefusedException("the migration receiver at " + where + " refused the connection: "
            + refusal.code() + ": " + refusal.message());
      }
      throw new TransportException("cannot connect over TLS to the migration receiver at " + where + ": "
          + e.getMessage(), e);
    } catch (IOException e) {
      if (link != null) {
        link.close();
      }
      closeQuietly(ch);
      String what = tls == null ? "" : " over TLS";
      throw new TransportException("cannot connect" + what + " to the migration receiver at " + where + ": "
          + explain(e), e);
    }
  }

  /** Wraps an accepted plaintext connection, watched; the caller exchanges preambles. */
  static Link accepted(SocketChannel ch, LinkWatchdog watchdog) throws IOException {
    return accepted(ch, watchdog, null);
  }

  /**
   * Wraps an accepted connection, watched, with TLS when {@code tls} is given; the caller exchanges
   * preambles, which runs the TLS handshake first.
   */
  static Link accepted(SocketChannel ch, LinkWatchdog watchdog, FerryTls tls) throws IOException {
    tune(ch);
    TlsChannel t = tls == null ? null : TlsChannel.server(ch, tls);
    Link link = new Link(ch, t, watchdog.ticker(), "the migration source at " + remote(ch));
    link.readsTimed = true;
    watchdog.watch(link);
    return link;
  }

  /** An error's message, with what a TLS alert from the receiver means for this source. */
  private static String explain(IOException e) {
    String m = String.valueOf(e.getMessage());
    if (e instanceof javax.net.ssl.SSLException && m.startsWith("Received fatal alert: ")
        && (m.contains("bad_certificate") || m.contains("certificate_unknown") || m.contains("certificate_required")
            || m.contains("access_denied"))) {
      return "the receiver refused this host's TLS certificate: it does not chain to a certificate the receiver"
          + " trusts, or names none of the peers it allows (" + m + ")";
    }
    return m;
  }

  private static void tune(SocketChannel ch) throws IOException {
    ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
    ch.setOption(StandardSocketOptions.SO_SNDBUF, SOCKET_BUFFER);
    ch.setOption(StandardSocketOptions.SO_RCVBUF, SOCKET_BUFFER);
  }

  /** Exchanges preambles on an accepted connection (after the TLS handshake): ours first, then the peer's. */
  void exchangePreambles() throws IOException {
    guarded.handshake();
    Preamble.write(guarded);
    Preamble.read(guarded);
  }

  /** Whose end this is, for messages ("the migration receiver at 127.0.0.1:7700"). */
  String peer() {
    return peer;
  }

  /** Whether reads wait at most the peer timeout (true at first: the handshake is always bounded). */
  void readsTimed(boolean timed) {
    this.readsTimed = timed;
  }

  boolean readsTimed() {
    return readsTimed;
  }

  /** Whether the watchdog sends a PING when this link has been quiet for a quarter of the timeout. */
  void keepalive(boolean on) {
    this.keepalive = on;
  }

  boolean keepalive() {
    return keepalive;
  }

  /**
   * Closes the link at ticker time {@code at} unless {@link #clearCloseAt()} comes first: the bound on
   * a handshake.
   */
  void closeAt(long at, String reason) {
    this.closeAtReason = reason;
    this.closeAt = at;
  }

  void clearCloseAt() {
    this.closeAt = Long.MAX_VALUE;
  }

  long closeAtNanos() {
    return closeAt;
  }

  String closeAtReason() {
    return closeAtReason;
  }

  long readStartedAt() {
    return guarded.readStart;
  }

  long writeStartedAt() {
    return guarded.writeStart;
  }

  long lastWriteAt() {
    return guarded.lastWrite;
  }

  void send(Message m) throws IOException {
    writeLock.lock();
    try {
      // Counted before the write: the answer may be read before the write returns.
      if (m instanceof Message.Ping) {
        pingsSent.incrementAndGet();
      } else if (m instanceof Message.RoundEnd) {
        roundEndsSent.incrementAndGet();
      }
      writer.write(m);
    } finally {
      writeLock.unlock();
    }
  }

  /** PINGs written on this link so far: a peer may answer each once. */
  long pingsSent() {
    return pingsSent.get();
  }

  /** ROUND_ENDs written on this link so far: a peer may acknowledge each once. */
  long roundEndsSent() {
    return roundEndsSent.get();
  }

  /** Writes the encoder's frame under the write lock and returns the bytes it took on the wire. */
  long sendPages(PageBatchEncoder encoder) throws IOException {
    writeLock.lock();
    try {
      long before = writer.bytesWritten();
      encoder.flush(writer);
      return writer.bytesWritten() - before;
    } finally {
      writeLock.unlock();
    }
  }

  /** Writes a device state under the write lock. */
  void sendDeviceState(ByteBuffer state) throws IOException {
    writeLock.lock();
    try {
      writer.writeDeviceState(state);
    } finally {
      writeLock.unlock();
    }
  }

  /**
   * Sends a keepalive PING unless another write holds the link (a link being written to is not
   * idle). Called by the watchdog's keepalive thread.
   */
  void keepaliveNow(long nanos) {
    try {
      if (writeLock.tryLock(0, TimeUnit.NANOSECONDS)) {
        try {
          pingsSent.incrementAndGet();
          writer.write(new Message.Ping(nanos));
        } finally {
          writeLock.unlock();
        }
      }
    } catch (IOException | RuntimeException e) {
      // The link is failing; whoever reads or writes it next will say so.
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Reads the next frame and decodes it as a control message. */
  Message receive() throws IOException {
    return Messages.decode(reader.next());
  }

  /** Closes the link because the watchdog saw it stuck; the blocked call then throws with {@code why}. */
  void fail(String why) {
    if (failure == null) {
      failure = why;
    }
    close();
  }

  /** Why the watchdog closed the link, or null. */
  String failure() {
    return failure;
  }

  boolean isOpen() {
    return channel.isOpen();
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

  static String remote(SocketChannel ch) {
    try {
      Object a = ch.getRemoteAddress();
      if (a instanceof InetSocketAddress i) {
        return i.getHostString() + ":" + i.getPort();
      }
      return String.valueOf(a);
    } catch (IOException e) {
      return "?";
    }
  }

  @Override
  public String toString() {
    return "Link[" + peer + "]";
  }

  /**
   * The socket channel as the frame reader and writer see it: blocking calls stamped with their
   * start, and a watchdog's close reported as a {@link PeerTimeoutException}.
   */
  private final class Guarded implements GatheringByteChannel, ReadableByteChannel {
    private final ReadableByteChannel in;
    private final GatheringByteChannel ch;
    private final Ticker ticker;
    volatile long readStart;
    volatile long writeStart;
    volatile long lastWrite;

    Guarded(ReadableByteChannel in, GatheringByteChannel out, Ticker ticker) {
      this.in = in;
      this.ch = out;
      this.ticker = ticker;
      this.lastWrite = ticker.read();
    }

    /** The TLS handshake, if any, as one call the watchdog bounds like a read. */
    void handshake() throws IOException {
      if (tls == null || tls.handshaken()) {
        return;
      }
      readStart = nonZero(ticker.read());
      try {
        tls.handshake();
      } catch (IOException e) {
        throw translate(e);
      } finally {
        readStart = 0;
      }
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
      readStart = nonZero(ticker.read());
      try {
        return in.read(dst);
      } catch (IOException e) {
        throw translate(e);
      } finally {
        readStart = 0;
      }
    }

    @Override
    public int write(ByteBuffer src) throws IOException {
      writeStart = nonZero(ticker.read());
      try {
        return ch.write(src);
      } catch (IOException e) {
        throw translate(e);
      } finally {
        writeStart = 0;
        lastWrite = ticker.read();
      }
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
      writeStart = nonZero(ticker.read());
      try {
        return ch.write(srcs, offset, length);
      } catch (IOException e) {
        throw translate(e);
      } finally {
        writeStart = 0;
        lastWrite = ticker.read();
      }
    }

    @Override
    public long write(ByteBuffer[] srcs) throws IOException {
      return write(srcs, 0, srcs.length);
    }

    private IOException translate(IOException e) {
      String why = failure;
      return why == null ? e : new PeerTimeoutException(why, e);
    }

    @Override
    public boolean isOpen() {
      return ch.isOpen();
    }

    @Override
    public void close() throws IOException {
      ch.close();
    }

    private long nonZero(long t) {
      return t == 0 ? 1 : t;
    }
  }

  /** A read or write that the watchdog ended because the peer let it wait past the peer timeout. */
  static final class PeerTimeoutException extends IOException {
    private static final long serialVersionUID = 1L;

    PeerTimeoutException(String message, Throwable cause) {
      super(message, cause);
    }
  }
}
