/**
 * Ferry's migration wire protocol, version 1: the connection preamble, checksummed frames, the
 * control messages, and the page codec of the hot path. The specification is
 * {@code docs/wire-protocol.md}; this package implements exactly what it says.
 *
 * <p><b>Internal.</b> Used by {@code dev.ferry.engine}; not part of Ferry's public API, and it may
 * change in any release. Applications and backends must not depend on it.
 *
 * <p>Every failure the peer can cause (bad magic, wrong version, oversized or malformed frames,
 * checksum mismatches, hostile page data) surfaces as a {@link dev.ferry.wire.WireException}, a
 * checked {@link java.io.IOException}, so one {@code catch (IOException)} in the engine covers the
 * transport and the protocol, and {@link dev.ferry.wire.WireException#errorCode()} says which
 * {@link dev.ferry.wire.ErrorCode} to send back. Hostile input never causes another exception type,
 * an allocation beyond the configured limits, or a loop that does not end.
 *
 * <p>Readers and writers are bound to one channel and are not thread-safe; the channel must be in
 * blocking mode.
 */
package dev.ferry.wire;
