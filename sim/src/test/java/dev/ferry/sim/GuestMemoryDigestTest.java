package dev.ferry.sim;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ferry.spi.GuestMemory;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

class GuestMemoryDigestTest {
  private static final int PAGE = 4096;

  @Test
  void sameContent_sameDigest_onSimFastPathAndGenericPath() {
    SimMemory a = new SimMemory(5000, PAGE);
    SimMemory b = new SimMemory(5000, PAGE);
    a.writePage(17, SimMemoryTest.pattern(1));
    b.writePage(17, SimMemoryTest.pattern(1));
    assertThat(GuestMemoryDigest.of(a)).isEqualTo(GuestMemoryDigest.of(b));
    assertThat(GuestMemoryDigest.of(a)).isEqualTo(GuestMemoryDigest.of(generic(b)));
    a.release();
    b.release();
  }

  @Test
  void oneByteDifferent_differentDigest() {
    SimMemory a = new SimMemory(100, PAGE);
    SimMemory b = new SimMemory(100, PAGE);
    ByteBuffer p = SimMemoryTest.pattern(5);
    a.writePage(50, p);
    p.clear();
    p.put(PAGE - 1, (byte) (p.get(PAGE - 1) + 1));
    b.writePage(50, p);
    assertThat(GuestMemoryDigest.of(a)).isNotEqualTo(GuestMemoryDigest.of(b));
  }

  @Test
  void swappedPages_differentDigest() {
    SimMemory a = new SimMemory(100, PAGE);
    SimMemory b = new SimMemory(100, PAGE);
    a.writePage(1, SimMemoryTest.pattern(1));
    a.writePage(2, SimMemoryTest.pattern(2));
    b.writePage(1, SimMemoryTest.pattern(2));
    b.writePage(2, SimMemoryTest.pattern(1));
    assertThat(GuestMemoryDigest.of(a)).isNotEqualTo(GuestMemoryDigest.of(b));
  }

  @Test
  void zeroedPage_sameDigestAsNeverWritten() {
    SimMemory a = new SimMemory(100, PAGE);
    SimMemory b = new SimMemory(100, PAGE);
    a.writePage(3, SimMemoryTest.pattern(9));
    a.zeroPage(3);
    assertThat(GuestMemoryDigest.of(a)).isEqualTo(GuestMemoryDigest.of(b));
    assertThat(GuestMemoryDigest.pageHash(a, 3)).isEqualTo(GuestMemoryDigest.pageHash(generic(b), 3));
  }

  /** Hides the SimMemory type so the generic path is used. */
  private static GuestMemory generic(GuestMemory m) {
    return new GuestMemory() {
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
        m.readPage(page, dst);
      }

      @Override
      public void writePage(long page, ByteBuffer src) {
        m.writePage(page, src);
      }
    };
  }
}
