package dev.ferry.engine;

import java.util.concurrent.ThreadFactory;

/**
 * Makes the engine's threads from the factory the application gave (see
 * {@link dev.ferry.MigrationOptions#threadFactory()}), named after their role so that a thread dump
 * says what each one does.
 */
final class EngineThreads {
  private EngineThreads() {}

  /** A daemon thread: a helper whose work ends with its migration's. */
  static Thread daemon(ThreadFactory factory, Runnable r, String name) {
    return make(factory, r, name, true);
  }

  /**
   * A thread that keeps the JVM alive while it runs: a migration's own thread, or a destination's
   * post-copy, whose guest would be lost if the process ended under it.
   */
  static Thread keepAlive(ThreadFactory factory, Runnable r, String name) {
    return make(factory, r, name, false);
  }

  private static Thread make(ThreadFactory factory, Runnable r, String name, boolean daemon) {
    Thread t = factory.newThread(r);
    if (t == null) {
      throw new IllegalStateException("the thread factory " + factory + " returned no thread");
    }
    t.setName(name);
    t.setDaemon(daemon);
    return t;
  }
}
