package dev.ferry.spi;

import java.net.URI;

/**
 * Entry point of a hypervisor backend, discovered with {@link java.util.ServiceLoader}.
 *
 * <p>A backend registers its implementation in
 * {@code META-INF/services/dev.ferry.spi.HypervisorProvider}. Ferry asks every provider found
 * whether it {@linkplain #supports(URI) supports} a host URI and opens the host with the one that
 * does; when none does, the error lists each provider and the reason it declined.
 *
 * <p>Implementations must be thread-safe and must have a public no-argument constructor.
 * {@link #supports(URI)} must be cheap: it must not connect anywhere.
 */
public interface HypervisorProvider {

  /** A short, stable name for this backend, such as {@code "sim"} or {@code "libvirt"}. */
  String name();

  /**
   * The SPI version this provider was compiled against: implementations return
   * {@link SpiVersion#CURRENT}, which the compiler inlines.
   */
  int spiVersion();

  /**
   * Says, without connecting anywhere, whether this provider can open the given host URI.
   *
   * @return {@link Support#yes()} or {@link Support#no(String)} with a reason a user can act on
   */
  Support supports(URI uri);

  /**
   * Opens a driver for the host the URI names.
   *
   * @throws IllegalArgumentException if the URI is malformed for this backend
   * @throws DriverException if the host cannot be reached or opened
   */
  HostDriver open(URI uri);

  /**
   * The answer to {@link HypervisorProvider#supports(URI)}.
   *
   * @param supported whether the provider can open the URI
   * @param reason why not, when {@code supported} is false; empty otherwise
   */
  record Support(boolean supported, String reason) {
    private static final Support YES = new Support(true, "");

    public Support {
      if (reason == null) {
        throw new NullPointerException("reason");
      }
    }

    /** The provider supports the URI. */
    public static Support yes() {
      return YES;
    }

    /** The provider declines the URI, for the given reason. */
    public static Support no(String reason) {
      return new Support(false, reason);
    }
  }
}
