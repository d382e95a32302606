package dev.ferry.libvirt;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;

/**
 * The real stack it/libvirt.sh starts: two libvirt daemons (source and destination, distinct host
 * UUIDs) and the test guest's kernel. Read from system properties; missing ones fail the test (run
 * the integration tests through it/libvirt.sh).
 *
 * <p>Each daemon runs in a mount namespace where {@code /var/lib/libvirt} is a directory of its own
 * ({@code ferry.it.srcLib}, {@code ferry.it.dstLib}): a guest's serial log at
 * {@code /var/lib/libvirt/ferry-serial/NAME.log} is therefore a different file on each host, and
 * the migrated guest's output lands in the destination's file.
 */
final class ItStack {
  static final Pattern HB = Pattern.compile("^HB n=(\\d+) gen=(\\d+)$");

  final String src;
  final String dst;
  final Path srcLib;
  final Path dstLib;
  final String kernel;
  final String virtType;

  private ItStack() {
    src = need("ferry.it.src");
    dst = need("ferry.it.dst");
    srcLib = Path.of(need("ferry.it.srcLib"));
    dstLib = Path.of(need("ferry.it.dstLib"));
    kernel = need("ferry.it.kernel");
    virtType = need("ferry.it.virtType");
  }

  static ItStack get() {
    return new ItStack();
  }

  private static String need(String key) {
    String v = System.getProperty(key, "");
    if (v.isBlank() || v.startsWith("${")) {
      fail("system property " + key + " is not set: run the integration tests with it/libvirt.sh");
    }
    return v;
  }

  /** Domain XML of the test guest: direct kernel boot, serial port to a file, no disk, no NIC. */
  String domainXml(String name, int regionMib, int rateMibps) {
    int memory = Math.max(32, regionMib + 12);
    return "<domain type='" + virtType + "'>"
        + "<name>" + name + "</name>"
        + "<memory unit='MiB'>" + memory + "</memory>"
        + "<vcpu>1</vcpu>"
        + "<os><type arch='x86_64' machine='pc'>hvm</type><kernel>" + kernel + "</kernel>"
        + "<cmdline>mb=" + regionMib + " rate=" + rateMibps + "</cmdline></os>"
        + "<on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot><on_crash>destroy</on_crash>"
        + "<devices>"
        + "<serial type='file'><source path='/var/lib/libvirt/ferry-serial/" + name + ".log' append='on'/>"
        + "<target port='0'/></serial>"
        + "<controller type='usb' model='none'/>"
        + "<memballoon model='none'/>"
        + "</devices></domain>";
  }

  /** Starts a transient test guest on the source daemon. */
  Guest startGuest(String name, int regionMib, int rateMibps) {
    try {
      Connect c = new Connect(src, false);
      try {
        c.domainCreateXML(domainXml(name, regionMib, rateMibps), 0);
      } finally {
        c.close();
      }
    } catch (LibvirtException e) {
      throw new AssertionError("cannot start the test guest " + name + ": " + e.getMessage(), e);
    }
    return new Guest(this, name);
  }

  /** Defines a persistent test guest on the source daemon and starts it. */
  Guest startDefinedGuest(String name, int regionMib, int rateMibps) {
    try {
      Connect c = new Connect(src, false);
      try {
        c.domainDefineXML(domainXml(name, regionMib, rateMibps)).create();
      } finally {
        c.close();
      }
    } catch (LibvirtException e) {
      throw new AssertionError("cannot define and start the test guest " + name + ": " + e.getMessage(), e);
    }
    return new Guest(this, name);
  }

  /** Whether the daemon at {@code uri} has a domain of that name defined (persistent); false if none. */
  static boolean defined(String uri, String name) {
    try {
      Connect c = new Connect(uri, true);
      try {
        return c.domainLookupByName(name).isPersistent() == 1;
      } catch (LibvirtException e) {
        return false; // no such domain
      } finally {
        c.close();
      }
    } catch (LibvirtException e) {
      throw new AssertionError("cannot connect to " + uri + ": " + e.getMessage(), e);
    }
  }

  /** Destroys a domain of that name on both daemons, and undefines it, if there is one. */
  void destroyEverywhere(String name) {
    for (String uri : List.of(src, dst)) {
      try {
        Connect c = new Connect(uri, false);
        try {
          Domain d = c.domainLookupByName(name);
          if (d.isActive() == 1) {
            d.destroy();
          }
          if (d.isPersistent() == 1) {
            d.undefine();
          }
        } catch (LibvirtException e) {
          // not there
        } finally {
          c.close();
        }
      } catch (LibvirtException e) {
        // daemon gone: nothing to clean
      }
    }
  }

