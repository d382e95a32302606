package dev.ferry;

import java.net.URI;
import java.util.List;

/**
 * No hypervisor backend on the class path can open a URI. The message lists every provider found
 * and why each declined: add the backend's jar to the class path, or fix the URI.
 */
public class NoProviderException extends FerryException {
  private static final long serialVersionUID = 1L;
  private final URI uri;
  private final List<String> declined;

  public NoProviderException(URI uri, List<String> declined) {
    super(message(uri, declined));
    this.uri = uri;
    this.declined = List.copyOf(declined);
  }

  private static String message(URI uri, List<String> declined) {
    if (declined.isEmpty()) {
      return "no hypervisor provider on the class path can open " + uri
          + ": none was found at all (add ferry-sim or ferry-libvirt to the class path)";
    }
    return "no hypervisor provider can open " + uri + "; tried: " + String.join("; ", declined);
  }

  /** The URI nobody could open. */
  public URI uri() {
    return uri;
  }

  /** One line per provider found: its name and why it declined. */
  public List<String> declined() {
    return declined;
  }
}
