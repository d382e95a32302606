package dev.ferry.wire;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.GatheringByteChannel;
import java.nio.channels.WritableByteChannel;
import java.util.Objects;
import java.util.zip.CRC32C;

/**
 * Writes frames to one blocking channel: header, payload and CRC32C, each frame whole before the
 * method returns. Control messages are encoded into a reused buffer; payloads handed in are written
 * without copying (a gathering write when the channel supports it). {@link PageBatchEncoder} builds
 * its PAGES frames in its own buffer and writes them through {@link PageBatchEncoder#flush}.
 *
 * <p>Not thread-safe: one writer per channel, and callers that write from several threads (a
 * heartbeat sending PING while the engine sends pages) must serialize the calls themselves, or
 * frames would interleave.
 */
public final class FrameWriter {
  private final WritableByteChannel channel;
  private final GatheringByteChannel gathering;
  private final ByteBuffer header = ByteBuffer.allocateDirect(WireFormat.HEADER_LENGTH);
  private final ByteBuffer trailer = ByteBuffer.allocateDirect(WireFormat.TRAILER_LENGTH);
  private final ByteBuffer[] parts = {header, null, trailer};
  private final CRC32C crc = new CRC32C();
  private final PayloadWriter scratch = new PayloadWriter(256);
  private long bytesWritten;
  private long framesWritten;

  /** @param channel a blocking channel (a {@code SocketChannel} in practice) */
  public FrameWriter(WritableByteChannel channel) {
    this.channel = Objects.requireNonNull(channel, "channel");
    Io.requireBlocking(channel);
    this.gathering = channel instanceof GatheringByteChannel ? (GatheringByteChannel) channel : null;
  }

  /** Encodes and writes a control message. */
  public void write(Message message) throws IOException {
    scratch.clear();
    Messages.encode(message, scratch);
    write(message.type(), scratch.flip());
  }

  /**
   * Writes a frame with this payload (from its position to its limit; the position is advanced to
   * the limit).
   *
   * @throws IllegalArgumentException when the payload exceeds {@link WireFormat#DEFAULT_MAX_PAYLOAD}
   */
  public void write(FrameType type, ByteBuffer payload) throws IOException {
    Objects.requireNonNull(type, "type");
    int length = payload.remaining();
    if (length > WireFormat.DEFAULT_MAX_PAYLOAD) {
      throw new IllegalArgumentException(type + " payload of " + length + " bytes exceeds "
          + WireFormat.DEFAULT_MAX_PAYLOAD);
    }
    header.clear();
    header.putInt(length).put((byte) type.code()).put((byte) 0).putShort((short) 0).flip();
    crc.reset();
    crc.update(header);
    header.flip();
    int start = payload.position();
    crc.update(payload);
    payload.position(start);
    trailer.clear();
    trailer.putInt((int) crc.getValue()).flip();
    if (gathering != null) {
      parts[1] = payload;
      try {
        while (trailer.hasRemaining()) {
          gathering.write(parts);
        }
      } finally {
        parts[1] = null;
      }
    } else {
      Io.writeFully(channel, header);
      Io.writeFully(channel, payload);
      Io.writeFully(channel, trailer);
    }
    bytesWritten += length + WireFormat.FRAME_OVERHEAD;
    framesWritten++;
  }

  /**
   * Writes a device state as DEVICE_STATE frames of at most {@link WireFormat#MAX_DEVICE_STATE_CHUNK}
   * bytes, in order. The buffer's position is advanced to its limit.
   *
   * @return the number of frames written (at least one; an empty state is one empty chunk)
   */
  public int writeDeviceState(ByteBuffer state) throws IOException {
    int total = state.remaining();
    int frames = 0;
    int base = state.position();
    int end = state.limit();
    try {
      do {
        int offset = state.position() - base;
        int len = Math.min(WireFormat.MAX_DEVICE_STATE_CHUNK, end - state.position());
        state.limit(state.position() + len);
        write(new Message.DeviceStateChunk(total, offset, state.slice()));
        state.position(state.limit());
        state.limit(end);
        frames++;
      } while (state.hasRemaining());
    } finally {
      state.limit(end);
    }
    return frames;
  }

  /** Writes a frame that {@link PageBatchEncoder} built completely (header, payload, CRC). */
  void writeBuiltFrame(ByteBuffer frame) throws IOException {
    int n = frame.remaining();
    Io.writeFully(channel, frame);
    bytesWritten += n;
    framesWritten++;
  }

  /** Bytes written so far, headers and trailers included. */
  public long bytesWritten() {
    return bytesWritten;
  }

  /** Frames written so far. */
  public long framesWritten() {
    return framesWritten;
  }
}
