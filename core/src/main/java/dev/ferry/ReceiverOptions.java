package dev.ferry;

import java.time.Duration;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ThreadFactory;
import java.util.function.Consumer;

/**
 * How a {@link MigrationReceiver} takes migrations: who may send them, how long a peer may stay
 * silent, and how much any peer may make it hold. Immutable and thread-safe; build one with
 * {@link #builder()}. The defaults:
 *
 * <ul>
 *   <li>no TLS and no token: any source may migrate here, which a receiver allows only on a
 *       loopback address (it refuses to start on any other without TLS or a token);
 *   <li>a peer timeout of 10 s: a source that sends nothing (it sends a keepalive at least every
 *       quarter of that) or takes nothing for that long is gone, and its migration ends here;
 *   <li>10 s for a connection to finish its handshake;
 *   <li>at most 4 migrations received at once, 16 streams each, and 64 connections in all
 *       (handshakes, streams and questions counted): each refusal is an ERROR to the peer that says
 *       which bound it hit;
 *   <li>the outcome of the last 1,024 sessions kept for 10 minutes, for sources that ask what became
 *       of a commit they could not confirm;
 *   <li>the system {@link Ticker} and platform threads; no listener;
 *   <li>a JDK Flight Recorder event per migration received (see {@link #flightRecorder()}).
 * </ul>
 *
 * <p><b>What a peer costs before it has authenticated.</b> A connection counts as authenticated once
 * the source has proven the token (AUTH_RESPONSE; with TLS, after the TLS handshake) and, on a
 * receiver without a token, once its first frame (HELLO, JOIN, ...) has been accepted. Until then
 * it holds at most: one of the {@link #maxConnections()} slots (a connection over the bound is told
 * BUSY and closed by the accepting thread, with no thread of its own); one thread; a frame buffer of
 * at most 64 KiB and 4 bytes of direct memory (a frame whose header announces more is refused on the
 * header, before anything is allocated for it); a few KiB of heap for its link (about 17 KiB
 * measured in plaintext, 64 KiB the bound {@code ReceiverPreAuthBudgetTest} checks), with TLS the
 * TLS layer's buffers too (two packet buffers and one application buffer of the JDK's sizes, about
 * 50 KiB of heap, and the handshake's state; not measured by that test); and the kernel's
 * socket buffers, which hold only what the peer sends and nobody reads. It is closed when the
 * {@link #handshakeTimeout()} has passed since it was accepted, however slowly it keeps sending; a
 * wrong token is told UNAUTHORIZED, and the receiver reads at most 64 KiB more before closing. So
 * unauthenticated peers cost at most {@code maxConnections} threads and
 * {@code maxConnections × 64 KiB} of direct memory, and each for the handshake timeout at most.
 */
public final class ReceiverOptions {
  private static final ReceiverOptions DEFAULTS = builder().build();

  private final String token;
  private final Duration peerTimeout;
  private final Duration handshakeTimeout;
  private final int maxSessions;
  private final int maxStreams;
  private final int maxConnections;
  private final int rememberedSessions;
  private final Duration rememberFor;
  private final Ticker ticker;
  private final ThreadFactory threadFactory;
  private final Consumer<ReceivedMigration> listener;
  private final Optional<FerryTls> tls;
  private final boolean flightRecorder;

  private ReceiverOptions(Builder b) {
    this.token = b.token;
    this.peerTimeout = b.peerTimeout;
    this.handshakeTimeout = b.handshakeTimeout;
    this.maxSessions = b.maxSessions;
    this.maxStreams = b.maxStreams;
    this.maxConnections = b.maxConnections;
    this.rememberedSessions = b.rememberedSessions;
    this.rememberFor = b.rememberFor;
    this.ticker = b.ticker;
    this.threadFactory = b.threadFactory;
    this.listener = b.listener;
    this.tls = Optional.ofNullable(b.tls);
    this.flightRecorder = b.flightRecorder;
  }

  /** The defaults listed above. */
  public static ReceiverOptions defaults() {
    return DEFAULTS;
  }

  public static Builder builder() {
    return new Builder();
  }

  /**
   * The shared secret a source must prove (by challenge and response: it never travels); empty to
   * require none (then only TLS, or a loopback address, keeps strangers out).
   */
  public String token() {
    return token;
  }

  /**
   * TLS for every connection: TLS 1.3 only, the source's certificate required, checked against the
   * trust store and the allowed peers ({@link FerryTls}). Empty: plaintext, the token alone
   * authenticates the source.
   */
  public Optional<FerryTls> tls() {
    return tls;
  }

  /** How long a peer may leave a read or a write of ours waiting. */
  public Duration peerTimeout() {
    return peerTimeout;
  }

  /** How long a new connection has to say what it is (HELLO, JOIN, RECOVER or QUERY). */
  public Duration handshakeTimeout() {
    return handshakeTimeout;
  }

  /** Migrations received at once; the next source is told BUSY. */
  public int maxSessions() {
    return maxSessions;
  }

  /** Streams one migration may open. */
  public int maxStreams() {
    return maxStreams;
  }

