package dev.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.InputFormat;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import dev.ferry.report.EventJson;
import java.io.InputStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code ferry migrate} end to end between two processes on loopback: a {@code ferry receive} and a
 * source with {@code --sim-vm}; with no terminal it prints one JSON object per event, each valid
 * against the documented event schema, and nothing else on stdout.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class MigrateCommandTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static Schema schema;

  @BeforeAll
  static void loadSchema() throws Exception {
    try (InputStream in = EventJson.class.getResourceAsStream(EventJson.SCHEMA_RESOURCE)) {
      assertThat(in).as("event schema on the class path").isNotNull();
      schema = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12).getSchema(in, InputFormat.JSON);
    }
  }

  private static List<JsonNode> validEvents(List<String> stdout) throws Exception {
    List<JsonNode> events = new ArrayList<>();
    for (String line : stdout) {
      assertThat(schema.validate(line, InputFormat.JSON)).as("schema errors of %s", line).isEmpty();
      events.add(JSON.readTree(line));
    }
    return events;
  }

  @Test
  void migrate_toAReceiveProcess_printsSchemaValidEventsOnly_andExitsZero() throws Exception {
    try (FerryProcess receiver = FerryProcess.start("receive", "--listen", "127.0.0.1:0");
        FerryProcess source = FerryProcess.start("migrate", "sim://cli-e2e-a", "web-1",
            "127.0.0.1:" + ReceiveCommandTest.port(receiver), "--sim-vm", "64MiB:uniform=2000",
            "--max-downtime", ReceiveCommandTest.DOWNTIME)) {
      int code = source.exit(Duration.ofSeconds(120));

      assertThat(code).as("exit code; stderr:%n%s", source.stderr()).isZero();
      List<JsonNode> events = validEvents(source.stdout());
      assertThat(events).isNotEmpty();
      assertThat(events.get(0).get("type").asText()).isEqualTo("PhaseChanged");
      JsonNode last = events.get(events.size() - 1);
      assertThat(last.get("type").asText()).isEqualTo("Finished");
      assertThat(last.at("/result/outcome").asText()).isEqualTo("COMPLETED");
      assertThat(last.at("/result/verified").asBoolean()).isTrue();
      assertThat(events).filteredOn(e -> e.get("type").asText().equals("RoundCompleted")).isNotEmpty();
      assertThat(source.stderr()).contains("migrating web-1 (64 MiB) from sim://cli-e2e-a to 127.0.0.1:");
      receiver.await(l -> l.startsWith("#1 ARRIVED web-1 in "), Duration.ofSeconds(30));
    }
  }

  @Test
  void migrate_sigtermWhileMigrating_cancelsAndExitsWithCancelledsCode() throws Exception {
    try (FerryProcess receiver = FerryProcess.start("receive", "--listen", "127.0.0.1:0");
        FerryProcess source = FerryProcess.start("migrate", "sim://cli-cancel-a", "web-1",
            "127.0.0.1:" + ReceiveCommandTest.port(receiver), "--sim-vm", "256MiB:uniform=2000",
            "--bandwidth", "5MB/s", "--deadline", "120s")) {
      // round 0 of 256 MiB at 5 MB/s takes nearly a minute: the migration is under way
      source.await(l -> l.contains("\"to\":\"PRE_COPY\""), Duration.ofSeconds(60));

      source.process.toHandle().destroy(); // SIGTERM (Process.destroy would close its streams)

      assertThat(source.exit(Duration.ofSeconds(60))).as("exit code; stderr:%n%s", source.stderr()).isEqualTo(4);
      List<JsonNode> events = validEvents(source.stdout());
      JsonNode last = events.get(events.size() - 1);
      assertThat(last.get("type").asText()).isEqualTo("Finished");
      assertThat(last.at("/result/outcome").asText()).isEqualTo("CANCELLED");
      receiver.await(l -> l.startsWith("#1 DISCARDED web-1 after "), Duration.ofSeconds(30));
    }
  }
}
