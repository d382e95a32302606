package dev.ferry.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.spi.DataSize;
import dev.ferry.spi.GuestMemory;
import java.nio.BufferOverflowException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class SimMemoryTest {
  private static final int PAGE = 4096;

  @AfterEach
  void cleanUp() {
    SimHost.destroyAll();
  }

  @Test
  void newMemory_64GiB_allocatesNothingAndReadsZeros() {
    SimMemory m = new SimMemory(DataSize.gib(64).pages(PAGE), PAGE);
    assertThat(m.allocatedBytes()).isZero();
    ByteBuffer buf = ByteBuffer.allocate(PAGE);
    m.readPage(m.pageCount() - 1, buf);
    assertThat(buf.position()).isEqualTo(PAGE);
    assertThat(isZero(buf)).isTrue();
    m.zeroPage(12345); // on an unallocated chunk: nothing to do
    assertThat(m.allocatedBytes()).isZero();
    m.writePage(m.pageCount() - 1, pattern(7));
    assertThat(m.allocatedBytes()).isEqualTo(SimMemory.CHUNK_SIZE);
    m.release();
    assertThat(m.allocatedBytes()).isZero();
  }

  @Test
  void residentBytes_countsWrittenPagesNotChunks_andKnownZeroAnswersWithoutReading() {
    SimMemory m = new SimMemory(DataSize.gib(64).pages(PAGE), PAGE);
    // Three pages, each in a chunk of its own: three chunks mapped, three pages to send and hold.
    long[] pages = {7, m.pageCount() / 2, m.pageCount() - 1};
    for (long p : pages) {
      m.writePage(p, pattern(3));
    }
    m.writePage(7, pattern(4)); // written again: still one page
    assertThat(m.allocatedBytes()).isEqualTo(3L * SimMemory.CHUNK_SIZE);
    assertThat(m.residentBytes()).isEqualTo(3L * PAGE);
    assertThat(m.knownZero(7)).isFalse();
    assertThat(m.knownZero(8)).as("a never-written page in a mapped chunk").isTrue();
    assertThat(m.knownZero(123_456)).as("a page of a chunk never mapped").isTrue();
    ByteBuffer buf = ByteBuffer.allocate(PAGE);
    m.readPage(8, buf);
    assertThat(isZero(buf)).isTrue();
    m.zeroPage(7); // zeroed, so it holds no data, but it was written: never promised zero
    assertThat(m.knownZero(7)).isFalse();
    assertThatThrownBy(() -> m.knownZero(m.pageCount())).isInstanceOf(IndexOutOfBoundsException.class);
    m.release();
    assertThat(m.residentBytes()).isZero();
  }

  @Test
  void vcpuWrites_markTheirPagesWritten() throws InterruptedException {
    SimVm vm = SimHost.named("writes").createVm(SimVmSpec.builder("w").memory(DataSize.mib(64))
        .workload(Workload.uniform(20_000)).seed(3).build());
    SimMemory m = vm.guestMemory();
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (m.residentBytes() == 0 && System.nanoTime() < deadline) {
      Thread.sleep(10);
    }
    vm.pause();
    long written = 0;
    ByteBuffer buf = ByteBuffer.allocate(PAGE);
    for (long p = 0; p < m.pageCount(); p++) {
      buf.clear();
      m.readPage(p, buf);
      if (!isZero(buf)) {
        assertThat(m.knownZero(p)).as("page %d holds data", p).isFalse();
        written++;
      }
    }
    assertThat(written).isPositive();
    assertThat(m.residentBytes()).isGreaterThanOrEqualTo(written * PAGE);
    vm.stop();
  }

  @Test
  void createVm_sparse64GiB_isCheapUntilWritten() {
    // A host declaring more memory than the machine has (overcommitted): the VM is sparse.
    SimVm vm = SimHost.named("sparse", DataSize.gib(128), SimHost.DEFAULT_CPU).createVm(SimVmSpec.builder("big").memory(DataSize.gib(64)).build());
    assertThat(vm.guestMemory().pageCount()).isEqualTo(16L << 20);
    assertThat(vm.guestMemory().allocatedBytes()).isZero();
    vm.stop();
  }

  @Test
  void writePage_everyPageOf1GiB_allocatesItAllAndStopFreesIt() {
    SimVm vm = SimHost.named("dense").createVm(SimVmSpec.builder("dense").memory(DataSize.gib(1)).build());
    GuestMemory m = vm.memory().orElseThrow();
    ByteBuffer page = ByteBuffer.allocateDirect(PAGE);
    for (long p = 0; p < m.pageCount(); p++) {
      page.clear();
      page.putLong(0, p + 1);
      m.writePage(p, page);
    }
    assertThat(vm.guestMemory().allocatedBytes()).isEqualTo(DataSize.gib(1).bytes());
    ByteBuffer back = ByteBuffer.allocate(PAGE);
    m.readPage(123_456, back);
    assertThat(back.getLong(0)).isEqualTo(123_457);
    vm.stop();
    assertThat(vm.guestMemory().allocatedBytes()).isZero();
    assertThat(vm.guestMemory().isReleased()).isTrue();
  }

  @Test
  void writeThenRead_roundTripsAndAdvancesPositions() {
    SimMemory m = new SimMemory(1000, PAGE);
    ByteBuffer src = ByteBuffer.allocate(PAGE * 2);
    src.position(PAGE);
    for (int i = PAGE; i < 2 * PAGE; i++) {
      src.put(i, (byte) i);
    }
    m.writePage(999, src);
    assertThat(src.position()).isEqualTo(2 * PAGE);
    ByteBuffer dst = ByteBuffer.allocateDirect(PAGE * 3);
    dst.position(10);
    m.readPage(999, dst);
    assertThat(dst.position()).isEqualTo(10 + PAGE);
    for (int i = 0; i < PAGE; i++) {
      assertThat(dst.get(10 + i)).isEqualTo((byte) (PAGE + i));
    }
    m.zeroPage(999);
    dst.clear();
    m.readPage(999, dst);
    assertThat(isZero(dst.flip())).isTrue();
  }

  @Test
  void pageOutsideMemory_throwsIndexOutOfBounds() {
    SimMemory m = new SimMemory(10, PAGE);
    assertThatThrownBy(() -> m.readPage(10, ByteBuffer.allocate(PAGE))).isInstanceOf(IndexOutOfBoundsException.class)
        .hasMessageContaining("page 10");
    assertThatThrownBy(() -> m.writePage(-1, ByteBuffer.allocate(PAGE)))
        .isInstanceOf(IndexOutOfBoundsException.class);
    assertThatThrownBy(() -> m.zeroPage(11)).isInstanceOf(IndexOutOfBoundsException.class);
  }

  @Test
  void shortBuffers_throwOverflowAndUnderflow() {
    SimMemory m = new SimMemory(10, PAGE);
    assertThatThrownBy(() -> m.readPage(0, ByteBuffer.allocate(PAGE - 1))).isInstanceOf(BufferOverflowException.class);
    assertThatThrownBy(() -> m.writePage(0, ByteBuffer.allocate(PAGE - 1)))
        .isInstanceOf(BufferUnderflowException.class);
  }

  @Test
  void released_memory_refusesAccess() {
    SimMemory m = new SimMemory(10, PAGE);
    m.writePage(0, pattern(1));
    m.release();
    m.release();
    assertThatThrownBy(() -> m.readPage(0, ByteBuffer.allocate(PAGE))).isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("released");
  }

  @Test
  void lastChunk_partial_isSizedToTheMemory() {
    long pages = SimMemory.CHUNK_SIZE / PAGE + 3;
    SimMemory m = new SimMemory(pages, PAGE);
    m.writePage(pages - 1, pattern(3));
    assertThat(m.allocatedBytes()).isEqualTo(3L * PAGE);
    m.release();
  }

  @Test
  void concurrentWritersToOneChunk_allocateItOnce() throws InterruptedException {
    SimMemory m = new SimMemory(4096, PAGE);
    Thread[] ts = new Thread[4];
    for (int t = 0; t < ts.length; t++) {
      int id = t;
      ts[t] = new Thread(() -> {
        ByteBuffer b = pattern(id + 1);
        for (int p = id; p < 4096; p += ts.length) {
          b.clear();
          m.writePage(p, b);
        }
      });
      ts[t].start();
    }
    for (Thread t : ts) {
      t.join();
    }
    assertThat(m.allocatedBytes()).isEqualTo(4096L * PAGE);
    ByteBuffer b = ByteBuffer.allocate(PAGE);
    for (int p = 0; p < 4096; p++) {
      b.clear();
      m.readPage(p, b);
      assertThat(b.get(0)).isEqualTo((byte) (p % ts.length + 1));
    }
    m.release();
  }

  static ByteBuffer pattern(int seed) {
    ByteBuffer b = ByteBuffer.allocate(PAGE);
    for (int i = 0; i < PAGE; i++) {
      b.put(i, (byte) (seed + i * 13));
    }
    b.put(0, (byte) seed);
    return b;
  }

  static boolean isZero(ByteBuffer b) {
    for (int i = 0; i < b.limit(); i++) {
      if (b.get(i) != 0) {
        return false;
      }
    }
    return true;
  }
}
