package dev.ferry.engine;

import dev.ferry.DestinationRefusedException;
import dev.ferry.MigrationException;
import dev.ferry.TransportException;
import dev.ferry.VerificationFailedException;
import dev.ferry.wire.ErrorCode;
import dev.ferry.wire.Message;
import dev.ferry.wire.RemoteErrorException;

/**
 * Turns what went wrong on a link into the exception a {@link dev.ferry.MigrationResult} carries:
 * the destination's own reason when it gave one, never a bare "Broken pipe" where it did.
 */
final class Failures {
  private Failures() {}

  /** The destination's ERROR, as the exception its code calls for. */
  static MigrationException remote(Message.ErrorMessage err) {
    String text = "destination: " + err.code() + ": " + err.message();
    if (err.code() == ErrorCode.VERIFY_MISMATCH) {
      return new VerificationFailedException(text);
    }
    if (err.code() == ErrorCode.INCOMPATIBLE || err.code() == ErrorCode.UNAUTHORIZED
        || err.code() == ErrorCode.BUSY || err.code() == ErrorCode.REFUSED) {
      return new DestinationRefusedException(text);
    }
    return new TransportException(text);
  }

  /** Whatever ended a link, as a migration exception. */
  static MigrationException cause(Throwable t) {
    if (t instanceof RemoteErrorException r) {
      return remote(r.remote());
    }
    if (t instanceof MigrationException m) {
      return m;
    }
    if (t instanceof Abort a) {
      return a.cause;
    }
    return transport("lost the destination", t);
  }

  static TransportException transport(String what, Throwable e) {
    return new TransportException(what + ": " + (e.getMessage() == null ? e.toString() : e.getMessage()), e);
  }
}
