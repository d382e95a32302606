package dev.ferry.sim;

/**
 * The deterministic sequence of pages one vCPU writes: a step function of the workload, the seed
 * and the vCPU's index, with no timing in it.
 *
 * <p>Design note: randomness comes from SplitMix64 (Steele, Lea and Flood, "Fast splittable
 * pseudorandom number generators", OOPSLA 2014), whose whole state is one {@code long}; with the
 * sequential position and the count of writes done, three longs are a vCPU's "registers". They
 * travel in the device-state blob, so a migrated VM continues the exact sequence on the
 * destination. Each vCPU's stream is seeded from the VM seed and the vCPU index.
 *
 * <p>Thread-safety: not thread-safe; each vCPU thread owns its cursor.
 */
public final class WorkloadCursor {
  private static final long GOLDEN = 0x9E3779B97F4A7C15L;

  private final Workload workload;
  private final long pageCount;
  private final long hotStart;
  private final long hotPages;
  private long rng;
  private long seqPos;
  private long writes;

  /**
   * The cursor of vCPU {@code vcpu} of {@code vcpus} for a VM of {@code pageCount} pages, at its
   * first step.
   */
  public WorkloadCursor(Workload workload, long seed, int vcpu, int vcpus, long pageCount) {
    this(workload, seed, pageCount, initialRng(seed, vcpu), initialSeq(vcpu, vcpus, pageCount), 0);
    if (vcpu < 0 || vcpu >= vcpus) {
      throw new IllegalArgumentException("vCPU index " + vcpu + " outside 0.." + (vcpus - 1));
    }
  }

  /** A cursor restored from saved registers. */
  WorkloadCursor(Workload workload, long seed, long pageCount, long rng, long seqPos, long writes) {
    if (pageCount <= 0) {
      throw new IllegalArgumentException("page count must be positive: " + pageCount);
    }
    this.workload = workload;
    this.pageCount = pageCount;
    this.hotPages = Math.max(1, Math.min(pageCount, Math.round(pageCount * workload.hotFraction())));
    this.hotStart = Long.remainderUnsigned(GuestMemoryDigest.fmix64(seed ^ 0x5EED_0F_4077L), pageCount);
    this.rng = rng;
    this.seqPos = Math.floorMod(seqPos, pageCount);
    this.writes = writes;
  }

  private static long initialRng(long seed, int vcpu) {
    return GuestMemoryDigest.fmix64(seed + GOLDEN * (vcpu + 1L));
  }

  private static long initialSeq(int vcpu, int vcpus, long pageCount) {
    return (long) ((double) pageCount * vcpu / vcpus);
  }

  /** The next page this vCPU writes; counts one write. */
  public long nextPage() {
    writes++;
    switch (workload.kind()) {
      case UNIFORM:
        return below(pageCount);
      case HOT_SET:
        return hotOrCold(workload.hotShare());
      case SEQUENTIAL:
        return sequential();
      case MIXED: {
        long r = below(10);
        if (r < 5) {
          return hotOrCold(workload.hotShare());
        }
        return r < 8 ? below(pageCount) : sequential();
      }
      case IDLE:
      default:
        throw new IllegalStateException("an idle workload writes no pages");
    }
  }

  /** Whether {@code page} is in this workload's hot set. */
  public boolean isHot(long page) {
    return Long.remainderUnsigned(page - hotStart + pageCount, pageCount) < hotPages;
  }

  /** Number of pages in the hot set. */
  public long hotPages() {
    return hotPages;
  }

  /** Writes done so far by this vCPU (its write counter). */
  public long writes() {
    return writes;
  }

  long rngState() {
    return rng;
  }

  long seqPos() {
    return seqPos;
  }

  private long hotOrCold(double hotShare) {
    boolean hot = nextDouble() < hotShare || hotPages == pageCount;
    if (hot) {
      return (hotStart + below(hotPages)) % pageCount;
    }
    return (hotStart + hotPages + below(pageCount - hotPages)) % pageCount;
  }

  private long sequential() {
    long p = seqPos;
    seqPos = p + 1 == pageCount ? 0 : p + 1;
    return p;
  }

  private long below(long bound) {
    return Long.remainderUnsigned(next(), bound);
  }

  private double nextDouble() {
    return (next() >>> 11) * 0x1.0p-53;
  }

  private long next() {
    rng += GOLDEN;
    long z = rng;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }
}
