package dev.ferry.libvirt;

import dev.ferry.spi.CpuInfo;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.DriverException;
import dev.ferry.spi.HostDriver;
import dev.ferry.spi.HostId;
import dev.ferry.spi.HostInfo;
import dev.ferry.spi.VmDriver;
import java.io.StringReader;
import java.net.URI;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.TreeSet;
import javax.xml.parsers.DocumentBuilderFactory;
import org.libvirt.Connect;
import org.libvirt.Domain;
import org.libvirt.LibvirtException;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;
import org.xml.sax.InputSource;

/**
 * One libvirt connection. Host identity is libvirt's host UUID (from the capabilities XML), which
 * is also what libvirt compares to refuse a migration to the same host.
 *
 * <p>Thread-safe: libvirt connections may be used from several threads at once. A blocking
 * migration call is never made on this connection (see {@link LibvirtJob}).
 */
final class LibvirtHost implements HostDriver {
  private final URI uri;
  private final Connect conn;
  private final HostInfo info;
  private volatile boolean closed;

  private LibvirtHost(URI uri, Connect conn, HostInfo info) {
    this.uri = uri;
    this.conn = conn;
    this.info = info;
  }

  static LibvirtHost open(URI uri) {
    Connect c = connect(uri);
    try {
      return new LibvirtHost(uri, c, readInfo(uri, c));
    } catch (RuntimeException e) {
      closeQuietly(c);
      throw e;
    }
  }

  /**
   * Kept for the life of the process: libvirt calls it through JNA. Without it, libvirt prints every
   * error to stderr, including the "Domain not found" that is the normal end of a migration.
   */
  private static final org.libvirt.ErrorCallback QUIET = new org.libvirt.ErrorCallback();
  private static volatile boolean quiet;

  private static void quietErrors() {
    if (!quiet) {
      try {
        Connect.setErrorCallback(QUIET);
        quiet = true;
      } catch (LibvirtException e) {
        // errors stay on stderr; nothing else changes
      }
    }
  }

  /** A new libvirt connection to {@code uri}. */
  static Connect connect(URI uri) {
    try {
      quietErrors();
      return new Connect(uri.toString(), false);
    } catch (LibvirtException e) {
      throw new DriverException("cannot connect to libvirt at " + uri + ": " + Errors.message(e), e);
    } catch (UnsatisfiedLinkError e) {
      throw new DriverException("libvirt's C library (libvirt.so.0) is not installed: " + e.getMessage(), e);
    }
  }

  static void closeQuietly(Connect c) {
    try {
      c.close();
    } catch (LibvirtException | RuntimeException e) {
      // nothing more to do
    }
  }

  private static HostInfo readInfo(URI uri, Connect c) {
    try {
      String caps = c.getCapabilities();
      String hostname = c.getHostName();
      long memKib = c.nodeInfo().memory;
      Capabilities parsed = Capabilities.parse(caps);
      String id = parsed.uuid.isEmpty()
          ? java.util.UUID.nameUUIDFromBytes((uri + "|" + hostname).getBytes(java.nio.charset.StandardCharsets.UTF_8)).toString()
          : parsed.uuid;
      return new HostInfo(new HostId(id), hostname, parsed.cpu, DataSize.kib(memKib));
    } catch (LibvirtException e) {
      throw Errors.driver("reading host information from " + uri, e);
    }
  }

  URI uri() {
    return uri;
  }

  Connect connection() {
    ensureOpen();
    return conn;
  }

  @Override
  public HostInfo info() {
    return info;
  }

  @Override
  public List<VmDriver> vms() {
    ensureOpen();
    List<VmDriver> out = new ArrayList<>();
    try {
      for (Domain d : conn.listAllDomains(0)) {
        try {
          out.add(new LibvirtVm(this, d));
        } catch (DriverException e) {
          if (!(e instanceof dev.ferry.spi.NoSuchVmException)) {
            throw e;
          }
          // it went away while we listed
        }
      }
    } catch (LibvirtException e) {
      throw Errors.driver("listing domains on " + uri, e);
    }
    out.sort(Comparator.comparing(v -> v.description().name()));
    return List.copyOf(out);
  }

  @Override
  public Optional<VmDriver> vm(String name) {
    ensureOpen();
    try {
      return Optional.of(new LibvirtVm(this, conn.domainLookupByName(name)));
    } catch (LibvirtException e) {
      if (Errors.noDomain(e)) {
        return Optional.empty();
      }
      throw Errors.driver("looking up domain '" + name + "' on " + uri, e);
    } catch (dev.ferry.spi.NoSuchVmException e) {
      return Optional.empty();
    }
  }

  private void ensureOpen() {
    if (closed) {
      throw new IllegalStateException("libvirt connection to " + uri + " is closed");
    }
  }

  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    closeQuietly(conn);
  }

  @Override
  public String toString() {
    return "LibvirtHost[" + uri + "]";
  }

  /** What Ferry reads from libvirt's capabilities XML. */
  static final class Capabilities {
    final String uuid;
    final CpuInfo cpu;

    private Capabilities(String uuid, CpuInfo cpu) {
      this.uuid = uuid;
      this.cpu = cpu;
    }

    static Capabilities parse(String xml) {
      try {
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        Document doc = f.newDocumentBuilder().parse(new InputSource(new StringReader(xml)));
        Element host = first(doc.getDocumentElement(), "host");
        String uuid = "";
        String model = "unknown";
        TreeSet<String> features = new TreeSet<>();
        if (host != null) {
          Element u = first(host, "uuid");
          uuid = u == null ? "" : u.getTextContent().trim();
          Element cpu = first(host, "cpu");
          if (cpu != null) {
            Element m = first(cpu, "model");
            Element arch = first(cpu, "arch");
            model = m != null ? m.getTextContent().trim() : arch != null ? arch.getTextContent().trim() : model;
            NodeList fs = cpu.getElementsByTagName("feature");
            for (int i = 0; i < fs.getLength(); i++) {
              String n = ((Element) fs.item(i)).getAttribute("name");
              if (!n.isEmpty()) {
                features.add(n);
              }
            }
          }
        }
        return new Capabilities(uuid, new CpuInfo(model, features));
      } catch (Exception e) {
        throw new DriverException("cannot read libvirt capabilities XML: " + e.getMessage(), e);
      }
    }

    private static Element first(Element parent, String tag) {
      for (org.w3c.dom.Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
        if (n instanceof Element e && e.getTagName().equals(tag)) {
          return e;
        }
      }
      return null;
    }
  }
}
