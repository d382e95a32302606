package dev.ferry.engine;

import dev.ferry.DestinationRefusedException;
import dev.ferry.MigrationResult.Outcome;
import dev.ferry.TransportException;
import dev.ferry.wire.Message;
import dev.ferry.wire.RemoteErrorException;
import dev.ferry.wire.WireFormat;
import java.io.IOException;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The source's half of opening a migration: the control stream and HELLO, the destination's ACCEPT
 * or refusal, the data streams and their JOINs, the return path's reader and the round trip.
 *
 * <p>Design note. Every step is bounded: the connects by the connect timeout, each read and write
 * by the peer timeout (the links are watched from their first byte). The destination says in HELLO's
 * answer whether it accepts and whether it can run post-copy; a refusal is a
 * {@link DestinationRefusedException} with the destination's words. The round trip is the best of
 * {@link #RTT_PINGS} PING/PONGs on the control stream, which the switchover's downtime prediction
 * counts twice. Nothing in the handshake touches the guest: any failure leaves the source as it was.
 *
 * <p>Confined to the migration thread, but for the return-path reader it starts.
 */
final class Handshake {
  private static final Logger log = LoggerFactory.getLogger(Handshake.class);
  private static final int RTT_PINGS = 3;

  /** What an opened migration has: its streams, what the destination said, the measured round trip. */
  record Opened(List<Link> links, ReturnPath returnPath, String destinationHost, boolean destinationPostCopy,
      long rttNanos) {
    Link control() {
      return links.get(0);
    }

    long wireBytes() {
      long n = 0;
      for (Link l : links) {
        n += l.writer.bytesWritten();
      }
      return n;
    }
  }

  private final SourceContext c;
  private final List<Link> links;

  /** @param links where the opened links go, so that the caller closes them whatever happens */
  Handshake(SourceContext c, List<Link> links) {
    this.c = c;
    this.links = links;
  }

  Opened open(Runnable checkCancel) {
    checkCancel.run();
    int n = c.options.streams();
    Link control = connect();
    EnumSet<Message.Hello.Flag> flags = EnumSet.noneOf(Message.Hello.Flag.class);
    if (c.options.verify()) {
      flags.add(Message.Hello.Flag.VERIFY);
    }
    if (c.quick) {
      flags.add(Message.Hello.Flag.QUICK);
    } else if (c.options.allowPostCopy()) {
      flags.add(Message.Hello.Flag.POSTCOPY_CAPABLE);
    }
    Message.Accept accept;
    try {
      long resident = Math.min(c.desc.memory().bytes(), Math.max(0, c.memory.residentBytes()));
      control.send(new Message.Hello(c.sessionId, n, c.desc, flags, c.compression(), resident));
      Message reply = control.receive();
      if (reply instanceof Message.ErrorMessage err) {
        throw new Abort(Outcome.FAILED, new DestinationRefusedException("destination refused the migration of '"
            + c.name() + "': " + err.code() + ": " + err.message()));
      }
      if (!(reply instanceof Message.Accept a)) {
        throw new Abort(Outcome.FAILED, new TransportException("destination answered HELLO with " + reply));
      }
      accept = a;
      for (int i = 1; i < n; i++) {
        Link data = connect();
        data.send(new Message.Join(c.sessionId, i));
        data.readsTimed(false); // the source never reads a data stream; its writes stay bounded
      }
      control.reader.maxPayload(WireFormat.DEFAULT_MAX_PAYLOAD);
    } catch (RemoteErrorException e) {
      throw new Abort(Outcome.FAILED, Failures.remote(e.remote()));
    } catch (IOException e) {
      throw new Abort(Outcome.FAILED, Failures.transport("handshake with the destination failed", e));
    }
    control.keepalive(true);
    ReturnPath returnPath = new ReturnPath(control, c.ticker);
    EngineThreads.daemon(c.threads, returnPath, "ferry-return-" + c.name()).start();
    log.info("migrating {} ({}) from {} to {} ({}), {} stream(s), {}", c.name(), c.desc.memory(),
        c.sourceHost.hostname(), accept.hostname(), c.target.address(), n, c.quick ? "quick" : "live");
    long rtt = measureRoundTrip(control, returnPath, checkCancel);
    return new Opened(List.copyOf(links), returnPath, accept.hostname(), accept.postCopyCapable(), rtt);
  }

  private Link connect() {
    try {
      Link l = c.connect(c.options.connectTimeout());
      links.add(l);
      return l;
    } catch (TransportException | DestinationRefusedException e) {
      throw new Abort(Outcome.FAILED, e);
    }
  }

  private long measureRoundTrip(Link control, ReturnPath returnPath, Runnable checkCancel) {
    long best = Long.MAX_VALUE;
    for (int i = 0; i < RTT_PINGS; i++) {
      long t0 = c.now();
      try {
        control.send(new Message.Ping(t0));
      } catch (IOException e) {
        throw new Abort(Outcome.FAILED, Failures.transport("lost the destination while measuring the round trip", e));
      }
      returnPath.await(Message.Pong.class, c.options.peerTimeout(), "PONG", checkCancel);
      best = Math.min(best, c.now() - t0);
    }
    return best;
  }

  /** A new list for the links of one migration. */
  static List<Link> newLinkList() {
    return new ArrayList<>();
  }
}
