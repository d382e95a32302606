/**
 * A migration's events as JSON Lines in a stable schema ({@link dev.ferry.report.EventJson}), read
 * back ({@link dev.ferry.report.EventLog}), recorded in process ({@link
 * dev.ferry.report.MigrationRecorder}), and drawn as a self-contained HTML page with SVG charts
 * ({@link dev.ferry.report.HtmlReport}). The schema is in {@code docs/events.md}.
 */
package dev.ferry.report;
