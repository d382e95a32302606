package dev.ferry.report;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.ferry.MigrationEvent;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalLong;

/**
 * A migration's events read back from JSON Lines written by {@link EventJson} (schema {@value
 * EventJson#SCHEMA_VERSION}), as plain values that do not depend on the engine's types: what
 * {@link HtmlReport} draws from, and what a program may read a log with.
 *
 * <p>Times are milliseconds; sizes bytes. A figure that was {@code null} in the log (not known, or
 * no limit) is an empty optional here.
 *
 * <p>Immutable and thread-safe.
 */
public final class EventLog {
  private final List<Entry> entries;

  private EventLog(List<Entry> entries) {
    this.entries = List.copyOf(entries);
  }

  /** Reads a JSON Lines file; blank lines are skipped. */
  public static EventLog read(Path file) throws IOException {
    try (Reader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      return read(in);
    }
  }

  /**
   * Reads JSON Lines; blank lines are skipped.
   *
   * @throws IOException when reading fails
   * @throws IllegalArgumentException when a line is not JSON, is of another schema version, or is
   *     not an event of this schema; the message names the line
   */
  public static EventLog read(Reader in) throws IOException {
    BufferedReader lines = in instanceof BufferedReader b ? b : new BufferedReader(in);
    List<Entry> entries = new ArrayList<>();
    int n = 0;
    for (String line = lines.readLine(); line != null; line = lines.readLine()) {
      n++;
      if (line.isBlank()) {
        continue;
      }
      JsonNode node;
      try {
        node = EventJson.MAPPER.readTree(line);
      } catch (JsonProcessingException e) {
        throw new IllegalArgumentException("line " + n + " is not JSON: " + e.getOriginalMessage(), e);
      }
      try {
        entries.add(entry(node));
      } catch (RuntimeException e) {
        throw new IllegalArgumentException("line " + n + ": " + e.getMessage(), e);
      }
    }
    return new EventLog(entries);
  }

  /** The same model, from events recorded in this process (see {@link MigrationRecorder}). */
  public static EventLog of(List<? extends MigrationEvent> events) {
    List<Entry> entries = new ArrayList<>(events.size());
    for (MigrationEvent e : events) {
      entries.add(entry(EventJson.node(e)));
    }
    return new EventLog(entries);
  }

  /** Every event, in order. */
  public List<Entry> entries() {
    return entries;
  }

  /** The phase changes, in order. */
  public List<PhaseChanged> phases() {
    return only(PhaseChanged.class);
  }

  /** The rounds, in order, each with the progress at its end. */
  public List<RoundCompleted> rounds() {
    return only(RoundCompleted.class);
  }

  /** The policy's and the engine's decisions, in order. */
  public List<Decision> decisions() {
    return only(Decision.class);
  }

  /** The post-copy progress samples, in order. */
  public List<PostCopyProgress> postCopy() {
    return only(PostCopyProgress.class);
  }

  /** Verification failures (at most one in a migration). */
  public List<VerificationFailed> verificationFailures() {
    return only(VerificationFailed.class);
  }

  /** How the migration ended: the {@code Finished} event's result (or a {@code Result} line's); empty if the log stops before. */
  public Optional<Result> result() {
    for (int i = entries.size() - 1; i >= 0; i--) {
      if (entries.get(i) instanceof Finished f) {
        return Optional.of(f.result());
      }
    }
    return Optional.empty();
  }

  private <T extends Entry> List<T> only(Class<T> type) {
    return entries.stream().filter(type::isInstance).map(type::cast).toList();
  }

  // ---------------------------------------------------------------- the model

  /** One event of the log. */
  public sealed interface Entry permits PhaseChanged, RoundCompleted, Decision, PostCopyProgress,
      VerificationFailed, Finished {
    /** Milliseconds since the migration started. */
    double elapsedMs();
  }

  /** {@code PhaseChanged}: phase names as {@link dev.ferry.Phase}'s. */
  public record PhaseChanged(double elapsedMs, String from, String to) implements Entry {}

  /** {@code RoundCompleted}. */
  public record RoundCompleted(double elapsedMs, Round round, ProgressAt progress) implements Entry {}

  /** {@code Decision}. */
  public record Decision(double elapsedMs, List<String> actions, String reason) implements Entry {
    public Decision {
      actions = List.copyOf(actions);
    }
  }

  /** {@code PostCopyProgress}. */
  public record PostCopyProgress(double elapsedMs, long pagesMissing, PostCopy postCopy) implements Entry {}

