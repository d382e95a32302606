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
import dev.ferry.wire.ErrorCode;
import dev.ferry.wire.FrameType;
import dev.ferry.wire.FrameWriter;
import dev.ferry.wire.Message;
import dev.ferry.wire.Messages;
import dev.ferry.wire.Preamble;
import dev.ferry.wire.WireFormat;
import java.io.IOException;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * What a connection costs a receiver before its peer has authenticated, against the budget that
 * {@link ReceiverOptions} states: one thread, a frame buffer of at most
 * {@link WireFormat#HANDSHAKE_MAX_PAYLOAD} bytes (direct), a few KiB of heap, and the handshake
 * timeout. Peers that never authenticate — silent, slow-loris, announcing a huge frame, proving a
 * wrong token — are held together, the receiver's threads and memory measured against that budget
 * per connection, each is closed by the handshake timeout or refused with a clear error, and a real
 * migration completes after them.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ReceiverPreAuthBudgetTest {
  private static final int EACH = 16;
  private static final String TOKEN = "pre-auth-budget";
  /** Heap a connection may hold before authentication: its link, reader, writer, watchdog entry, thread object. */
  private static final long HEAP_PER_CONNECTION = 64 << 10;
  /** Direct memory: the frame buffer (grown to at most the pre-auth payload and the CRC) and the headers. */
  private static final long DIRECT_PER_CONNECTION = WireFormat.HANDSHAKE_MAX_PAYLOAD + 64;
  /** What a collection leaves of other tests' and the JIT's garbage, allowed on top of the budget. */
  private static final long HEAP_NOISE = 16 << 20;

  private final SimHost source = SimHost.named("budget-src-" + System.nanoTime());
  private final SimHost dest = SimHost.named("budget-dst-" + System.nanoTime());
  private final List<SocketChannel> peers = new ArrayList<>();
  private Receiver receiver;

  @AfterEach
  void close() throws IOException {
    for (SocketChannel ch : peers) {
      ch.close();
    }
    if (receiver != null) {
      receiver.close();
    }
    source.destroy();
    dest.destroy();
  }

  @Test
  void unauthenticatedPeersOfEveryKind_stayWithinTheStatedBudgetPerConnection_andEachIsClosedOrRefused()
      throws Exception {
    Duration handshake = Duration.ofSeconds(3);
    Resources before = Resources.now();
    long heapBefore = heapAfterGc();
    long directBefore = directSettled();
    receiver = Receiver.start(dest.driver(), new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
        ReceiverOptions.builder().token(TOKEN).maxConnections(128).handshakeTimeout(handshake)
            .peerTimeout(Duration.ofSeconds(30)).build());
    long opened = System.nanoTime();

    List<SocketChannel> silent = connect(EACH);
    List<SocketChannel> slow = connect(EACH);
    List<SocketChannel> oversized = connect(EACH);
    List<SocketChannel> wrongToken = connect(EACH);
    Thread loris = slowLoris(slow);
    for (SocketChannel ch : oversized) {
      challenged(ch);
      // AUTH_RESPONSE announcing 1 GiB: refused on the header alone.
      ch.write(ByteBuffer.allocate(WireFormat.HEADER_LENGTH).putInt(1 << 30)
          .put((byte) FrameType.AUTH_RESPONSE.code()).put((byte) 0).putShort((short) 0).flip());
    }
    for (SocketChannel ch : wrongToken) {
      Message.AuthChallenge c = challenged(ch);
      new FrameWriter(ch).write(TokenAuth.respond("not-" + TOKEN, c));
    }
    for (SocketChannel ch : oversized) {
      assertThat(Messages.decode(frame(ch))).isInstanceOfSatisfying(Message.ErrorMessage.class,
          e -> {
            assertThat(e.code()).isEqualTo(ErrorCode.PROTOCOL);
            assertThat(e.message()).contains("1073741824").contains("limit of " + WireFormat.HANDSHAKE_MAX_PAYLOAD);
          });
    }
    for (SocketChannel ch : wrongToken) {
      assertThat(Messages.decode(frame(ch))).isInstanceOfSatisfying(Message.ErrorMessage.class,
          e -> {
            assertThat(e.code()).isEqualTo(ErrorCode.UNAUTHORIZED);
            assertThat(e.message()).isEqualTo("unauthorized: wrong token");
          });
    }

    // Every peer has been answered or is held: whatever the receiver allocated for them is allocated now.
    int connections = 4 * EACH;
    Resources during = Resources.now();
    long heap = heapAfterGc() - heapBefore;
    long direct = directSettled() - directBefore;
    long threads = during.threads().stream().filter(n -> n.startsWith("ferry-receive-")).count();
    System.out.printf("pre-auth budget: %d connections held or refused, %d receiver threads, %d B direct,"
        + " %d B heap after a collection%n", connections, threads, direct, heap);
    assertThat(System.nanoTime() - opened).as("measured before the first handshake timeout could close a peer")
        .isLessThan(handshake.toNanos());
    assertThat(receiver.openConnections()).as("connections the receiver still holds (the oversized ones ended)")
        .isBetween(3 * EACH, connections);
    assertThat(threads).as("one thread a connection, at most").isLessThanOrEqualTo(connections);
    assertThat(direct).as("direct memory for %d unauthenticated connections", connections)
        .isLessThanOrEqualTo(connections * DIRECT_PER_CONNECTION);
    assertThat(heap).as("heap for %d unauthenticated connections (after a collection)", connections)
        .isLessThanOrEqualTo(connections * HEAP_PER_CONNECTION + HEAP_NOISE);

    // The silent, slow and refused peers still connected are closed by the handshake timeout.
    for (SocketChannel ch : concat(silent, slow, wrongToken)) {
      assertThat(closedByReceiver(ch, handshake.plusSeconds(10))).as("closed by the receiver").isTrue();
    }
    loris.join(10_000);
    assertThat(System.nanoTime() - opened).as("the slow peers were still sending when they were closed")
        .isGreaterThanOrEqualTo(handshake.toNanos());
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (receiver.openConnections() > 0 && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    assertThat(receiver.openConnections()).isZero();
    assertThat(dest.incomingVms()).isEmpty();
    assertThat(Resources.settleTo(during, 5_000).threads().stream().filter(n -> n.startsWith("ferry-receive-")))
        .as("no connection thread left").isEmpty();
    assertThat(before.threads().stream().filter(n -> n.startsWith("ferry-receive-"))).isEmpty();

    SimVm vm = source.createVm(SimVmSpec.builder("after-budget").memory(DataSize.mib(16))
        .workload(Workload.uniform(1000)).build());
    MigrationResult r = SourceMigration.start(source.info(), vm, receiver.target(),
        MigrationOptions.builder().verify(true).build()).completion().get(30, TimeUnit.SECONDS);
    assertThat(r.outcome()).as("a real migration after the unauthenticated peers: %s", r.cause())
        .isEqualTo(Outcome.COMPLETED);
  }

  private List<SocketChannel> connect(int n) throws IOException {
    List<SocketChannel> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      SocketChannel ch = SocketChannel.open(receiver.address());
      peers.add(ch);
      out.add(ch);
    }
    return out;
  }

  /** Preambles both ways, and the receiver's challenge. */
  private static Message.AuthChallenge challenged(SocketChannel ch) throws IOException {
    Preamble.write(ch);
    Preamble.read(ch);
    return Messages.expect(frame(ch), Message.AuthChallenge.class);
  }

  /**
   * The next frame, read into heap memory: this JVM's direct memory is what the test measures of
   * the receiver, so the test's own reads must not take any (its CRC is the receiver's to get right,
   * and the frames here are small).
   */
  private static dev.ferry.wire.Frame frame(SocketChannel ch) throws IOException {
    ByteBuffer header = ByteBuffer.allocate(WireFormat.HEADER_LENGTH);
    readFully(ch, header);
    int length = header.getInt(0);
    assertThat(length).as("a small frame from the receiver").isBetween(0, WireFormat.HANDSHAKE_MAX_PAYLOAD);
    ByteBuffer body = ByteBuffer.allocate(length + WireFormat.TRAILER_LENGTH);
    readFully(ch, body);
    return new dev.ferry.wire.Frame(FrameType.ofCode(header.get(4) & 0xff), body.flip().limit(length));
  }

  private static void readFully(SocketChannel ch, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      if (ch.read(b) < 0) {
        throw new java.io.EOFException("the receiver closed after " + b.position() + " bytes");
      }
    }
  }

  /** Sends each channel its preamble a byte every 100 ms, round after round, until each is closed. */
  private static Thread slowLoris(List<SocketChannel> slow) {
    Thread t = new Thread(() -> {
      ByteBuffer preamble = ByteBuffer.allocate(WireFormat.PREAMBLE_LENGTH);
      preamble.put(WireFormat.MAGIC).putShort((short) WireFormat.MAJOR_VERSION);
      byte[] bytes = preamble.array();
      List<SocketChannel> open = new ArrayList<>(slow);
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      for (int i = 0; !open.isEmpty() && System.nanoTime() < deadline; i++) {
        byte b = bytes[i % bytes.length];
        open.removeIf(ch -> {
          try {
            ch.write(ByteBuffer.wrap(new byte[] {b}));
            return false;
          } catch (IOException closed) {
            return true;
          }
        });
        try {
          Thread.sleep(100);
        } catch (InterruptedException e) {
          return;
        }
      }
    }, "test-slow-loris");
    t.setDaemon(true);
    t.start();
    return t;
  }

  /** Reads (and drops) what the receiver sends until it closes; false if it is still open at the bound. */
  private static boolean closedByReceiver(SocketChannel ch, Duration bound) throws IOException {
    ch.socket().setSoTimeout((int) bound.toMillis());
    InputStream in = ch.socket().getInputStream();
    byte[] sink = new byte[4096];
    try {
      while (in.read(sink) >= 0) {
        // the preamble, and nothing after it
      }
      return true;
    } catch (java.net.SocketTimeoutException stillOpen) {
      return false;
    } catch (IOException reset) {
      return true; // closed with our bytes unread: a reset is a close too
    }
  }

  @SafeVarargs
  private static List<SocketChannel> concat(List<SocketChannel>... lists) {
    List<SocketChannel> all = new ArrayList<>();
    for (List<SocketChannel> l : lists) {
      all.addAll(l);
    }
    return all;
  }

  /**
   * Direct memory in use once the buffers a collection found unreachable have been freed (their
   * cleaners run after it, on another thread): the same reading twice 50 ms apart, at most 1 s.
   */
  private static long directSettled() throws InterruptedException {
    long last = Resources.direct().getMemoryUsed();
    for (int i = 0; i < 20; i++) {
      Thread.sleep(50);
      long now = Resources.direct().getMemoryUsed();
      if (now == last) {
        return now;
      }
      last = now;
    }
    return last;
  }

  private static long heapAfterGc() {
    System.gc();
    return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
  }
}
