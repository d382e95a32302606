package dev.ferry.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.BitSet;
import java.util.List;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;
import net.jqwik.api.constraints.Size;

class SimDirtyLogPropertiesTest {

  @Property(tries = 200)
  void sync_reportsExactlyTheMarkedPages_thenNothing(@ForAll @IntRange(min = 1, max = 5000) int pages,
      @ForAll @Size(max = 300) List<@LongRange(min = 0, max = 1_000_000) Long> marks) {
    SimDirtyLog log = new SimDirtyLog(pages);
    log.start();
    BitSet expected = new BitSet();
    for (long m : marks) {
      int p = (int) (m % pages);
      log.mark(p);
      expected.set(p);
    }
    long[] bitmap = new long[log.bitmapWords()];
    long n = log.syncAndClear(bitmap);
    assertThat(BitSet.valueOf(bitmap)).isEqualTo(expected);
    assertThat(n).isEqualTo(expected.cardinality());
    long[] again = new long[log.bitmapWords()];
    assertThat(log.syncAndClear(again)).isZero();
    assertThat(BitSet.valueOf(again).isEmpty()).isTrue();
  }

  @Property(tries = 100)
  void sync_orsIntoTheCallersBitmap(@ForAll @Size(max = 100) List<@IntRange(min = 0, max = 999) Integer> first,
      @ForAll @Size(max = 100) List<@IntRange(min = 0, max = 999) Integer> second) {
    SimDirtyLog log = new SimDirtyLog(1000);
    log.start();
    long[] bitmap = new long[log.bitmapWords()];
    BitSet all = new BitSet();
    first.forEach(p -> {
      log.mark(p);
      all.set(p);
    });
    log.syncAndClear(bitmap);
    BitSet onlySecond = new BitSet();
    second.forEach(p -> {
      log.mark(p);
      all.set(p);
      onlySecond.set(p);
    });
    long n = log.syncAndClear(bitmap);
    assertThat(BitSet.valueOf(bitmap)).isEqualTo(all);
    assertThat(n).as("counts the pages this sync took from the log").isEqualTo(onlySecond.cardinality());
  }

  @Property(tries = 50)
  void marks_beforeStartOrAfterStop_areNotReported(@ForAll @Size(min = 1, max = 50) List<@IntRange(min = 0, max = 99) Integer> marks) {
    SimDirtyLog log = new SimDirtyLog(100);
    marks.forEach(log::mark);
    log.start();
    long[] bitmap = new long[log.bitmapWords()];
    assertThat(log.syncAndClear(bitmap)).isZero();
    marks.forEach(log::mark);
    log.stop();
    assertThat(log.isActive()).isFalse();
    log.start();
    assertThat(log.syncAndClear(bitmap)).as("start() clears marks made before it").isZero();
  }

  @Property(tries = 10)
  void sync_notStarted_throwsIllegalState(@ForAll @IntRange(min = 1, max = 1000) int pages) {
    SimDirtyLog log = new SimDirtyLog(pages);
    assertThatThrownBy(() -> log.syncAndClear(new long[log.bitmapWords()])).isInstanceOf(IllegalStateException.class);
  }

  @Property(tries = 10)
  void sync_bitmapTooSmall_throwsIllegalArgument(@ForAll @IntRange(min = 65, max = 10_000) int pages) {
    SimDirtyLog log = new SimDirtyLog(pages);
    log.start();
    assertThatThrownBy(() -> log.syncAndClear(new long[log.bitmapWords() - 1]))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("needed");
  }
}
