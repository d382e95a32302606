package dev.ferry.engine;

import dev.ferry.MigrationTarget;
import dev.ferry.Ticker;
import dev.ferry.TransportException;
import dev.ferry.spi.Bandwidth;
import dev.ferry.wire.FrameType;
import dev.ferry.wire.Message;
import dev.ferry.wire.WireFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;

/**
 * Measures the link to a receiver the way a migration will use it: one connection, Ferry's frames
 * of 256 KiB from a direct buffer, checksummed and read by the receiver, for a moment; the rate is
 * the bytes the receiver got over the time it took to get them, by its own clock.
 *
 * <p>Design note. A plan is only as good as the bandwidth it assumes; the one a link is sold at, or
 * an iperf figure, is not the one a migration gets through its own framing and checksums. The
 * probe is short (a quarter of a second by default, two seconds at most, which the receiver
 * enforces) and authenticated like a migration. Nor is the socket alone what a migration gets: the
 * destination writes every page into memory it has just been given, and on a machine whose free
 * memory is reclaimed by its own hypervisor the first touch of that memory cost more than the
 * socket (measured on this project's 2-core machines: about 0.3 GB/s into fresh memory against
 * 2.5 GB/s through loopback). So the receiver writes the probe's pages into scratch memory that
 * its host lends ({@code HostDriver.scratchMemory}) and frees after, and the figure a plan uses
 * includes that cost where the host has it. Stateless: safe from any thread.
 */
public final class LinkProbe {
  private static final int FRAME = 256 << 10;
  private static final int MIN_FRAMES = 8;
  static final Duration MAX = Duration.ofSeconds(2);

  private LinkProbe() {}

  /**
   * Sends frames to {@code target} for {@code window} and returns the rate the receiver saw.
   *
   * @throws TransportException if the receiver cannot be reached, refuses, or answers wrong
   */
  public static Bandwidth measure(MigrationTarget target, Duration window, Duration timeout) {
    return measure(target, window, timeout, null);
  }

  /** As {@link #measure(MigrationTarget, Duration, Duration)}, over TLS when {@code tls} is not null. */
  public static Bandwidth measure(MigrationTarget target, Duration window, Duration timeout, dev.ferry.FerryTls tls) {
    if (window.isNegative() || window.isZero() || window.compareTo(MAX) > 0) {
      throw new IllegalArgumentException("a probe lasts more than 0 and at most " + MAX.toMillis() + " ms: " + window);
    }
    Ticker ticker = Ticker.system();
    try (LinkWatchdog watchdog = new LinkWatchdog(ticker, timeout, Thread::new, "probe").start()) {
      Link link = Link.connect(target.address(), timeout, watchdog, tls, target.token());
      try {
        link.send(new Message.Probe((int) window.toMillis()));
        ByteBuffer data = ByteBuffer.allocateDirect(FRAME);
        long end = ticker.read() + window.toNanos();
        // At least MIN_FRAMES, however long they take: the receiver counts from its second frame,
        // and on a saturated machine the window can pass before the second frame is written.
        for (int sent = 0; sent < MIN_FRAMES || ticker.read() - end < 0; sent++) {
          data.clear();
          link.writer.write(FrameType.PROBE_DATA, data);
        }
        link.writer.write(FrameType.PROBE_DATA, ByteBuffer.allocate(0));
        Message m = link.receive();
        if (m instanceof Message.ErrorMessage err) {
          throw new TransportException("the receiver at " + link.peer() + " refused the link probe: " + err.code()
              + ": " + err.message());
        }
        if (!(m instanceof Message.ProbeResult r) || r.nanos() <= 0 || r.bytes() <= 0) {
          throw new TransportException("the receiver answered the link probe with " + m);
        }
        return Bandwidth.of(r.bytes() + (r.bytes() / FRAME) * WireFormat.FRAME_OVERHEAD, Duration.ofNanos(r.nanos()));
      } catch (IOException e) {
        throw new TransportException("the link probe to " + link.peer() + " failed: " + e.getMessage(), e);
      } finally {
        link.close();
      }
    }
  }
}
