package dev.ferry.wire;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;

/**
 * The 16 bytes each side sends first on every connection: ASCII {@code FERRYMIG}, u16 major, u16
 * minor, u32 reserved (zero). A peer with another major version is refused; a higher minor of the
 * same major is accepted (minor versions only add what the handshake negotiates).
 *
 * @param major the peer's major version
 * @param minor the peer's minor version
 */
public record Preamble(int major, int minor) {

  /** This side's version. */
  public static final Preamble CURRENT = new Preamble(WireFormat.MAJOR_VERSION, WireFormat.MINOR_VERSION);

  /** Writes this side's preamble. */
  public static void write(WritableByteChannel channel) throws IOException {
    Io.requireBlocking(channel);
    ByteBuffer b = ByteBuffer.allocate(WireFormat.PREAMBLE_LENGTH);
    b.put(WireFormat.MAGIC).putShort((short) WireFormat.MAJOR_VERSION)
        .putShort((short) WireFormat.MINOR_VERSION).putInt(0).flip();
    Io.writeFully(channel, b);
  }

  /**
   * Reads and checks the peer's preamble.
   *
   * @return the peer's version (same major as this side)
   * @throws EndOfStreamException when the peer closed the connection before sending a byte
   * @throws ProtocolException when the stream is not a Ferry migration stream, ends inside the
   *     preamble, or speaks another major version ({@link ErrorCode#INCOMPATIBLE})
   */
  public static Preamble read(ReadableByteChannel channel) throws IOException {
    Io.requireBlocking(channel);
    ByteBuffer b = ByteBuffer.allocate(WireFormat.PREAMBLE_LENGTH);
    int n = Io.readFully(channel, b);
    if (n == 0) {
      throw new EndOfStreamException("connection closed before the Ferry preamble");
    }
    b.flip();
    int magicSeen = Math.min(n, WireFormat.MAGIC.length);
    for (int i = 0; i < magicSeen; i++) {
      if (b.get(i) != WireFormat.MAGIC[i]) {
        throw new ProtocolException("not a Ferry migration stream: it starts with " + printable(b, n));
      }
    }
    if (n < WireFormat.PREAMBLE_LENGTH) {
      throw new ProtocolException(
          "connection closed inside the Ferry preamble after " + n + " of " + WireFormat.PREAMBLE_LENGTH + " bytes");
    }
    int major = Short.toUnsignedInt(b.getShort(8));
    int minor = Short.toUnsignedInt(b.getShort(10));
    int reserved = b.getInt(12);
    if (major != WireFormat.MAJOR_VERSION) {
      throw new ProtocolException(ErrorCode.INCOMPATIBLE, "protocol version " + major + "." + minor
          + " not supported, this side speaks " + WireFormat.MAJOR_VERSION + "." + WireFormat.MINOR_VERSION);
    }
    if (reserved != 0) {
      throw new ProtocolException(
          "reserved field of the Ferry preamble is not zero: 0x" + Integer.toHexString(reserved));
    }
    return new Preamble(major, minor);
  }

  private static String printable(ByteBuffer b, int n) {
    StringBuilder sb = new StringBuilder("\"");
    for (int i = 0; i < Math.min(n, WireFormat.MAGIC.length); i++) {
      int c = b.get(i) & 0xff;
      if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
        sb.append((char) c);
      } else {
        sb.append(String.format("\\x%02x", c));
      }
    }
    return sb.append('"').toString();
  }

  @Override
  public String toString() {
    return major + "." + minor;
  }
}
