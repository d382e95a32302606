/**
 * Ferry's benchmarks: scenario runners ({@link dev.ferry.benchmarks.Throughput}) and JMH
 * micro-benchmarks ({@code dev.ferry.benchmarks.jmh}), all started from {@link dev.ferry.benchmarks.Main}.
 * Not an API: nothing here is meant to be depended on.
 */
package dev.ferry.benchmarks;
