package dev.ferry.wire;

/** The page compression a source announces in HELLO (u8). Zero pages are always markers. */
public enum WireCompression {
  /** Pages are sent raw (or as zero markers). */
  NONE(0),
  /** Pages may be sent as LZ4 blocks when that shrinks them. */
  LZ4(1);

  private final int code;

  WireCompression(int code) {
    this.code = code;
  }

  /** The u8 code on the wire. */
  public int code() {
    return code;
  }

  /** The compression with this code, or {@code null} when it is unknown. */
  public static WireCompression ofCode(int code) {
    for (WireCompression c : values()) {
      if (c.code == code) {
        return c;
      }
    }
    return null;
  }
}
