package dev.ferry.kvm;

import dev.ferry.spi.DriverException;
import java.util.concurrent.TimeUnit;

/**
 * The handshake between a VM's lifecycle calls and its vCPU threads: pause (every vCPU out of the
 * guest, its last instruction complete, and parked), resume, stop (every thread gone), and a guest
 * failure (every vCPU parked for good, the reason kept).
 *
 * <p>A vCPU asks {@link #next} before each {@code KVM_RUN}: run, flush (finish a pending I/O
 * instruction first, see {@link Vcpu}), or exit. {@link #pause} sets the flag, kicks every vCPU that
 * is not parked with the kick signal, and waits, bounded, until all are parked: when it returns no
 * vCPU executes a guest instruction until {@link #resume}. A kick is sent only to a thread that is
 * alive, under this object's lock, so it never reaches a thread that has exited.
 *
 * <p>Thread-safety: all methods synchronise on the gate.
 */
final class VcpuGate {
  enum Step { RUN, FLUSH, EXIT }

  private final long[] pthreads;
  private final boolean[] alive;
  private final boolean[] parked;
  private final long[] tids;
  /** vCPUs blocked in the kernel on a page that has not arrived (post-copy): they run no instruction. */
  private final boolean[] blocked;
  private boolean pause = true;
  private boolean stop;
  private String failure;
  private int startedCount;

  VcpuGate(int vcpus) {
    pthreads = new long[vcpus];
    alive = new boolean[vcpus];
    parked = new boolean[vcpus];
    tids = new long[vcpus];
    blocked = new boolean[vcpus];
  }

  /** Records a vCPU's kernel thread id (for post-copy's fault messages). */
  synchronized void tid(Vcpu v, long tid) {
    tids[v.index] = tid;
  }

  /** Whether a pause is requested (post-copy then holds back wake-ups). */
  synchronized boolean pauseRequested() {
    return pause;
  }

  /** A fault message from thread {@code tid}: if it is a vCPU, it is blocked on a missing page. */
  synchronized void faultBlocked(long tid) {
    for (int i = 0; i < tids.length; i++) {
      if (tids[i] == tid && tid != 0) {
        blocked[i] = true;
        notifyAll();
      }
    }
  }

  /** Thread {@code tid}'s page has been supplied and it was woken. */
  synchronized void faultReleased(long tid) {
    for (int i = 0; i < tids.length; i++) {
      if (tids[i] == tid && tid != 0) {
        blocked[i] = false;
      }
    }
  }

  /** Whether this vCPU is parked outside the guest (so its registers can be read without waiting). */
  synchronized boolean isParked(Vcpu v) {
    return parked[v.index];
  }

  /** Every vCPU was woken (post-copy's wake-ups held back during a pause were sent). */
  synchronized void allReleased() {
    java.util.Arrays.fill(blocked, false);
  }

  /** Called first by a vCPU thread; false when the VM was stopped before it started. */
  synchronized boolean started(Vcpu v, long pthread) {
    pthreads[v.index] = pthread;
    alive[v.index] = !stop;
    startedCount++;
    notifyAll();
    return !stop;
  }

