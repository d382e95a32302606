package dev.ferry.kvm;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.ZonedDateTime;
import java.util.function.Consumer;

/**
 * The port I/O a guest of this VMM may use, and nothing more: a 16550 UART on COM1
 * ({@code 0x3f8}-{@code 0x3ff}) whose transmitter is always empty and whose output goes, one line
 * at a time, to a consumer; the CMOS real-time clock ({@code 0x70}/{@code 0x71}: seconds, minutes,
 * hours, day, month, year in BCD, status registers A to D, never "update in progress"); PIT channel
 * 2 ({@code 0x42}, mode/command {@code 0x43}) with its gate and output on port {@code 0x61}, counting
 * at 1.193182 MHz against {@link System#nanoTime()}. The project's test guest calibrates its TSC
 * against the PIT, polls CMOS seconds for its heartbeat and prints on COM1.
 *
 * <p>A port outside these answers {@code false} from {@link #in} and {@link #out}: the VMM then
 * stops the VM with an error naming the port, rather than guess.
 *
 * <p>The state that a guest can observe (UART registers and a partly written line, CMOS index, the
 * PIT's programming and how far it has counted, port 0x61) is saved and loaded with the device state.
 *
 * <p>Thread-safety: called by the VM's vCPU thread; save and load only while it is parked (the VM is
 * paused), which the VM's pause handshake orders. Not for concurrent use.
 */
final class PortDevices {
  static final int PIT_HZ = 1_193_182;
  private static final int COM1 = 0x3f8;

  private final Consumer<String> lines;
  private final Clock clock;

  // UART
  private int ier;
  private int lcr;
  private int mcr;
  private int scr;
  private int dll = 1;
  private int dlm;
  private final ByteArrayOutputStream line = new ByteArrayOutputStream();

  // CMOS
  private int cmosIndex;

  // PIT channel 2 and port 0x61
  private int port61;
  private int pitMode;
  private int pitAccess = 3;
  private boolean pitLowNext = true;
  private int pitReload;
  private int pitLatch = -1;
  private boolean pitLatchLowNext = true;
  private long pitStartNanos;
  private boolean pitArmed;

  PortDevices(Consumer<String> lines, Clock clock) {
    this.lines = lines;
    this.clock = clock;
  }

  /** Handles an {@code in} of {@code size} bytes; false if the port is not emulated. */
  boolean in(int port, int size, byte[] data) {
    int v;
    if (port >= COM1 && port <= COM1 + 7) {
      v = uartIn(port - COM1);
    } else if (port == 0x70) {
      v = cmosIndex;
    } else if (port == 0x71) {
      v = cmosRead(cmosIndex & 0x7f);
    } else if (port == 0x42) {
      v = pitCounterRead();
    } else if (port == 0x61) {
      v = (port61 & 0x0f) | (pitOut() ? 0x20 : 0) | (((System.nanoTime() / 15_000) & 1) != 0 ? 0x10 : 0);
    } else {
      return false;
    }
    data[0] = (byte) v;
    for (int i = 1; i < size; i++) {
      data[i] = (byte) 0xff;
    }
    return true;
  }

  /** Handles an {@code out} of {@code size} bytes; false if the port is not emulated. */
  boolean out(int port, int size, byte[] data) {
    int v = data[0] & 0xff;
    if (port >= COM1 && port <= COM1 + 7) {
      uartOut(port - COM1, v);
    } else if (port == 0x70) {
      cmosIndex = v;
    } else if (port == 0x71) {
      // The clock is the host's: writes to it are ignored.
    } else if (port == 0x42) {
      pitCounterWrite(v);
    } else if (port == 0x43) {
      pitCommand(v);
    } else if (port == 0x61) {
      boolean gateWasLow = (port61 & 1) == 0;
      port61 = v & 0x0f;
      if (gateWasLow && (port61 & 1) != 0 && pitArmed) {
        pitStartNanos = System.nanoTime();
      }
    } else {
      return false;
    }
    return true;
  }

