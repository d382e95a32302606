package dev.ferry.kvm;

import dev.ferry.spi.DriverException;
import dev.ferry.spi.HostDriver;
import dev.ferry.spi.HypervisorProvider;
import dev.ferry.spi.SpiVersion;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;

/**
 * The KVM backend's entry point, registered for {@link java.util.ServiceLoader} under the name
 * {@code "kvm"}.
 *
 * <p>URIs: {@code kvm://<host>}, optionally {@code kvm://<host>?serial-dir=/path}. Opening one reaches
 * the process-wide {@link KvmHost} of that name, creating it if needed; it fails with a
 * {@link DriverException} saying why when {@code /dev/kvm} cannot be used. {@link #supports(URI)}
 * looks at the scheme only and never touches the device.
 *
 * <p>Thread-safety: stateless; safe from any thread.
 */
public final class KvmProvider implements HypervisorProvider {
  /** The provider's name and URI scheme. */
  public static final String NAME = "kvm";
  private static final String FORM = "kvm://<host>[?serial-dir=<path>]";

  /** For {@link java.util.ServiceLoader}. */
  public KvmProvider() {}

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public int spiVersion() {
    return SpiVersion.CURRENT;
  }

  @Override
  public Support supports(URI uri) {
    if (uri == null) {
      return Support.no("no URI given");
    }
    String scheme = uri.getScheme();
    if (scheme == null) {
      return Support.no("URI has no scheme; KVM URIs look like " + FORM);
    }
    if (!scheme.equalsIgnoreCase(NAME)) {
      return Support.no("scheme is not kvm (it is '" + scheme + "')");
    }
    return Support.yes();
  }

  @Override
  public HostDriver open(URI uri) {
    if (uri.getScheme() == null || !uri.getScheme().equalsIgnoreCase(NAME)) {
      throw new IllegalArgumentException("not a kvm URI: " + uri);
    }
    if (uri.isOpaque() || uri.getHost() == null) {
      throw new IllegalArgumentException("KVM URI must look like " + FORM + ", got " + uri);
    }
    if (uri.getPort() != -1 || uri.getRawUserInfo() != null || uri.getRawFragment() != null
        || (uri.getRawPath() != null && !uri.getRawPath().isEmpty())) {
      throw new IllegalArgumentException("KVM URI must be just " + FORM + ", got " + uri);
    }
    Path serialDir = null;
    String query = uri.getRawQuery();
    if (query != null && !query.isEmpty()) {
      for (String part : query.split("&", -1)) {
        int eq = part.indexOf('=');
        String key = eq < 0 ? part : URLDecoder.decode(part.substring(0, eq), StandardCharsets.UTF_8);
        if (!"serial-dir".equals(key) || eq < 0) {
          throw new IllegalArgumentException("unknown query parameter '" + part + "' in " + uri + "; known: serial-dir");
        }
        serialDir = Paths.get(URLDecoder.decode(part.substring(eq + 1), StandardCharsets.UTF_8));
      }
    }
    KvmSystem.unavailableReason().ifPresent(reason -> {
      throw new DriverException("cannot open " + uri + ": " + reason);
    });
    return KvmHost.named(uri.getHost(), serialDir).driver();
  }

  @Override
  public String toString() {
    return "KvmProvider";
  }
}