  /** Waits, bounded, until every vCPU thread has called {@link #started} (or exited early). */
  synchronized void awaitStarted(long timeoutMillis) {
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
    while (startedCount < alive.length) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        throw new DriverException("vCPU threads did not start within " + timeoutMillis + " ms");
      }
      try {
        TimeUnit.NANOSECONDS.timedWait(this, left);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new DriverException("interrupted while starting the vCPUs");
      }
    }
  }

  synchronized long thread(Vcpu v) {
    return pthreads[v.index];
  }

  /** What the vCPU does next; parks it while paused or failed. */
  synchronized Step next(Vcpu v, boolean ioPending) {
    while (true) {
      if (stop) {
        parked[v.index] = false;
        return Step.EXIT;
      }
      if (pause || failure != null) {
        if (ioPending && failure == null) {
          return Step.FLUSH;
        }
        if (!parked[v.index]) {
          parked[v.index] = true;
          notifyAll();
        }
        try {
          wait();
        } catch (InterruptedException e) {
          // Only stop ends a vCPU thread.
        }
        continue;
      }
      parked[v.index] = false;
      return Step.RUN;
    }
  }

  /** Sleeps up to {@code nanos} for the throttle, less if paused or stopped; returns the time slept. */
  synchronized long sleep(long nanos) {
    long t0 = System.nanoTime();
    long deadline = t0 + nanos;
    while (!pause && !stop) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        break;
      }
      try {
        TimeUnit.NANOSECONDS.timedWait(this, left);
      } catch (InterruptedException e) {
        break;
      }
    }
    return System.nanoTime() - t0;
  }

  /** A vCPU met an exit it cannot handle: every vCPU parks for good. Returns whether it is the first failure. */
  synchronized boolean failed(Vcpu v, String message) {
    boolean first = failure == null;
    if (first) {
      failure = message;
    }
    kickAll();
    notifyAll();
    return first;
  }

  /** Called last by a vCPU thread. */
  synchronized void exited(Vcpu v, String message) {
    if (pthreads[v.index] == 0) {
      startedCount++;                               // it failed before started(): count it, so start() does not wait
    }
    if (message != null && failure == null) {
      failure = message;
    }
    alive[v.index] = false;
    parked[v.index] = false;
    notifyAll();
  }

  synchronized String failure() {
    return failure;
  }

  /**
   * Stops every vCPU and returns, in nanoseconds, how long that took.
   *
   * @throws DriverException if a vCPU did not stop within {@code timeoutMillis}
   */
  synchronized long pause(long timeoutMillis) {
    long t0 = System.nanoTime();
    pause = true;
    kickAll();
    notifyAll();                                    // a vCPU sleeping for the throttle wakes at once
    awaitAll(true, t0, timeoutMillis);
    return System.nanoTime() - t0;
  }

  /** Lets the vCPUs run again; {@code beforeWake} runs under the gate once the flag is down. */
  synchronized void resume(Runnable beforeWake) {
    if (failure != null) {
      throw new IllegalStateException("the guest failed and cannot run again: " + failure);
    }
    pause = false;
    beforeWake.run();
    notifyAll();
  }

  /** Lets the vCPUs run again. */
  synchronized void resume() {
    resume(() -> { });
  }

  /** Ends every vCPU thread; returns whether all ended within the timeout. */
  synchronized boolean stop(long timeoutMillis) {
    stop = true;
    kickAll();
    notifyAll();
    try {
      awaitAll(false, System.nanoTime(), timeoutMillis);
      return true;
    } catch (DriverException e) {
      return false;
    }
  }

  private void awaitAll(boolean parkedIsEnough, long t0, long timeoutMillis) {
    long deadline = t0 + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
    long lastKick = System.nanoTime();
    while (true) {
      boolean done = true;
      for (int i = 0; i < alive.length; i++) {
        if (alive[i] && !(parkedIsEnough && (parked[i] || blocked[i]))) {
          done = false;
        }
      }
      if (done) {
        return;
      }
      long now = System.nanoTime();
      if (now >= deadline) {
        throw new DriverException("a vCPU did not leave the guest within " + timeoutMillis + " ms");
      }
      if (now - lastKick > TimeUnit.MILLISECONDS.toNanos(50)) {
        kickAll();                                  // belt and braces: a kick is idempotent
        lastKick = now;
      }
      try {
        TimeUnit.NANOSECONDS.timedWait(this, Math.min(deadline - now, TimeUnit.MILLISECONDS.toNanos(10)));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new DriverException("interrupted while waiting for the vCPUs to stop");
      }
    }
  }

  private void kickAll() {
    int sig = Vcpu.kickSignal();
    for (int i = 0; i < alive.length; i++) {
      if (alive[i] && !parked[i] && pthreads[i] != 0) {
        Libc.pthread_kill(pthreads[i], sig);
      }
    }
  }
}
