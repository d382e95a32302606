package dev.ferry.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class PageLedgerTest {
  private static final int PAGE = 4096;

  private static ByteBuffer page(long seed, ByteOrder order) {
    ByteBuffer b = ByteBuffer.allocate(PAGE).order(order);
    new Random(seed).nextBytes(b.array());
    return b;
  }

  @Test
  void hash_sameBytesEitherByteOrder_isTheSame_andZeroPageHashesToZero() {
    ByteBuffer le = page(1, ByteOrder.LITTLE_ENDIAN);
    ByteBuffer be = ByteBuffer.wrap(le.array().clone()).order(ByteOrder.BIG_ENDIAN);
    assertThat(PageLedger.hash(le, 0, PAGE, 7)).isEqualTo(PageLedger.hash(be, 0, PAGE, 7)).isNotZero();
    assertThat(PageLedger.hash(ByteBuffer.allocate(PAGE), 0, PAGE, 7)).isZero();
    assertThat(PageLedger.hash(le, 0, PAGE, 8)).as("seeded by the page index").isNotEqualTo(PageLedger.hash(le, 0, PAGE, 7));
  }

  @Property(tries = 100)
  void sum_sameFinalContentsInAnyOrderAndOverwrites_isEqual(@ForAll @IntRange(min = 1, max = 4) int streams,
      @ForAll @IntRange(min = 0, max = 1000) int seed) {
    long pages = 200_000; // more than one chunk
    PageLedger a = new PageLedger(pages, PAGE, streams);
    PageLedger b = new PageLedger(pages, PAGE, streams);
    Random r = new Random(seed);
    List<long[]> writes = new ArrayList<>();
    for (int i = 0; i < 300; i++) {
      writes.add(new long[] {Math.floorMod(r.nextLong(), pages), r.nextInt(5)}); // content 0 is the zero page
    }
    for (long[] w : writes) {
      record(a, w[0], w[1]);
    }
    // b sees stale versions first, then the same final contents in another order
    for (long[] w : writes) {
      record(b, w[0], w[1] + 100);
    }
    // then a's final contents, page by page, in another order
    java.util.Map<Long, Long> last = new java.util.LinkedHashMap<>();
    for (long[] w : writes) {
      last.put(w[0], w[1]);
    }
    List<Long> keys = new ArrayList<>(last.keySet());
    Collections.shuffle(keys, r);
    for (long p : keys) {
      record(b, p, last.get(p));
    }
    assertThat(b.sum()).isEqualTo(a.sum());
  }

  private static void record(PageLedger l, long page, long content) {
    if (content == 0) {
      l.recordZero(page);
    } else {
      l.record(page, page(content, ByteOrder.BIG_ENDIAN), 0);
    }
  }

  @Test
  void record_streamsRacingForTheSameChunk_loseNoEntry() throws Exception {
    for (int attempt = 0; attempt < 50; attempt++) {
      PageLedger l = new PageLedger(1 << 16, PAGE, 2);
      PageLedger serial = new PageLedger(1 << 16, PAGE, 2);
      ByteBuffer content = page(attempt, ByteOrder.BIG_ENDIAN);
      CountDownLatch go = new CountDownLatch(1);
      Thread[] t = new Thread[2];
      for (int s = 0; s < 2; s++) {
        final int stream = s;
        t[s] = new Thread(() -> {
          try {
            go.await();
          } catch (InterruptedException e) {
            return;
          }
          for (long p = stream * 64L; p < 4096; p += 128) { // the first block of each stream's share
            l.record(p, content, 0);
          }
        });
        t[s].start();
      }
      go.countDown();
      for (Thread x : t) {
        x.join();
      }
      for (int s = 0; s < 2; s++) {
        for (long p = s * 64L; p < 4096; p += 128) {
          serial.record(p, content, 0);
        }
      }
      assertThat(l.sum()).isEqualTo(serial.sum());
    }
  }
}
