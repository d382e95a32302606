package dev.ferry.wire;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.util.Objects;
import java.util.zip.CRC32C;

/**
 * Reads frames from one blocking channel, checking each before handing it out: the payload length
 * against {@link #maxPayload()} before anything is allocated or read for it, the reserved header
 * fields, the type, and the CRC32C over header and payload.
 *
 * <p>The payload buffer is direct, reused, allocated lazily and grown only as frames need, never
 * beyond {@code maxPayload + 4} bytes. A {@link Frame}'s payload is valid until the next call to
 * {@link #next()}.
 *
 * <p>Not thread-safe: one reader per channel, used by one thread at a time.
 */
public final class FrameReader {
  private static final int INITIAL_CAPACITY = 64 * 1024;

  private final ReadableByteChannel channel;
  private final ByteBuffer header = ByteBuffer.allocateDirect(WireFormat.HEADER_LENGTH);
  private final CRC32C crc = new CRC32C();
  private int maxPayload;
  private ByteBuffer buffer = ByteBuffer.allocateDirect(0);
  private ByteBuffer view = buffer.asReadOnlyBuffer();
  private long bytesRead;
  private long framesRead;

  /**
   * @param channel a blocking channel (a {@code SocketChannel} in practice)
   * @param maxPayload the largest payload accepted, in bytes; use a small limit such as
   *     {@link WireFormat#HANDSHAKE_MAX_PAYLOAD} until the peer is authenticated, then raise it with
   *     {@link #maxPayload(int)}
   */
  public FrameReader(ReadableByteChannel channel, int maxPayload) {
    this.channel = Objects.requireNonNull(channel, "channel");
    Io.requireBlocking(channel);
    maxPayload(maxPayload);
  }

  /** A reader accepting payloads up to {@link WireFormat#DEFAULT_MAX_PAYLOAD}. */
  public FrameReader(ReadableByteChannel channel) {
    this(channel, WireFormat.DEFAULT_MAX_PAYLOAD);
  }

  /** The largest payload accepted, in bytes. */
  public int maxPayload() {
    return maxPayload;
  }

  /** Changes the largest payload accepted (for instance after the handshake). */
  public void maxPayload(int maxPayload) {
    if (maxPayload < 0 || maxPayload > Integer.MAX_VALUE - WireFormat.FRAME_OVERHEAD) {
      throw new IllegalArgumentException("max payload out of range: " + maxPayload);
    }
    this.maxPayload = maxPayload;
  }

  /**
   * Reads the next frame.
   *
   * @throws EndOfStreamException when the peer closed the connection at a frame boundary
   * @throws FrameTooLargeException when the header announces more than {@link #maxPayload()}
   * @throws ChecksumException when the CRC32C does not match
   * @throws ProtocolException for any other violation, including a close inside a frame
   * @throws IOException when the channel fails
   */
  public Frame next() throws IOException {
    header.clear();
    int n = Io.readFully(channel, header);
    bytesRead += n;
    if (n == 0) {
      throw new EndOfStreamException("connection closed by the peer (at a frame boundary)");
    }
    if (n < WireFormat.HEADER_LENGTH) {
      throw new ProtocolException("connection closed mid-frame (in the header, after " + n + " bytes)");
    }
    long length = Integer.toUnsignedLong(header.getInt(0));
    int code = header.get(4) & 0xff;
    int flags = header.get(5) & 0xff;
    int reserved = header.getShort(6) & 0xffff;
    FrameType type = FrameType.ofCode(code);
    if (type == null) {
      throw new ProtocolException("unknown frame type " + code + " (payload length " + length + ")");
    }
    if (length > maxPayload) {
      throw new FrameTooLargeException(type, length, maxPayload);
    }
    if (flags != 0) {
      throw new ProtocolException(type + " frame has unknown flags 0x" + Integer.toHexString(flags));
    }
    if (reserved != 0) {
      throw new ProtocolException(type + " frame has a non-zero reserved field 0x" + Integer.toHexString(reserved));
    }
    int payloadLength = (int) length;
    int total = payloadLength + WireFormat.TRAILER_LENGTH;
    ensureCapacity(total);
    buffer.clear().limit(total);
    n = Io.readFully(channel, buffer);
    bytesRead += n;
    if (n < total) {
      throw new ProtocolException("connection closed mid-frame (" + type + ", " + n + " of " + total
          + " bytes of payload and checksum read)");
    }
    crc.reset();
    header.clear();
    crc.update(header);
    buffer.position(0).limit(payloadLength);
    crc.update(buffer);
    int expected = buffer.limit(total).getInt(payloadLength);
    int actual = (int) crc.getValue();
    if (expected != actual) {
      throw new ChecksumException(String.format(
          "CRC32C mismatch in %s frame of %d bytes (frame %d on this stream): got %08x, computed %08x",
          type, payloadLength, framesRead + 1, expected, actual));
    }
    framesRead++;
    view.limit(payloadLength).position(0);
    return new Frame(type, view);
  }

  private void ensureCapacity(int needed) {
    if (buffer.capacity() >= needed) {
      return;
    }
    // Grow geometrically, but never past what the limit allows.
    long cap = Math.max(needed, Math.max(INITIAL_CAPACITY, 2L * buffer.capacity()));
    cap = Math.min(cap, (long) maxPayload + WireFormat.TRAILER_LENGTH);
    buffer = ByteBuffer.allocateDirect((int) Math.max(cap, needed));
    view = buffer.asReadOnlyBuffer();
  }

  /** Bytes read from the channel so far, headers and trailers included. */
  public long bytesRead() {
    return bytesRead;
  }

  /** Frames read and checked so far. */
  public long framesRead() {
    return framesRead;
  }

  /** Capacity of the payload buffer now (for tests of the memory bound). */
  int bufferCapacity() {
    return buffer.capacity();
  }
}
