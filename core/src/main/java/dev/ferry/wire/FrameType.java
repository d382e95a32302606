package dev.ferry.wire;

/** The type byte of a frame. Codes are fixed by the protocol; never renumber. */
public enum FrameType {
  /** Source to destination, first frame on the control stream. */
  HELLO(1),
  /** Destination to source: the destination takes the migration. */
  ACCEPT(2),
  /** Either way: the sender gives up on the session, with a reason. */
  ERROR(3),
  /** Source to destination: a batch of pages. */
  PAGES(4),
  /** Source to destination, on every stream: all pages of a round were sent on this stream. */
  ROUND_END(5),
  /** Source to destination: a chunk of the device state. */
  DEVICE_STATE(6),
  /** Source to destination: the guest is paused, the last pages were sent. */
  SWITCHOVER(7),
  /** Destination to source: every page arrived; ready to run the guest. */
  READY(8),
  /** Source to destination: run the guest. */
  COMMIT(9),
  /** Destination to source: the guest runs on the destination. */
  RESUMED(10),
  /** Source to destination: the migration is abandoned. */
  CANCEL(11),
  /** Either way: a liveness and round-trip probe. */
  PING(12),
  /** The answer to PING, echoing its value. */
  PONG(13),
  /** Source to destination, first frame on each data stream. */
  JOIN(14),
  /** Destination to source: send these pages first (post-copy). */
  PAGE_REQUEST(15),
  /** Destination to source: a round was received and applied. */
  ROUND_ACK(16),
  /** Source to destination: the guest is paused; run it before these missing pages arrive. */
  POSTCOPY_SWITCH(17),
  /** Destination to source: no page is missing any more; the source may release its copy. */
  POSTCOPY_COMPLETE(18),
  /** Source to destination, first frame of a new control stream: resume a broken post-copy. */
  RECOVER(19),
  /** Destination to source: the pages still missing, in answer to RECOVER. */
  MISSING(20),
  /** Source to destination, first frame of a new connection: what became of this session? (1.1) */
  QUERY(21),
  /** Destination to source: the answer to QUERY. (1.1) */
  STATUS(22),
  /** Destination to source, first frame of every connection: prove the token over this nonce. (2.0) */
  AUTH_CHALLENGE(23),
  /** Source to destination, answering AUTH_CHALLENGE: a nonce of its own and the proof. (2.0) */
  AUTH_RESPONSE(24),
  /** Destination to source: the response proved the token (or none was required); its own proof. (2.0) */
  AUTH_OK(25),
  /** Source to destination, first frame of a new connection: measure the link for a moment. (1.1) */
  PROBE(30),
  /** Source to destination during a probe: bytes to count and drop; an empty one ends the probe. (1.1) */
  PROBE_DATA(31),
  /** Destination to source: what the probe delivered, by the destination's clock. (1.1) */
  PROBE_RESULT(32);

  private static final FrameType[] BY_CODE = new FrameType[256];

  static {
    for (FrameType t : values()) {
      BY_CODE[t.code] = t;
    }
  }

  private final int code;

  FrameType(int code) {
    this.code = code;
  }

  /** The u8 code on the wire. */
  public int code() {
    return code;
  }

  /** The type with this code, or {@code null} when the code is unknown (or outside 0..255). */
  public static FrameType ofCode(int code) {
    return code >= 0 && code < BY_CODE.length ? BY_CODE[code] : null;
  }
}
