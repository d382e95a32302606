package dev.ferry.kvm;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import dev.ferry.spi.DriverException;
import dev.ferry.spi.PostCopyIncoming;
import dev.ferry.spi.VmDriver;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Post-copy for a KVM incoming VM, with {@code userfaultfd} as QEMU does it: the guest runs on this
 * host before all its memory has arrived, and a vCPU that touches a missing page blocks in the
 * kernel until the page is supplied.
 *
 * <p>How. {@link #activate} drops every page marked missing from the VM's RAM
 * ({@code madvise(MADV_DONTNEED)}: a stale copy from an earlier round must not be seen), registers
 * the whole RAM with a userfaultfd in MISSING mode, starts a handler thread and the vCPUs. A vCPU's
 * access to an absent page (KVM faults it in on the guest's behalf) becomes a fault message: for a
 * missing page the {@link PageFaultListener} is told (once per page) and the wait is timed; for an
 * absent page that is not missing (a zero page never written here) the handler maps a zero page at
 * once. {@link #supplyPage} places the page with {@code UFFDIO_COPY}, atomically with respect to the
 * guest, and wakes whoever waits on it; a page already present is never overwritten.
 *
 * <p>Pause. A vCPU blocked on a missing page is not released by a signal (measured on this machine
 * kind: its {@code KVM_RUN} stayed blocked for 20 s after {@code pthread_kill}). It runs no guest
 * instruction while blocked, so the {@link VcpuGate} counts it as stopped. While a pause is
 * requested no page is placed: pages supplied then are kept and placed by resume, once the pause
 * flag is down (placing them without a wake-up, {@code UFFDIO_COPY_MODE_DONTWAKE}, is not enough:
 * KVM retries the fault in a loop and a retry finds the page; a test saw the guest run on). So a
 * paused VM stays paused even as pages keep arriving.
 *
 * <p>Offered only where the process may create a userfaultfd ({@link #available()}).
 *
 * <p>Thread-safety: {@code supplyPage}, {@code supplyZeroPage}, the handler and pause/resume are
 * serialised on the VM's {@link VcpuGate}; the listener is called outside that lock, on the handler
 * thread.
 */
final class KvmPostCopy implements PostCopyIncoming {
  private static final int PAGE = GuestRam.PAGE_SIZE;
  private static volatile Boolean available;

  private final KvmIncomingVm incoming;
  private final KvmVm vm;
  private final VcpuGate gate;
  private final long pages;
  private final long[] missing;
  private long missingCount;
  private boolean activated;
  private int uffd = -1;
  private Thread handler;
  private volatile boolean closing;
  private PageFaultListener listener;
  private final Memory copyArea = new Memory(2L * PAGE);
  private final Pointer copyBuf = copyArea.align(PAGE);
  private final Memory ioctlArg = new Memory(64);
  /** Threads waiting on each missing page, and since when. */
  private final Map<Long, Map<Long, Long>> waiting = new HashMap<>();
  private final List<Long> blockedNanos = new ArrayList<>();
  /** Pages supplied during a pause, placed at resume (page, contents or null for zeros). */
  private final Map<Long, byte[]> deferred = new java.util.LinkedHashMap<>();
  /** Absent, not missing pages faulted on during a pause: mapped as zeros at resume. */
  private final java.util.Set<Long> deferredZero = new java.util.LinkedHashSet<>();
  private static final byte[] ZEROS = new byte[0];
  private long blockedTotal;

  KvmPostCopy(KvmIncomingVm incoming, KvmVm vm) {
    this.incoming = incoming;
    this.vm = vm;
    this.gate = vm.gate();
    this.pages = vm.ram().pageCount();
    this.missing = new long[(int) ((pages + 63) >>> 6)];
  }

  /** Whether this process may create a userfaultfd (probed once). */
  static boolean available() {
    Boolean a = available;
    if (a == null) {
      try {
        int fd = (int) Libc.syscall(Libc.SYS_USERFAULTFD, Libc.O_CLOEXEC | Libc.O_NONBLOCK);
        KvmSystem.closeQuietly(fd);
        a = Boolean.TRUE;
      } catch (LastErrorException | UnsatisfiedLinkError e) {
        a = Boolean.FALSE;
      }
      available = a;
    }
    return a;
  }

  @Override
  public void markMissing(long[] bitmap) {
    synchronized (gate) {
      if (activated) {
        throw new IllegalStateException("markMissing after activation");
      }
      for (int i = 0; i < missing.length && i < bitmap.length; i++) {
        long add = bitmap[i] & ~missing[i];
        missing[i] |= add;
        missingCount += Long.bitCount(add);
      }
    }
  }

  @Override
  public VmDriver activate(PageFaultListener faults) {
    synchronized (gate) {
      if (activated) {
        return vm;
      }
      listener = faults;
      GuestRam ram = vm.ram();
      Pointer base = new Pointer(ram.address());
      for (long p = 0; p < pages; p++) {
        if (isMissing(p)) {
          try {
            Libc.madvise(base.share(p * PAGE), PAGE, Libc.MADV_DONTNEED);
          } catch (LastErrorException e) {
            throw new DriverException("cannot drop stale page " + p + " before post-copy: "
                + Errno.describe(e.getErrorCode()));
          }
        }
      }
      try {
        uffd = (int) Libc.syscall(Libc.SYS_USERFAULTFD, Libc.O_CLOEXEC | Libc.O_NONBLOCK);
        ioctlArg.clear();
        ioctlArg.setLong(0, KvmAbi.UFFD_API);
        ioctlArg.setLong(KvmAbi.UFFDIO_API_FEATURES, KvmAbi.UFFD_FEATURE_THREAD_ID);
        Libc.ioctl(uffd, KvmAbi.UFFDIO_API, ioctlArg);
        ioctlArg.clear();
        ioctlArg.setLong(0, ram.address());
        ioctlArg.setLong(8, ram.size());
        ioctlArg.setLong(KvmAbi.UFFDIO_REGISTER_MODE, KvmAbi.UFFDIO_REGISTER_MODE_MISSING);
        Libc.ioctl(uffd, KvmAbi.UFFDIO_REGISTER, ioctlArg);
      } catch (LastErrorException e) {
        close();
        throw new DriverException("userfaultfd setup for post-copy failed: " + Errno.describe(e.getErrorCode()));
      }
      activated = true;
      handler = new Thread(this::handle, "ferry-kvm-" + vm.host().name() + "-" + vm.name() + "-userfaultfd");
      handler.setDaemon(true);
      handler.start();
    }
    return incoming.activate();
  }

  private boolean isMissing(long p) {
    return (missing[(int) (p >>> 6)] & (1L << p)) != 0;
  }

  private void handle() {
    Memory pfd = new Memory(KvmAbi.POLLFD_SIZE);
    Memory msg = new Memory(KvmAbi.UFFD_MSG_SIZE);
    Memory zero = new Memory(KvmAbi.UFFDIO_ZEROPAGE_SIZE);
    long base = vm.ram().address();
    while (!closing) {
      pfd.clear();
      pfd.setInt(0, uffd);
      pfd.setShort(4, (short) Libc.POLLIN);
      try {
        if (Libc.poll(pfd, 1, 100) <= 0) {
          continue;
        }
        if (Libc.read(uffd, msg, KvmAbi.UFFD_MSG_SIZE) != KvmAbi.UFFD_MSG_SIZE) {
          continue;
        }
      } catch (LastErrorException e) {
        continue;                                   // EAGAIN, EINTR; EBADF once closed ends the loop
      }
      if ((msg.getByte(KvmAbi.UFFD_MSG_EVENT) & 0xff) != KvmAbi.UFFD_EVENT_PAGEFAULT) {
        continue;
      }
      long page = (msg.getLong(KvmAbi.UFFD_MSG_ADDRESS) - base) / PAGE;
      long tid = msg.getInt(KvmAbi.UFFD_MSG_PTID) & 0xffffffffL;
      if (page < 0 || page >= pages) {
        continue;
      }
      boolean tell = false;
      synchronized (gate) {
        if (closing) {
          break;
        }
        if (isMissing(page)) {
          // KVM retries a fault it could not complete, so one blocked vCPU sends the same fault
          // again and again: count each thread once per page, tell the listener once per page.
          Map<Long, Long> w = waiting.computeIfAbsent(page, k -> new HashMap<>());
          tell = w.isEmpty();
          w.putIfAbsent(tid, System.nanoTime());
          gate.faultBlocked(tid);
        } else if (gate.pauseRequested()) {
          deferredZero.add(page);                   // resolved at resume: nothing runs while paused
          gate.faultBlocked(tid);
        } else {
          // Absent but not missing: a page of zeros that nobody wrote here.
          zeroPage(page, zero, base);
          gate.faultReleased(tid);
        }
      }
      PageFaultListener l = listener;
      if (tell && l != null) {
        l.onFault(page);
      }
    }
  }

  private void zeroPage(long page, Memory zero, long base) {
    zero.clear();
    zero.setLong(0, base + page * PAGE);
    zero.setLong(8, PAGE);
    try {
      Libc.ioctl(uffd, KvmAbi.UFFDIO_ZEROPAGE, zero);
    } catch (LastErrorException e) {
      // EEXIST: it was placed meanwhile, and that woke this thread too
    }
  }

  @Override
  public boolean supplyPage(long page, ByteBuffer src) {
    if (page < 0 || page >= pages) {
      throw new IndexOutOfBoundsException("page " + page + " outside " + pages + " pages");
    }
    int pos = src.position();
    if (src.limit() - pos < PAGE) {
      throw new BufferUnderflowException();
    }
    try {
      return place(page, src, pos);
    } finally {
      src.position(pos + PAGE);
    }
  }

  @Override
  public boolean supplyZeroPage(long page) {
    if (page < 0 || page >= pages) {
      throw new IndexOutOfBoundsException("page " + page + " outside " + pages + " pages");
    }
    return place(page, null, 0);
  }

  private boolean place(long page, ByteBuffer src, int pos) {
    synchronized (gate) {
      if (!isMissing(page)) {
        return false;
      }
      if (!activated) {
        if (src == null) {
          vm.ram().zeroPage(page);
        } else {
          vm.ram().write(page * PAGE, src, pos, PAGE);
        }
      } else {
        if (gate.pauseRequested()) {
          // Not placed while paused: a vCPU that KVM keeps retrying on this page would find it and
          // run on. Kept, and placed by resume.
          byte[] copy = ZEROS;
          if (src != null) {
            copy = new byte[PAGE];
            src.get(pos, copy);
          }
          deferred.put(page, copy);
        } else {
          copyIn(page, src == null ? null : src, pos);
        }
      }
      missing[(int) (page >>> 6)] &= ~(1L << page);
      missingCount--;
      return true;
    }
  }

  /** Places a page with UFFDIO_COPY and wakes its waiters; under the gate, not paused. */
  private void copyIn(long page, ByteBuffer src, int pos) {
    if (src == null) {
      copyBuf.clear(PAGE);
    } else {
      copyBuf.getByteBuffer(0, PAGE).put(0, src, pos, PAGE);
    }
    ioctlArg.clear();
    ioctlArg.setLong(0, vm.ram().address() + page * PAGE);
    ioctlArg.setLong(KvmAbi.UFFDIO_COPY_SRC, Pointer.nativeValue(copyBuf));
    ioctlArg.setLong(KvmAbi.UFFDIO_COPY_LEN, PAGE);
    ioctlArg.setLong(KvmAbi.UFFDIO_COPY_MODE, 0);
    try {
      Libc.ioctl(uffd, KvmAbi.UFFDIO_COPY, ioctlArg);
    } catch (LastErrorException e) {
      if (e.getErrorCode() != Libc.EEXIST) {
        throw new DriverException("UFFDIO_COPY of page " + page + " failed: " + Errno.describe(e.getErrorCode()));
      }
      // EEXIST cannot hold guest data here (only this class places missing pages); keep going.
    }
    Map<Long, Long> w = waiting.remove(page);
    if (w != null) {
      long now = System.nanoTime();
      for (Map.Entry<Long, Long> t : w.entrySet()) {
        long blocked = now - t.getValue();
        blockedNanos.add(blocked);
        blockedTotal += blocked;
        gate.faultReleased(t.getKey());
      }
    }
  }

  /**
   * Called under the gate by resume, once the pause flag is down: places the pages supplied during
   * the pause, maps the zero pages faulted on, and wakes every thread held back.
   */
  void wakeAll() {
    if (uffd < 0) {
      return;
    }
    for (Map.Entry<Long, byte[]> d : deferred.entrySet()) {
      byte[] b = d.getValue();
      copyIn(d.getKey(), b == ZEROS ? null : ByteBuffer.wrap(b), 0);
    }
    deferred.clear();
    Memory zero = new Memory(KvmAbi.UFFDIO_ZEROPAGE_SIZE);
    for (long page : deferredZero) {
      zeroPage(page, zero, vm.ram().address());
    }
    deferredZero.clear();
    ioctlArg.clear();
    ioctlArg.setLong(0, vm.ram().address());
    ioctlArg.setLong(8, vm.ram().size());
    try {
      Libc.ioctl(uffd, KvmAbi.UFFDIO_WAKE, ioctlArg);
    } catch (LastErrorException e) {
      // nothing registered any more
    }
    // Threads whose page is still missing fault again at once and are counted blocked again.
    gate.allReleased();
  }

  @Override
  public long missingPages() {
    synchronized (gate) {
      return missingCount;
    }
  }

  @Override
  public long[] missingBitmap() {
    synchronized (gate) {
      return missing.clone();
    }
  }

  @Override
  public FaultStats faultStats() {
    synchronized (gate) {
      if (blockedNanos.isEmpty()) {
        return FaultStats.NONE;
      }
      long[] s = blockedNanos.stream().mapToLong(Long::longValue).sorted().toArray();
      return new FaultStats(s.length, blockedTotal, s[s.length / 2], s[(int) Math.min(s.length - 1, s.length * 99L / 100)],
          s[s.length - 1]);
    }
  }

  /**
   * Ends post-copy handling: closing the userfaultfd releases any thread still blocked (its fault is
   * retried as an ordinary one). Called before the VM's vCPUs are stopped and its RAM freed.
   */
  void close() {
    closing = true;
    int fd;
    synchronized (gate) {
      fd = uffd;
      uffd = -1;
    }
    KvmSystem.closeQuietly(fd);
    Thread h = handler;
    if (h != null && h != Thread.currentThread()) {
      try {
        h.join(2_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  @Override
  public String toString() {
    return "KvmPostCopy[" + vm.name() + ", " + missingPages() + " pages missing]";
  }
}
