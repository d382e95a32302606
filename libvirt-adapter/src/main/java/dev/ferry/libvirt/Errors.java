package dev.ferry.libvirt;

import dev.ferry.spi.DriverException;
import dev.ferry.spi.NoSuchVmException;
import org.libvirt.Error;
import org.libvirt.LibvirtException;

/** Reading libvirt-java's exceptions: libvirt's own message and whether the domain is gone. */
final class Errors {
  private Errors() {}

  /** Whether libvirt said the domain does not exist (VIR_ERR_NO_DOMAIN: "Domain not found"). */
  static boolean noDomain(Throwable e) {
    if (e instanceof VirtNative.DomainGoneException) {
      return true;
    }
    if (e instanceof LibvirtException le) {
      Error err = le.getError();
      return err != null && err.getCode() == Error.ErrorNumber.VIR_ERR_NO_DOMAIN;
    }
    return false;
  }

  /** libvirt's message, without libvirt-java's decorations. */
  static String message(Throwable e) {
    if (e instanceof LibvirtException le && le.getError() != null && le.getError().getMessage() != null) {
      return le.getError().getMessage();
    }
    return String.valueOf(e.getMessage());
  }

  /** A DriverException (NoSuchVmException for a missing domain) carrying libvirt's message. */
  static DriverException driver(String what, Throwable e) {
    if (noDomain(e)) {
      return new NoSuchVmException(what + ": " + message(e));
    }
    return new DriverException(what + ": " + message(e), e);
  }
}
