package dev.ferry.spi;

/**
 * The version of this service-provider interface.
 *
 * <p>A provider returns {@link #CURRENT} from {@link HypervisorProvider#spiVersion()}; because it
 * is a compile-time constant, the value is the one the provider was <em>compiled</em> against, so
 * Ferry can tell a provider built for an older or newer SPI from one built for this one.
 */
public final class SpiVersion {
  /** The SPI version of this build. Raised on every incompatible change to {@code dev.ferry.spi}. */
  public static final int CURRENT = 1;

  private SpiVersion() {}
}
