package dev.ferry.report;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.ferry.DowntimeBreakdown;
import dev.ferry.MigrationEvent;
import dev.ferry.MigrationListener;
import dev.ferry.MigrationResult;
import dev.ferry.PostCopyStats;
import dev.ferry.Progress;
import dev.ferry.RoundStats;
import dev.ferry.spi.Bandwidth;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A migration's events as JSON, one object per event, in the stable schema of {@code
 * docs/events.md} (also {@code docs/ferry-events.schema.json}, and on the classpath as {@link
 * #SCHEMA_RESOURCE}).
 *
 * <p>Every object has {@code "schema"} ({@value #SCHEMA_VERSION}), {@code "type"} (the event's
 * record name: {@code PhaseChanged}, {@code RoundCompleted}, {@code Decision}, {@code
 * PostCopyProgress}, {@code VerificationFailed}, {@code Finished}; or {@code Result} for {@link
 * #result(MigrationResult)}) and {@code "elapsedMs"}. Times are milliseconds, as numbers with up to
 * three decimals; sizes are bytes. A figure that is not known is {@code null}, never 0, and a field
 * next to it says why (for example {@code "downtimeMs": null, "downtimeUnknown": "..."}).
 *
 * <p>A new field may be added within a schema version; a field is never renamed, removed or given
 * another meaning without a new version.
 *
 * <p>Thread-safe: the methods keep no state; a {@link #writer(Writer) listener} writes each line
 * whole, under a lock.
 */
public final class EventJson {
  /** The version of the schema written in every object's {@code "schema"} field. */
  public static final int SCHEMA_VERSION = 1;

  /** Where the JSON Schema of an event line is on the classpath. */
  public static final String SCHEMA_RESOURCE = "/dev/ferry/report/ferry-events.schema.json";

  static final ObjectMapper MAPPER = new ObjectMapper();

  private EventJson() {}

  /** The event as one line of JSON (no line break at its end). */
  public static String toJson(MigrationEvent event) {
    return write(node(event));
  }

  /**
   * A result on its own, as the last line a program prints: {@code {"schema":1,"type":"Result",
   * "elapsedMs":<total time>,"result":{...}}}, the {@code result} object being the one of {@code
   * Finished}.
   */
  public static String result(MigrationResult result) {
    ObjectNode o = head("Result", result.totalTime());
    o.set("result", result(result, MAPPER.createObjectNode()));
    return write(o);
  }

  /**
   * A listener that writes each event as one line to {@code out} and flushes it (JSON Lines). An
   * I/O error is thrown as {@link UncheckedIOException}, which the session logs; the caller owns
   * {@code out} and closes it.
   */
  public static MigrationListener writer(Writer out) {
    Objects.requireNonNull(out, "out");
    return event -> {
      String line = toJson(event);
      synchronized (out) {
        try {
          out.write(line);
          out.write('\n');
          out.flush();
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      }
    };
  }

  /** The same, to a print stream (for example {@code System.out}). */
  public static MigrationListener writer(PrintStream out) {
    Objects.requireNonNull(out, "out");
    return event -> {
      String line = toJson(event);
      synchronized (out) {
        out.println(line);
        out.flush();
      }
    };
  }

  // ---------------------------------------------------------------- encoding

  static ObjectNode node(MigrationEvent event) {
    Objects.requireNonNull(event, "event");
    if (event instanceof MigrationEvent.PhaseChanged e) {
      ObjectNode o = head("PhaseChanged", e.elapsed());
      o.put("from", e.from().name());
      o.put("to", e.to().name());
      return o;
    } else if (event instanceof MigrationEvent.RoundCompleted e) {
      ObjectNode o = head("RoundCompleted", e.elapsed());
      o.set("round", round(e.stats(), MAPPER.createObjectNode()));
      o.set("progress", progress(e.progress(), MAPPER.createObjectNode()));
      return o;
    } else if (event instanceof MigrationEvent.Decision e) {
      ObjectNode o = head("Decision", e.elapsed());
      strings(o.putArray("actions"), e.actions());
      o.put("reason", e.reason());
      return o;
    } else if (event instanceof MigrationEvent.PostCopyProgress e) {
      ObjectNode o = head("PostCopyProgress", e.elapsed());
      o.put("pagesMissing", e.pagesMissing());
      o.set("postCopy", postCopy(e.stats(), MAPPER.createObjectNode()));
      return o;
    } else if (event instanceof MigrationEvent.VerificationFailed e) {
      ObjectNode o = head("VerificationFailed", e.elapsed());
      o.put("pages", e.pages());
      ArrayNode first = o.putArray("firstPages");
      e.firstPages().forEach(first::add);
      o.put("reason", e.reason());
      return o;
    } else if (event instanceof MigrationEvent.Finished e) {
      ObjectNode o = head("Finished", e.elapsed());
      o.set("result", result(e.result(), MAPPER.createObjectNode()));
      return o;
    }
    throw new IllegalArgumentException("no JSON form for " + event.getClass().getName()
        + " in schema " + SCHEMA_VERSION);
  }

  private static ObjectNode head(String type, Duration elapsed) {
    ObjectNode o = MAPPER.createObjectNode();
    o.put("schema", SCHEMA_VERSION);
    o.put("type", type);
    o.put("elapsedMs", millis(elapsed));
    return o;
  }

  private static ObjectNode round(RoundStats r, ObjectNode o) {
    o.put("round", r.round());
    o.put("stopAndCopy", r.stopAndCopy());
    o.put("pagesSent", r.pagesSent());
    o.put("zeroPages", r.zeroPages());
    o.put("bytesOnWire", r.bytesOnWire());
    o.put("durationMs", millis(r.duration()));
    measuredRate(o, "bandwidthBytesPerSecond", r.bandwidth());
    o.put("pagesDirtied", r.pagesDirtied());
    o.put("dirtyRatePagesPerSecond", r.dirtyRatePagesPerSecond());
    o.put("expectedDowntimeMs", millis(r.expectedDowntime()));
    o.put("throttlePercent", r.throttlePercent());
    return o;
  }

  private static ObjectNode progress(Progress p, ObjectNode o) {
    o.put("phase", p.phase().name());
    o.put("round", p.round());
    o.put("elapsedMs", millis(p.elapsed()));
    o.put("totalBytes", p.total().bytes());
    o.put("transferredBytes", p.transferred().bytes());
    o.put("remainingBytes", p.remaining().bytes());
    o.put("dirtyRatePagesPerSecond", p.dirtyRatePagesPerSecond());
    o.put("dirtyRateBytesPerSecond", p.dirtyRateBytesPerSecond());
    o.put("pageSize", p.pageSize());
    o.put("workingSetBytes", p.workingSet().bytes());
    measuredRate(o, "bandwidthBytesPerSecond", p.bandwidth());
    o.put("expectedDowntimeMs", millis(p.expectedDowntime()));
    o.put("downtimeLimitMs", millis(p.downtimeLimit()));
    o.put("maxDowntimeMs", millis(p.maxDowntime()));
    // No cap and no deadline are settings, not unknown figures: null, and the schema says so.
    if (p.bandwidthLimit().equals(Bandwidth.UNLIMITED)) {
      o.putNull("bandwidthLimitBytesPerSecond");
    } else {
      o.put("bandwidthLimitBytesPerSecond", p.bandwidthLimit().bytesPerSecond());
    }
    o.put("throttlePercent", p.throttlePercent());
    if (p.hasDeadline()) {
      o.put("deadlineMs", millis(p.deadline()));
    } else {
      o.putNull("deadlineMs");
    }
    o.put("lastRoundSentBytes", p.lastRoundSent().bytes());
    o.put("stalledRounds", p.stalledRounds());
    o.put("sinceProgressMs", millis(p.sinceProgress()));
    o.put("throttleAvailable", p.throttleAvailable());
    o.put("postCopyAvailable", p.postCopyAvailable());
    o.put("fitsDowntime", p.fitsDowntime());
    return o;
  }

  /**
   * A measured rate: {@link Bandwidth#UNLIMITED} there means the interval was too short to measure
   * (see {@link Bandwidth#of}), so it is written null with the reason in {@code <name>Unknown}.
   */
  private static void measuredRate(ObjectNode o, String name, Bandwidth b) {
    if (b.equals(Bandwidth.UNLIMITED)) {
      o.putNull(name);
      o.put(name.replace("BytesPerSecond", "Unknown"), "the interval was too short to measure a rate");
    } else {
      o.put(name, b.bytesPerSecond());
    }
  }

  private static ObjectNode postCopy(PostCopyStats s, ObjectNode o) {
    o.put("durationMs", millis(s.duration()));
    // When the backend says some figures are not measured, a zero among them cannot be told from
    // "not measured": it is written null; the reason is in notMeasured.
    boolean partial = s.notMeasured().isPresent();
    count(o, "faults", s.faults(), partial);
    time(o, "blockedTotalMs", s.blockedTotal(), partial);
    time(o, "blockedP50Ms", s.blockedP50(), partial);
    time(o, "blockedP99Ms", s.blockedP99(), partial);
    time(o, "blockedMaxMs", s.blockedMax(), partial);
    count(o, "pagesRequested", s.pagesRequested(), partial);
    count(o, "pagesPrepaged", s.pagesPrepaged(), partial);
    count(o, "pagesPushed", s.pagesPushed(), partial);
    count(o, "recoveries", s.recoveries(), partial);
    text(o, "notMeasured", s.notMeasured());
    return o;
  }

  private static ObjectNode result(MigrationResult r, ObjectNode o) {
    o.put("vmId", r.vmId().value());
    o.put("outcome", r.outcome().name());
    o.put("completed", r.completed());
    if (r.cause().isPresent()) {
      ObjectNode c = o.putObject("cause");
      c.put("exception", r.cause().get().getClass().getName());
      c.put("message", String.valueOf(r.cause().get().getMessage()));
    } else {
      o.putNull("cause");
    }
    if (r.downtime().isPresent()) {
      o.put("downtimeMs", millis(r.downtime().get()));
    } else {
      o.putNull("downtimeMs");
    }
    text(o, "downtimeUnknown", r.downtimeUnknown());
    o.put("totalTimeMs", millis(r.totalTime()));
    o.put("bytesOnWire", r.bytesOnWire());
    o.put("pagesSent", r.pagesSent());
    text(o, "bytesNotFinal", r.bytesNotFinal());
    o.put("roundCount", r.roundCount());
    ArrayNode rounds = o.putArray("rounds");
    r.rounds().forEach(s -> rounds.add(round(s, MAPPER.createObjectNode())));
    o.put("verified", r.verified());
    strings(o.putArray("actions"), r.actions());
    o.put("guestSlowdownMs", millis(r.guestSlowdown()));
    if (r.postCopy().isPresent()) {
      o.set("postCopy", postCopy(r.postCopy().get(), MAPPER.createObjectNode()));
    } else {
      o.putNull("postCopy");
    }
    if (r.downtimeBreakdown().isPresent()) {
      o.set("downtimeBreakdown", breakdown(r.downtimeBreakdown().get(), MAPPER.createObjectNode()));
    } else {
      o.putNull("downtimeBreakdown");
    }
    return o;
  }

  private static ObjectNode breakdown(DowntimeBreakdown b, ObjectNode o) {
    o.put("pauseMs", millis(b.pause()));
    o.put("finalSyncMs", millis(b.finalSync()));
    o.put("finalPagesMs", millis(b.finalPages()));
    o.put("deviceStateMs", millis(b.deviceState()));
    o.put("confirmationMs", millis(b.confirmation()));
    o.put("verificationMs", millis(b.verification()));
    o.put("commitMs", millis(b.commit()));
    o.put("activationMs", millis(b.activation()));
    o.put("totalMs", millis(b.total()));
    return o;
  }

  private static void count(ObjectNode o, String name, long value, boolean zeroMayBeUnmeasured) {
    if (zeroMayBeUnmeasured && value == 0) {
      o.putNull(name);
    } else {
      o.put(name, value);
    }
  }

  private static void time(ObjectNode o, String name, Duration value, boolean zeroMayBeUnmeasured) {
    if (zeroMayBeUnmeasured && value.isZero()) {
      o.putNull(name);
    } else {
      o.put(name, millis(value));
    }
  }

  private static void text(ObjectNode o, String name, Optional<String> value) {
    if (value.isPresent()) {
      o.put(name, value.get());
    } else {
      o.putNull(name);
    }
  }

  private static void strings(ArrayNode a, List<String> values) {
    values.forEach(a::add);
  }

  /** Milliseconds with up to three decimals (microseconds); no overflow for very long durations. */
  static double millis(Duration d) {
    return Math.round(d.getSeconds() * 1_000_000.0 + d.getNano() / 1_000.0) / 1_000.0;
  }

  private static String write(ObjectNode o) {
    try {
      return MAPPER.writeValueAsString(o);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("a JSON tree failed to serialise", e);
    }
  }
}
