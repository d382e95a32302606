package dev.ferry.wire;

/** Why a peer gave up, carried by an ERROR frame. Codes are fixed by the protocol. */
public enum ErrorCode {
  /** The peer broke the protocol: a malformed, unexpected or oversized frame. */
  PROTOCOL(1),
  /** The peers cannot work together: protocol version, page size, CPU, memory. */
  INCOMPATIBLE(2),
  /** The source did not authenticate (wrong or missing token). */
  UNAUTHORIZED(3),
  /** The destination takes no more migrations now; try later. */
  BUSY(4),
  /** A bug or an unexpected failure on the sender's side. */
  INTERNAL(5),
  /** A frame failed its CRC32C check. */
  CHECKSUM(6),
  /** The migration was cancelled. */
  CANCELLED(7),
  /** The destination's memory digest differs from the source's. */
  VERIFY_MISMATCH(8),
  /** The destination refuses this VM (policy, resources, a VM of that id exists). */
  REFUSED(9),
  /**
   * Answer to COMMIT: the destination could not run the guest, has discarded its copy and will never
   * run it, so the source may resume. (1.1)
   */
  ACTIVATION_FAILED(10);

  private final int code;

  ErrorCode(int code) {
    this.code = code;
  }

  /** The u16 code on the wire. */
  public int code() {
    return code;
  }

  /** The error code with this value, or {@code null} when it is unknown. */
  public static ErrorCode ofCode(int code) {
    for (ErrorCode c : values()) {
      if (c.code == code) {
        return c;
      }
    }
    return null;
  }
}
