package dev.ferry.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.MigrationOptions;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationResult.Outcome;
import dev.ferry.ReceiverOptions;
import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimVm;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.VmDescription;
import dev.ferry.wire.ErrorCode;
import dev.ferry.wire.FrameReader;
import dev.ferry.wire.FrameWriter;
import dev.ferry.wire.Message;
import dev.ferry.wire.Messages;
import dev.ferry.wire.Preamble;
import dev.ferry.wire.WireCompression;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The receiver's bounds, and the source's against a destination that floods it: every refusal is a
 * clear error to the peer, silent peers are dropped within the peer timeout, and a real migration
 * gets through once they are gone.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ReceiverLimitsTest {
  private static final AtomicInteger SEQ = new AtomicInteger();
  private final List<AutoCloseable> closing = new ArrayList<>();
  private final SimHost source = SimHost.named("limits-src-" + SEQ.incrementAndGet());
  private final SimHost dest = SimHost.named("limits-dst-" + SEQ.incrementAndGet());

  @AfterEach
  void close() throws Exception {
    for (AutoCloseable c : closing) {
      c.close();
    }
    source.destroy();
    dest.destroy();
  }

  private Receiver receiver(ReceiverOptions o) {
    Receiver r = Receiver.start(dest.driver(), new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), o);
    closing.add(r);
    return r;
  }

  private static VmDescription description(String name) {
    return new VmDescription(new dev.ferry.spi.VmId(UUID.randomUUID().toString()), name, DataSize.mib(4), 4096, 1,
        SimHost.DEFAULT_CPU);
  }

  /** Opens a connection and says HELLO for {@code streams} streams; returns it with the answer. */
  private Message hello(Receiver r, int streams, List<SocketChannel> keep) throws IOException {
    SocketChannel ch = SocketChannel.open(r.address());
    keep.add(ch);
    closing.add(ch);
    RawPeer.openAsSource(ch, ch, "");
    new FrameWriter(ch).write(new Message.Hello(UUID.randomUUID(), streams, description("silent-" + keep.size()),
        EnumSet.noneOf(Message.Hello.Flag.class), WireCompression.NONE));
    return Messages.decode(new FrameReader(ch).next());
  }

  private MigrationResult realMigration(Receiver r) throws Exception {
    SimVm vm = source.createVm(SimVmSpec.builder("real-" + SEQ.incrementAndGet()).memory(DataSize.mib(16))
        .workload(Workload.uniform(1000)).build());
    return SourceMigration.start(source.info(), vm, r.target(), MigrationOptions.builder().verify(true).build())
        .completion().get(30, TimeUnit.SECONDS);
  }

  @Test
  void silentSessionsFillingEverySlot_realMigrationIsToldBusy_thenGetsThroughOnceThePeerTimeoutDropsThem()
      throws Exception {
    Receiver r = receiver(ReceiverOptions.builder().maxSessions(4).peerTimeout(Duration.ofMillis(700)).build());
    List<SocketChannel> silent = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      assertThat(hello(r, 1, silent)).isInstanceOf(Message.Accept.class);
    }
    assertThat(r.activeMigrations()).isEqualTo(4);
    MigrationResult busy = realMigration(r);
    assertThat(busy.outcome()).isEqualTo(Outcome.FAILED);
    assertThat(busy.cause().orElseThrow().getMessage()).contains("BUSY").contains("4 migrations are already being "
        + "received (at most 4)");
    // The silent sources send no keepalive: within the peer timeout (and a tick) they are gone.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (r.activeMigrations() > 0 && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(r.activeMigrations()).as("silent sessions dropped").isZero();
    assertThat(dest.incomingVms()).isEmpty();
    assertThat(realMigration(r).outcome()).isEqualTo(Outcome.COMPLETED);
  }

  @Test
  void connectionsOverTheBound_areToldBusyAtOnce_andTheReceiverServesOnceTheyAreGone() throws Exception {
    Receiver r = receiver(ReceiverOptions.builder().maxConnections(16).handshakeTimeout(Duration.ofMillis(800))
        .build());
    List<Socket> silent = new ArrayList<>();
    for (int i = 0; i < 16; i++) {
      Socket s = new Socket(r.address().getAddress(), r.address().getPort());
      silent.add(s);
      closing.add(s);
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (r.openConnections() < 16 && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    int refused = 0;
    for (int i = 0; i < 50; i++) {
      try (SocketChannel ch = SocketChannel.open(r.address())) {
        ch.socket().setSoTimeout(2_000);
        Preamble.read(Channels.newChannel(ch.socket().getInputStream()));
        Message m = Messages.decode(new FrameReader(Channels.newChannel(ch.socket().getInputStream())).next());
        assertThat(m).isInstanceOfSatisfying(Message.ErrorMessage.class, e -> {
          assertThat(e.code()).isEqualTo(ErrorCode.BUSY);
          assertThat(e.message()).contains("16 connections are open on this receiver");
        });
        refused++;
      }
    }
    assertThat(refused).as("every connection over the bound told why, at once").isEqualTo(50);
    deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (r.openConnections() > 0 && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(r.openConnections()).as("silent connections closed after the handshake timeout").isZero();
    assertThat(realMigration(r).outcome()).isEqualTo(Outcome.COMPLETED);
  }

  @Test
  void burstOfConnectsFarOverTheBound_eachIsAnsweredAndNoneWaitsForASynRetry() throws Exception {
    int bound = 64;
    int burst = 300;
    Receiver r = receiver(ReceiverOptions.builder().maxConnections(bound).build());
    List<SocketChannel> chans = new ArrayList<>();
    long[] started = new long[burst];
    long[] connected = new long[burst];
    try (java.nio.channels.Selector selector = java.nio.channels.Selector.open()) {
      for (int i = 0; i < burst; i++) {
        SocketChannel ch = SocketChannel.open();
        chans.add(ch);
        closing.add(ch);
        ch.configureBlocking(false);
        started[i] = System.nanoTime();
        if (ch.connect(r.address())) {
          connected[i] = System.nanoTime();
        } else {
          ch.register(selector, java.nio.channels.SelectionKey.OP_CONNECT, i);
        }
      }
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (!selector.keys().isEmpty() && System.nanoTime() < deadline) {
        selector.select(100);
        for (java.nio.channels.SelectionKey k : selector.selectedKeys()) {
          if (((SocketChannel) k.channel()).finishConnect()) {
            connected[(Integer) k.attachment()] = System.nanoTime();
            k.cancel();
          }
        }
        selector.selectedKeys().clear();
      }
    }
    long slowest = 0;
    for (int i = 0; i < burst; i++) {
      assertThat(connected[i]).as("connect %d completed within 10 s", i).isPositive();
      slowest = Math.max(slowest, connected[i] - started[i]);
    }
    // Not a speed target: a SYN the kernel drops for a full listen queue is retried after 1 s, so a
    // connect that took that long waited behind the backlog, not for the receiver.
    assertThat(TimeUnit.NANOSECONDS.toMillis(slowest))
        .as("slowest connect of the burst, in ms (1 s or more means its SYN was dropped and retried)")
        .isLessThan(1_000);
    int served = 0;
    int busy = 0;
    for (SocketChannel ch : chans) {
      ch.configureBlocking(true);
      ch.socket().setSoTimeout(5_000);
      var in = Channels.newChannel(ch.socket().getInputStream());
      Preamble.read(in);
      // A refusal comes whole with the preamble (one write, then close); a served connection waits
      // for our preamble before it sends its challenge.
      ch.configureBlocking(false);
      ByteBuffer first = ByteBuffer.allocate(1);
      int ready = ch.read(first);
      ch.configureBlocking(true);
      if (ready <= 0) {
        Preamble.write(ch);
      }
      var frames = ready > 0 ? Channels.newChannel(new java.io.SequenceInputStream(
          new java.io.ByteArrayInputStream(first.array()), ch.socket().getInputStream())) : in;
      Message m = Messages.decode(new FrameReader(frames).next());
      if (m instanceof Message.AuthChallenge) {
        served++;
      } else {
        assertThat(m).isInstanceOfSatisfying(Message.ErrorMessage.class, e -> {
          assertThat(e.code()).isEqualTo(ErrorCode.BUSY);
          assertThat(e.message()).contains(bound + " connections are open on this receiver");
        });
        busy++;
      }
    }
    assertThat(served).as("connections within the bound, each challenged").isEqualTo(bound);
    assertThat(busy).as("connections over the bound, each told BUSY").isEqualTo(burst - bound);
    for (SocketChannel ch : chans) {
      ch.close();
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (r.openConnections() > 0 && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(r.openConnections()).as("the served connections ended when their peers closed").isZero();
    assertThat(realMigration(r).outcome()).isEqualTo(Outcome.COMPLETED);
  }

  @Test
  void helloAskingForMoreStreamsThanTheBound_isRefusedIncompatibleNamingIt() throws Exception {
    Receiver r = receiver(ReceiverOptions.defaults());
    Message m = hello(r, 17, new ArrayList<>());
    assertThat(m).isInstanceOfSatisfying(Message.ErrorMessage.class, e -> {
      assertThat(e.code()).isEqualTo(ErrorCode.INCOMPATIBLE);
      assertThat(e.message()).contains("asks for 17 streams; this receiver takes at most 16");
    });
    assertThat(dest.incomingVms()).isEmpty();
  }

  @Test
  void destinationFloodingTheReturnPathWithAnswersNobodyAskedFor_failsTheMigrationAndTheSourceRunsOn()
      throws Exception {
    try (ServerSocket fake = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      Thread t = new Thread(() -> {
        try (Socket s = fake.accept()) {
          var in = Channels.newChannel(s.getInputStream());
          var out = Channels.newChannel(s.getOutputStream());
          RawPeer.openAsReceiver(in, out);
          FrameReader reader = new FrameReader(in);
          reader.next(); // HELLO
          FrameWriter w = new FrameWriter(out);
          w.write(new Message.Accept("fake", "fake"));
          for (int i = 0; i < 5000; i++) {
            w.write(new Message.Pong(i)); // far more answers than were asked for
          }
          while (true) {
            reader.next();
          }
        } catch (IOException done) {
          // the source gave up on us
        }
      }, "test-fake-destination");
      t.setDaemon(true);
      t.start();
      SimVm vm = source.createVm(SimVmSpec.builder("flooded").memory(DataSize.mib(16))
          .workload(Workload.uniform(1000)).build());
      MigrationResult res = SourceMigration.start(source.info(), vm,
          new dev.ferry.MigrationTarget(new InetSocketAddress(InetAddress.getLoopbackAddress(), fake.getLocalPort()), ""),
          MigrationOptions.defaults()).completion().get(30, TimeUnit.SECONDS);
      assertThat(res.outcome()).isEqualTo(Outcome.FAILED);
      assertThat(res.cause().orElseThrow().getMessage()).containsPattern("sent \\d+ PONGs for \\d+ PINGs");
      assertThat(vm.state()).isEqualTo(dev.ferry.spi.VmState.RUNNING);
    }
  }
}
