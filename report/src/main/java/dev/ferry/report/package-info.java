/**
 * A migration's events as JSON Lines in a stable schema ({@link dev.ferry.report.EventJson}), read
 * back ({@link dev.ferry.report.EventLog}) and recorded in process ({@link
 * dev.ferry.report.MigrationRecorder}). The schema is in {@code docs/events.md}.
 */
package dev.ferry.report;
