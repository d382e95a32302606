package dev.ferry.micrometer;

import dev.ferry.MigrationEvent;
import dev.ferry.MigrationListener;
import dev.ferry.MigrationResult;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Micrometer meters for migrations, fed by a {@link MigrationListener} per migration:
 *
 * <pre>{@code
 * FerryMetrics metrics = new FerryMetrics(registry);
 * MigrationOptions options = MigrationOptions.builder()
 *     .listener(metrics.listener("rack1-a", "rack1-b", "predictive"))
 *     .build();
 * }</pre>
 *
 * <p>Every meter is tagged {@code source}, {@code destination} and {@code policy}, as the caller
 * names them (Ferry's events carry no host or policy name):
 *
 * <table>
 *   <caption>Meters</caption>
 *   <tr><th>name</th><th>type</th><th>what</th></tr>
 *   <tr><td>{@value #DURATION}</td><td>timer, also tagged {@code outcome}</td><td>each migration's
 *       total time, recorded when it ends</td></tr>
 *   <tr><td>{@value #DOWNTIME}</td><td>timer, also tagged {@code outcome}</td><td>the guest's pause,
 *       when it was measured (a hypervisor may keep no figure)</td></tr>
 *   <tr><td>{@value #DOWNTIME_UNKNOWN}</td><td>counter, also tagged {@code outcome}</td><td>migrations
 *       whose downtime is not known: counted here, never recorded as 0</td></tr>
 *   <tr><td>{@value #BYTES}</td><td>counter (bytes)</td><td>bytes on the wire, framing included</td></tr>
 *   <tr><td>{@value #PAGES}</td><td>counter</td><td>pages sent, all rounds counted</td></tr>
 *   <tr><td>{@value #ROUNDS}</td><td>counter</td><td>copy rounds, stop-and-copy included</td></tr>
 *   <tr><td>{@value #IN_FLIGHT}</td><td>gauge</td><td>migrations started and not yet ended</td></tr>
 *   <tr><td>{@value #REMAINING}</td><td>gauge (bytes)</td><td>memory known dirty and not yet sent
 *       at the end of the latest round</td></tr>
 *   <tr><td>{@value #DIRTY_RATE}</td><td>gauge (bytes per second)</td><td>the guest's dirty rate
 *       over the latest round</td></tr>
 * </table>
 *
 * <p>The counters grow round by round while a migration runs and, when it ends, are brought up to
 * the figures of its {@link MigrationResult} (which counts what the rounds' events do not: the
 * handshake, the device state, post-copy), so that after the end they hold exactly what the
 * results say. The two round gauges show the latest round of any migration in flight with those
 * tags, and fall to 0 when none is.
 *
 * <p>Thread-safe: listeners of parallel migrations may share one {@code FerryMetrics}.
 */
public final class FerryMetrics {
  /** Timer of each migration's total time. */
  public static final String DURATION = "ferry.migration.duration";
  /** Timer of each migration's measured downtime. */
  public static final String DOWNTIME = "ferry.migration.downtime";
  /** Counter of migrations whose downtime is not known. */
  public static final String DOWNTIME_UNKNOWN = "ferry.migration.downtime.unknown";
  /** Counter of bytes on the wire. */
  public static final String BYTES = "ferry.migration.bytes";
  /** Counter of pages sent. */
  public static final String PAGES = "ferry.migration.pages";
  /** Counter of copy rounds. */
  public static final String ROUNDS = "ferry.migration.rounds";
  /** Gauge of migrations in flight. */
  public static final String IN_FLIGHT = "ferry.migrations.in.flight";
  /** Gauge of the latest round's remaining memory. */
  public static final String REMAINING = "ferry.migration.remaining";
  /** Gauge of the latest round's dirty rate. */
  public static final String DIRTY_RATE = "ferry.migration.dirty.rate";

  private final MeterRegistry registry;
  /** Per tag set; held here because a registry keeps only weak references to a gauge's object. */
  private final Map<Tags, Route> routes = new ConcurrentHashMap<>();

  /** The figures of one (source, destination, policy). */
  private static final class Route {
    final AtomicInteger inFlight = new AtomicInteger();
    final AtomicLong remaining = new AtomicLong();
    final AtomicLong dirtyRate = new AtomicLong();
    final Counter bytes;
    final Counter pages;
    final Counter rounds;

    Route(MeterRegistry registry, Tags tags) {
      Gauge.builder(IN_FLIGHT, inFlight, AtomicInteger::get).tags(tags)
          .description("migrations started and not yet ended").register(registry);
      Gauge.builder(REMAINING, remaining, AtomicLong::get).tags(tags).baseUnit("bytes")
          .description("memory known dirty and not yet sent at the end of the latest round").register(registry);
      Gauge.builder(DIRTY_RATE, dirtyRate, AtomicLong::get).tags(tags).baseUnit("bytes.per.second")
          .description("the guest's dirty rate over the latest round").register(registry);
      bytes = Counter.builder(BYTES).tags(tags).baseUnit("bytes").description("bytes on the wire, framing included")
          .register(registry);
      pages = Counter.builder(PAGES).tags(tags).description("pages sent, all rounds counted").register(registry);
      rounds = Counter.builder(ROUNDS).tags(tags).description("copy rounds, stop-and-copy included")
          .register(registry);
    }
  }

  /** Meters registered in {@code registry}. */
  public FerryMetrics(MeterRegistry registry) {
    this.registry = Objects.requireNonNull(registry, "registry");
  }

  /**
   * A listener for one migration (add it to that migration's options; do not share it between
   * migrations), tagged with the names given.
   */
  public MigrationListener listener(String source, String destination, String policy) {
    Tags tags = Tags.of("source", Objects.requireNonNull(source, "source"),
        "destination", Objects.requireNonNull(destination, "destination"),
        "policy", Objects.requireNonNull(policy, "policy"));
    return new Listener(tags, routes.computeIfAbsent(tags, t -> new Route(registry, t)));
  }

  /** Follows one migration; its events come one at a time from the migration's thread. */
  private final class Listener implements MigrationListener {
    private final Tags tags;
    private final Route route;
    private boolean started;
    private boolean ended;
    private long bytes;
    private long pages;
    private long rounds;

    Listener(Tags tags, Route route) {
      this.tags = tags;
      this.route = route;
    }

    @Override
    public synchronized void onEvent(MigrationEvent event) {
      if (ended) {
        return;
      }
      if (!started) {
        started = true;
        route.inFlight.incrementAndGet();
      }
      if (event instanceof MigrationEvent.RoundCompleted rc) {
        bytes += rc.stats().bytesOnWire();
        pages += rc.stats().pagesSent();
        rounds++;
        route.bytes.increment(rc.stats().bytesOnWire());
        route.pages.increment(rc.stats().pagesSent());
        route.rounds.increment();
        route.remaining.set(rc.progress().remaining().bytes());
        route.dirtyRate.set(rc.progress().dirtyRateBytesPerSecond());
      } else if (event instanceof MigrationEvent.Finished f) {
        ended = true;
        finished(f.result());
      }
    }

    private void finished(MigrationResult r) {
      // Up to the result's totals: the rounds' events do not count the handshake, the device
      // state or post-copy.
      route.bytes.increment(Math.max(0, r.bytesOnWire() - bytes));
      route.pages.increment(Math.max(0, r.pagesSent() - pages));
      route.rounds.increment(Math.max(0, r.roundCount() - rounds));
      Tags outcome = tags.and("outcome", r.outcome().name());
      Timer.builder(DURATION).tags(outcome).description("a migration's total time").register(registry)
          .record(r.totalTime());
      if (r.downtime().isPresent()) {
        Timer.builder(DOWNTIME).tags(outcome).description("the guest's pause").register(registry)
            .record(r.downtime().get());
      } else {
        Counter.builder(DOWNTIME_UNKNOWN).tags(outcome).description("migrations whose downtime is not known")
            .register(registry).increment();
      }
      if (route.inFlight.decrementAndGet() == 0) {
        route.remaining.set(0);
        route.dirtyRate.set(0);
      }
    }
  }
}