  /**
   * The pid of the QEMU that receives the guest {@code name} on the destination (its command line
   * names the guest and has {@code -incoming}), or -1 if there is none.
   */
  static long incomingQemuPid(String name) {
    for (java.util.Map.Entry<Long, List<String>> q : qemusOf(name).entrySet()) {
      if (q.getValue().contains("-incoming")) {
        return q.getKey();
      }
    }
    return -1;
  }

  /** Pids of every QEMU whose command line names guest {@code name}, with "in" for incoming ones. */
  static List<String> qemuPids(String name) {
    List<String> out = new ArrayList<>();
    qemusOf(name).forEach((pid, args) -> out.add(pid + (args.contains("-incoming") ? "(in)" : "")));
    return out;
  }

  /** The processes whose command line names guest {@code name}: pid and arguments, by pid. */
  private static java.util.SortedMap<Long, List<String>> qemusOf(String name) {
    java.util.SortedMap<Long, List<String>> out = new java.util.TreeMap<>();
    try (java.util.stream.Stream<Path> procs = Files.list(Path.of("/proc"))) {
      for (Path p : (Iterable<Path>) procs::iterator) {
        String pid = p.getFileName().toString();
        if (!pid.chars().allMatch(Character::isDigit)) {
          continue;
        }
        try {
          String cmd = new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.ISO_8859_1);
          List<String> args = List.of(cmd.split("\0"));
          if (args.stream().anyMatch(arg -> arg.startsWith("guest=" + name + ","))) {
            out.put(Long.parseLong(pid), args);
          }
        } catch (IOException e) {
          // the process ended meanwhile
        }
      }
    } catch (IOException e) {
      throw new AssertionError("cannot list /proc", e);
    }
    return out;
  }

  /**
   * Whether the process {@code pid} has a TCP socket bound to local {@code port} (listening or
   * connected), read from {@code /proc/PID/net/tcp}: the table of the network namespace it runs in.
   */
  static boolean hasLocalTcpPort(long pid, int port) {
    String hex = String.format(":%04X", port);
    try {
      for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid), "net", "tcp"))) {
        String[] f = line.trim().split("\\s+");
        if (f.length > 3 && f[1].endsWith(hex) && (f[3].equals("0A") || f[3].equals("01"))) {
          return true;
        }
      }
    } catch (IOException e) {
      return false; // the process ended
    }
    return false;
  }

  /** A test guest and its serial logs on both hosts. */
  static final class Guest {
    final ItStack stack;
    final String name;
    final Path sourceLog;
    final Path destinationLog;

    Guest(ItStack stack, String name) {
      this.stack = stack;
      this.name = name;
      this.sourceLog = stack.srcLib.resolve("ferry-serial").resolve(name + ".log");
      this.destinationLog = stack.dstLib.resolve("ferry-serial").resolve(name + ".log");
    }

    /** Waits until {@code log} holds at least {@code count} heartbeats; returns their numbers. */
    List<Long> awaitHeartbeats(Path log, int count, Duration timeout) throws InterruptedException {
      long deadline = System.nanoTime() + timeout.toNanos();
      List<Long> hb = heartbeats(log);
      while (hb.size() < count) {
        if (System.nanoTime() > deadline) {
          fail("guest " + name + ": " + hb.size() + " heartbeat(s) in " + log + " after " + timeout
              + ", wanted " + count + "; log:\n" + read(log));
        }
        Thread.sleep(200);
        hb = heartbeats(log);
      }
      return hb;
    }

    /** Waits until {@code log} has a heartbeat numbered above {@code after}; returns all heartbeats. */
    List<Long> awaitHeartbeatAfter(Path log, long after, int more, Duration timeout) throws InterruptedException {
      long deadline = System.nanoTime() + timeout.toNanos();
      while (true) {
        List<Long> hb = heartbeats(log);
        long above = hb.stream().filter(n -> n > after).count();
        if (above >= more) {
          return hb;
        }
        if (System.nanoTime() > deadline) {
          fail("guest " + name + ": no " + more + " heartbeat(s) after n=" + after + " in " + log + " within "
              + timeout + "; log:\n" + read(log));
        }
        Thread.sleep(200);
      }
    }

    static List<Long> heartbeats(Path log) {
      List<Long> out = new ArrayList<>();
      for (String line : read(log).split("\n")) {
        Matcher m = HB.matcher(line.trim());
        if (m.matches()) {
          out.add(Long.parseLong(m.group(1)));
        }
      }
      return out;
    }

    /** The CORRUPT lines of a log. */
    static List<String> corruption(Path log) {
      List<String> out = new ArrayList<>();
      for (String line : read(log).split("\n")) {
        if (line.contains("CORRUPT")) {
          out.add(line.trim());
        }
      }
      return out;
    }

    static String read(Path log) {
      try {
        return Files.exists(log) ? Files.readString(log, StandardCharsets.ISO_8859_1) : "";
      } catch (IOException e) {
        throw new AssertionError("cannot read " + log, e);
      }
    }
  }
}
