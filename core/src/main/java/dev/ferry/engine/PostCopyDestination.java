package dev.ferry.engine;

import dev.ferry.spi.GuestMemory;
import dev.ferry.spi.PostCopyIncoming;
import dev.ferry.spi.VmDriver;
import dev.ferry.wire.Frame;
import dev.ferry.wire.Message;
import dev.ferry.wire.Messages;
import dev.ferry.wire.PageBatchDecoder;
import dev.ferry.wire.ProtocolException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The destination's side of post-copy, once the guest runs here with pages missing: ask the source
 * for each page a vCPU blocks on, write the pages that arrive into the missing slots, tell the
 * source when none is missing, and keep the guest safe when the link breaks.
 *
 * <p>Threads: vCPU threads report faults into a queue; a requester thread turns them into
 * PAGE_REQUEST frames; the control thread reads PAGES and supplies them. Writes on the control
 * stream are serialised on {@link #writeLock}.
 *
 * <p>Failure rules (during post-copy a broken link pauses the guest and waits for recovery; it
 * never resumes a stale source): this side is authoritative. When the control stream breaks, the
 * guest is paused (a vCPU would otherwise block on a page that cannot come, while others run on)
 * and the session waits for the source to come back with RECOVER for the recovery window the source
 * announced; it then answers MISSING, asks again for the pages vCPUs wait on, and resumes the
 * guest. If the window passes, the guest is lost: its incomplete copy is stopped here, never left
 * running on memory that is not all there.
 */
final class PostCopyDestination {
  private static final Logger log = LoggerFactory.getLogger(PostCopyDestination.class);

  /** Where frames come from: the control stream's reader, or its read-ahead pipeline. */
  @FunctionalInterface
  interface FrameSource {
    Frame next() throws IOException;
  }

  private final IncomingSession session;
  private final String name;
  private final PostCopyIncoming pc;
  private final int pageSize;
  private final long pageCount;
  private final Duration recoveryWindow;
  private final Object writeLock = new Object();
  private final BlockingQueue<Long> faults = new LinkedBlockingQueue<>();
  private final Set<Long> requested = ConcurrentHashMap.newKeySet();
  private final SynchronousQueue<Link> handover = new SynchronousQueue<>();
  private volatile Link link;
  private volatile boolean done;
  private VmDriver vm;

  PostCopyDestination(IncomingSession session, PostCopyIncoming pc, Link control, Duration recoveryWindow) {
    this.session = session;
    this.name = session.name();
    this.pc = pc;
    this.pageSize = session.hello.vm().pageSize();
    this.pageCount = session.hello.vm().pageCount();
    this.link = control;
    this.recoveryWindow = recoveryWindow;
  }

  /** How long this post-copy waits for a broken link to come back. */
  Duration recoveryWindow() {
    return recoveryWindow;
  }

  /** The VM running here, once activated. */
  VmDriver vm() {
    return vm;
  }

  /**
   * Starts the guest here with its pages missing. Faults queue up until {@link #confirm} has told
   * the source the guest runs: the source reads page requests only after RESUMED.
   */
  VmDriver activate() {
    vm = pc.activate(page -> {
      requested.add(page);
      faults.add(page);
    });
    return vm;
  }

  /** Sends RESUMED, then starts asking for the pages vCPUs block on. */
  void confirm(Message.Resumed resumed) {
    try {
      send(resumed);
    } catch (IOException e) {
      // The guest runs here now: a lost RESUMED is the source's to settle (it asks, then recovers).
      log.warn("RESUMED for {} not sent: {}", name, e.toString());
    }
    EngineThreads.daemon(session.receiver.options().threadFactory(), this::requestLoop,
        "ferry-postcopy-requests-" + name).start();
  }

  /**
   * Receives pages until none is missing (then tells the source and returns true), or until the link
   * stays down past the recovery window (then stops the guest and returns false).
   */
  boolean run(FrameSource first) throws IOException {
    PageBatchDecoder decoder = new PageBatchDecoder(pageSize);
    GuestMemory supply = new SupplyMemory();
    FrameSource frames = first;
    try {
      while (true) {
        if (pc.missingPages() == 0) {
          PostCopyIncoming.FaultStats s = pc.faultStats();
          send(new Message.PostCopyComplete(s.faults(), s.blockedNanosTotal(), s.blockedNanosP50(),
              s.blockedNanosP99(), s.blockedNanosMax()));
          log.info("post-copy of {} complete: {} faults, {} ms blocked in all", name, s.faults(),
              s.blockedNanosTotal() / 1_000_000);
          return true;
        }
        try {
          Frame f = frames.next();
          switch (f.type()) {
            case PAGES -> decoder.apply(f.payload(), supply);
            case PING -> send(new Message.Pong(Messages.expect(f, Message.Ping.class).nanos()));
            case PONG, ROUND_END -> { }
            case CANCEL -> log.warn("source asked to cancel the migration of {} during post-copy: too late, "
                + "this host is authoritative", name);
            case ERROR -> throw new IOException("source reported an error: " + Messages.decode(f));
            default -> throw new ProtocolException("unexpected " + f.type() + " frame during post-copy");
          }
        } catch (IOException e) {
          // The guest cannot go back to the source: whatever broke the stream, wait for a new one.
          Link next = awaitRecovery(e);
          if (next == null) {
            return false;
          }
          frames = next.reader::next;
        }
      }
    } finally {
      done = true;
      faults.add(-1L);
      session.receiver.closeLink(link);
    }
  }

  /** Called by the receiver when a RECOVER for this session arrives on a new connection. */
  boolean handOver(Link l) throws InterruptedException {
    return handover.offer(l, recoveryWindow.toMillis(), TimeUnit.MILLISECONDS);
  }

  private Link awaitRecovery(IOException cause) {
    log.warn("post-copy link of {} broke ({} pages missing; {}): pausing the guest and waiting {} s for the source",
        name, pc.missingPages(), cause.getMessage(), recoveryWindow.toSeconds());
    vm.pause();
    session.receiver.closeLink(link);
    Link next;
    try {
      next = handover.poll(recoveryWindow.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      next = null;
    }
    if (next == null) {
      log.error("guest {} is lost: the source did not come back within {} s and {} pages never arrived; "
          + "stopping the incomplete copy", name, recoveryWindow.toSeconds(), pc.missingPages());
      vm.stop();
      return null;
    }
    try {
      synchronized (writeLock) {
        link = next;
        next.keepalive(true);
        next.send(new Message.Missing(pc.missingBitmap()));
      }
      for (Long page : requested) {
        if (page >= 0 && page < pageCount && isMissing(page)) {
          faults.add(page);
        }
      }
      vm.resume();
      log.info("post-copy of {} resumed on a new connection: {} pages missing", name, pc.missingPages());
      return next;
    } catch (IOException e) {
      log.warn("the recovered connection of {} failed at once", name, e);
      return awaitRecovery(e);
    }
  }

  private boolean isMissing(long page) {
    long[] b = pc.missingBitmap();
    return (b[(int) (page >>> 6)] & (1L << page)) != 0;
  }

  private void requestLoop() {
    while (!done) {
      long page;
      try {
        page = faults.take();
      } catch (InterruptedException e) {
        return;
      }
      if (page < 0) {
        return;
      }
      try {
        send(new Message.PageRequest(page, 1));
      } catch (IOException e) {
        // The link is down; the pages vCPUs wait on are asked for again after recovery.
        log.debug("page request for {} not sent: {}", page, e.toString());
      }
    }
  }

  private void send(Message m) throws IOException {
    synchronized (writeLock) {
      link.send(m);
    }
  }

  /** Writes received pages into the missing slots only: a page already present stays as it is. */
  private final class SupplyMemory implements GuestMemory {
    @Override
    public int pageSize() {
      return pageSize;
    }

    @Override
    public long pageCount() {
      return pageCount;
    }

    @Override
    public void readPage(long page, ByteBuffer dst) {
      throw new UnsupportedOperationException("post-copy pages are written, not read");
    }

    @Override
    public void writePage(long page, ByteBuffer src) {
      pc.supplyPage(page, src);
      requested.remove(page);
    }

    @Override
    public void zeroPage(long page) {
      pc.supplyZeroPage(page);
      requested.remove(page);
    }
  }
}
