/**
 * A Micrometer binding for migrations: {@link dev.ferry.micrometer.FerryMetrics} gives each
 * migration a listener that feeds timers, counters and gauges tagged by source, destination and
 * policy.
 */
package dev.ferry.micrometer;
