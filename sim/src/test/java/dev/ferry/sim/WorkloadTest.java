package dev.ferry.sim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The page sequence of workloads: deterministic step functions, no timing. */
class WorkloadTest {
  private static final long PAGES = 100_000;

  @Test
  void sameSeed_samePageSequence() {
    for (Workload w : new Workload[] {Workload.uniform(1), Workload.hotSet(1), Workload.sequential(1),
        Workload.mixed(1)}) {
      WorkloadCursor a = new WorkloadCursor(w, 99, 1, 4, PAGES);
      WorkloadCursor b = new WorkloadCursor(w, 99, 1, 4, PAGES);
      for (int i = 0; i < 10_000; i++) {
        assertThat(a.nextPage()).as("%s step %d", w, i).isEqualTo(b.nextPage());
      }
      assertThat(a.writes()).isEqualTo(10_000);
    }
  }

  @Test
  void otherSeedOrVcpu_otherSequence() {
    Workload w = Workload.uniform(1);
    long[] s1 = run(new WorkloadCursor(w, 1, 0, 2, PAGES), 100);
    long[] s2 = run(new WorkloadCursor(w, 2, 0, 2, PAGES), 100);
    long[] s3 = run(new WorkloadCursor(w, 1, 1, 2, PAGES), 100);
    assertThat(s1).isNotEqualTo(s2).isNotEqualTo(s3);
  }

  @Test
  void restoredCursor_continuesTheSequence() {
    Workload w = Workload.mixed(1);
    WorkloadCursor a = new WorkloadCursor(w, 5, 0, 1, PAGES);
    run(a, 1234);
    WorkloadCursor b = new WorkloadCursor(w, 5, PAGES, a.rngState(), a.seqPos(), a.writes());
    assertThat(run(b, 1000)).isEqualTo(run(a, 1000));
  }

  @Test
  void hotSet_sendsItsShareOfWritesToItsFractionOfPages() {
    WorkloadCursor c = new WorkloadCursor(Workload.hotSet(1, 0.10, 0.90), 3, 0, 1, PAGES);
    assertThat(c.hotPages()).isEqualTo(10_000);
    int hot = 0;
    int n = 200_000;
    for (int i = 0; i < n; i++) {
      if (c.isHot(c.nextPage())) {
        hot++;
      }
    }
    assertThat(hot / (double) n).isBetween(0.88, 0.92);
  }

  @Test
  void sequential_scansFromEachVcpusStartAndWraps() {
    WorkloadCursor c = new WorkloadCursor(Workload.sequential(1), 3, 1, 2, 10);
    assertThat(run(c, 7)).containsExactly(5, 6, 7, 8, 9, 0, 1);
  }

  @Test
  void uniform_coversMemoryEvenly() {
    WorkloadCursor c = new WorkloadCursor(Workload.uniform(1), 8, 0, 1, 10);
    int[] counts = new int[10];
    for (int i = 0; i < 100_000; i++) {
      counts[(int) c.nextPage()]++;
    }
    for (int k : counts) {
      assertThat(k).isBetween(9_000, 11_000);
    }
  }

  @Test
  void invalidWorkloads_throwWithClearMessages() {
    assertThatThrownBy(() -> Workload.uniform(0)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("rate must be positive");
    assertThatThrownBy(() -> Workload.sequential(-5)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> Workload.hotSet(10, 0, 0.9)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("hot fraction");
    assertThatThrownBy(() -> Workload.hotSet(10, 0.1, 1.5)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("hot share");
    assertThatThrownBy(() -> new WorkloadCursor(Workload.idle(), 1, 0, 1, 10).nextPage())
        .isInstanceOf(IllegalStateException.class);
  }

  @Test
  void toString_isReadable() {
    assertThat(Workload.uniform(Workload.MAX_RATE)).hasToString("uniform(max)");
    assertThat(Workload.hotSet(1000).toString()).contains("hot-set(1000 pages/s", "10% of pages get 90%");
  }

  private static long[] run(WorkloadCursor c, int n) {
    long[] pages = new long[n];
    for (int i = 0; i < n; i++) {
      pages[i] = c.nextPage();
    }
    return pages;
  }
}
