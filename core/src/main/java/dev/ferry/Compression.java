package dev.ferry;

/**
 * How pages are compressed on the wire. Zero pages are always sent as markers, whatever this says.
 */
public enum Compression {
  /** Pages travel as they are: best on a fast link (LZ4 is slower than a 10 Gb/s link). */
  NONE,
  /** LZ4 per page, kept only when it shrinks the page: pays on a slow link with compressible memory. */
  LZ4
}
