package dev.ferry.engine;

import dev.ferry.spi.GuestMemory;
import dev.ferry.spi.HostDriver;
import dev.ferry.spi.IncomingRequest;
import dev.ferry.spi.IncomingVm;
import dev.ferry.spi.PostCopyIncoming;
import dev.ferry.spi.VmDescription;
import dev.ferry.spi.VmDriver;
import java.nio.ByteBuffer;
import java.util.EnumMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A destination host whose incoming VMs call a hook the first time the engine reaches a point of a
 * migration: the handshake (prepareIncoming), the first page (round 0), the device state (the
 * stop-and-copy, before COMMIT), activation (after COMMIT, before the guest runs), the first page
 * supplied in post-copy. A hook may throw (a backend that fails there), block (a host that hangs
 * there) or only tell the test where the migration is. Each hook fires once.
 */
final class HookedHost extends ForwardingHost {
  /** Where a hook fires. */
  enum Point { HANDSHAKE, FIRST_PAGE, DEVICE_STATE, ACTIVATE, POST_COPY_PAGE }

  private final Map<Point, Runnable> hooks = new EnumMap<>(Point.class);
  private final Map<Point, AtomicBoolean> fired = new EnumMap<>(Point.class);

  HookedHost(HostDriver delegate) {
    super(delegate);
    for (Point p : Point.values()) {
      fired.put(p, new AtomicBoolean());
    }
  }

  HookedHost on(Point p, Runnable hook) {
    hooks.put(p, hook);
    return this;
  }

  private void fire(Point p) {
    Runnable h = hooks.get(p);
    if (h != null && fired.get(p).compareAndSet(false, true)) {
      h.run();
    }
  }

  @Override
  public IncomingVm prepareIncoming(IncomingRequest request) {
    fire(Point.HANDSHAKE);
    IncomingVm in = delegate.prepareIncoming(request);
    GuestMemory mem = in.memory();
    GuestMemory hooked = new GuestMemory() {
      @Override
      public int pageSize() {
        return mem.pageSize();
      }

      @Override
      public long pageCount() {
        return mem.pageCount();
      }

      @Override
      public void readPage(long page, ByteBuffer dst) {
        mem.readPage(page, dst);
      }

      @Override
      public void writePage(long page, ByteBuffer src) {
        fire(Point.FIRST_PAGE);
        mem.writePage(page, src);
      }

      @Override
      public void zeroPage(long page) {
        fire(Point.FIRST_PAGE);
        mem.zeroPage(page);
      }

      @Override
      public long residentBytes() {
        return mem.residentBytes();
      }
    };
    return new IncomingVm() {
      @Override
      public VmDescription description() {
        return in.description();
      }

      @Override
      public GuestMemory memory() {
        return hooked;
      }

      @Override
      public void loadDeviceState(byte[] blob) {
        fire(Point.DEVICE_STATE);
        in.loadDeviceState(blob);
      }

      @Override
      public VmDriver activate() {
        fire(Point.ACTIVATE);
        return in.activate();
      }

      @Override
      public Optional<PostCopyIncoming> postCopy() {
        return in.postCopy().map(pc -> new PostCopyIncoming() {
          @Override
          public void markMissing(long[] bitmap) {
            pc.markMissing(bitmap);
          }

          @Override
          public VmDriver activate(PageFaultListener faults) {
            fire(Point.ACTIVATE);
            return pc.activate(faults);
          }

          @Override
          public boolean supplyPage(long page, ByteBuffer src) {
            fire(Point.POST_COPY_PAGE);
            return pc.supplyPage(page, src);
          }

          @Override
          public boolean supplyZeroPage(long page) {
            fire(Point.POST_COPY_PAGE);
            return pc.supplyZeroPage(page);
          }

          @Override
          public long missingPages() {
            return pc.missingPages();
          }

          @Override
          public long[] missingBitmap() {
            return pc.missingBitmap();
          }

          @Override
          public FaultStats faultStats() {
            return pc.faultStats();
          }
        });
      }

      @Override
      public void discard() {
        in.discard();
      }
    };
  }
}
