package dev.ferry.spi;

import java.nio.ByteBuffer;

/**
 * The destination's side of post-copy: an incoming VM that runs before all its memory has arrived.
 *
 * <p>Before activation the engine {@linkplain #markMissing marks} the pages the destination does
 * not hold (or holds in a stale version). Once {@linkplain #activate activated}, a vCPU that
 * touches a missing page blocks, and the backend tells the engine through its
 * {@link PageFaultListener} so the page can be fetched from the source; {@link #supplyPage} writes
 * it and wakes the vCPUs waiting for it. A page that is present belongs to the running guest from
 * then on: supplying it again does nothing, so a late or duplicate copy from the source can never
 * overwrite what the guest wrote since (the failure mode that loses post-copied guests).
 *
 * <p>Thread-safety: {@code supplyPage} and {@code supplyZeroPage} may be called from any thread and
 * are serialised by the backend; the listener is called from vCPU threads and must return quickly.
 */
public interface PostCopyIncoming {

  /**
   * Marks pages missing, before {@link #activate}. Page {@code p} is bit {@code p & 63} of word
   * {@code p >>> 6}; set bits are ORed into the missing set.
   *
   * @throws IllegalStateException after activation
   */
  void markMissing(long[] bitmap);

  /**
   * Starts the VM's vCPUs on this host while pages are still missing.
   *
   * @param faults told of each missing page a vCPU blocks on, once per page and fault
   * @return the running VM; pausing it also stops vCPUs waiting for pages
   */
  VmDriver activate(PageFaultListener faults);

  /**
   * Writes {@code pageSize} bytes from {@code src} (at its position, which is advanced) into page
   * {@code page} if it is still missing, marks it present and wakes the vCPUs waiting for it.
   *
   * @return whether the page was missing (and so written)
   */
  boolean supplyPage(long page, ByteBuffer src);

  /** {@link #supplyPage} for a page of zeros. */
  boolean supplyZeroPage(long page);

  /** Number of pages still missing. */
  long missingPages();

  /** A copy of the missing set now, in the bitmap layout of {@link #markMissing}. */
  long[] missingBitmap();

  /** What vCPUs went through waiting for pages so far. */
  FaultStats faultStats();

  /** Told when a vCPU blocks on a missing page. */
  @FunctionalInterface
  interface PageFaultListener {
    void onFault(long page);
  }

  /**
   * Page faults so far and the time vCPUs spent blocked on them.
   *
   * @param faults blocking waits for a missing page (one per vCPU and page)
   * @param blockedNanosTotal total time vCPUs spent blocked
   * @param blockedNanosP50 median time one fault blocked a vCPU
   * @param blockedNanosP99 99th percentile of the same
   * @param blockedNanosMax longest
   */
  record FaultStats(long faults, long blockedNanosTotal, long blockedNanosP50, long blockedNanosP99,
      long blockedNanosMax) {
    public static final FaultStats NONE = new FaultStats(0, 0, 0, 0, 0);
  }
}
