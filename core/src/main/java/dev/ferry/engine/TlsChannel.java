package dev.ferry.engine;

import dev.ferry.FerryTls;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.GatheringByteChannel;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.SocketChannel;
import java.util.concurrent.locks.ReentrantLock;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLHandshakeException;

/**
 * A blocking byte channel that carries a link's bytes through TLS: an {@link SSLEngine} over the
 * link's own {@link SocketChannel}, so that the frame reader and writer, and the watchdog that bounds
 * their calls, work as they do in plaintext.
 *
 * <p>Design note. The engine is driven by a blocking loop: {@link #handshake()} wraps and unwraps
 * until the handshake is done; {@link #write} wraps what it is given into records and writes each
 * whole; {@link #read} unwraps records into the caller's buffer when it has room for one (no copy),
 * else into a buffer of its own. TLS 1.3 messages after the handshake (session tickets, key updates)
 * are handled on the way: a read that needs to answer one wraps under the write lock. JSSE allows
 * wrap and unwrap on two threads at once; writes are serialised by {@link #writeLock}, reads come
 * from one thread at a time (as on every link). Closing the socket (the watchdog, or the link's
 * owner) wakes any blocked call; no close_notify is sent, as a closed plaintext link sends nothing
 * either.
 *
 * <p>A peer that is not speaking TLS is recognised by its first byte (a TLS record starts with 22,
 * a handshake record, or 21, an alert): {@link NotTlsException} says so, and for a Ferry preamble,
 * which side it is.
 */
