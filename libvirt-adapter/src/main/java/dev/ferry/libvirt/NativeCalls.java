package dev.ferry.libvirt;

import java.net.URI;
import org.libvirt.Connect;
import org.libvirt.Domain;

/**
 * The calls a {@link LibvirtJob} makes outside libvirt-java's {@link Domain} and {@link Connect}
 * objects: opening connections, and the libvirt functions {@link VirtNative} binds through JNA.
 * {@link #LIBVIRT} is the only production implementation; the seam exists so that unit tests can
 * drive a job's error paths with mocks, without libvirt's C library.
 *
 * <p>Implementations must be thread-safe.
 */
interface NativeCalls {
  /** A new libvirt connection to {@code uri} ({@link LibvirtHost#connect}). */
  Connect connect(URI uri);

  /** The domain's state and reason: {state, reason} ({@link VirtNative#state}). */
  int[] state(Domain d);

  /** {@link VirtNative#setMaxSpeed}. */
  void setMaxSpeed(Domain d, long mibps);

  /** {@link VirtNative#setMaxPostCopySpeed}. */
  void setMaxPostCopySpeed(Domain d, long mibps);

  /** {@link VirtNative#startPostCopy}. */
  void startPostCopy(Domain d);

  /** The real calls: libvirt-java and JNA on {@code libvirt.so.0}. */
  NativeCalls LIBVIRT = new NativeCalls() {
    @Override
    public Connect connect(URI uri) {
      return LibvirtHost.connect(uri);
    }

    @Override
    public int[] state(Domain d) {
      return VirtNative.state(d);
    }

    @Override
    public void setMaxSpeed(Domain d, long mibps) {
      VirtNative.setMaxSpeed(d, mibps);
    }

    @Override
    public void setMaxPostCopySpeed(Domain d, long mibps) {
      VirtNative.setMaxPostCopySpeed(d, mibps);
    }

    @Override
    public void startPostCopy(Domain d) {
      VirtNative.startPostCopy(d);
    }

    @Override
    public String toString() {
      return "NativeCalls.LIBVIRT";
    }
  };
}
