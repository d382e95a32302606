package dev.ferry.sim;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;

/**
 * Frees direct buffers deterministically when the JDK lets us.
 *
 * <p>Design note: guest memory lives in direct buffers of {@link SimMemory#CHUNK_SIZE} bytes. Left to
 * the garbage collector, freed chunks of a stopped 8 GiB VM may stay reserved long enough for the
 * next allocation to fail against {@code -XX:MaxDirectMemorySize}. {@code sun.misc.Unsafe.invokeCleaner}
 * (module {@code jdk.unsupported}, always present in OpenJDK 9+) releases a buffer at once; we find it
 * reflectively so the module compiles without warnings, and fall back to dropping the reference
 * (the GC then frees it) when it is missing. Callers must guarantee that nothing touches a buffer
 * after it is freed: {@link SimMemory} does so with a lock.
 */
final class DirectBuffers {
  private static final Object UNSAFE;
  private static final Method INVOKE_CLEANER;

  static {
    Object unsafe = null;
    Method invoke = null;
    try {
      Class<?> c = Class.forName("sun.misc.Unsafe");
      Field f = c.getDeclaredField("theUnsafe");
      f.setAccessible(true);
      unsafe = f.get(null);
      invoke = c.getMethod("invokeCleaner", ByteBuffer.class);
    } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
      unsafe = null;
      invoke = null;
    }
    UNSAFE = unsafe;
    INVOKE_CLEANER = invoke;
  }

  private DirectBuffers() {}

  /** Frees {@code buffer}'s native memory now if possible; otherwise leaves it to the GC. */
  static void free(ByteBuffer buffer) {
    if (buffer == null || !buffer.isDirect() || INVOKE_CLEANER == null) {
      return;
    }
    try {
      INVOKE_CLEANER.invoke(UNSAFE, buffer);
    } catch (ReflectiveOperationException | RuntimeException e) {
      // Not freeable now (a slice or duplicate, or a JDK that refuses): the GC will free it.
    }
  }
}