final class TlsChannel implements GatheringByteChannel, ReadableByteChannel {
  private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);
  private static final int TLS_ALERT_RECORD = 21;
  private static final int TLS_HANDSHAKE_RECORD = 22;

  private final SocketChannel ch;
  private final SSLEngine engine;
  private final boolean client;
  private final ReentrantLock writeLock = new ReentrantLock();
  private final ByteBuffer netIn;  // read mode between calls: bytes from the socket not yet unwrapped
  private final ByteBuffer netOut; // write mode; flushed whole before a wrap returns
  private final ByteBuffer appIn;  // read mode: plaintext unwrapped but not yet taken
  private boolean sniffed;
  private volatile boolean handshaken;

  private TlsChannel(SocketChannel ch, SSLEngine engine, boolean client) {
    this.ch = ch;
    this.engine = engine;
    this.client = client;
    int packet = engine.getSession().getPacketBufferSize();
    this.netIn = ByteBuffer.allocate(packet).flip();
    this.netOut = ByteBuffer.allocate(packet);
    this.appIn = ByteBuffer.allocate(engine.getSession().getApplicationBufferSize()).flip();
  }

  /** The source's end of a connection to {@code host}: checks that the receiver's certificate names it. */
  static TlsChannel client(SocketChannel ch, FerryTls tls, String host, int port) {
    return new TlsChannel(ch, tls.engine(true, host, port), true);
  }

  /** The receiver's end: requires the source's certificate and applies the allowed-peer rule. */
  static TlsChannel server(SocketChannel ch, FerryTls tls) {
    return new TlsChannel(ch, tls.engine(false, null, 0), false);
  }

  /**
   * Runs the whole handshake, blocking. A failure here is told to the peer (the engine's alert is
   * sent when it has one) and thrown.
   *
   * @throws NotTlsException when the peer's first byte is not a TLS record
   * @throws SSLException when the handshake fails (an untrusted or misnamed certificate, an alert)
   */
  void handshake() throws IOException {
    try {
      engine.beginHandshake();
      HandshakeStatus hs = engine.getHandshakeStatus();
      while (hs != HandshakeStatus.FINISHED && hs != HandshakeStatus.NOT_HANDSHAKING) {
        switch (hs) {
          case NEED_WRAP -> hs = wrap(new ByteBuffer[] {EMPTY}, 0, 1).getHandshakeStatus();
          case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
            SSLEngineResult r;
            try {
              r = unwrapOnce(appIn.compact());
            } finally {
              appIn.flip();
            }
            if (r == null) {
              throw new SSLHandshakeException("the peer closed the connection during the TLS handshake");
            }
            hs = r.getHandshakeStatus();
          }
          case NEED_TASK -> {
            runTasks();
            hs = engine.getHandshakeStatus();
          }
          default -> throw new SSLHandshakeException("unexpected TLS handshake state " + hs);
        }
      }
      handshaken = true;
    } catch (NotTlsException e) {
      throw e; // no alert: the peer would not understand it, and the receiver answers in plaintext
    } catch (SSLException e) {
      sendAlert();
      throw e;
    }
  }

  /** Whether the handshake completed. */
  boolean handshaken() {
    return handshaken;
  }

  /** The peer's certificate subject, for logs; "?" if there is none. */
  String peerSubject() {
    try {
      return engine.getSession().getPeerPrincipal().getName();
    } catch (javax.net.ssl.SSLPeerUnverifiedException e) {
      return "?";
    }
  }

  /** The protocol and cipher suite agreed, for logs ("TLSv1.3 TLS_AES_256_GCM_SHA384"). */
  String describe() {
    return engine.getSession().getProtocol() + " " + engine.getSession().getCipherSuite();
  }

  @Override
  public int read(ByteBuffer dst) throws IOException {
    requireHandshaken();
    if (!dst.hasRemaining()) {
      return 0;
    }
    while (true) {
      if (appIn.hasRemaining()) {
        return take(dst);
      }
      // Unwrap straight into the caller's buffer when a whole record fits there.
      boolean direct = dst.remaining() >= engine.getSession().getApplicationBufferSize();
      ByteBuffer into = direct ? dst : appIn.compact();
      SSLEngineResult r;
      try {
        r = unwrapOnce(into);
      } finally {
        if (!direct) {
          appIn.flip();
        }
      }
      if (r == null) {
        return -1;
      }
      if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
        return -1;
      }
      HandshakeStatus hs = r.getHandshakeStatus();
      if (hs == HandshakeStatus.NEED_TASK) {
        runTasks();
        hs = engine.getHandshakeStatus();
      }
      if (hs == HandshakeStatus.NEED_WRAP) {
        wrap(new ByteBuffer[] {EMPTY}, 0, 1); // a key update's answer
      }
      if (direct && r.bytesProduced() > 0) {
        return r.bytesProduced();
      }
    }
  }

  private int take(ByteBuffer dst) {
    int n = Math.min(dst.remaining(), appIn.remaining());
    ByteBuffer slice = appIn.slice(appIn.position(), n);
    dst.put(slice);
    appIn.position(appIn.position() + n);
    return n;
  }

  /**
   * Unwraps one record into {@code into} (write mode), reading from the socket until a whole record
   * is there.
   *
   * @return the engine's result, or null when the socket reached its end first
   */
  private SSLEngineResult unwrapOnce(ByteBuffer into) throws IOException {
    while (true) {
      SSLEngineResult r = engine.unwrap(netIn, into);
      switch (r.getStatus()) {
        case OK, CLOSED -> {
          return r;
        }
        case BUFFER_OVERFLOW -> throw new SSLException("TLS record larger than the buffer for it ("
            + into.remaining() + " bytes free)");
        case BUFFER_UNDERFLOW -> {
          if (!fill()) {
            return null;
          }
        }
        default -> throw new SSLException("unexpected TLS state " + r.getStatus());
      }
    }
  }

  /** Reads more bytes from the socket into {@link #netIn}; false at the end of the stream. */
  private boolean fill() throws IOException {
    netIn.compact();
    try {
      if (!netIn.hasRemaining()) {
        throw new SSLException("TLS record larger than " + netIn.capacity() + " bytes");
      }
      int n = ch.read(netIn);
      if (n < 0) {
        return false;
      }
    } finally {
      netIn.flip();
    }
    if (!sniffed && netIn.hasRemaining()) {
      sniffed = true;
      int first = netIn.get(netIn.position()) & 0xff;
      if (first != TLS_HANDSHAKE_RECORD && first != TLS_ALERT_RECORD) {
        byte[] seen = new byte[netIn.remaining()];
        netIn.get(netIn.position(), seen);
        throw new NotTlsException(client, startsWithFerry(), seen);
      }
    }
    return true;
  }

  private boolean startsWithFerry() {
    byte[] magic = dev.ferry.wire.WireFormat.MAGIC;
    int n = Math.min(magic.length, netIn.remaining());
    for (int i = 0; i < n; i++) {
      if (netIn.get(netIn.position() + i) != magic[i]) {
        return false;
      }
    }
    return true;
  }

  @Override
  public int write(ByteBuffer src) throws IOException {
    return (int) write(new ByteBuffer[] {src}, 0, 1);
  }

  @Override
  public long write(ByteBuffer[] srcs) throws IOException {
    return write(srcs, 0, srcs.length);
  }

  /** Wraps all of {@code srcs} into records and writes every record whole. */
  @Override
  public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
    requireHandshaken();
    long total = 0;
    writeLock.lock();
    try {
      while (remaining(srcs, offset, length) > 0) {
        SSLEngineResult r = wrap(srcs, offset, length);
        total += r.bytesConsumed();
        if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
          throw new SSLException("the TLS session is closed");
        }
        if (r.bytesConsumed() == 0 && r.bytesProduced() == 0) {
          throw new SSLException("the TLS engine made no progress (" + r.getHandshakeStatus() + ")");
        }
      }
      return total;
    } finally {
      writeLock.unlock();
    }
  }

  private SSLEngineResult wrap(ByteBuffer[] srcs, int offset, int length) throws IOException {
    writeLock.lock();
    try {
      netOut.clear();
      SSLEngineResult r = engine.wrap(srcs, offset, length, netOut);
      if (r.getStatus() == SSLEngineResult.Status.BUFFER_OVERFLOW) {
        throw new SSLException("TLS record larger than the buffer for it");
      }
      netOut.flip();
      while (netOut.hasRemaining()) {
        ch.write(netOut);
      }
      if (r.getHandshakeStatus() == HandshakeStatus.NEED_TASK) {
        runTasks();
      }
      return r;
    } finally {
      writeLock.unlock();
    }
  }

  /** After a failed handshake: sends the engine's alert, if it has one, so that the peer knows why. */
  private void sendAlert() {
    try {
      engine.closeOutbound();
      if (engine.getHandshakeStatus() == HandshakeStatus.NEED_WRAP && ch.isOpen()) {
        wrap(new ByteBuffer[] {EMPTY}, 0, 1);
      }
    } catch (IOException | RuntimeException ignored) {
      // the peer may be gone; the handshake's own error is the one to report
    }
  }

  private void runTasks() {
    Runnable task;
    while ((task = engine.getDelegatedTask()) != null) {
      task.run();
    }
  }

  /** Application data before the handshake completed would be wrapped into nothing: refuse it. */
  private void requireHandshaken() throws SSLException {
    if (!handshaken) {
      throw new SSLException("the TLS handshake has not completed");
    }
  }

  private static long remaining(ByteBuffer[] srcs, int offset, int length) {
    long n = 0;
    for (int i = offset; i < offset + length; i++) {
      n += srcs[i].remaining();
    }
    return n;
  }

  @Override
  public boolean isOpen() {
    return ch.isOpen();
  }

  @Override
  public void close() throws IOException {
    ch.close();
  }

  /** The peer sent something other than a TLS record where a TLS handshake was expected. */
  static final class NotTlsException extends SSLException {
    private static final long serialVersionUID = 1L;
    final boolean ferryPlaintext;
    /** The bytes that arrived in the first read (at most one TLS record's worth). */
    final transient byte[] seen;

    NotTlsException(boolean weAreClient, boolean ferryPlaintext, byte[] seen) {
      super(weAreClient
          ? (ferryPlaintext ? "the receiver speaks plaintext, not TLS: it is not configured for TLS"
              : "the receiver does not speak TLS")
          : (ferryPlaintext ? "a plaintext Ferry source connected; this receiver takes only TLS connections"
              : "the peer does not speak TLS; this receiver takes only TLS connections"));
      this.ferryPlaintext = ferryPlaintext;
      this.seen = seen;
    }

    /**
     * The refusal a plaintext receiver sent at once (a preamble and an ERROR: a receiver over its
     * connection bound answers so, without TLS), if the first read holds it whole; else null.
     */
    dev.ferry.wire.Message.ErrorMessage plaintextRefusal() {
      if (!ferryPlaintext) {
        return null;
      }
      // Only a refusal made before reading us counts (BUSY); any other ERROR answers our TLS bytes.
      try {
        java.io.ByteArrayInputStream in = new java.io.ByteArrayInputStream(seen);
        java.nio.channels.ReadableByteChannel ch = java.nio.channels.Channels.newChannel(in);
        dev.ferry.wire.Preamble.read(ch);
        dev.ferry.wire.Message m = dev.ferry.wire.Messages.decode(new dev.ferry.wire.FrameReader(ch).next());
        return m instanceof dev.ferry.wire.Message.ErrorMessage e && e.code() == dev.ferry.wire.ErrorCode.BUSY
            ? e : null;
      } catch (IOException | RuntimeException incomplete) {
        return null;
      }
    }
  }
}
