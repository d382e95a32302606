package dev.ferry.wire;

import java.util.Arrays;
import java.util.HexFormat;

/** A 32-byte memory digest, as carried by SWITCHOVER and READY. Immutable. */
public final class Digest {
  private final byte[] bytes;

  private Digest(byte[] bytes) {
    this.bytes = bytes;
  }

  /** A digest of exactly {@link WireFormat#DIGEST_LENGTH} bytes (copied). */
  public static Digest of(byte[] bytes) {
    if (bytes.length != WireFormat.DIGEST_LENGTH) {
      throw new IllegalArgumentException(
          "a digest is " + WireFormat.DIGEST_LENGTH + " bytes, not " + bytes.length);
    }
    return new Digest(bytes.clone());
  }

  /** A copy of the bytes. */
  public byte[] toByteArray() {
    return bytes.clone();
  }

  byte[] bytesUnsafe() {
    return bytes;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Digest && Arrays.equals(bytes, ((Digest) o).bytes);
  }

  @Override
  public int hashCode() {
    return Arrays.hashCode(bytes);
  }

  @Override
  public String toString() {
    return HexFormat.of().formatHex(bytes);
  }
}
