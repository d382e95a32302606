package dev.ferry.sim;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.spi.DataSize;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The dirty log never loses a write: several vCPU threads write as fast as they can while another
 * thread syncs in a loop, and every page whose content changed between two snapshots was reported.
 *
 * <p>A lost mark is invisible if the same page is written (and marked) again before the check, so
 * the cycles are short compared with how often a page is rewritten: 64 Ki pages, cycles of a few
 * milliseconds. Checked by breaking the log on purpose (a non-atomic get-then-clear in
 * {@code syncAndClear}): these tests then fail within a few cycles.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DirtyLogLosslessTest {
  private final SimHost host = SimHost.named("dirty-log-lossless");

  @AfterEach
  void destroy() {
    host.destroy();
  }

  @Test
  void syncLoop_writersAtMaxRate_reportsEveryChangedPage() throws Exception {
    runCycles(Workload.uniform(Workload.MAX_RATE), DataSize.mib(64), 4, 20);
  }

  @Test
  void syncLoop_sequentialWritersAtMaxRate_reportsEveryChangedPage() throws Exception {
    runCycles(Workload.sequential(Workload.MAX_RATE), DataSize.mib(64), 4, 20);
  }

  @Test
  void syncLoop_writersRarelyRewritingAPage_reportsEveryChangedPage() throws Exception {
    // About 800 writes per 2 ms cycle over 4096 pages: most writes are the last to their page in
    // the cycle, so a single lost mark shows.
    runCycles(Workload.uniform(400_000), DataSize.mib(16), 4, 20);
  }

  private void runCycles(Workload workload, DataSize size, int vcpus, int cycles) throws Exception {
    SimVm vm = host.createVm(SimVmSpec.builder("writer").memory(size).vcpus(vcpus).workload(workload)
        .seed(7).build());
    SimMemory memory = vm.guestMemory();
    SimDirtyLog log = vm.log();
    long totalChanged = 0;
    long totalWrites = 0;
    long cycleNanos = TimeUnit.MILLISECONDS.toNanos(2);
    log.start();
    vm.pause();
    long[] b = snapshot(memory);
    for (int cycle = 0; cycle < cycles; cycle++) {
      long[] a = b;
      vm.resume();
      long writesBefore = vm.writesDone();
      long[] reported = new long[log.bitmapWords()];
      AtomicBoolean done = new AtomicBoolean();
      AtomicLong syncs = new AtomicLong();
      Thread syncer = new Thread(() -> {
        while (!done.get()) {
          log.syncAndClear(reported);
          syncs.incrementAndGet();
        }
      });
      syncer.start();
      long until = System.nanoTime() + cycleNanos;
      while (System.nanoTime() < until || syncs.get() < 2) {
        Thread.onSpinWait();
      }
      vm.pause();
      done.set(true);
      syncer.join();
      log.syncAndClear(reported);
      b = snapshot(memory);
      totalWrites += vm.writesDone() - writesBefore;
      List<Long> lost = new ArrayList<>();
      long changed = 0;
      for (int p = 0; p < a.length; p++) {
        if (a[p] != b[p]) {
          changed++;
          if ((reported[p >>> 6] & (1L << p)) == 0 && lost.size() < 10) {
            lost.add((long) p);
          }
        }
      }
      totalChanged += changed;
      assertThat(lost).as("cycle %d: changed pages never reported dirty (of %d changed)", cycle, changed).isEmpty();
    }
    log.stop();
    // Non-vacuous: many pages changed, and most writes were to pages not rewritten in the same cycle.
    assertThat(totalChanged).isGreaterThan(5_000);
    assertThat(totalWrites).isGreaterThanOrEqualTo(totalChanged);
  }

  /** Per-page hashes, read through the GuestMemory API into one reused buffer. */
  private static long[] snapshot(SimMemory memory) {
    long[] hashes = new long[(int) memory.pageCount()];
    ByteBuffer buf = ByteBuffer.allocateDirect(memory.pageSize()).order(ByteOrder.LITTLE_ENDIAN);
    for (int p = 0; p < hashes.length; p++) {
      buf.clear();
      memory.readPage(p, buf);
      hashes[p] = GuestMemoryDigest.pageHash(buf, 0, memory.pageSize());
    }
    return hashes;
  }
}
