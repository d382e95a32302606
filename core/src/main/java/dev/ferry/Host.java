package dev.ferry;

import dev.ferry.engine.HypervisorDrivenMigration;
import dev.ferry.engine.Receiver;
import dev.ferry.engine.SourceMigration;
import dev.ferry.spi.DriverException;
import dev.ferry.spi.HostDriver;
import dev.ferry.spi.HostInfo;
import dev.ferry.spi.NoSuchVmException;
import dev.ferry.spi.VmDriver;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A connection to one hypervisor host, opened with {@link Ferry#connect}. Lists and finds VMs,
 * migrates them away, and receives migrations.
 *
 * <p>Thread-safe. {@link #close()} stops this host's receivers (ending the incoming migrations
 * under way) and releases the backend connection; VMs keep running.
 */
public final class Host implements AutoCloseable {
  private final HostDriver driver;
  private final String providerName;
  private final URI uri;
  private final List<MigrationReceiver> receivers = new ArrayList<>();
  private MigrationReceiver defaultReceiver;
  private boolean closed;

  Host(HostDriver driver, String providerName) {
    this(driver, providerName, null);
  }

  Host(HostDriver driver, String providerName, URI uri) {
    this.driver = driver;
    this.providerName = providerName;
    this.uri = uri;
  }

  /** The URI this host was opened with, when it was opened by {@link Ferry#connect}. */
  public Optional<URI> uri() {
    return Optional.ofNullable(uri);
  }

  /** The host's id, hostname, CPU and memory. */
  public HostInfo info() {
    return driver.info();
  }

  /** The name of the backend that opened this host ("sim", "libvirt", …). */
  public String provider() {
    return providerName;
  }

  /** The VMs on this host now, by name. */
  public List<Vm> vms() {
    List<Vm> vms = new ArrayList<>();
    for (VmDriver d : call(driver::vms)) {
      vms.add(new Vm(this, d));
    }
    return List.copyOf(vms);
  }

  /**
   * The VM of this name.
   *
   * @throws VmNotFoundException if the host has none, with the names it has
   */
  public Vm vm(String name) {
    Objects.requireNonNull(name, "name");
    return call(() -> driver.vm(name))
        .map(d -> new Vm(this, d))
        .orElseThrow(() -> new VmNotFoundException("no VM named '" + name + "' on host "
            + driver.info().hostname() + "; it has: " + names()));
  }

  private String names() {
    List<String> names = new ArrayList<>();
    for (VmDriver d : call(driver::vms)) {
      names.add(d.description().name());
    }
    return names.isEmpty() ? "no VMs" : String.join(", ", names);
  }

  /**
   * Starts migrating {@code vm} from this host to {@code target} and returns at once.
   *
   * @throws MigrationRefusedException if the VM is not on this host or its backend offers no way
   *     to migrate it with these options; nothing has moved then
   */
  public MigrationSession migrate(Vm vm, MigrationTarget target, MigrationOptions options) {
    Objects.requireNonNull(vm, "vm");
    Objects.requireNonNull(target, "target");
    Objects.requireNonNull(options, "options");
    if (vm.host() != this) {
      throw new MigrationRefusedException("VM '" + vm.name() + "' was obtained from host "
          + vm.host().info().hostname() + ", not from " + info().hostname());
    }
    ensureOpen();
    if (vm.driver().memory().isEmpty() && vm.driver().hypervisorMigration().isPresent()) {
      // The hypervisor copies memory itself (libvirt): Ferry samples and steers its job.
      return HypervisorDrivenMigration.start(driver.info(), vm.driver(), target, options);
    }
    return SourceMigration.start(driver.info(), vm.driver(), target, options);
  }

  /**
   * The target that sends migrations to this host: a receiver on the loopback address, started
   * at the first call and kept until {@link #close()}, and this host's {@linkplain #uri() URI}, which
   * hypervisor-driven migrations (libvirt) need. For another address, or a token, use
   * {@link #listen(InetSocketAddress, String)}.
   */
  public synchronized MigrationTarget target() {
    if (defaultReceiver == null) {
      defaultReceiver = listen(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), "");
    }
    MigrationTarget t = defaultReceiver.target();
    return uri == null ? t : t.withHostUri(uri);
  }

  /**
   * Starts a receiver for incoming migrations on {@code address} (port 0 picks a free port).
   *
   * @param token the shared secret a source must prove; empty to accept any source, which a
   *     receiver allows only on a loopback address
   * @throws HostException if the address cannot be bound, or it is not a loopback address and the
   *     token is empty
   */
  public synchronized MigrationReceiver listen(InetSocketAddress address, String token) {
    return listen(address, ReceiverOptions.builder().token(token).build());
  }

  /**
   * Starts a receiver for incoming migrations on {@code address} (port 0 picks a free port), with
   * these options (TLS, token, peer timeout, bounds on sessions, streams and connections).
   *
   * @throws HostException if the address cannot be bound, or it is not a loopback address and the
   *     options have neither TLS nor a token
   */
  public synchronized MigrationReceiver listen(InetSocketAddress address, ReceiverOptions options) {
    ensureOpen();
    MigrationReceiver r = Receiver.start(driver, address, options);
    receivers.add(r);
    return r;
  }

  private void ensureOpen() {
    if (closed) {
      throw new IllegalStateException("host " + providerName + " is closed");
    }
  }

  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (MigrationReceiver r : receivers) {
      r.close();
    }
    driver.close();
  }

  private <T> T call(java.util.function.Supplier<T> op) {
    try {
      return op.get();
    } catch (NoSuchVmException e) {
      throw new VmNotFoundException(e.getMessage());
    } catch (DriverException e) {
      throw new HostException(e.getMessage(), e);
    }
  }

  @Override
  public String toString() {
    return "Host[" + providerName + ":" + driver.info().hostname() + "]";
  }
}
