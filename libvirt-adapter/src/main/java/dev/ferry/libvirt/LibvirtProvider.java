package dev.ferry.libvirt;

import dev.ferry.spi.HostDriver;
import dev.ferry.spi.HypervisorProvider;
import dev.ferry.spi.SpiVersion;
import java.net.URI;
import java.util.Set;

/**
 * The libvirt backend: opens libvirt connections for QEMU/KVM hosts ({@code qemu:///system},
 * {@code qemu+unix:///system?socket=…}, {@code qemu+tcp://host/system}, {@code qemu+ssh://host/system},
 * {@code qemu+tls://…}) and libvirt's mock driver ({@code test:///default}, for lookup code: it
 * refuses every migration).
 *
 * <p>Domains become {@link dev.ferry.spi.VmDriver}s with the hypervisor-driven migration facet:
 * libvirt and QEMU copy memory, Ferry samples and steers the job. Registered for
 * {@link java.util.ServiceLoader}. Needs {@code libvirt.so.0} (Debian: {@code libvirt0}) at
 * {@link #open} time only. Thread-safe and stateless.
 */
public final class LibvirtProvider implements HypervisorProvider {
  private static final Set<String> SCHEMES = Set.of("qemu", "qemu+unix", "qemu+tcp", "qemu+ssh", "qemu+tls",
      "qemu+libssh2", "qemu+libssh", "test");

  @Override
  public String name() {
    return "libvirt";
  }

  @Override
  public int spiVersion() {
    return SpiVersion.CURRENT;
  }

  @Override
  public Support supports(URI uri) {
    String scheme = uri.getScheme();
    if (scheme == null || !SCHEMES.contains(scheme.toLowerCase(java.util.Locale.ROOT))) {
      return Support.no("not a libvirt QEMU URI (schemes: qemu, qemu+unix, qemu+tcp, qemu+ssh, qemu+tls, test)");
    }
    String path = uri.getPath();
    if (scheme.startsWith("qemu") && !"/system".equals(path) && !"/session".equals(path)) {
      return Support.no("a libvirt QEMU URI names /system or /session, not '" + path + "'");
    }
    if ("test".equals(scheme) && (path == null || path.isEmpty())) {
      return Support.no("a libvirt test URI names a file or /default");
    }
    return Support.yes();
  }

  @Override
  public HostDriver open(URI uri) {
    if (!supports(uri).supported()) {
      throw new IllegalArgumentException("not a libvirt URI: " + uri + " (" + supports(uri).reason() + ")");
    }
    return LibvirtHost.open(uri);
  }

  @Override
  public String toString() {
    return "LibvirtProvider";
  }
}
