package dev.ferry.libvirt;

import dev.ferry.spi.HypervisorMigration;
import java.util.Objects;
import java.util.Optional;

/**
 * libvirt's own controls of a migration, which Ferry's shared options do not cover: how the
 * migration is driven (peer-to-peer or managed direct), libvirt's TLS for the memory stream, where
 * QEMU's stream goes and where the destination listens, and whether the domain is defined on the
 * destination and undefined on the source. Pass it with
 * {@code MigrationOptions.builder().backendOptions(LibvirtMigrationOptions.builder()...build())};
 * an engine-driven migration given it is refused.
 *
 * <pre>{@code
 * MigrationOptions o = MigrationOptions.builder()
 *     .maxDowntime(Duration.ofMillis(300))
 *     .backendOptions(LibvirtMigrationOptions.builder()
 *         .peerToPeer(true)
 *         .migrateUri("tcp://10.0.0.2:49200")
 *         .persistDestination(true).undefineSource(true)
 *         .build())
 *     .build();
 * }</pre>
 *
 * <p>Immutable and thread-safe; the builder is not thread-safe.
 */
public final class LibvirtMigrationOptions implements HypervisorMigration.BackendOptions {
  private final boolean peerToPeer;
  private final boolean tls;
  private final Optional<String> migrateUri;
  private final Optional<String> listenAddress;
  private final Optional<Boolean> persistDestination;
  private final Optional<Boolean> undefineSource;

  private LibvirtMigrationOptions(Builder b) {
    this.peerToPeer = b.peerToPeer;
    this.tls = b.tls;
    this.migrateUri = Optional.ofNullable(b.migrateUri);
    this.listenAddress = Optional.ofNullable(b.listenAddress);
    this.persistDestination = Optional.ofNullable(b.persistDestination);
    this.undefineSource = Optional.ofNullable(b.undefineSource);
  }

  /** A builder with libvirt's defaults as Ferry uses them: managed direct, no TLS, URIs chosen by Ferry. */
  public static Builder builder() {
    return new Builder();
  }

  /** The defaults: what a migration without libvirt options does. */
  public static LibvirtMigrationOptions defaults() {
    return builder().build();
  }

  /**
   * Whether the source's libvirt daemon drives the migration and talks to the destination's itself
   * ({@code VIR_MIGRATE_PEER2PEER}, started with {@code virDomainMigrateToURI3} and the destination's
   * URI as the source daemon reaches it), rather than Ferry's process driving both daemons
   * (managed direct, {@code virDomainMigrate3}). False by default.
   */
  public boolean peerToPeer() {
    return peerToPeer;
  }

  /**
   * Whether QEMU's migration stream is encrypted with libvirt's TLS ({@code VIR_MIGRATE_TLS}); both
   * hosts need the certificates {@code migrate_tls_x509_cert_dir} in qemu.conf names (default
   * {@code /etc/pki/qemu}). False by default.
   */
  public boolean tls() {
    return tls;
  }

  /**
   * The URI QEMU's stream goes to ({@code VIR_MIGRATE_PARAM_URI}), e.g. {@code tcp://10.0.0.2:49200}
   * for a migration network. Empty: Ferry's choice, {@code tcp://} and the destination URI's host
   * (loopback for a local URI), a port from the destination's {@code migration_port_min}..max.
   */
  public Optional<String> migrateUri() {
    return migrateUri;
  }

  /**
   * The address the destination's QEMU listens on for the stream
   * ({@code VIR_MIGRATE_PARAM_LISTEN_ADDRESS}). Empty: libvirt's {@code migration_address} from
   * qemu.conf.
   */
  public Optional<String> listenAddress() {
    return listenAddress;
  }

  /**
   * Whether the domain is defined (made persistent) on the destination ({@code VIR_MIGRATE_PERSIST_DEST}).
   * Empty: Ferry's default, defined there exactly when it is defined on the source.
   */
  public Optional<Boolean> persistDestination() {
    return persistDestination;
  }

  /**
   * Whether the domain's definition is removed from the source once it runs on the destination
   * ({@code VIR_MIGRATE_UNDEFINE_SOURCE}). Empty: Ferry's default, removed exactly when the domain is
   * defined on the source.
   */
  public Optional<Boolean> undefineSource() {
    return undefineSource;
  }

  @Override
  public String toString() {
    return "LibvirtMigrationOptions[" + (peerToPeer ? "peer-to-peer" : "managed direct") + (tls ? ", tls" : "")
        + migrateUri.map(u -> ", migrateUri=" + u).orElse("") + listenAddress.map(a -> ", listenAddress=" + a).orElse("")
        + persistDestination.map(p -> ", persistDestination=" + p).orElse("")
        + undefineSource.map(u -> ", undefineSource=" + u).orElse("") + "]";
  }

  /** Builds {@link LibvirtMigrationOptions}. Not thread-safe. */
  public static final class Builder {
    private boolean peerToPeer;
    private boolean tls;
    private String migrateUri;
    private String listenAddress;
    private Boolean persistDestination;
    private Boolean undefineSource;

    private Builder() {}

    /** See {@link LibvirtMigrationOptions#peerToPeer()}. */
    public Builder peerToPeer(boolean p2p) {
      this.peerToPeer = p2p;
      return this;
    }

    /** See {@link LibvirtMigrationOptions#tls()}. */
    public Builder tls(boolean on) {
      this.tls = on;
      return this;
    }

    /** See {@link LibvirtMigrationOptions#migrateUri()}; null for Ferry's choice. */
    public Builder migrateUri(String uri) {
      this.migrateUri = notBlank(uri, "migrate URI");
      return this;
    }

    /** See {@link LibvirtMigrationOptions#listenAddress()}; null for libvirt's. */
    public Builder listenAddress(String address) {
      this.listenAddress = notBlank(address, "listen address");
      return this;
    }

    /** See {@link LibvirtMigrationOptions#persistDestination()}. */
    public Builder persistDestination(boolean persist) {
      this.persistDestination = persist;
      return this;
    }

    /** See {@link LibvirtMigrationOptions#undefineSource()}. */
    public Builder undefineSource(boolean undefine) {
      this.undefineSource = undefine;
      return this;
    }

    public LibvirtMigrationOptions build() {
      return new LibvirtMigrationOptions(this);
    }

    private static String notBlank(String v, String what) {
      if (v != null && v.isBlank()) {
        throw new IllegalArgumentException(what + " is blank; pass null for the default");
      }
      return v;
    }
  }

  /** The libvirt options of a request: its own, the defaults when none, refused when another backend's. */
  static LibvirtMigrationOptions of(HypervisorMigration.Request r) {
    Objects.requireNonNull(r, "request");
    if (r.backendOptions().isEmpty()) {
      return defaults();
    }
    if (r.backendOptions().get() instanceof LibvirtMigrationOptions o) {
      return o;
    }
    throw new dev.ferry.spi.DriverException("the libvirt backend takes LibvirtMigrationOptions, not "
        + r.backendOptions().get().getClass().getName() + " (" + r.backendOptions().get() + ")");
  }
}
