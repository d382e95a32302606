/**
 * Internal: the migration engine. Not part of Ferry's API; any class here may change or vanish in
 * any release. Applications use {@link dev.ferry.Host#migrate} and {@link dev.ferry.Host#listen}.
 *
 * <p>{@link dev.ferry.engine.SourceMigration} runs a migration on the source (pre-copy rounds,
 * stop-and-copy, switchover, rollback); {@link dev.ferry.engine.Receiver} runs the destination's side.
 * They speak the protocol of {@code dev.ferry.wire}, specified in {@code docs/wire-protocol.md}.
 */
package dev.ferry.engine;
