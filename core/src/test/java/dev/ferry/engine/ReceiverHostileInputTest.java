package dev.ferry.engine;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.MigrationOptions;
import dev.ferry.MigrationReceiver;
import dev.ferry.ReceiverOptions;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationResult.Outcome;
import dev.ferry.MigrationSession;
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
import dev.ferry.wire.PageBatchEncoder;
import dev.ferry.wire.Preamble;
import dev.ferry.wire.WireCompression;
import dev.ferry.wire.WireFormat;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.EnumSet;
import java.util.Random;
import java.util.Optional;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A receiver fed corrupted and hostile streams: each ends its own migration with a clear error,
 * leaves nothing on the host, and the receiver goes on serving good migrations.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ReceiverHostileInputTest {
  private static final AtomicInteger SEQ = new AtomicInteger();
  private SimPair pair;
  private SimHost source;
  private SimHost dest;
  private MigrationReceiver receiver;

  @BeforeEach
  void start() {
    pair = new SimPair("hostile");
    source = pair.source;
    dest = pair.dest;
    receiver = pair.receiver;
  }

  @AfterEach
  void stop() {
    pair.close();
  }

  private SocketChannel open() throws IOException {
    SocketChannel ch = SocketChannel.open(receiver.address());
    RawPeer.openAsSource(ch, ch, "");
    return ch;
  }

  private static VmDescription description(String name) {
    return description(name, DataSize.mib(4), 4096, 1);
  }

  /** Says HELLO for {@code vm} (one stream, no flags) and checks the receiver accepts it. */
  private static void helloAccepted(FrameWriter w, FrameReader r, VmDescription vm) throws IOException {
    w.write(new Message.Hello(UUID.randomUUID(), 1, vm, EnumSet.noneOf(Message.Hello.Flag.class), WireCompression.NONE));
    assertThat(Messages.decode(r.next())).isInstanceOf(Message.Accept.class);
  }

  /** A VM of a fresh id, as a HELLO may declare it. */
  private static VmDescription description(String name, DataSize memory, int pageSize, int vcpus) {
    return new VmDescription(new dev.ferry.spi.VmId(UUID.randomUUID().toString()), name, memory, pageSize, vcpus,
        SimHost.DEFAULT_CPU);
  }

  private void assertReceiverStillServes() throws Exception {
    SimVm vm = source.createVm(SimVmSpec.builder("good-" + SEQ.incrementAndGet()).memory(DataSize.mib(16))
        .workload(Workload.uniform(1000)).build());
    MigrationSession s = SourceMigration.start(source.info(), vm, receiver.target(),
        MigrationOptions.builder().verify(true).build());
    MigrationResult r = s.completion().get(30, TimeUnit.SECONDS);
    assertThat(r.outcome()).as("a good migration after the hostile one: %s", r.cause()).isEqualTo(Outcome.COMPLETED);
    assertThat(r.verified()).isTrue();
  }

  private void awaitNoIncoming() throws InterruptedException {
    pair.assertDestinationEmpty();
  }

  @Test
  void switchoverAfterNoPages_isRefusedAndNoGuestRuns() throws Exception {
    try (SocketChannel ch = open()) {
      FrameWriter w = new FrameWriter(ch);
      FrameReader r = new FrameReader(ch);
      helloAccepted(w, r, description("empty"));
      w.write(new Message.RoundEnd(0));
      w.write(new Message.Switchover(0, 0, Optional.empty()));
      Message reply = Messages.decode(r.next());
      while (reply instanceof Message.RoundAck) {
        reply = Messages.decode(r.next());
      }
      assertThat(reply).isInstanceOf(Message.ErrorMessage.class);
      assertThat(((Message.ErrorMessage) reply).message()).contains("SWITCHOVER with 1024 of 1024 pages never sent");
    }
    awaitNoIncoming();
    assertThat(dest.vms()).as("no guest came up over memory that never arrived").isEmpty();
    assertReceiverStillServes();
  }

  /** Resident memory of this process, from /proc/self/status (VmRSS), in bytes; -1 where it is missing. */
  static long rss() throws IOException {
    java.nio.file.Path status = java.nio.file.Path.of("/proc/self/status");
    if (!java.nio.file.Files.exists(status)) {
      return -1;
    }
    for (String line : java.nio.file.Files.readAllLines(status)) {
      if (line.startsWith("VmRSS:")) {
        return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
      }
    }
    return -1;
  }

  /** A PAGES payload of RAW pages at {@code indexes}, each filled from {@code seed}. */
  private static ByteBuffer rawPages(long[] indexes, int pageSize, long seed) {
    ByteBuffer b = ByteBuffer.allocate(4 + indexes.length * (9 + pageSize));
    b.putInt(indexes.length);
    Random r = new Random(seed);
    byte[] page = new byte[pageSize];
    for (long i : indexes) {
      r.nextBytes(page);
      b.putLong(i).put((byte) 0).put(page);
    }
    return b.flip();
  }

  @Test
  void scatteredRawPagesAcrossA4GiBDeclaration_holdOnlyTheirPages_andTheMemoryGoesBackWhenThePeerLeaves()
      throws Exception {
    int pageSize = 4096;
    int scattered = 48;
    long pagesPerChunk = dev.ferry.sim.SimMemory.CHUNK_SIZE / pageSize;
    VmDescription big = description("scattered", DataSize.gib(4), pageSize, 1);
    long[] indexes = new long[scattered];
    for (int i = 0; i < scattered; i++) {
      indexes[i] = i * pagesPerChunk + (i * 7919L) % pagesPerChunk; // one page in each of the first 48 chunks
    }
    long mappedBefore = dev.ferry.sim.SimMemory.mappedBytes();
    long rssBefore = rss();
    long allocated;
    long mappedDuring;
    long rssDuring;
    try (SocketChannel ch = open()) {
      FrameWriter w = new FrameWriter(ch);
      FrameReader r = new FrameReader(ch);
      w.write(new Message.Hello(UUID.randomUUID(), 1, big, EnumSet.noneOf(Message.Hello.Flag.class),
          WireCompression.NONE, (long) scattered * pageSize));
      assertThat(Messages.decode(r.next())).isInstanceOf(Message.Accept.class);
      w.write(dev.ferry.wire.FrameType.PAGES, rawPages(indexes, pageSize, 11));
      w.write(new Message.RoundEnd(0));
      Message ack = Messages.decode(r.next());
      while (ack instanceof Message.Ping) {
        ack = Messages.decode(r.next());
      }
      assertThat(ack).as("the round's pages applied").isInstanceOf(Message.RoundAck.class);
      assertThat(dest.incomingVms()).hasSize(1);
      allocated = dest.incomingVms().get(0).guestMemory().allocatedBytes();
      mappedDuring = dev.ferry.sim.SimMemory.mappedBytes();
      rssDuring = rss();
    }
    awaitNoIncoming();
    // Released chunks are zeroed for reuse in the background: a chunk zeroed by writing it is then
    // resident whole, so read the process's memory once that is done.
    assertThat(dev.ferry.sim.SimMemory.awaitReleasedChunksZeroed(java.time.Duration.ofSeconds(10)))
        .as("released chunks zeroed within 10 s").isTrue();
    long mappedAfter = dev.ferry.sim.SimMemory.mappedBytes();
    long rssAfter = rss();
    System.out.printf("scattered pages: %d pages, allocated %d B, mapped %d -> %d -> %d B, RSS %d -> %d -> %d B%n",
        scattered, allocated, mappedBefore, mappedDuring, mappedAfter, rssBefore, rssDuring, rssAfter);
    assertThat(allocated).as("the incoming VM's chunks: one %d-byte chunk a page at most",
        dev.ferry.sim.SimMemory.CHUNK_SIZE).isLessThanOrEqualTo((long) scattered * dev.ferry.sim.SimMemory.CHUNK_SIZE);
    assertThat(mappedDuring - mappedBefore).as("mapped for the incoming VM")
        .isLessThanOrEqualTo((long) scattered * dev.ferry.sim.SimMemory.CHUNK_SIZE);
    assertThat(mappedAfter - mappedBefore).as("guest memory mapped after the peer left (kept for reuse)")
        .isLessThanOrEqualTo((long) scattered * dev.ferry.sim.SimMemory.CHUNK_SIZE);
    if (rssBefore > 0) {
      assertThat(rssDuring - rssBefore).as("resident for 48 pages (mapped chunks are backed a page at a time;"
          + " 32 MiB allowed for the JVM's own growth)").isLessThanOrEqualTo(32L << 20);
      assertThat(rssAfter - rssBefore).as("resident after the peer left (32 MiB allowed for the JVM's own growth)")
          .isLessThanOrEqualTo(32L << 20);
    }
    assertReceiverStillServes();
  }

  @Test
  void deviceStateAnnouncingMoreThanTheBound_isRefusedBeforeAllocating() throws Exception {
    long heapBefore = usedHeap();
    try (SocketChannel ch = open()) {
      FrameWriter w = new FrameWriter(ch);
      FrameReader r = new FrameReader(ch);
      helloAccepted(w, r, description("stateful"));
      w.write(new Message.DeviceStateChunk(Integer.MAX_VALUE - 8, 0, ByteBuffer.allocate(16)));
      Message reply = Messages.decode(r.next());
      while (reply instanceof Message.Ping) {
        reply = Messages.decode(r.next());
      }
      assertThat(reply).isInstanceOfSatisfying(Message.ErrorMessage.class, e -> {
        assertThat(e.code()).isEqualTo(ErrorCode.PROTOCOL);
        assertThat(e.message()).contains("device state of " + (Integer.MAX_VALUE - 8) + " bytes exceeds the limit of "
            + WireFormat.DEFAULT_MAX_DEVICE_STATE);
      });
      // The receiver answered, so it has decided: whatever it allocated for the state is allocated now.
      assertThat(usedHeap() - heapBefore).as("heap the receiver took for a 2 GiB device state")
          .isLessThan(256L << 20);
    }
    awaitNoIncoming();
    assertReceiverStillServes();
  }

  @Test
  void helloDeclaring64GiB_isRefusedByTheHostBeforeAnIncomingVmOrBitmapExists() throws Exception {
    VmDescription huge = description("huge", DataSize.gib(64), 4096, 1);
    assertThat(dest.info().memory().bytes()).as("this test needs a host smaller than 64 GiB")
        .isLessThan(DataSize.gib(64).bytes());
    try (SocketChannel ch = open()) {
      new FrameWriter(ch).write(new Message.Hello(UUID.randomUUID(), 1, huge, EnumSet.of(Message.Hello.Flag.VERIFY),
          WireCompression.NONE, 4096));
      Message reply = Messages.decode(new FrameReader(ch).next());
      assertThat(reply).isInstanceOfSatisfying(Message.ErrorMessage.class, e -> {
        assertThat(e.code()).isEqualTo(ErrorCode.REFUSED);
        assertThat(e.message()).contains("not enough for VM huge of 64 GiB");
      });
    }
    // The host refuses in prepareIncoming, before it creates the incoming VM (its memory and dirty
    // bitmap) and before the receiver builds its arrival bitmap and page ledger for the session.
    assertThat(dest.incomingVms()).isEmpty();
    awaitNoIncoming();
    assertReceiverStillServes();
  }

  @Test
  void helloWithPageSizeOneOrTooManyVcpus_isRefusedAsIncompatible() throws Exception {
    VmDescription tinyPages = description("tiny", DataSize.mib(4), 1, 1);
    VmDescription manyVcpus = description("wide", DataSize.mib(4), 4096, Integer.MAX_VALUE);
    for (VmDescription d : List.of(tinyPages, manyVcpus)) {
      try (SocketChannel ch = open()) {
        new FrameWriter(ch).write(new Message.Hello(UUID.randomUUID(), 1, d,
            EnumSet.noneOf(Message.Hello.Flag.class), WireCompression.NONE));
        Message reply = Messages.decode(new FrameReader(ch).next());
        assertThat(reply).as(d.name()).isInstanceOf(Message.ErrorMessage.class);
        assertThat(((Message.ErrorMessage) reply).code()).as(d.name()).isEqualTo(ErrorCode.INCOMPATIBLE);
      }
    }
    awaitNoIncoming();
    assertReceiverStillServes();
  }

  @Test
  void pagesFrameWithBadChecksum_endsThatMigrationWithChecksumError() throws Exception {
    try (SocketChannel ch = open()) {
      FrameWriter w = new FrameWriter(ch);
      FrameReader r = new FrameReader(ch);
      helloAccepted(w, r, description("victim"));
      assertThat(dest.incomingVms()).hasSize(1);

      // Build a valid PAGES frame, then flip one byte of a page before it goes out.
      ByteArrayOutputStream frame = new ByteArrayOutputStream();
      PageBatchEncoder enc = new PageBatchEncoder(4096, WireCompression.NONE);
      SimVm donor = source.createVm(SimVmSpec.builder("donor").memory(DataSize.mib(4)).build());
      ByteBuffer page = ByteBuffer.allocate(4096);
      new Random(1).nextBytes(page.array());
      donor.memory().orElseThrow().writePage(3, page);
      enc.add(3, donor.memory().orElseThrow());
      enc.flush(new FrameWriter(Channels.newChannel(frame)));
      byte[] bytes = frame.toByteArray();
      bytes[100] ^= 0x10;
      ch.write(ByteBuffer.wrap(bytes));

      Message reply = Messages.decode(r.next());
      assertThat(reply).isInstanceOf(Message.ErrorMessage.class);
      assertThat(((Message.ErrorMessage) reply).code()).isEqualTo(ErrorCode.CHECKSUM);
      assertThat(ch.read(ByteBuffer.allocate(16))).as("receiver closes the stream").isEqualTo(-1);
    }
    awaitNoIncoming();
    assertReceiverStillServes();
  }

  @Test
  void garbageBytes_areRefusedAndTheReceiverKeepsServing() throws Exception {
    byte[] garbage = new byte[1 << 20];
    new Random(5).nextBytes(garbage);
    try (SocketChannel ch = SocketChannel.open(receiver.address())) {
      try {
        ch.write(ByteBuffer.wrap(garbage));
      } catch (IOException closedEarly) {
        // the receiver may close while we are still writing: that is the point
      }
      ByteBuffer sink = ByteBuffer.allocate(64 * 1024);
      int n;
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      do {
        sink.clear();
        try {
          n = ch.read(sink);
        } catch (IOException reset) {
          n = -1;
        }
      } while (n >= 0 && System.nanoTime() < deadline);
      assertThat(n).as("the receiver closed the connection").isEqualTo(-1);
    }
    awaitNoIncoming();
    assertReceiverStillServes();
  }

  @Test
  void hugeFrameBeforeHandshake_isRefusedWithoutAllocating() throws Exception {
    java.lang.management.BufferPoolMXBean direct = java.lang.management.ManagementFactory
        .getPlatformMXBeans(java.lang.management.BufferPoolMXBean.class).stream()
        .filter(b -> b.getName().equals("direct")).findFirst().orElseThrow();
    long heapBefore = usedHeap();
    long directBefore = direct.getMemoryUsed();
    try (SocketChannel ch = open()) {
      // A header announcing a 1 GiB HELLO: refused on the length alone.
      ByteBuffer header = ByteBuffer.allocate(8).putInt(1 << 30).put((byte) 1).put((byte) 0).putShort((short) 0);
      header.flip();
      ch.write(header);
      Message reply = Messages.decode(new FrameReader(ch).next());
      assertThat(reply).isInstanceOf(Message.ErrorMessage.class);
      assertThat(((Message.ErrorMessage) reply).message()).contains("1073741824");
      // The receiver answered, so it has decided: whatever it allocated for this frame is allocated now.
      assertThat(direct.getMemoryUsed() - directBefore).as("direct memory the receiver took for the frame")
          .isLessThan(16L << 20);
      assertThat(usedHeap() - heapBefore).as("heap the receiver took for the frame").isLessThan(256L << 20);
    }
    awaitNoIncoming();
    assertReceiverStillServes();
  }

  private static long usedHeap() {
    Runtime rt = Runtime.getRuntime();
    return rt.totalMemory() - rt.freeMemory();
  }

  /** Found by ReceiverFuzzTest: the control loop waited the peer timeout for a ROUND_END only it could read. */
  @Test
  void switchoverBeforeTheControlStreamEndedTheRound_isRefusedAtOnceNotAfterThePeerTimeout() throws Exception {
    try (SocketChannel ch = open()) {
      FrameWriter w = new FrameWriter(ch);
      FrameReader r = new FrameReader(ch);
      helloAccepted(w, r, description("early-switch"));
      w.write(new Message.Switchover(0, 0, Optional.empty()));
      Message reply = Messages.decode(r.next());
      assertThat(reply).isInstanceOfSatisfying(Message.ErrorMessage.class, e -> {
        assertThat(e.code()).isEqualTo(ErrorCode.PROTOCOL);
        assertThat(e.message()).contains("before the control stream ended that round (it ended round -1)");
      });
    }
    awaitNoIncoming();
    assertReceiverStillServes();
  }

  @Test
  void pagesBeforeHello_areAProtocolError() throws Exception {
    try (SocketChannel ch = open()) {
      new FrameWriter(ch).write(new Message.RoundEnd(0));
      Message reply = Messages.decode(new FrameReader(ch).next());
      assertThat(reply).isInstanceOf(Message.ErrorMessage.class);
      assertThat(((Message.ErrorMessage) reply).code()).isEqualTo(ErrorCode.PROTOCOL);
    }
    awaitNoIncoming();
  }

  @Test
  void hostileStreamDuringAGoodMigration_doesNotTouchIt() throws Exception {
    SimVm vm = source.createVm(SimVmSpec.builder("busy").memory(DataSize.mib(32))
        .workload(Workload.uniform(2000)).build());
    MigrationSession s = SourceMigration.start(source.info(), vm, receiver.target(),
        MigrationOptions.builder().verify(true).build());
    byte[] garbage = new byte[256 * 1024];
    new Random(9).nextBytes(garbage);
    for (int i = 0; i < 5; i++) {
      try (SocketChannel ch = SocketChannel.open(receiver.address())) {
        ch.write(ByteBuffer.wrap(garbage));
      } catch (IOException closed) {
        // refused mid-write: expected
      }
    }
    MigrationResult r = s.completion().get(30, TimeUnit.SECONDS);
    assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(Outcome.COMPLETED);
    assertThat(r.verified()).isTrue();
  }

  @Test
  void silentConnection_isClosedAfterTheHandshakeTimeout() throws Exception {
    FakeTicker ticker = new FakeTicker();
    try (MigrationReceiver r = Receiver.start(dest.driver(), new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
        ReceiverOptions.builder().handshakeTimeout(Duration.ofSeconds(10)).peerTimeout(Duration.ofSeconds(1))
            .ticker(ticker).build());
        SocketChannel ch = SocketChannel.open(r.address())) {
      ByteBuffer preamble = ByteBuffer.allocate(WireFormat.PREAMBLE_LENGTH);
      while (preamble.hasRemaining()) {
        assertThat(ch.read(preamble)).as("the receiver's preamble").isPositive();
      }
      // The exact boundary is LinkWatchdogTest's; here, that the receiver wires the timeout in: the
      // fake clock passes it, and within the watchdog's next real-time tick the connection is closed.
      ticker.advance(Duration.ofMillis(10_001));
      ch.socket().setSoTimeout(5_000);
      int n = ch.socket().getInputStream().read();
      assertThat(n).as("closed once the handshake timeout passed").isEqualTo(-1);
      assertThat(r.activeMigrations()).isZero();
      assertThat(dest.incomingVms()).isEmpty();
    }
  }
}