  /** {@code VerificationFailed}. */
  public record VerificationFailed(double elapsedMs, long pages, List<Long> firstPages, String reason)
      implements Entry {
    public VerificationFailed {
      firstPages = List.copyOf(firstPages);
    }
  }

  /** {@code Finished}, or a {@code Result} line. */
  public record Finished(double elapsedMs, Result result) implements Entry {}

  /**
   * One round ({@link dev.ferry.RoundStats}); {@code bandwidthBytesPerSecond} is empty when the
   * round was too short to measure.
   */
  public record Round(long round, boolean stopAndCopy, long pagesSent, long zeroPages, long bytesOnWire,
      double durationMs, OptionalLong bandwidthBytesPerSecond, long pagesDirtied, long dirtyRatePagesPerSecond,
      double expectedDowntimeMs, int throttlePercent) {}

  /**
   * The figures of {@link dev.ferry.Progress} the report uses; {@code bandwidthLimitBytesPerSecond}
   * and {@code deadlineMs} are empty for no cap and no deadline.
   */
  public record ProgressAt(String phase, int pageSize, long totalBytes, long transferredBytes, long remainingBytes,
      long dirtyRateBytesPerSecond, long workingSetBytes, double expectedDowntimeMs, double downtimeLimitMs,
      double maxDowntimeMs, OptionalLong bandwidthLimitBytesPerSecond, int throttlePercent,
      OptionalDouble deadlineMs, long stalledRounds) {}

  /** {@link dev.ferry.PostCopyStats}: an empty figure is one the backend did not measure. */
  public record PostCopy(double durationMs, OptionalLong faults, OptionalDouble blockedTotalMs,
      OptionalDouble blockedP99Ms, OptionalDouble blockedMaxMs, OptionalLong pagesRequested,
      OptionalLong pagesPrepaged, OptionalLong pagesPushed, OptionalLong recoveries,
      Optional<String> notMeasured) {}

  /** {@link dev.ferry.DowntimeBreakdown}. */
  public record Breakdown(double pauseMs, double finalSyncMs, double finalPagesMs, double deviceStateMs,
      double confirmationMs, double verificationMs, double commitMs, double activationMs, double totalMs) {}

  /**
   * {@link dev.ferry.MigrationResult}: {@code downtimeMs} is empty exactly when {@code
   * downtimeUnknown} says why; {@code cause} is the exception's class and message.
   */
  public record Result(String vmId, String outcome, Optional<String> cause, OptionalDouble downtimeMs,
      Optional<String> downtimeUnknown, double totalTimeMs, long bytesOnWire, long pagesSent,
      Optional<String> bytesNotFinal, List<Round> rounds, boolean verified, List<String> actions,
      double guestSlowdownMs, Optional<PostCopy> postCopy, Optional<Breakdown> downtimeBreakdown) {
    public Result {
      rounds = List.copyOf(rounds);
      actions = List.copyOf(actions);
    }

    /** Whether the VM runs on the destination. */
    public boolean completed() {
      return "COMPLETED".equals(outcome);
    }
  }

  // ---------------------------------------------------------------- decoding

  private static Entry entry(JsonNode o) {
    int schema = o.path("schema").asInt(-1);
    if (schema != EventJson.SCHEMA_VERSION) {
      throw new IllegalArgumentException("schema " + o.path("schema") + ", this reader reads schema "
          + EventJson.SCHEMA_VERSION);
    }
    String type = o.path("type").asText("");
    double elapsed = num(o, "elapsedMs");
    switch (type) {
      case "PhaseChanged":
        return new PhaseChanged(elapsed, str(o, "from"), str(o, "to"));
      case "RoundCompleted":
        return new RoundCompleted(elapsed, round(need(o, "round")), progress(need(o, "progress")));
      case "Decision":
        return new Decision(elapsed, strings(need(o, "actions")), str(o, "reason"));
      case "PostCopyProgress":
        return new PostCopyProgress(elapsed, lng(o, "pagesMissing"), postCopy(need(o, "postCopy")));
      case "VerificationFailed": {
        List<Long> first = new ArrayList<>();
        need(o, "firstPages").forEach(p -> first.add(p.asLong()));
        return new VerificationFailed(elapsed, lng(o, "pages"), first, str(o, "reason"));
      }
      case "Finished":
      case "Result":
        return new Finished(elapsed, result(need(o, "result")));
      default:
        throw new IllegalArgumentException("unknown event type '" + type + "'");
    }
  }

