package dev.ferry.engine;

import dev.ferry.spi.DeviceState;
import dev.ferry.spi.DirtyLog;
import dev.ferry.spi.GuestMemory;
import dev.ferry.spi.VcpuThrottle;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmDriver;
import dev.ferry.spi.VmState;
import java.nio.ByteBuffer;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A source VM whose backend fails once, where a test says: the n-th page read (after reads are
 * armed), the n-th dirty-log sync, the device state's save, or the stop after a completed
 * migration. Everything else is the wrapped VM's.
 */
final class FailingVm implements VmDriver {
  final VmDriver delegate;
  volatile long failReadAt = -1;
  final AtomicBoolean readsArmed = new AtomicBoolean(true);
  volatile int failSyncAt = -1;
  volatile boolean failSave;
  volatile boolean failStop;
  private final AtomicLong reads = new AtomicLong();
  private final AtomicLong syncs = new AtomicLong();
  private final AtomicBoolean failed = new AtomicBoolean();
  volatile long failedAt;

  FailingVm(VmDriver delegate) {
    this.delegate = delegate;
  }

  boolean failed() {
    return failed.get();
  }

  private RuntimeException boom(String where) {
    failed.set(true);
    failedAt = System.nanoTime();
    return new IllegalStateException("backend failure injected in " + where);
  }

  @Override
  public VmDescription description() {
    return delegate.description();
  }

  @Override
  public VmState state() {
    return delegate.state();
  }

  @Override
  public void pause() {
    delegate.pause();
  }

  @Override
  public void resume() {
    delegate.resume();
  }

  @Override
  public void stop() {
    if (failStop && !failed.get()) {
      throw boom("stop");
    }
    delegate.stop();
  }

  @Override
  public Optional<GuestMemory> memory() {
    GuestMemory m = delegate.memory().orElseThrow();
    return Optional.of(new GuestMemory() {
      @Override
      public int pageSize() {
        return m.pageSize();
      }

      @Override
      public long pageCount() {
        return m.pageCount();
      }

      @Override
      public void readPage(long page, ByteBuffer dst) {
        if (failReadAt >= 0 && readsArmed.get() && reads.incrementAndGet() == failReadAt && !failed.get()) {
          throw boom("readPage(" + page + ")");
        }
        m.readPage(page, dst);
      }

      @Override
      public void writePage(long page, ByteBuffer src) {
        m.writePage(page, src);
      }

      @Override
      public long residentBytes() {
        return m.residentBytes();
      }
    });
  }

  @Override
  public Optional<DirtyLog> dirtyLog() {
    DirtyLog d = delegate.dirtyLog().orElseThrow();
    return Optional.of(new DirtyLog() {
      @Override
      public void start() {
        d.start();
      }

      @Override
      public long syncAndClear(long[] bitmap) {
        if (failSyncAt >= 0 && syncs.incrementAndGet() == failSyncAt && !failed.get()) {
          throw boom("syncAndClear, sync " + failSyncAt);
        }
        return d.syncAndClear(bitmap);
      }

      @Override
      public void stop() {
        d.stop();
      }

      @Override
      public boolean isActive() {
        return d.isActive();
      }
    });
  }

  @Override
  public Optional<VcpuThrottle> throttle() {
    return delegate.throttle();
  }

  @Override
  public Optional<DeviceState> deviceState() {
    DeviceState s = delegate.deviceState().orElseThrow();
    return Optional.of(new DeviceState() {
      @Override
      public byte[] save() {
        if (failSave && !failed.get()) {
          throw boom("DeviceState.save");
        }
        return s.save();
      }

      @Override
      public void load(byte[] blob) {
        s.load(blob);
      }
    });
  }
}
