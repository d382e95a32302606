package dev.ferry.wire;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.SelectableChannel;
import java.nio.channels.WritableByteChannel;

/** Blocking read and write loops shared by the readers and writers. */
final class Io {
  private Io() {}

  /** Rejects channels that could return 0 forever (non-blocking selectable channels). */
  static void requireBlocking(Object channel) {
    if (channel instanceof SelectableChannel && !((SelectableChannel) channel).isBlocking()) {
      throw new IllegalArgumentException("the channel must be in blocking mode: " + channel);
    }
  }

  /**
   * Reads until {@code dst} is full or the stream ends; returns the bytes read (less than asked only
   * at end of stream).
   */
  static int readFully(ReadableByteChannel ch, ByteBuffer dst) throws IOException {
    int total = 0;
    while (dst.hasRemaining()) {
      int n = ch.read(dst);
      if (n < 0) {
        break;
      }
      total += n;
    }
    return total;
  }

  /** Writes all of {@code src}. */
  static void writeFully(WritableByteChannel ch, ByteBuffer src) throws IOException {
    while (src.hasRemaining()) {
      ch.write(src);
    }
  }
}
