package dev.ferry.wire;

import java.nio.charset.StandardCharsets;

/**
 * The constants of wire protocol version 2.0 (see {@code docs/wire-protocol.md}).
 *
 * <p>All integers on the wire are big-endian, Java's default {@link java.nio.ByteOrder}.
 */
public final class WireFormat {
  private WireFormat() {}

  /** The first eight bytes of every connection: ASCII {@code FERRYMIG}. */
  public static final byte[] MAGIC = "FERRYMIG".getBytes(StandardCharsets.US_ASCII);

  /** The major version this side speaks; a peer with another major is refused. */
  public static final int MAJOR_VERSION = 2;

  /** The minor version this side speaks. */
  public static final int MINOR_VERSION = 0;

  /** Preamble: magic, u16 major, u16 minor, u32 reserved. */
  public static final int PREAMBLE_LENGTH = 16;

  /** Frame header: u32 payload length, u8 type, u8 flags, u16 reserved. */
  public static final int HEADER_LENGTH = 8;

  /** Frame trailer: u32 CRC32C over header and payload. */
  public static final int TRAILER_LENGTH = 4;

  /** Bytes a frame adds around its payload. */
  public static final int FRAME_OVERHEAD = HEADER_LENGTH + TRAILER_LENGTH;

  /** Largest payload a reader accepts once the handshake is done: 16 MiB. */
  public static final int DEFAULT_MAX_PAYLOAD = 16 * 1024 * 1024;

  /** Largest payload a reader should accept before the peer has been authenticated: 64 KiB. */
  public static final int HANDSHAKE_MAX_PAYLOAD = 64 * 1024;

  /** Longest string, in UTF-8 bytes. */
  public static final int MAX_STRING_BYTES = 4096;

  /** Smallest guest page size the protocol carries: 4 KiB. */
  public static final int MIN_PAGE_SIZE = 4096;

  /** Most vCPUs a HELLO may declare: 4096 (a host's own limit may be lower). */
  public static final int MAX_VCPUS = 4096;

  /** Largest guest page size the protocol carries: 2 MiB (an x86 huge page). */
  public static final int MAX_PAGE_SIZE = 2 * 1024 * 1024;

  /** Largest chunk of device state in one DEVICE_STATE frame: 1 MiB. */
  public static final int MAX_DEVICE_STATE_CHUNK = 1024 * 1024;

  /** Default bound on the whole device state a destination assembles: 64 MiB. */
  public static final int DEFAULT_MAX_DEVICE_STATE = 64 * 1024 * 1024;

  /** Length of the memory digest in SWITCHOVER and READY. */
  public static final int DIGEST_LENGTH = 32;

  /** Page encoding in a PAGES frame: the page's bytes follow. */
  public static final int PAGE_RAW = 0;

  /** Page encoding in a PAGES frame: the page is all zeros; nothing follows. */
  public static final int PAGE_ZERO = 1;

  /** Page encoding in a PAGES frame: u32 compressed length and LZ4 block bytes follow. */
  public static final int PAGE_LZ4 = 2;

  /**
   * Page encoding in a PAGES frame: a u32 count follows; the page and the count - 1 after it
   * are all zeros.
   */
  public static final int PAGE_ZERO_RUN = 3;

  /** Longest zero run in one entry: 4096 pages. */
  public static final int MAX_ZERO_RUN = 4096;

  /**
   * Most pages one PAGES frame may cover, zero runs counted by their pages: 65,536. It bounds what
   * 13 bytes of a peer can make a receiver do, and how much memory a sender reads between two
   * frames (the checks for cancel and deadline run between frames).
   */
  public static final int MAX_FRAME_PAGES = 65_536;

  /** Bytes before a page's data in a PAGES frame: u64 page index, u8 encoding. */
  public static final int PAGE_ENTRY_HEADER = 9;

  /** Default number of pages per PAGES frame (about 257 KiB with 4 KiB pages). */
  public static final int DEFAULT_PAGES_PER_FRAME = 64;
}
