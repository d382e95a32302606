package dev.ferry.engine;

import dev.ferry.MigrationOptions;
import dev.ferry.MigrationTarget;
import dev.ferry.Ticker;
import dev.ferry.spi.DeviceState;
import dev.ferry.spi.DirtyLog;
import dev.ferry.spi.GuestMemory;
import dev.ferry.spi.HostInfo;
import dev.ferry.spi.VcpuThrottle;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmDriver;
import dev.ferry.wire.WireCompression;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ThreadFactory;

/**
 * What every part of a source migration shares and never changes: the VM and its facets, the
 * target, the options, the clock and threads, the session handle and the authority. The parts
 * (handshake, round sender, switchover, post-copy source) keep their own mutable state.
 */
final class SourceContext {
  final HostInfo sourceHost;
  final VmDriver vm;
  final VmDescription desc;
  final GuestMemory memory;
  /** What the round sender reads: the memory, through the verification ledger when verifying. */
  final GuestMemory sendMemory;
  /** The hash of every page sent, when verifying; null otherwise. */
  final PageLedger ledger;
  final Optional<DirtyLog> dirtyLog;
  final Optional<VcpuThrottle> throttle;
  final Optional<DeviceState> deviceState;
  final MigrationTarget target;
  final MigrationOptions options;
  final boolean quick;
  final Ticker ticker;
  final ThreadFactory threads;
  final Session session;
  final Authority authority = new Authority();
  final UUID sessionId = UUID.randomUUID();
  final RateLimiter limiter;
  final LinkWatchdog watchdog;
  final long pageCount;
  final int pageSize;

  SourceContext(HostInfo sourceHost, VmDriver vm, GuestMemory memory, MigrationTarget target,
      MigrationOptions options, Session session) {
    this.sourceHost = sourceHost;
    this.vm = vm;
    this.desc = vm.description();
    this.memory = memory;
    this.dirtyLog = vm.dirtyLog();
    this.throttle = vm.throttle();
    this.deviceState = vm.deviceState();
    this.target = target;
    this.options = options;
    this.quick = options.quick() || dirtyLog.isEmpty();
    this.ticker = options.ticker();
    this.threads = options.threadFactory();
    this.session = session;
    this.limiter = new RateLimiter(options.bandwidthLimit(), ticker);
    this.watchdog = new LinkWatchdog(ticker, options.peerTimeout(), threads, desc.name());
    this.pageCount = memory.pageCount();
    this.pageSize = memory.pageSize();
    this.ledger = options.verify() ? new PageLedger(pageCount, pageSize, options.streams()) : null;
    this.sendMemory = ledger == null ? memory : LedgerMemory.sending(memory, ledger);
  }

  /**
   * A new connection to the target (with the options' TLS, if any; the target's token proven),
   * bounded by {@code connectTimeout}.
   */
  Link connect(java.time.Duration connectTimeout) throws dev.ferry.TransportException {
    return Link.connect(target.address(), connectTimeout, watchdog, options.tls().orElse(null), target.token());
  }

  long now() {
    return ticker.read();
  }

  int throttleNow() {
    return throttle.map(VcpuThrottle::percent).orElse(0);
  }

  WireCompression compression() {
    return switch (options.compression()) {
      case NONE -> WireCompression.NONE;
      case LZ4 -> WireCompression.LZ4;
    };
  }

  String name() {
    return desc.name();
  }
}
