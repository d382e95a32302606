package dev.ferry.cli;

import dev.ferry.sim.SimHost;
import java.net.URI;

/** The simulated hosts a command opened by URI, destroyed when it ends (they live in this process only). */
final class SimHosts {
  private SimHosts() {}

  /** Destroys the sim hosts among {@code uris} (others are left alone). */
  static void destroy(String... uris) {
    for (String u : uris) {
      if (u != null && u.regionMatches(true, 0, "sim://", 0, 6)) {
        String name = URI.create(u).getHost();
        if (name != null) {
          SimHost.all().stream().filter(h -> h.name().equalsIgnoreCase(name)).forEach(SimHost::destroy);
        }
      }
    }
  }
}