  /** Connections open at once, of every kind. */
  public int maxConnections() {
    return maxConnections;
  }

  /** How many ended sessions are remembered for sources that ask about them. */
  public int rememberedSessions() {
    return rememberedSessions;
  }

  /** How long an ended session is remembered. */
  public Duration rememberFor() {
    return rememberFor;
  }

  public Ticker ticker() {
    return ticker;
  }

  public ThreadFactory threadFactory() {
    return threadFactory;
  }

  /**
   * Called, on the receiver's own thread, each time an incoming migration ends: arrived (the guest
   * runs here with all its memory: after post-copy has completed, when it used post-copy), discarded
   * or lost. Exceptions it throws are logged and ignored.
   */
  public Consumer<ReceivedMigration> listener() {
    return listener;
  }

  /**
   * Whether each incoming migration that ends commits a {@code dev.ferry.IncomingMigration} JDK
   * Flight Recorder event (VM, this host, outcome, detail, time taken; see
   * {@linkplain dev.ferry the package documentation}): on by default. It reaches a recording only
   * when one runs and enables it.
   */
  public boolean flightRecorder() {
    return flightRecorder;
  }

  @Override
  public String toString() {
    return "ReceiverOptions[" + (tls.isPresent() ? "tls, " : "") + "token=" + (token.isEmpty() ? "none" : "***")
        + ", peerTimeout=" + peerTimeout.toMillis()
        + "ms, handshakeTimeout=" + handshakeTimeout.toMillis() + "ms, maxSessions=" + maxSessions + ", maxStreams="
        + maxStreams + ", maxConnections=" + maxConnections + "]";
  }

  /** Builds {@link ReceiverOptions}. Not thread-safe. Each setter checks its argument at once. */
  public static final class Builder {
    private String token = "";
    private Duration peerTimeout = Duration.ofSeconds(10);
    private Duration handshakeTimeout = Duration.ofSeconds(10);
    private int maxSessions = 4;
    private int maxStreams = 16;
    private int maxConnections = 64;
    private int rememberedSessions = 1024;
    private Duration rememberFor = Duration.ofMinutes(10);
    private Ticker ticker = Ticker.system();
    private ThreadFactory threadFactory = Thread::new;
    private Consumer<ReceivedMigration> listener = r -> {};
    private FerryTls tls;
    private boolean flightRecorder = true;

    /** See {@link ReceiverOptions#flightRecorder()}; true by default. */
    public Builder flightRecorder(boolean record) {
      this.flightRecorder = record;
      return this;
    }

    private Builder() {}

    /** See {@link ReceiverOptions#tls()}; null for plaintext. */
    public Builder tls(FerryTls tls) {
      this.tls = tls;
      return this;
    }

    public Builder token(String token) {
      this.token = Objects.requireNonNull(token, "token");
      return this;
    }

    /** At least 100 ms. */
    public Builder peerTimeout(Duration timeout) {
      Objects.requireNonNull(timeout, "peerTimeout");
      if (timeout.toMillis() < 100) {
        throw new IllegalArgumentException("peer timeout must be at least 100 ms: " + timeout);
      }
      this.peerTimeout = timeout;
      return this;
    }

    public Builder handshakeTimeout(Duration timeout) {
      Objects.requireNonNull(timeout, "handshakeTimeout");
      if (timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("handshake timeout must be positive: " + timeout);
      }
      this.handshakeTimeout = timeout;
      return this;
    }

    /** 1 to 1,024. */
    public Builder maxSessions(int n) {
      this.maxSessions = range(n, 1, 1024, "max sessions");
      return this;
    }

    /** 1 to 16, what {@link MigrationOptions.Builder#streams} allows. */
    public Builder maxStreams(int n) {
      this.maxStreams = range(n, 1, 16, "max streams");
      return this;
    }

    /** 2 to 65,536. */
    public Builder maxConnections(int n) {
      this.maxConnections = range(n, 2, 65536, "max connections");
      return this;
    }

    /** 0 to 1,000,000. */
    public Builder rememberedSessions(int n) {
      this.rememberedSessions = range(n, 0, 1_000_000, "remembered sessions");
      return this;
    }

    public Builder rememberFor(Duration d) {
      Objects.requireNonNull(d, "rememberFor");
      if (d.isNegative()) {
        throw new IllegalArgumentException("rememberFor must not be negative: " + d);
      }
      this.rememberFor = d;
      return this;
    }

    public Builder ticker(Ticker ticker) {
      this.ticker = Objects.requireNonNull(ticker, "ticker");
      return this;
    }

    public Builder threadFactory(ThreadFactory factory) {
      this.threadFactory = Objects.requireNonNull(factory, "threadFactory");
      return this;
    }

    public Builder listener(Consumer<ReceivedMigration> listener) {
      this.listener = Objects.requireNonNull(listener, "listener");
      return this;
    }

    public ReceiverOptions build() {
      return new ReceiverOptions(this);
    }

    private static int range(int n, int lo, int hi, String what) {
      if (n < lo || n > hi) {
        throw new IllegalArgumentException(what + " must be " + lo + " to " + hi + ": " + n);
      }
      return n;
    }
  }
}