  // ------------------------------------------------------------------ UART

  private boolean dlab() {
    return (lcr & 0x80) != 0;
  }

  private int uartIn(int reg) {
    switch (reg) {
      case 0: return dlab() ? dll : 0;             // receive buffer: nothing ever arrives
      case 1: return dlab() ? dlm : ier;
      case 2: return 0x01;                         // IIR: no interrupt pending
      case 3: return lcr;
      case 4: return mcr;
      case 5: return 0x60;                         // LSR: transmitter holding register and shifter empty
      case 6: return 0xb0;                         // MSR: DCD, DSR, CTS
      default: return scr;
    }
  }

  private void uartOut(int reg, int v) {
    switch (reg) {
      case 0:
        if (dlab()) {
          dll = v;
        } else {
          transmit(v);
        }
        break;
      case 1:
        if (dlab()) {
          dlm = v;
        } else {
          ier = v & 0x0f;
        }
        break;
      case 2: break;                               // FCR: no FIFOs to control
      case 3: lcr = v; break;
      case 4: mcr = v & 0x1f; break;
      case 7: scr = v; break;
      default: break;                              // LSR and MSR are read-only
    }
  }

  private void transmit(int b) {
    if (b == '\n') {
      flushLine();
    } else if (b != '\r') {
      line.write(b);
      if (line.size() >= 4096) {
        flushLine();
      }
    }
  }

  private void flushLine() {
    String s = new String(line.toByteArray(), StandardCharsets.ISO_8859_1);
    line.reset();
    lines.accept(s);
  }

  // ------------------------------------------------------------------ CMOS

  private int cmosRead(int index) {
    ZonedDateTime now = ZonedDateTime.now(clock);
    switch (index) {
      case 0x00: return bcd(now.getSecond());
      case 0x02: return bcd(now.getMinute());
      case 0x04: return bcd(now.getHour());
      case 0x06: return bcd(now.getDayOfWeek().getValue() % 7 + 1);
      case 0x07: return bcd(now.getDayOfMonth());
      case 0x08: return bcd(now.getMonthValue());
      case 0x09: return bcd(now.getYear() % 100);
      case 0x32: return bcd(now.getYear() / 100);
      case 0x0a: return 0x26;                      // status A: 32.768 kHz base, 1024 Hz, no update in progress
      case 0x0b: return 0x02;                      // status B: 24-hour, BCD
      case 0x0c: return 0x00;                      // status C: no interrupt flags
      case 0x0d: return 0x80;                      // status D: the battery is fine
      default: return 0x00;
    }
  }

  private static int bcd(int v) {
    return ((v / 10) << 4) | (v % 10);
  }

  // ------------------------------------------------------------------ PIT channel 2

  private void pitCommand(int v) {
    int channel = v >>> 6;
    if (channel != 2) {
      return;                                      // channels 0 and 1 are not wired to anything here
    }
    int access = (v >>> 4) & 3;
    if (access == 0) {
      pitLatch = pitCount();
      pitLatchLowNext = true;
      return;
    }
    pitAccess = access;
    pitMode = (v >>> 1) & 7;
    pitLowNext = true;
    pitArmed = false;
  }

  private void pitCounterWrite(int v) {
    switch (pitAccess) {
      case 1:
        pitReload = v;
        arm();
        break;
      case 2:
        pitReload = v << 8;
        arm();
        break;
      default:
        if (pitLowNext) {
          pitReload = (pitReload & 0xff00) | v;
          pitLowNext = false;
        } else {
          pitReload = (pitReload & 0x00ff) | (v << 8);
          pitLowNext = true;
          arm();
        }
    }
  }

  private void arm() {
    pitArmed = true;
    pitStartNanos = System.nanoTime();
  }

  private long pitTicks() {
    if (!pitArmed || (port61 & 1) == 0) {
      return 0;
    }
    return (System.nanoTime() - pitStartNanos) * PIT_HZ / 1_000_000_000L;
  }

