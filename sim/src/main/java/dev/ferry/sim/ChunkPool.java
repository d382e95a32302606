package dev.ferry.sim;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Recycles the native memory of released guest-memory chunks, zeroed, for the next VM.
 *
 * <p>Design note: a freshly allocated direct buffer costs a memset by the JVM and a page fault per
 * 4 KiB on first touch. Measured on the throughput benchmark (perf, 1 GiB incoming VM on 2 vCPUs),
 * that cost was about half of the receiving thread's time: the simulator, not the engine, set the
 * pace. A hypervisor backs guest RAM with memory it allocated and faulted in before the migration
 * (preallocated, often huge pages); this pool gives the simulator the same property once a host
 * has released memory before. Released full-size chunks are zeroed by a background thread, off the
 * migration's path, and handed out again; at most {@link #CAPACITY} bytes are kept (system property
 * {@code ferry.sim.chunkPoolBytes}, default 2 GiB, 0 to disable), and they count as memory the
 * process holds (they are mapped, see {@link NativeChunks}).
 *
 * <p>Only a chunk that was (at least seven eighths) resident is zeroed by writing it: that writes
 * every page, so a sparse chunk zeroed so would become resident whole. A peer that wrote one page
 * into each of 48 chunks of a 4 GiB incoming VM and left made the receiver's process hold 768 MiB
 * more resident memory once the pool had zeroed them (RSS +824 MB measured, in
 * {@code ReceiverHostileInputTest.scatteredRawPages...}). A sparse chunk instead gives its pages
 * back ({@code MADV_DONTNEED}: it reads as zeros, resident nowhere) and is kept mapped, so that its
 * next user faults in only what it writes. (Unmapping sparse chunks instead was tried: after
 * {@code EngineEndToEndTest.deadlinePassesWithoutConvergence_rollsBack}, every later migration
 * of that class ran thousands of rounds without converging; the cause was not found.)
 *
 * <p>Thread-safety: safe from any thread.
 */
final class ChunkPool {
  static final long CAPACITY = Long.getLong("ferry.sim.chunkPoolBytes", 2L << 30);

  private static final ConcurrentLinkedDeque<ByteBuffer> FREE = new ConcurrentLinkedDeque<>();
  private static final AtomicLong KEPT = new AtomicLong();
  private static final java.util.concurrent.atomic.AtomicInteger ZEROING = new java.util.concurrent.atomic.AtomicInteger();
  private static final ExecutorService ZEROER = Executors.newSingleThreadExecutor(r -> {
    Thread t = new Thread(r, "ferry-sim-chunk-zeroer");
    t.setDaemon(true);
    return t;
  });
  private static volatile ByteBuffer zeros;

  private ChunkPool() {}

  /** A zero-filled little-endian direct buffer of {@code size} bytes: a kept chunk, or a new one. */
  static ByteBuffer take(int size) {
    if (size == SimMemory.CHUNK_SIZE) {
      ByteBuffer b = FREE.poll();
      if (b != null) {
        KEPT.addAndGet(-size);
        return b;
      }
    }
    return NativeChunks.allocate(size);
  }

  /** Takes back a chunk nothing uses any more: kept for reuse, or freed. */
  static void give(ByteBuffer chunk) {
    int size = chunk.capacity();
    if (size != SimMemory.CHUNK_SIZE || KEPT.addAndGet(size) > CAPACITY) {
      if (size == SimMemory.CHUNK_SIZE) {
        KEPT.addAndGet(-size);
      }
      NativeChunks.free(chunk);
      return;
    }
    if (!NativeChunks.mostlyResident(chunk) && NativeChunks.dropPages(chunk)) {
      FREE.push(chunk); // zero already, and resident nowhere
      return;
    }
    ZEROING.incrementAndGet();
    ZEROER.execute(() -> {
      try {
        chunk.put(0, zeroChunk(), 0, size);
        FREE.push(chunk);
      } finally {
        ZEROING.decrementAndGet();
      }
    });
  }

  /** Waits, at most {@code millis}, until every chunk given back has been zeroed; returns whether. */
  static boolean awaitZeroed(long millis) throws InterruptedException {
    long deadline = System.nanoTime() + millis * 1_000_000;
    while (ZEROING.get() > 0) {
      if (System.nanoTime() > deadline) {
        return false;
      }
      Thread.sleep(5);
    }
    return true;
  }

  /** Bytes kept for reuse now (zeroed or being zeroed). */
  static long kept() {
    return KEPT.get();
  }

  private static ByteBuffer zeroChunk() {
    ByteBuffer z = zeros;
    if (z == null) {
      z = ByteBuffer.allocateDirect(SimMemory.CHUNK_SIZE).asReadOnlyBuffer();
      zeros = z;
    }
    return z;
  }
}
