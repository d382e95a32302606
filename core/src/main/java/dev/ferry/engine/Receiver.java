package dev.ferry.engine;

import dev.ferry.HostException;
import dev.ferry.MigrationReceiver;
import dev.ferry.MigrationTarget;
import dev.ferry.spi.DriverException;
import dev.ferry.spi.HostDriver;
import dev.ferry.spi.IncomingVm;
import dev.ferry.spi.PostCopyIncoming;
import dev.ferry.spi.VmDescription;
import dev.ferry.wire.DeviceStateAssembler;
import dev.ferry.wire.Digest;
import dev.ferry.wire.EndOfStreamException;
import dev.ferry.wire.ErrorCode;
import dev.ferry.wire.Frame;
import dev.ferry.wire.Message;
import dev.ferry.wire.Messages;
import dev.ferry.wire.PageBatchDecoder;
import dev.ferry.wire.Preamble;
import dev.ferry.wire.ProtocolException;
import dev.ferry.wire.WireException;
import dev.ferry.wire.WireFormat;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.security.MessageDigest;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The destination side of engine-driven migrations.
 *
 * <p>One thread accepts connections; each connection gets a thread of its own. A connection's first
 * frame says what it is: HELLO opens a migration (the control stream, which also carries stream
 * 0's pages), JOIN attaches a data stream to a migration already opened. Pages are written into
 * the incoming VM as they arrive; a SWITCHOVER waits until every stream has delivered the final
 * round, loads the device state, digests memory when asked, and answers READY; COMMIT activates the
 * VM and is answered with RESUMED.
 *
 * <p>Defences, per DESIGN.md: every frame is length-checked before it is read and checksummed; until
 * the handshake is done a connection may send at most {@link WireFormat#HANDSHAKE_MAX_PAYLOAD}
 * bytes a frame and must finish within {@link #HANDSHAKE_TIMEOUT}; the token is compared in constant
 * time; at most {@link #MAX_ACTIVE} migrations run at once (the next is told BUSY). A malformed
 * stream ends its own migration, discarding the incoming VM, and nothing else. Thread-safe.
 */
public final class Receiver implements MigrationReceiver {
  private static final Logger log = LoggerFactory.getLogger(Receiver.class);
  static final Duration HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);
  static final Duration STREAM_WAIT = Duration.ofSeconds(60);
  static final int MAX_ACTIVE = 4;

  private final HostDriver host;
  private final ServerSocketChannel server;
  private final InetSocketAddress address;
  private final byte[] token;
  private final String tokenText;
  private final Map<UUID, Incoming> sessions = new ConcurrentHashMap<>();
  private final CopyOnWriteArrayList<SocketChannel> connections = new CopyOnWriteArrayList<>();
  private final ScheduledExecutorService timer;
  private volatile boolean closed;

  private Receiver(HostDriver host, ServerSocketChannel server, String token) throws IOException {
    this.host = host;
    this.server = server;
    this.address = (InetSocketAddress) server.getLocalAddress();
    this.tokenText = token;
    this.token = token.getBytes(StandardCharsets.UTF_8);
    this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "ferry-receiver-timer-" + address.getPort());
      t.setDaemon(true);
      return t;
    });
  }

  /**
   * Binds a receiver for {@code host} on {@code address} and starts accepting.
   *
   * @throws HostException if the address cannot be bound
   */
  public static MigrationReceiver start(HostDriver host, InetSocketAddress address, String token) {
    try {
      ServerSocketChannel server = ServerSocketChannel.open();
      server.bind(address, 16);
      Receiver r = new Receiver(host, server, token);
      Thread t = new Thread(r::acceptLoop, "ferry-receiver-" + r.address.getPort());
      t.setDaemon(true);
      t.start();
      log.info("receiving migrations for {} on {}", host.info().hostname(), r.address);
      return r;
    } catch (IOException e) {
      throw new HostException("cannot listen for migrations on " + address + ": " + e.getMessage(), e);
    }
  }

  @Override
  public InetSocketAddress address() {
    return address;
  }

  @Override
  public MigrationTarget target() {
    return new MigrationTarget(address, tokenText);
  }

  @Override
  public int activeMigrations() {
    return sessions.size();
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    Link.closeQuietly(server);
    for (Incoming in : sessions.values()) {
      in.fail(new IOException("receiver closed"));
    }
    for (SocketChannel c : connections) {
      Link.closeQuietly(c);
    }
    timer.shutdownNow();
  }

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
      connections.add(ch);
      Thread t = new Thread(() -> serve(ch), "ferry-receive-" + address.getPort());
      t.setDaemon(true);
      t.start();
    }
  }

  private void serve(SocketChannel ch) {
    ScheduledFuture<?> watchdog = timer.schedule(() -> {
      log.warn("closing a connection from {} that did not finish its handshake within {}",
          remote(ch), HANDSHAKE_TIMEOUT);
      Link.closeQuietly(ch);
    }, HANDSHAKE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
    Link link = null;
    boolean handedOver = false;
    try {
      link = Link.accepted(ch);
      Preamble.write(ch);
      Preamble.read(ch);
      Frame first = link.reader.next();
      Message m = Messages.decode(first);
      if (m instanceof Message.Hello hello) {
        runSession(link, hello, watchdog);
      } else if (m instanceof Message.Join join) {
        runDataStream(link, join, watchdog);
      } else if (m instanceof Message.Recover recover) {
        watchdog.cancel(false);
        handedOver = recover(link, recover);
      } else {
        throw new ProtocolException("a connection must open with HELLO, JOIN or RECOVER, not " + first.type());
      }
    } catch (IOException | RuntimeException e) {
      if (!closed) {
        log.warn("incoming connection from {} failed: {}", remote(ch), e.toString());
        if (link != null && !(e instanceof EndOfStreamException)) {
          sendError(link, e);
        }
      }
    } finally {
      watchdog.cancel(false);
      if (!handedOver) {
        Link.closeQuietly(ch);
        connections.remove(ch);
      }
    }
  }

  /**
   * A source reconnecting to a post-copy whose control stream broke: hands the new connection to
   * the session, which answers with the pages it still lacks.
   *
   * @return whether the connection now belongs to the session
   */
  private boolean recover(Link link, Message.Recover recover) throws IOException {
    Incoming in = sessions.get(recover.sessionId());
    if (!constantTimeEquals(token, recover.authToken().getBytes(StandardCharsets.UTF_8))) {
      link.send(new Message.ErrorMessage(ErrorCode.UNAUTHORIZED, "wrong token"));
      return false;
    }
    PostCopyDestination pc = in == null ? null : in.postCopy;
    if (pc == null) {
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

  private void runSession(Link link, Message.Hello hello, ScheduledFuture<?> watchdog) throws IOException {
    VmDescription vm = hello.vm();
    String refusal = refusal(hello);
    if (refusal != null) {
      ErrorCode code = refusal.startsWith("unauthorized") ? ErrorCode.UNAUTHORIZED
          : refusal.startsWith("busy") ? ErrorCode.BUSY
          : refusal.startsWith("incompatible") ? ErrorCode.INCOMPATIBLE : ErrorCode.REFUSED;
      log.warn("refusing migration of {} from {}: {}", vm.name(), remote(link.channel), refusal);
      link.send(new Message.ErrorMessage(code, refusal));
      return;
    }
    IncomingVm incoming;
    try {
      incoming = host.prepareIncoming(vm);
    } catch (DriverException | UnsupportedOperationException | IllegalArgumentException e) {
      link.send(new Message.ErrorMessage(ErrorCode.REFUSED, "host " + host.info().hostname()
          + " cannot take VM '" + vm.name() + "': " + e.getMessage()));
      return;
    }
    Incoming in = new Incoming(hello, incoming, link);
    if (sessions.putIfAbsent(hello.sessionId(), in) != null) {
      incoming.discard();
      link.send(new Message.ErrorMessage(ErrorCode.PROTOCOL, "session id already in use"));
      return;
    }
    try {
      link.send(new Message.Accept(host.info().id().value(), host.info().hostname(),
          incoming.postCopy().isPresent()));
      watchdog.cancel(false);
      link.reader.maxPayload(WireFormat.DEFAULT_MAX_PAYLOAD);
      log.info("receiving {} ({}) from {}, {} stream(s)", vm.name(), vm.memory(), remote(link.channel),
          hello.streamCount());
      in.controlLoop();
    } catch (IOException | RuntimeException e) {
      if (!in.activated && !closed) {
        log.warn("migration of {} from {} failed: {}", vm.name(), remote(link.channel), e.toString());
        if (!(e instanceof EndOfStreamException) && in.failure == null) {
          sendError(link, e);
        }
      }
      in.fail(e);
    } finally {
      in.discardUnlessActivated();
      sessions.remove(hello.sessionId());
    }
  }

  /** Why this migration must be refused, or null to accept it. */
  private String refusal(Message.Hello hello) {
    if (!constantTimeEquals(token, hello.authToken().getBytes(StandardCharsets.UTF_8))) {
      return "unauthorized: " + (hello.authToken().isEmpty() ? "this receiver requires a token"
          : "wrong token");
    }
    if (sessions.size() >= MAX_ACTIVE) {
      return "busy: " + sessions.size() + " migrations are already being received (at most " + MAX_ACTIVE + ")";
    }
    String missing = host.info().cpu().missingFor(hello.vm().cpu());
    if (!missing.isEmpty()) {
      return "incompatible: host " + host.info().hostname() + " cannot run VM '" + hello.vm().name() + "': " + missing;
    }
    return null;
  }

  private static boolean constantTimeEquals(byte[] a, byte[] b) {
    return MessageDigest.isEqual(a, b);
  }

  // ---------------------------------------------------------------- data streams

  private void runDataStream(Link link, Message.Join join, ScheduledFuture<?> watchdog) throws IOException {
    Incoming in = sessions.get(join.sessionId());
    if (in == null || !constantTimeEquals(token, join.authToken().getBytes(StandardCharsets.UTF_8))) {
      throw new WireException(ErrorCode.PROTOCOL, "JOIN for an unknown session or with a wrong token");
    }
    in.attach(join.streamIndex(), link);
    watchdog.cancel(false);
    link.reader.maxPayload(WireFormat.DEFAULT_MAX_PAYLOAD);
    try {
      in.dataLoop(join.streamIndex(), link);
    } catch (IOException | RuntimeException e) {
      if (in.activated || in.failure != null) {
        return; // the migration ended (the stream was closed on purpose) or already failed
      }
      in.fail(e);
      throw e;
    }
  }

  private static void sendError(Link link, Exception e) {
    ErrorCode code = e instanceof WireException w ? w.errorCode() : ErrorCode.INTERNAL;
    try {
      link.send(new Message.ErrorMessage(code, String.valueOf(e.getMessage())));
    } catch (IOException | RuntimeException ignored) {
      // the peer is gone or the stream is broken: nothing more to tell it
    }
  }

  private static String remote(SocketChannel ch) {
    try {
      return String.valueOf(ch.getRemoteAddress());
    } catch (IOException e) {
      return "?";
    }
  }

  /**
   * One migration being received: its incoming VM, its streams and how far each has got. The
   * control thread and the data-stream threads share it; its monitor guards the round counters.
   */
  private final class Incoming {
    final Message.Hello hello;
    final IncomingVm vm;
    final Link control;
    final Link[] streams;
    final int[] lastRound;
    final AtomicLong pagesReceived = new AtomicLong();
    final DeviceStateAssembler deviceState = new DeviceStateAssembler();
    volatile Throwable failure;
    volatile boolean activated;
    volatile PostCopyDestination postCopy;
    private Message.PostCopySwitch postCopySwitch;
    private boolean discarded;

    Incoming(Message.Hello hello, IncomingVm vm, Link control) {
      this.hello = hello;
      this.vm = vm;
      this.control = control;
      this.streams = new Link[hello.streamCount()];
      this.streams[0] = control;
      this.lastRound = new int[hello.streamCount()];
      java.util.Arrays.fill(lastRound, -1);
    }

    synchronized void attach(int index, Link link) throws WireException {
      if (index < 1 || index >= streams.length || streams[index] != null) {
        throw new WireException(ErrorCode.PROTOCOL, "JOIN for stream " + index + " of a session with "
            + streams.length + " streams, or joined twice");
      }
      streams[index] = link;
    }

    void controlLoop() throws IOException {
      PageBatchDecoder decoder = new PageBatchDecoder(hello.vm().pageSize());
      long switchoverAt = 0;
      while (true) {
        Frame f = control.reader.next();
        switch (f.type()) {
          case PAGES -> pagesReceived.addAndGet(decoder.apply(f.payload(), vm.memory()));
          case ROUND_END -> roundEnd(0, Messages.expect(f, Message.RoundEnd.class).round());
          case DEVICE_STATE -> deviceState.accept(Messages.expect(f, Message.DeviceStateChunk.class));
          case PING -> control.send(new Message.Pong(Messages.expect(f, Message.Ping.class).nanos()));
          case SWITCHOVER -> {
            switchoverAt = System.nanoTime();
            control.send(prepareSwitchover(Messages.expect(f, Message.Switchover.class)));
          }
          case POSTCOPY_SWITCH -> {
            switchoverAt = System.nanoTime();
            postCopySwitch = Messages.expect(f, Message.PostCopySwitch.class);
            control.send(preparePostCopy(postCopySwitch));
          }
          case COMMIT -> {
            if (switchoverAt == 0) {
              throw new ProtocolException("COMMIT before SWITCHOVER");
            }
            if (postCopySwitch != null) {
              runPostCopy(switchoverAt);
              return;
            }
            activate();
            control.send(new Message.Resumed(Instant.now(), Duration.ofNanos(System.nanoTime() - switchoverAt)));
            return;
          }
          case CANCEL -> {
            log.info("source cancelled the migration of {}: {}", hello.vm().name(),
                Messages.expect(f, Message.Cancel.class).reason());
            return;
          }
          case ERROR -> throw new IOException("source reported an error: " + Messages.decode(f));
          default -> throw new ProtocolException("unexpected " + f.type() + " frame on the control stream");
        }
      }
    }

    void dataLoop(int index, Link link) throws IOException {
      PageBatchDecoder decoder = new PageBatchDecoder(hello.vm().pageSize());
      while (!activated && failure == null) {
        Frame f;
        try {
          f = link.reader.next();
        } catch (EndOfStreamException e) {
          return;
        }
        switch (f.type()) {
          case PAGES -> pagesReceived.addAndGet(decoder.apply(f.payload(), vm.memory()));
          case ROUND_END -> roundEnd(index, Messages.expect(f, Message.RoundEnd.class).round());
          default -> throw new ProtocolException("unexpected " + f.type() + " frame on data stream " + index);
        }
      }
    }

    private synchronized void roundEnd(int stream, int round) throws ProtocolException {
      if (round < lastRound[stream]) {
        throw new ProtocolException("stream " + stream + " went back from round " + lastRound[stream] + " to " + round);
      }
      lastRound[stream] = round;
      notifyAll();
    }

    private Message preparePostCopy(Message.PostCopySwitch s) throws IOException {
      PostCopyIncoming pc = vm.postCopy().orElseThrow(() -> new WireException(ErrorCode.REFUSED,
          "this host cannot run a guest with pages missing"));
      awaitStreams(s.finalRound());
      loadDeviceState();
      long[] missing = s.missing();
      if (missing.length != (hello.vm().pageCount() + 63) >>> 6) {
        throw new ProtocolException("POSTCOPY_SWITCH bitmap has " + missing.length + " words for "
            + hello.vm().pageCount() + " pages");
      }
      pc.markMissing(missing);
      postCopy = new PostCopyDestination(hello.vm().name(), pc, hello.vm().pageSize(), hello.vm().pageCount(),
          control, Duration.ofMillis(Math.max(1, s.recoveryMillis())));
      return new Message.Ready(pagesReceived.get(), Optional.empty());
    }

    /** Resumes the guest with pages missing and receives the rest; returns when post-copy ends. */
    private void runPostCopy(long switchoverAt) throws IOException {
      synchronized (this) {
        if (discarded) {
          throw new IllegalStateException("incoming VM already discarded");
        }
        postCopy.activate();
        activated = true;
      }
      postCopy.confirm(new Message.Resumed(Instant.now(), Duration.ofNanos(System.nanoTime() - switchoverAt)));
      log.info("VM {} resumed on {} with {} pages still to come", hello.vm().name(), host.info().hostname(),
          vm.postCopy().map(PostCopyIncoming::missingPages).orElse(0L));
      for (int i = 1; i < streams.length; i++) {
        if (streams[i] != null) {
          streams[i].close();
        }
      }
      if (!postCopy.run(control.reader::next)) {
        log.error("post-copy of {} ended without every page: the guest is lost", hello.vm().name());
      }
    }

    private void loadDeviceState() throws IOException {
      if (!deviceState.isComplete()) {
        throw new ProtocolException("switchover before the whole device state arrived");
      }
      ByteBuffer state = deviceState.result();
      byte[] blob = new byte[state.remaining()];
      state.get(blob);
      try {
        vm.loadDeviceState(blob);
      } catch (RuntimeException e) {
        throw new WireException(ErrorCode.REFUSED, "device state rejected: " + e.getMessage(), e);
      }
    }

    private Message prepareSwitchover(Message.Switchover s) throws IOException {
      awaitStreams(s.finalRound());
      loadDeviceState();
      Optional<Digest> digest = Optional.empty();
      if (hello.has(Message.Hello.Flag.VERIFY)) {
        digest = Optional.of(Digest.of(new MemoryDigest(hello.vm().pageSize())
            .digest(vm.memory(), 0, vm.memory().pageCount())));
      }
      return new Message.Ready(pagesReceived.get(), digest);
    }

    private synchronized void awaitStreams(int finalRound) throws IOException {
      long deadline = System.nanoTime() + STREAM_WAIT.toNanos();
      while (true) {
        if (failure != null) {
          throw new IOException("a data stream failed: " + failure.getMessage(), failure);
        }
        boolean all = true;
        for (int r : lastRound) {
          all &= r >= finalRound;
        }
        if (all) {
          return;
        }
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          throw new ProtocolException("data streams did not deliver round " + finalRound + " within " + STREAM_WAIT);
        }
        try {
          TimeUnit.NANOSECONDS.timedWait(this, left);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IOException("interrupted", e);
        }
      }
    }

    private synchronized void activate() {
      if (discarded) {
        throw new IllegalStateException("incoming VM already discarded");
      }
      vm.activate();
      activated = true;
      log.info("VM {} resumed on {}", hello.vm().name(), host.info().hostname());
    }

    /** Ends the migration on a failure of any of its streams. */
    void fail(Throwable t) {
      synchronized (this) {
        if (failure == null) {
          failure = t;
        }
        notifyAll();
      }
      if (!activated) {
        for (Link l : streams) {
          if (l != null) {
            l.close();
          }
        }
      }
    }

    synchronized void discardUnlessActivated() {
      if (!activated && !discarded) {
        discarded = true;
        vm.discard();
        log.info("discarded the incoming copy of {}", hello.vm().name());
      }
      for (Link l : streams) {
        if (l != null && l != control) {
          l.close();
        }
      }
    }
  }
}
