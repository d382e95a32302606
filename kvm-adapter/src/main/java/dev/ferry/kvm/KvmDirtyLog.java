package dev.ferry.kvm;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import dev.ferry.spi.DirtyLog;
import dev.ferry.spi.DriverException;

/**
 * KVM's own dirty log for a VM's one memory slot. {@link #start()} sets
 * {@code KVM_MEM_LOG_DIRTY_PAGES} on the slot (KVM then write-protects the guest's pages and marks
 * each page the guest writes); {@link #syncAndClear} is {@code KVM_GET_DIRTY_LOG}, which hands over
 * the marks and clears them in one call, re-protecting the pages and flushing the guest's TLB
 * before it returns, so a write that lands after the call faults and is marked again — the
 * get-and-clear contract of {@link DirtyLog}; {@link #stop()} clears the flag.
 *
 * <p>KVM's bitmap has the layout the SPI asks for (page {@code p} is bit {@code p & 63} of 64-bit word
 * {@code p >>> 6}), so a sync is one ioctl into a native buffer and one bulk copy.
 *
 * <p>Thread-safety: {@code start}, {@code syncAndClear} and {@code stop} are serialised; vCPUs write
 * concurrently, as the SPI allows.
 */
final class KvmDirtyLog implements DirtyLog {
  private final KvmVm vm;
  private final int words;
  private final Memory nativeBitmap;
  private final Memory request = new Memory(KvmAbi.DIRTY_LOG_SIZE);
  private final long[] scratch;
  private boolean active;

  KvmDirtyLog(KvmVm vm, long pages) {
    this.vm = vm;
    this.words = (int) ((pages + 63) >>> 6);
    this.nativeBitmap = new Memory((long) words * 8);
    this.scratch = new long[words];
  }

  @Override
  public synchronized void start() {
    if (active) {
      return;
    }
    vm.setDirtyLogging(true);
    active = true;
  }

  @Override
  public synchronized long syncAndClear(long[] bitmap) {
    if (!active) {
      throw new IllegalStateException("dirty log is not started");
    }
    if (bitmap.length < words) {
      throw new IllegalArgumentException("bitmap has " + bitmap.length + " words, " + words + " needed");
    }
    vm.ram().whileMapped(() -> {
      request.clear();
      request.setInt(KvmAbi.DIRTY_LOG_SLOT, KvmVm.SLOT);
      request.setPointer(KvmAbi.DIRTY_LOG_BITMAP, nativeBitmap);
      try {
        Libc.ioctl(vm.vmFd(), KvmAbi.KVM_GET_DIRTY_LOG, request);
      } catch (LastErrorException e) {
        throw new DriverException("KVM_GET_DIRTY_LOG failed: " + Errno.describe(e.getErrorCode()));
      }
      return null;
    });
    nativeBitmap.read(0, scratch, 0, words);
    long reported = 0;
    for (int i = 0; i < words; i++) {
      long w = scratch[i];
      if (w != 0) {
        bitmap[i] |= w;
        reported += Long.bitCount(w);
      }
    }
    return reported;
  }

  @Override
  public synchronized void stop() {
    if (!active) {
      return;
    }
    active = false;
    if (!vm.ram().isReleased()) {
      vm.setDirtyLogging(false);
    }
  }

  @Override
  public synchronized boolean isActive() {
    return active;
  }

  /** Forgets the log when the VM is gone (the slot no longer exists). */
  synchronized void released() {
    active = false;
  }
}