  private static Round round(JsonNode o) {
    return new Round(lng(o, "round"), o.path("stopAndCopy").asBoolean(), lng(o, "pagesSent"), lng(o, "zeroPages"),
        lng(o, "bytesOnWire"), num(o, "durationMs"), optLong(o, "bandwidthBytesPerSecond"), lng(o, "pagesDirtied"),
        lng(o, "dirtyRatePagesPerSecond"), num(o, "expectedDowntimeMs"), (int) lng(o, "throttlePercent"));
  }

  private static ProgressAt progress(JsonNode o) {
    return new ProgressAt(str(o, "phase"), (int) lng(o, "pageSize"), lng(o, "totalBytes"), lng(o, "transferredBytes"), lng(o, "remainingBytes"),
        lng(o, "dirtyRateBytesPerSecond"), lng(o, "workingSetBytes"), num(o, "expectedDowntimeMs"),
        num(o, "downtimeLimitMs"), num(o, "maxDowntimeMs"), optLong(o, "bandwidthLimitBytesPerSecond"),
        (int) lng(o, "throttlePercent"), optNum(o, "deadlineMs"), lng(o, "stalledRounds"));
  }

  private static PostCopy postCopy(JsonNode o) {
    return new PostCopy(num(o, "durationMs"), optLong(o, "faults"), optNum(o, "blockedTotalMs"),
        optNum(o, "blockedP99Ms"), optNum(o, "blockedMaxMs"), optLong(o, "pagesRequested"),
        optLong(o, "pagesPrepaged"), optLong(o, "pagesPushed"), optLong(o, "recoveries"), optStr(o, "notMeasured"));
  }

  private static Result result(JsonNode o) {
    List<Round> rounds = new ArrayList<>();
    need(o, "rounds").forEach(r -> rounds.add(round(r)));
    JsonNode cause = o.path("cause");
    Optional<String> why = cause.isObject()
        ? Optional.of(cause.path("exception").asText() + ": " + cause.path("message").asText())
        : Optional.empty();
    JsonNode pc = o.path("postCopy");
    JsonNode bd = o.path("downtimeBreakdown");
    return new Result(str(o, "vmId"), str(o, "outcome"), why, optNum(o, "downtimeMs"), optStr(o, "downtimeUnknown"),
        num(o, "totalTimeMs"), lng(o, "bytesOnWire"), lng(o, "pagesSent"), optStr(o, "bytesNotFinal"), rounds,
        o.path("verified").asBoolean(), strings(need(o, "actions")), num(o, "guestSlowdownMs"),
        pc.isObject() ? Optional.of(postCopy(pc)) : Optional.empty(),
        bd.isObject() ? Optional.of(breakdown(bd)) : Optional.empty());
  }

  private static Breakdown breakdown(JsonNode o) {
    return new Breakdown(num(o, "pauseMs"), num(o, "finalSyncMs"), num(o, "finalPagesMs"), num(o, "deviceStateMs"),
        num(o, "confirmationMs"), num(o, "verificationMs"), num(o, "commitMs"), num(o, "activationMs"),
        num(o, "totalMs"));
  }

  private static JsonNode need(JsonNode o, String name) {
    JsonNode v = o.get(name);
    if (v == null || v.isNull()) {
      throw new IllegalArgumentException("missing '" + name + "'");
    }
    return v;
  }

  private static String str(JsonNode o, String name) {
    return need(o, name).asText();
  }

  private static long lng(JsonNode o, String name) {
    JsonNode v = need(o, name);
    if (!v.isIntegralNumber()) {
      throw new IllegalArgumentException("'" + name + "' is not an integer: " + v);
    }
    return v.asLong();
  }

  private static double num(JsonNode o, String name) {
    JsonNode v = need(o, name);
    if (!v.isNumber()) {
      throw new IllegalArgumentException("'" + name + "' is not a number: " + v);
    }
    return v.asDouble();
  }

  private static OptionalLong optLong(JsonNode o, String name) {
    JsonNode v = o.get(name);
    return v == null || v.isNull() ? OptionalLong.empty() : OptionalLong.of(lng(o, name));
  }

  private static OptionalDouble optNum(JsonNode o, String name) {
    JsonNode v = o.get(name);
    return v == null || v.isNull() ? OptionalDouble.empty() : OptionalDouble.of(num(o, name));
  }

  private static Optional<String> optStr(JsonNode o, String name) {
    JsonNode v = o.get(name);
    return v == null || v.isNull() ? Optional.empty() : Optional.of(v.asText());
  }

  private static List<String> strings(JsonNode array) {
    List<String> out = new ArrayList<>();
    array.forEach(s -> out.add(s.asText()));
    return out;
  }

  @Override
  public String toString() {
    return "EventLog[" + entries.size() + " events" + result().map(r -> ", " + r.outcome()).orElse("") + "]";
  }
}
