package dev.ferry.report;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.networknt.schema.Error;
import com.networknt.schema.InputFormat;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import dev.ferry.MigrationEvent;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationResult.Outcome;
import dev.ferry.RoundStats;
import java.io.InputStream;
import java.io.StringReader;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Every event of real sim migrations, as {@link EventJson} writes it, checked by a real JSON Schema
 * validator against the schema shipped on the classpath (the file of docs/), and read back by
 * {@link EventLog} with the figures it was written with.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class EventJsonTest {
  private static Schema schema;

  @BeforeAll
  static void loadSchema() throws Exception {
    try (InputStream in = EventJson.class.getResourceAsStream(EventJson.SCHEMA_RESOURCE)) {
      assertThat(in).as("schema on the classpath at %s", EventJson.SCHEMA_RESOURCE).isNotNull();
      schema = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12).getSchema(in, InputFormat.JSON);
    }
  }

  private static List<String> errors(String line) {
    List<String> out = new ArrayList<>();
    for (Error e : schema.validate(line, InputFormat.JSON)) {
      out.add(e.toString());
    }
    return out;
  }

  /** Writes every event through the listener, as a program would, and validates each line. */
  private static List<String> writeAndValidate(SimRuns.Run run) {
    StringWriter out = new StringWriter();
    run.events().forEach(EventJson.writer(out)::onEvent);
    String[] lines = out.toString().split("\n");
    assertThat(lines).hasSameSizeAs(run.events().toArray());
    for (String line : lines) {
      assertThat(line).doesNotContain("\n");
      assertThat(errors(line)).as("schema errors of %s", line).isEmpty();
    }
    return List.of(lines);
  }

  @Test
  void everyEvent_ofAManyRoundMigration_validatesAgainstTheSchema() throws Exception {
    SimRuns.Run run = SimRuns.manyRounds();
    assertThat(run.result().outcome()).as("cause %s", run.result().cause()).isEqualTo(Outcome.COMPLETED);
    assertThat(run.result().roundCount()).isGreaterThan(1);
    List<String> lines = writeAndValidate(run);
    assertThat(lines).anyMatch(l -> l.contains("\"type\":\"RoundCompleted\""));
    assertThat(lines.get(lines.size() - 1)).contains("\"type\":\"Finished\"");
  }

  @Test
  void everyEvent_ofAPostCopyMigration_validatesAgainstTheSchema() throws Exception {
    SimRuns.Run run = SimRuns.postCopy();
    assertThat(run.result().outcome()).as("cause %s", run.result().cause()).isEqualTo(Outcome.COMPLETED);
    assertThat(run.events()).anyMatch(e -> e instanceof MigrationEvent.PostCopyProgress);
    assertThat(run.events()).anyMatch(e -> e instanceof MigrationEvent.Decision);
    writeAndValidate(run);
  }

  @Test
  void everyEvent_ofAFailedAndARolledBackMigration_validatesAgainstTheSchema() throws Exception {
    SimRuns.Run failed = SimRuns.failed();
    assertThat(failed.result().outcome()).isEqualTo(Outcome.FAILED);
    List<String> lines = writeAndValidate(failed);
    JsonNode result = EventJson.MAPPER.readTree(lines.get(lines.size() - 1)).get("result");
    assertThat(result.get("cause").get("message").asText()).isEqualTo(failed.result().cause().get().getMessage());

    SimRuns.Run rolledBack = SimRuns.rolledBack();
    assertThat(rolledBack.result().outcome()).as("cause %s", rolledBack.result().cause())
        .isEqualTo(Outcome.ROLLED_BACK);
    writeAndValidate(rolledBack);
  }

  @Test
  void result_withUnknownDowntime_isNullWithTheReasonAndValidates() throws Exception {
    MigrationResult r = SimRuns.unknownDowntime();
    String line = EventJson.result(r);
    assertThat(errors(line)).isEmpty();
    JsonNode o = EventJson.MAPPER.readTree(line);
    assertThat(o.get("type").asText()).isEqualTo("Result");
    JsonNode res = o.get("result");
    assertThat(res.get("downtimeMs").isNull()).isTrue();
    assertThat(res.get("downtimeUnknown").asText()).isEqualTo(r.downtimeUnknown().orElseThrow());
    assertThat(res.get("bytesNotFinal").asText()).isEqualTo(r.bytesNotFinal().orElseThrow());
    JsonNode pc = res.get("postCopy");
    assertThat(pc.get("faults").isNull()).as("a 0 the backend does not measure").isTrue();
    assertThat(pc.get("pagesPushed").isNull()).isTrue();
    assertThat(pc.get("pagesRequested").asLong()).isEqualTo(37);
    assertThat(pc.get("notMeasured").asText()).isEqualTo(r.postCopy().orElseThrow().notMeasured().orElseThrow());
  }

  @Test
  void schema_lineWithAnUnknownFigureWrittenAsZero_isRejected() throws Exception {
    ObjectNode o = (ObjectNode) EventJson.MAPPER.readTree(EventJson.result(SimRuns.unknownDowntime()));
    ((ObjectNode) o.get("result")).put("downtimeMs", 0);
    assertThat(errors(EventJson.MAPPER.writeValueAsString(o))).as("downtime 0 next to a reason it is unknown")
        .isNotEmpty();
    ObjectNode typo = (ObjectNode) EventJson.MAPPER.readTree(EventJson.result(SimRuns.unknownDowntime()));
    typo.put("type", "Resutl");
    assertThat(errors(EventJson.MAPPER.writeValueAsString(typo))).isNotEmpty();
  }

  @Test
  void schema_everyEventType_hasADefinitionAndEveryDefinitionIsWritten() throws Exception {
    JsonNode s;
    try (InputStream in = EventJson.class.getResourceAsStream(EventJson.SCHEMA_RESOURCE)) {
      s = EventJson.MAPPER.readTree(in);
    }
    Set<String> inSchema = new TreeSet<>();
    for (JsonNode ref : s.get("oneOf")) {
      inSchema.add(ref.get("$ref").asText().replace("#/$defs/", ""));
    }
    Set<String> written = new TreeSet<>();
    for (Class<?> c : MigrationEvent.class.getPermittedSubclasses()) {
      written.add(c.getSimpleName());
    }
    written.add("Result");
    assertThat(inSchema).isEqualTo(written);
  }

  @Test
  void writer_thenEventLogRead_givesBackTheFiguresOfEveryEvent() throws Exception {
    SimRuns.Run run = SimRuns.manyRounds();
    StringWriter out = new StringWriter();
    run.events().forEach(EventJson.writer(out)::onEvent);
    // Kept for a person to look at (docs/events.md's example comes from such a file).
    Files.createDirectories(Path.of("target"));
    Files.writeString(Path.of("target", "many-rounds.jsonl"), out.toString());
    EventLog log = EventLog.read(Path.of("target", "many-rounds.jsonl"));

    assertThat(log.entries()).hasSameSizeAs(run.events());
    Iterator<EventLog.Entry> read = log.entries().iterator();
    for (MigrationEvent e : run.events()) {
      EventLog.Entry back = read.next();
      assertThat(back.elapsedMs()).isEqualTo(EventJson.millis(e.elapsed()));
      if (e instanceof MigrationEvent.PhaseChanged p) {
        assertThat(back).isEqualTo(new EventLog.PhaseChanged(back.elapsedMs(), p.from().name(), p.to().name()));
      } else if (e instanceof MigrationEvent.RoundCompleted rc) {
        EventLog.RoundCompleted b = (EventLog.RoundCompleted) back;
        assertSameRound(rc.stats(), b.round());
        assertThat(b.progress().remainingBytes()).isEqualTo(rc.progress().remaining().bytes());
        assertThat(b.progress().totalBytes()).isEqualTo(rc.progress().total().bytes());
        assertThat(b.progress().downtimeLimitMs()).isEqualTo(EventJson.millis(rc.progress().downtimeLimit()));
        assertThat(b.progress().dirtyRateBytesPerSecond()).isEqualTo(rc.progress().dirtyRateBytesPerSecond());
        assertThat(b.progress().bandwidthLimitBytesPerSecond().getAsLong())
            .isEqualTo(rc.progress().bandwidthLimit().bytesPerSecond());
        assertThat(b.progress().deadlineMs().getAsDouble()).isEqualTo(30_000.0);
      } else if (e instanceof MigrationEvent.Decision d) {
        assertThat(back).isEqualTo(new EventLog.Decision(back.elapsedMs(), d.actions(), d.reason()));
      } else if (e instanceof MigrationEvent.Finished f) {
        EventLog.Result r = ((EventLog.Finished) back).result();
        MigrationResult m = f.result();
        assertThat(r.vmId()).isEqualTo(m.vmId().value());
        assertThat(r.outcome()).isEqualTo(m.outcome().name());
        assertThat(r.cause()).isEmpty();
        assertThat(r.downtimeMs().getAsDouble()).isEqualTo(EventJson.millis(m.downtime().orElseThrow()));
        assertThat(r.downtimeUnknown()).isEmpty();
        assertThat(r.totalTimeMs()).isEqualTo(EventJson.millis(m.totalTime()));
        assertThat(r.bytesOnWire()).isEqualTo(m.bytesOnWire());
        assertThat(r.pagesSent()).isEqualTo(m.pagesSent());
        assertThat(r.actions()).isEqualTo(m.actions());
        assertThat(r.verified()).isEqualTo(m.verified());
        assertThat(r.rounds()).hasSameSizeAs(m.rounds());
        for (int i = 0; i < m.rounds().size(); i++) {
          assertSameRound(m.rounds().get(i), r.rounds().get(i));
        }
        assertThat(r.downtimeBreakdown().orElseThrow().totalMs())
            .isEqualTo(EventJson.millis(m.downtimeBreakdown().orElseThrow().total()));
      } else {
        throw new AssertionError("a migration of this shape emitted " + e);
      }
    }
    assertThat(log.result()).isPresent();
    assertThat(EventLog.of(run.events()).entries()).as("recorded in process: the same model")
        .isEqualTo(log.entries());
  }

  private static void assertSameRound(RoundStats s, EventLog.Round r) {
    assertThat(r.round()).isEqualTo(s.round());
    assertThat(r.stopAndCopy()).isEqualTo(s.stopAndCopy());
    assertThat(r.pagesSent()).isEqualTo(s.pagesSent());
    assertThat(r.zeroPages()).isEqualTo(s.zeroPages());
    assertThat(r.bytesOnWire()).isEqualTo(s.bytesOnWire());
    assertThat(r.durationMs()).isEqualTo(EventJson.millis(s.duration()));
    assertThat(r.pagesDirtied()).isEqualTo(s.pagesDirtied());
    assertThat(r.dirtyRatePagesPerSecond()).isEqualTo(s.dirtyRatePagesPerSecond());
    assertThat(r.expectedDowntimeMs()).isEqualTo(EventJson.millis(s.expectedDowntime()));
    assertThat(r.throttlePercent()).isEqualTo(s.throttlePercent());
    if (r.bandwidthBytesPerSecond().isPresent()) {
      assertThat(r.bandwidthBytesPerSecond().getAsLong()).isEqualTo(s.bandwidth().bytesPerSecond());
    }
  }

  @Test
  void read_lineOfAnotherSchemaVersion_failsNamingTheLine() {
    String log = "\n{\"schema\":2,\"type\":\"PhaseChanged\",\"elapsedMs\":1,\"from\":\"SETUP\",\"to\":\"PRE_COPY\"}\n";
    assertThatThrownBy(() -> EventLog.read(new StringReader(log))).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("line 2").hasMessageContaining("schema 2");
  }
}