  private int reload() {
    return pitReload == 0 ? 0x10000 : pitReload;
  }

  /** The counter now: counts down from the reload value (modes 2 and 3 wrap around). */
  private int pitCount() {
    long t = pitTicks();
    int r = reload();
    if (pitMode == 2 || pitMode == 3) {
      return (int) (r - t % r) & 0xffff;
    }
    return t >= r ? (int) ((r - t) & 0xffff) : (r - (int) t) & 0xffff;
  }

  /** OUT2: in mode 0 it goes high when the count reaches zero; the periodic modes toggle. */
  private boolean pitOut() {
    if (!pitArmed) {
      return false;
    }
    long t = pitTicks();
    int r = reload();
    if (pitMode == 0 || pitMode == 1) {
      return t >= r;
    }
    return (t % r) < r / 2;
  }

  private int pitCounterRead() {
    int c = pitLatch >= 0 ? pitLatch : pitCount();
    boolean low = pitLatch >= 0 ? pitLatchLowNext : pitLowNext;
    int v;
    if (pitAccess == 1) {
      v = c & 0xff;
      pitLatch = -1;
    } else if (pitAccess == 2) {
      v = c >>> 8;
      pitLatch = -1;
    } else if (low) {
      v = c & 0xff;
      if (pitLatch >= 0) {
        pitLatchLowNext = false;
      }
    } else {
      v = c >>> 8;
      if (pitLatch >= 0) {
        pitLatch = -1;
        pitLatchLowNext = true;
      }
    }
    return v;
  }

  // ------------------------------------------------------------------ state

  /**
   * Saves the state as of {@code atNanos} ({@link System#nanoTime()} when the VM was paused), so two
   * saves of one pause are equal.
   */
  void save(DataOutputStream out, long atNanos) throws IOException {
    out.writeByte(ier);
    out.writeByte(lcr);
    out.writeByte(mcr);
    out.writeByte(scr);
    out.writeByte(dll);
    out.writeByte(dlm);
    byte[] partial = line.toByteArray();
    out.writeShort(partial.length);
    out.write(partial);
    out.writeByte(cmosIndex);
    out.writeByte(port61);
    out.writeByte(pitMode);
    out.writeByte(pitAccess);
    out.writeBoolean(pitLowNext);
    out.writeInt(pitReload);
    out.writeInt(pitLatch);
    out.writeBoolean(pitLatchLowNext);
    out.writeBoolean(pitArmed);
    // How far the counter has run, not the host's clock: the destination's nanoTime differs.
    out.writeLong(pitArmed ? Math.max(0, atNanos - pitStartNanos) : 0);
  }

  void load(DataInputStream in) throws IOException {
    ier = in.readUnsignedByte();
    lcr = in.readUnsignedByte();
    mcr = in.readUnsignedByte();
    scr = in.readUnsignedByte();
    dll = in.readUnsignedByte();
    dlm = in.readUnsignedByte();
    int n = in.readUnsignedShort();
    if (n > 4096) {
      throw new IOException("serial line buffer of " + n + " bytes");
    }
    byte[] partial = new byte[n];
    in.readFully(partial);
    line.reset();
    line.write(partial, 0, n);
    cmosIndex = in.readUnsignedByte();
    port61 = in.readUnsignedByte();
    pitMode = in.readUnsignedByte();
    pitAccess = in.readUnsignedByte();
    pitLowNext = in.readBoolean();
    pitReload = in.readInt();
    pitLatch = in.readInt();
    pitLatchLowNext = in.readBoolean();
    pitArmed = in.readBoolean();
    long elapsed = in.readLong();
    if (pitMode > 5 || pitAccess < 1 || pitAccess > 3 || pitReload < 0 || pitReload > 0xffff || elapsed < 0) {
      throw new IOException("PIT state out of range");
    }
    pitStartNanos = System.nanoTime() - elapsed;
  }
}
