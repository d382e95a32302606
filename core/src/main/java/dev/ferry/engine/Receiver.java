package dev.ferry.engine;

import dev.ferry.HostException;
import dev.ferry.MigrationReceiver;
import dev.ferry.MigrationTarget;
import dev.ferry.ReceivedMigration;
import dev.ferry.ReceiverOptions;
import dev.ferry.Ticker;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.DriverException;
import dev.ferry.spi.GuestMemory;
import dev.ferry.spi.HostDriver;
import dev.ferry.spi.IncomingRequest;
import dev.ferry.spi.IncomingVm;
import dev.ferry.spi.ScratchMemory;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmDriver;
import dev.ferry.wire.EndOfStreamException;
import dev.ferry.wire.ErrorCode;
import dev.ferry.wire.Frame;
import dev.ferry.wire.Message;
import dev.ferry.wire.Messages;
import dev.ferry.wire.ProtocolException;
import dev.ferry.wire.WireException;
import dev.ferry.wire.WireFormat;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The destination side of engine-driven migrations.
 *
 * <p>One thread accepts connections; each connection gets a thread of its own, at most
 * {@link ReceiverOptions#maxConnections()} at once (the next is told BUSY and closed at once, so a
 * flood of silent connections never queues a real one behind it). A connection's first frame says
 * what it is: HELLO opens a migration ({@link IncomingSession}; the control stream also carries
 * stream 0's pages), JOIN attaches a data stream to a migration already opened, RECOVER resumes a
 * post-copy whose control stream broke, QUERY asks what became of a session (answered from the
 * {@link SessionBook}).
 *
 * <p>Secure by default: without TLS or a token a receiver starts only on a loopback address (and
 * says, in one log line, that it runs open); with TLS every connection is TLS 1.3 with the
 * source's certificate required ({@link TlsChannel}); with a token every connection opens with a
 * challenge the source answers by proving the token ({@link TokenAuth}), which never travels.
 *
 * <p>Defences (a malformed or hostile stream must end its own migration with a clear error, and
 * never crash the receiver, exhaust its memory or touch another migration): every frame is length-checked before it is read and checksummed; until
 * its handshake is done a connection may send at most {@link WireFormat#HANDSHAKE_MAX_PAYLOAD} bytes
 * a frame and must finish within the handshake timeout; every read of a control stream and every
 * write is bounded by the peer timeout (the {@link LinkWatchdog}; both ends send keepalives); the
 * token's proof is compared in constant time; at most {@link ReceiverOptions#maxSessions()} migrations and
 * {@link ReceiverOptions#maxStreams()} streams each; and a host that cannot hold the VM (by the
 * bytes the source says it will send) refuses it before a page moves. A malformed stream ends its
 * own migration, discarding the incoming VM, and nothing else.
 *
 * <p>A post-copy runs on a thread that keeps the JVM alive until it completes or loses the guest,
 * and {@link #close()} waits for it: the guest here needs its pages.
 *
 * <p>Thread-safe.
 */
public final class Receiver implements MigrationReceiver {
  private static final Logger log = LoggerFactory.getLogger(Receiver.class);
  private static final int RECEIVED_KEPT = 256;

  private final HostDriver host;
  private final ReceiverOptions options;
  private final ServerSocketChannel server;
  private final InetSocketAddress address;
  private final byte[] token;
  private final LinkWatchdog watchdog;
  private final Semaphore connectionSlots;
  private final SessionBook book;
  private final Map<UUID, IncomingSession> sessions = new ConcurrentHashMap<>();
  private final Set<Link> open = ConcurrentHashMap.newKeySet();
  private final Set<Thread> postCopies = ConcurrentHashMap.newKeySet();
  private final ArrayDeque<ReceivedMigration> received = new ArrayDeque<>(); // guarded by itself
  private long receivedCount; // guarded by received
  private volatile boolean closed;

  private Receiver(HostDriver host, ServerSocketChannel server, ReceiverOptions options) throws IOException {
    this.host = host;
    this.options = options;
    this.server = server;
    this.address = (InetSocketAddress) server.getLocalAddress();
    this.token = options.token().getBytes(StandardCharsets.UTF_8);
    this.watchdog = new LinkWatchdog(options.ticker(), options.peerTimeout(), options.threadFactory(),
        "receiver-" + address.getPort());
    this.connectionSlots = new Semaphore(options.maxConnections());
    this.book = new SessionBook(options.ticker(), options.rememberedSessions(), options.rememberFor());
  }

  /** A receiver with the default options and this token. */
  public static MigrationReceiver start(HostDriver host, InetSocketAddress address, String token) {
    return start(host, address, ReceiverOptions.builder().token(token).build());
  }

  /**
   * Binds a receiver for {@code host} on {@code address} and starts accepting.
   *
   * @throws HostException if the address cannot be bound, or it is not a loopback address and the
   *     options have neither TLS nor a token
   */
  public static Receiver start(HostDriver host, InetSocketAddress address, ReceiverOptions options) {
    boolean open = options.tls().isEmpty() && options.token().isEmpty();
    boolean loopback = address.getAddress() != null && address.getAddress().isLoopbackAddress();
    if (open && !loopback) {
      throw new HostException("refusing to receive migrations on " + address + " without TLS or a token: any host"
          + " that reaches this address could send a VM here. Give ReceiverOptions a FerryTls (tls) or a token,"
          + " or listen on a loopback address", null);
    }
    ServerSocketChannel server = null;
    try {
      server = ServerSocketChannel.open();
      server.bind(address, backlog(options.maxConnections()));
      Receiver r = new Receiver(host, server, options);
      r.watchdog.start();
      EngineThreads.daemon(options.threadFactory(), r::acceptLoop, "ferry-receiver-" + r.address.getPort()).start();
      if (open) {
        log.warn("receiver on {} runs open (no TLS, no token): any local process may migrate a VM here", r.address);
      }
      log.info("receiving migrations for {} on {}{}", host.info().hostname(), r.address,
          options.tls().isPresent() ? " over TLS 1.3, client certificates required"
              : options.token().isEmpty() ? "" : ", sources prove the token");
      return r;
    } catch (IOException e) {
      Link.closeQuietly(server);
      throw new HostException("cannot listen for migrations on " + address + ": " + e.getMessage(), e);
    }
  }

  /**
   * The listen backlog for a connection bound: four times the bound, at least 1,024 (the kernel caps
   * it at {@code net.core.somaxconn}). The accept loop refuses a connection over the bound at once,
   * without a thread, so the queue holds only what arrives in a burst while it works; a queue that
   * overflows makes the kernel drop the SYN, and that peer's connect waits for its retry (1 s on
   * Linux) however quickly the refusal would have come.
   */
  static int backlog(int maxConnections) {
    return (int) Math.min(65_535, Math.max(1_024, 4L * maxConnections));
  }

  @Override
  public InetSocketAddress address() {
    return address;
  }

  @Override
  public MigrationTarget target() {
    return new MigrationTarget(address, options.token());
  }

  @Override
  public int activeMigrations() {
    return sessions.size();
  }

  @Override
  public List<ReceivedMigration> received() {
    synchronized (received) {
      return List.copyOf(received);
    }
  }

  @Override
  public boolean awaitReceived(int count, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    synchronized (received) {
      while (receivedCount < count) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          return false;
        }
        TimeUnit.NANOSECONDS.timedWait(received, left);
      }
      return true;
    }
  }

  ReceiverOptions options() {
    return options;
  }

  Ticker ticker() {
    return options.ticker();
  }

  SessionBook book() {
    return book;
  }

  String hostname() {
    return host.info().hostname();
  }

  /** Links open now (for tests of leaks). */
  int openLinks() {
    return open.size();
  }

  /** Connections open now, of every kind (for tests of the bound). */
  int openConnections() {
    return options.maxConnections() - connectionSlots.availablePermits();
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    Link.closeQuietly(server);
    for (IncomingSession in : sessions.values()) {
      if (!in.activated()) {
        in.fail(new IOException("receiver closed"));
      }
    }
    awaitPostCopies();
    for (Link l : open) {
      l.close();
    }
    watchdog.close();
  }

  /** A guest running here in post-copy needs its pages: wait for each post-copy to end, bounded. */
  private void awaitPostCopies() {
    for (Thread t : postCopies) {
      IncomingSession s = sessions.values().stream().filter(x -> x.postCopy() != null).findFirst().orElse(null);
      long bound = options.peerTimeout().multipliedBy(2).toMillis()
          + (s == null ? 0 : s.postCopy().recoveryWindow().toMillis());
      log.info("receiver closing: waiting up to {} ms for a post-copy to complete", bound);
      try {
        t.join(bound);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  /** An incoming migration ended: tell the listener, keep it in {@link #received()}. */
  void ended(ReceivedMigration r) {
    synchronized (received) {
      received.addLast(r);
      if (received.size() > RECEIVED_KEPT) {
        received.removeFirst();
      }
      receivedCount++;
      received.notifyAll();
    }
    try {
      FlightRecording.received(options, hostname(), r);
    } catch (RuntimeException e) {
      log.warn("recording the end of {} for Flight Recorder failed", r, e);
    }
    try {
      options.listener().accept(r);
    } catch (Throwable t) {
      log.warn("receiver listener failed on {}", r, t);
    }
  }

  void closeLink(Link l) {
    if (l != null) {
      watchdog.forget(l);
      open.remove(l);
      l.close();
    }
  }

  // ---------------------------------------------------------------- connections

  private void acceptLoop() {
    while (!closed) {
      SocketChannel ch;
      try {
        ch = server.accept();
      } catch (IOException e) {
        if (!closed) {
          log.warn("receiver on {} stopped accepting", address, e);
        }
        return;
      }
      if (!connectionSlots.tryAcquire()) {
        refuseAtOnce(ch, "busy: " + options.maxConnections() + " connections are open on this receiver (at most "
            + options.maxConnections() + ")");
        continue;
      }
      try {
        EngineThreads.daemon(options.threadFactory(), () -> serve(ch), "ferry-receive-" + address.getPort()).start();
      } catch (RuntimeException | Error e) {
        connectionSlots.release();
        log.warn("cannot start a thread for a connection from {}", Link.remote(ch), e);
        Link.closeQuietly(ch);
      }
    }
  }

  /**
   * Tells a connection over the bound that it is refused, without a thread and without waiting: a
   * fresh socket's send buffer takes the few bytes at once.
   */
  private void refuseAtOnce(SocketChannel ch, String why) {
    try {
      ch.configureBlocking(false);
      ch.write(plaintextError(ErrorCode.BUSY, why));
    } catch (IOException | RuntimeException e) {
      log.debug("refusing a connection from {}: {}", Link.remote(ch), e.toString());
    } finally {
      Link.closeQuietly(ch);
    }
    log.warn("refused a connection from {}: {}", Link.remote(ch), why);
  }

  /** A preamble and an ERROR frame, in plaintext, as bytes to write straight to a socket. */
  private static ByteBuffer[] plaintextError(ErrorCode code, String why) {
    ByteBuffer preamble = ByteBuffer.allocate(WireFormat.PREAMBLE_LENGTH);
    preamble.put(WireFormat.MAGIC).putShort((short) WireFormat.MAJOR_VERSION)
        .putShort((short) WireFormat.MINOR_VERSION).putInt(0).flip();
    ByteBuffer payload = Messages.encode(new Message.ErrorMessage(code, why));
    ByteBuffer frame = ByteBuffer.allocate(WireFormat.FRAME_OVERHEAD + payload.remaining());
    frame.putInt(payload.remaining()).put((byte) dev.ferry.wire.FrameType.ERROR.code()).put((byte) 0)
        .putShort((short) 0).put(payload);
    java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
    crc.update(frame.array(), 0, frame.position());
    frame.putInt((int) crc.getValue()).flip();
    return new ByteBuffer[] {preamble, frame};
  }

  /** Tells a plaintext Ferry source, in plaintext, that this receiver takes only TLS; then drains. */
  private void refusePlaintext(Link link, SocketChannel ch) {
    String why = "this receiver on " + address + " takes only TLS connections (TLS 1.3 with a client certificate):"
        + " give the migration a FerryTls (MigrationOptions.tls)";
    try {
      ByteBuffer[] bytes = plaintextError(ErrorCode.UNAUTHORIZED, why);
      while (bytes[1].hasRemaining()) {
        ch.write(bytes);
      }
      drain(link, ch);
    } catch (IOException | RuntimeException e) {
      log.debug("telling a plaintext source at {} about TLS: {}", link.peer(), e.toString());
    }
  }

  private void serve(SocketChannel ch) {
    Link link = null;
    boolean handedOver = false;
    try {
      link = Link.accepted(ch, watchdog, options.tls().orElse(null));
      open.add(link);
      link.closeAt(ticker().read() + options.handshakeTimeout().toNanos(), "a connection from "
          + Link.remote(ch) + " did not finish its handshake within " + options.handshakeTimeout().toMillis() + " ms");
      link.exchangePreambles();
      if (!authenticate(link, ch)) {
        return;
      }
      Frame first = link.reader.next();
      Message m = Messages.decode(first);
      if (m instanceof Message.Hello hello) {
        handedOver = runSession(link, hello);
      } else if (m instanceof Message.Join join) {
        runDataStream(link, join);
      } else if (m instanceof Message.Recover recover) {
        link.clearCloseAt();
        handedOver = recover(link, recover);
      } else if (m instanceof Message.Query query) {
        link.clearCloseAt();
        answer(link, query);
      } else if (m instanceof Message.Probe probe) {
        link.clearCloseAt();
        probe(link, probe);
      } else {
        throw new ProtocolException("a connection must open with HELLO, JOIN, RECOVER, QUERY or PROBE, not "
            + first.type());
      }
    } catch (javax.net.ssl.SSLException e) {
      if (!closed) {
        log.warn("refused a connection from {}: TLS: {}", Link.remote(ch), e.getMessage());
        if (e instanceof TlsChannel.NotTlsException n && n.ferryPlaintext && link != null) {
          refusePlaintext(link, ch);
        }
      }
    } catch (Throwable e) {
      if (!closed) {
        log.warn("incoming connection from {} failed: {}", Link.remote(ch), e.toString());
        if (link != null && !(e instanceof EndOfStreamException) && (link.tls == null || link.tls.handshaken())) {
          sendError(link, e);
        }
      }
    } finally {
      if (!handedOver) {
        closeLink(link);
        Link.closeQuietly(ch);
      }
      connectionSlots.release();
    }
  }

  /**
   * Sends AUTH_CHALLENGE and checks the AUTH_RESPONSE: a receiver with a token requires the source's
   * proof of it (the token itself never travels) and answers AUTH_OK with its own; one without takes
   * any response. A wrong or missing proof is told UNAUTHORIZED before anything else is read.
   *
   * @return whether the connection may go on
   */
  private boolean authenticate(Link link, SocketChannel ch) throws IOException {
    dev.ferry.wire.Digest nonce = TokenAuth.nonce();
    link.send(new Message.AuthChallenge(token.length > 0, nonce));
    Frame f = link.reader.next();
    Message m = Messages.decode(f);
    if (!(m instanceof Message.AuthResponse response)) {
      throw new ProtocolException("a connection must answer AUTH_CHALLENGE with AUTH_RESPONSE, not " + f.type());
    }
    if (token.length == 0 || TokenAuth.verify(token, nonce, response)) {
      link.send(TokenAuth.accept(token, nonce, response));
      return true;
    }
    String why = TokenAuth.noProof(response) ? "this receiver requires a token" : "wrong token";
    log.warn("refused a connection from {}: {}", Link.remote(ch), why);
    link.send(new Message.ErrorMessage(ErrorCode.UNAUTHORIZED, "unauthorized: " + why));
    drain(link, ch);
    return false;
  }

  /**
   * After a refusal has been written: ends our side and reads (and drops) what the peer still sends,
   * until it closes, at most 64 KiB, within the handshake timeout (the watchdog closes the link at
   * that bound). Closing with unread bytes would reset the connection, and the peer might lose the
   * refusal before reading it.
   */
  private static void drain(Link link, SocketChannel ch) {
    try {
      ch.shutdownOutput();
      ByteBuffer sink = ByteBuffer.allocate(4096);
      long drained = 0;
      while (drained < (64 << 10)) {
        sink.clear();
        int n = ch.read(sink);
        if (n < 0) {
          break;
        }
        drained += n;
      }
    } catch (IOException | RuntimeException e) {
      log.debug("draining a refused connection from {}: {}", link.peer(), e.toString());
    }
  }

  /**
   * Counts the bytes of a link probe and says how fast they came. Bounded: a probe that runs past
   * what it asked for (at most {@link LinkProbe#MAX}) and a peer timeout is cut off.
   */
  private void probe(Link link, Message.Probe probe) throws IOException {
    long limit = Math.min(probe.millis(), LinkProbe.MAX.toMillis()) * 1_000_000L + options.peerTimeout().toNanos();
    link.reader.maxPayload(WireFormat.DEFAULT_MAX_PAYLOAD);
    long start = ticker().read();
    long first = 0;
    long last = 0;
    long bytes = 0;
    // The probe's pages land in fresh memory of the host, as a migration's would: the rate then
    // includes the host's first touch of memory it has just given (several times the cost of the
    // socket on a machine whose free memory goes back to its own hypervisor).
    Optional<ScratchMemory> scratch = scratchFor(probe);
    try {
      GuestMemory memory = scratch.map(ScratchMemory::memory).orElse(null);
      long page = 0;
      while (true) {
        Frame f = link.reader.next();
        if (f.type() != dev.ferry.wire.FrameType.PROBE_DATA) {
          throw new ProtocolException("unexpected " + f.type() + " frame in a link probe");
        }
        ByteBuffer payload = f.payload();
        int n = payload.remaining();
        if (memory != null) {
          int pageSize = memory.pageSize();
          while (payload.remaining() >= pageSize) {
            memory.writePage(page, payload);
            page = (page + 1) % memory.pageCount();
          }
        }
        long now = ticker().read();
        if (now - start > limit) {
          throw new ProtocolException("the link probe ran past the " + probe.millis() + " ms it asked for");
        }
        if (n == 0) {
          break;
        }
        if (first == 0) {
          first = now;
        } else {
          bytes += n; // the first frame's bytes arrived before its stamp: count from the second on
        }
        last = now;
      }
    } finally {
      scratch.ifPresent(ScratchMemory::close);
    }
    link.send(new Message.ProbeResult(bytes, Math.max(0, last - first)));
  }

  /**
   * Scratch memory for a probe: as much as the probe could fill at 4 GB/s, at most 1 GiB (sparse
   * memory maps only what is written); none if the host has none to lend or refuses.
   */
  private Optional<ScratchMemory> scratchFor(Message.Probe probe) {
    long millis = Math.min(probe.millis(), LinkProbe.MAX.toMillis());
    long bytes = Math.min(1L << 30, Math.max(1L << 20, millis * 4_000_000L));
    try {
      return host.scratchMemory(DataSize.bytes(bytes));
    } catch (RuntimeException e) {
      log.debug("no scratch memory for a link probe: {}", e.toString());
      return Optional.empty();
    }
  }

  private void answer(Link link, Message.Query query) throws IOException {
    Map.Entry<Message.Status.State, String> s = book.lookup(query.sessionId());
    link.send(new Message.Status(query.sessionId(), s.getKey(), s.getValue()));
  }

  /**
   * A source reconnecting to a post-copy whose control stream broke: hands the new connection to
   * the session, which answers with the pages it still lacks.
   *
   * @return whether the connection now belongs to the session
   */
  private boolean recover(Link link, Message.Recover recover) throws IOException {
    IncomingSession in = sessions.get(recover.sessionId());
    PostCopyDestination pc = in == null ? null : in.postCopy();
    if (pc == null || !in.activated()) {
      link.send(new Message.ErrorMessage(ErrorCode.REFUSED, "no post-copy session " + recover.sessionId()
          + " here (it completed, was never started, or its recovery window passed)"));
      return false;
    }
    link.reader.maxPayload(WireFormat.DEFAULT_MAX_PAYLOAD);
    try {
      if (pc.handOver(link)) {
        return true;
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    link.send(new Message.ErrorMessage(ErrorCode.BUSY, "post-copy session " + recover.sessionId()
        + " is not waiting for a recovery"));
    return false;
  }

  // ---------------------------------------------------------------- control stream

  /** @return whether the control stream now belongs to a post-copy */
  private boolean runSession(Link link, Message.Hello hello) throws IOException {
    VmDescription vm = hello.vm();
    String refusal = refusal(hello);
    if (refusal != null) {
      ErrorCode code = refusal.startsWith("unauthorized") ? ErrorCode.UNAUTHORIZED
          : refusal.startsWith("busy") ? ErrorCode.BUSY
          : refusal.startsWith("incompatible") ? ErrorCode.INCOMPATIBLE : ErrorCode.REFUSED;
      log.warn("refusing migration of {} from {}: {}", vm.name(), link.peer(), refusal);
      link.send(new Message.ErrorMessage(code, refusal));
      return false;
    }
    IncomingVm incoming;
    try {
      incoming = host.prepareIncoming(new IncomingRequest(vm, DataSize.bytes(hello.residentBytes())));
    } catch (DriverException | UnsupportedOperationException | IllegalArgumentException e) {
      link.send(new Message.ErrorMessage(ErrorCode.REFUSED, "host " + hostname() + " cannot take VM '" + vm.name()
          + "': " + e.getMessage()));
      return false;
    }
    IncomingSession in = new IncomingSession(this, hello, incoming, link);
    synchronized (sessions) {
      if (sessions.size() >= options.maxSessions() || sessions.putIfAbsent(hello.sessionId(), in) != null) {
        incoming.discard();
        link.send(new Message.ErrorMessage(ErrorCode.BUSY, "busy, or session id already in use"));
        return false;
      }
    }
    book.pending(hello.sessionId());
    boolean postCopy = false;
    try {
      link.send(new Message.Accept(host.info().id().value(), hostname(), incoming.postCopy().isPresent()));
      link.clearCloseAt();
      link.keepalive(true);
      link.reader.maxPayload(WireFormat.DEFAULT_MAX_PAYLOAD);
      log.info("receiving {} ({}) from {}{}, {} stream(s)", vm.name(), vm.memory(), link.peer(),
          link.tls == null ? "" : " (TLS, certificate " + link.tls.peerSubject() + ")", hello.streamCount());
      in.controlLoop();
      postCopy = in.activated() && in.postCopy() != null;
      if (!in.activated()) {
        in.end(in.failure(), in.failure() == null ? "ended before the guest ran here"
            : String.valueOf(in.failure().getMessage()));
      }
    } catch (Throwable e) {
      if (!in.activated() && !closed) {
        log.warn("migration of {} from {} failed: {}", vm.name(), link.peer(), e.toString());
      }
      in.fail(e);
      in.end(e, "failed: " + e);
    } finally {
      if (!postCopy) {
        sessions.remove(hello.sessionId());
      }
    }
    return postCopy;
  }

  /** Runs a post-copy on a thread that keeps the JVM alive until the guest has all its memory. */
  void runPostCopy(IncomingSession in, PostCopyDestination pc) {
    Thread t = EngineThreads.keepAlive(options.threadFactory(), () -> {
      boolean complete = false;
      String detail = "";
      try {
        complete = pc.run(in.control.reader::next);
        detail = complete ? "" : "the source did not come back within the recovery window";
      } catch (Throwable e) {
        detail = "post-copy failed here: " + e;
        log.error("post-copy of {} failed; stopping the incomplete guest", in.name(), e);
        try {
          VmDriver running = pc.vm();
          if (running != null) {
            running.stop();
          }
        } catch (RuntimeException stop) {
          log.warn("stopping {} failed", in.name(), stop);
        }
      } finally {
        in.postCopyEnded(complete, detail);
        sessions.remove(in.hello.sessionId());
        closeLink(in.control);
        postCopies.remove(Thread.currentThread());
      }
    }, "ferry-postcopy-" + in.name());
    postCopies.add(t);
    t.start();
  }

  /** Why this migration must be refused, or null to accept it. */
  private String refusal(Message.Hello hello) {
    if (closed) {
      return "busy: this receiver is closing";
    }
    if (sessions.size() >= options.maxSessions()) {
      return "busy: " + sessions.size() + " migrations are already being received (at most "
          + options.maxSessions() + ")";
    }
    if (hello.streamCount() > options.maxStreams()) {
      return "incompatible: the migration asks for " + hello.streamCount() + " streams; this receiver takes at most "
          + options.maxStreams();
    }
    String missing = host.info().cpu().missingFor(hello.vm().cpu());
    if (!missing.isEmpty()) {
      return "incompatible: host " + hostname() + " cannot run VM '" + hello.vm().name() + "': " + missing;
    }
    return null;
  }

  // ---------------------------------------------------------------- data streams

  private void runDataStream(Link link, Message.Join join) throws IOException {
    IncomingSession in = sessions.get(join.sessionId());
    if (in == null) {
      throw new WireException(ErrorCode.PROTOCOL, "JOIN for an unknown session");
    }
    in.attach(join.streamIndex(), link);
    link.clearCloseAt();
    link.readsTimed(false); // a data stream may rightly be idle between rounds; it ends with its session
    link.reader.maxPayload(WireFormat.DEFAULT_MAX_PAYLOAD);
    try {
      in.dataLoop(join.streamIndex(), link);
    } catch (Throwable e) {
      if (in.activated() || in.failure() != null) {
        return; // the migration ended (the stream was closed on purpose) or already failed
      }
      log.warn("data stream {} of {} failed: {}", join.streamIndex(), in.name(), e.toString());
      in.fail(e);
    }
  }

  /** Tells the peer why its session ends here; never throws. */
  static void sendError(Link link, Throwable e) {
    ErrorCode code = e instanceof WireException w ? w.errorCode() : ErrorCode.INTERNAL;
    String text = e instanceof WireException || e instanceof IOException ? String.valueOf(e.getMessage())
        : "the destination failed: " + e;
    try {
      link.send(new Message.ErrorMessage(code, text));
    } catch (IOException | RuntimeException ignored) {
      // the peer is gone or the stream is broken: nothing more to tell it
    }
  }
}
