package dev.ferry.engine;

import dev.ferry.wire.Message;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Settles a commit the destination did not confirm by asking it, over new connections, what became
 * of the session.
 *
 * <p>Design note. After COMMIT, the source may resume only if the destination will never run the
 * guest; it must stop for good if the destination runs it. A lost RESUMED, a cut link or a
 * destination that failed to activate all look alike from the source, so it asks: QUERY(session)
 * on a new connection, answered by STATUS: RUNNING, DISCARDED, PENDING (the destination has not
 * decided yet: ask again) or UNKNOWN (no record: a restarted receiver, or one that never got the
 * session). It asks every {@link #RETRY_NANOS} until a RUNNING or DISCARDED answer or until the
 * in-doubt timeout, each attempt bounded by the connect and peer timeouts. Only a destination that
 * answers neither within the timeout leaves the outcome in doubt. The same question is what an
 * operator would ask the destination by hand; this does it for them (compare Cloud Hypervisor's
 * users, whose guests stayed paused after a failed activation until someone stepped in).
 *
 * <p>Confined to the migration thread.
 */
final class CommitResolver {
  private static final Logger log = LoggerFactory.getLogger(CommitResolver.class);
  static final long RETRY_NANOS = 200_000_000L;

  /** What the destination said, or that it said nothing that settles it in time. */
  record Answer(Message.Status.State state, String detail, int attempts) {
    boolean settled() {
      return state == Message.Status.State.RUNNING || state == Message.Status.State.DISCARDED;
    }
  }

  private final SourceContext c;

  CommitResolver(SourceContext c) {
    this.c = c;
  }

  Answer resolve(String why) {
    Duration timeout = c.options.inDoubtTimeout();
    long deadline = c.now() + timeout.toNanos();
    log.warn("commit of {} unconfirmed ({}): asking the destination for up to {} ms", c.name(), why,
        timeout.toMillis());
    int attempts = 0;
    String last = why;
    Message.Status.State lastState = Message.Status.State.UNKNOWN;
    long maxAttempts = 2 + 2 * timeout.toNanos() / RETRY_NANOS; // bounded in count too, whatever the clock does
    while (c.now() - deadline < 0 && attempts < maxAttempts) {
      attempts++;
      Link l = null;
      try {
        long left = Math.max(1, (deadline - c.now()) / 1_000_000);
        l = c.connect(Duration.ofMillis(Math.min(left, c.options.connectTimeout().toMillis())));
        l.send(new Message.Query(c.sessionId));
        Message m = l.receive();
        if (m instanceof Message.Status s) {
          if (!s.sessionId().equals(c.sessionId)) {
            last = "the destination answered about another session " + s.sessionId();
          } else {
            lastState = s.state();
            last = s.state() + (s.detail().isEmpty() ? "" : ": " + s.detail());
            if (s.state() == Message.Status.State.RUNNING || s.state() == Message.Status.State.DISCARDED) {
              log.info("destination says the session of {} is {} (after {} attempt(s))", c.name(), last, attempts);
              return new Answer(s.state(), s.detail(), attempts);
            }
          }
        } else if (m instanceof Message.ErrorMessage err) {
          last = "the destination answered QUERY with " + err.code() + ": " + err.message();
        } else {
          last = "the destination answered QUERY with " + m.type();
        }
      } catch (IOException | RuntimeException e) {
        last = "asking the destination failed: " + e.getMessage();
      } finally {
        if (l != null) {
          c.watchdog.forget(l);
          l.close();
        }
      }
      log.debug("query {} for {}: {}", attempts, c.name(), last);
      long pause = Math.min(RETRY_NANOS, deadline - c.now());
      if (pause > 0) {
        LockSupport.parkNanos(pause);
      }
    }
    return new Answer(lastState, last, attempts);
  }
}
