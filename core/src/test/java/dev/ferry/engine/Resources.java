package dev.ferry.engine;

import java.io.IOException;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * What a migration holds in this JVM: the engine's threads (named {@code ferry-}, the simulator's
 * own vCPU and relay threads excluded), its open sockets (file descriptors that are sockets), and
 * its direct memory. A test takes one before and one after, and checks nothing leaked.
 */
record Resources(List<String> threads, int sockets, long directBytes) {

  static Resources now() {
    List<String> threads = Thread.getAllStackTraces().keySet().stream()
        .filter(Thread::isAlive)
        .map(Thread::getName)
        .filter(n -> n.startsWith("ferry-") && !n.startsWith("ferry-sim-"))
        .sorted()
        .toList();
    return new Resources(threads, countSockets(), direct().getMemoryUsed());
  }

  static BufferPoolMXBean direct() {
    return ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class).stream()
        .filter(b -> b.getName().equals("direct")).findFirst().orElseThrow();
  }

  /** Open file descriptors of this process that are sockets; -1 where /proc is missing. */
  static int countSockets() {
    Path fds = Path.of("/proc/self/fd");
    if (!Files.isDirectory(fds)) {
      return -1;
    }
    try (Stream<Path> s = Files.list(fds)) {
      return (int) s.filter(p -> {
        try {
          return Files.readSymbolicLink(p).toString().startsWith("socket:");
        } catch (IOException e) {
          return false; // closed while listing
        }
      }).count();
    } catch (IOException e) {
      return -1;
    }
  }

  /**
   * Waits, at most {@code millis}, until the engine's threads and sockets are back to at most
   * {@code before}'s; returns what it saw last.
   */
  static Resources settleTo(Resources before, long millis) throws InterruptedException {
    long deadline = System.nanoTime() + millis * 1_000_000;
    Resources r = now();
    while ((r.threads.size() > before.threads.size() || r.sockets > before.sockets) && System.nanoTime() < deadline) {
      Thread.sleep(20);
      r = now();
    }
    return r;
  }
}
