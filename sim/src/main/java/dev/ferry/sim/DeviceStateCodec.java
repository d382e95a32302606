package dev.ferry.sim;

import dev.ferry.spi.VmDescription;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * Encodes and checks the device-state blob of a simulated VM.
 *
 * <p>Design note: the blob is what a real VMM's device state is to migration: opaque to the engine,
 * consistent with memory only when saved while paused, and needed by the destination to continue
 * the guest. Here it carries the workload (kind, rate, hot set), the seed, and each vCPU's
 * "registers" (write counter, generator state, scan position), so the destination's vCPUs continue
 * the exact page sequence of the source. The rest of the configured size is filler derived from
 * the registers (it changes as the guest runs, as device registers do). Layout, little-endian:
 *
 * <pre>
 *   0 int    magic 'FSIM'          4 int  version (1)        8 int  blob length
 *  12 int    vCPUs                16 long page count        24 int  page size
 *  28 int    workload kind        32 long rate             40 double hot fraction
 *  48 double hot share            56 long seed             64 int  reserved (0)
 *  68 vCPUs x (long writes, long generator state, long scan position)
 *  .. filler
 *  length-4  int CRC32C of every byte before it
 * </pre>
 *
 * <p>Thread-safety: stateless.
 */
final class DeviceStateCodec {
  static final int MAGIC = 0x4D495346; // "FSIM" read little-endian
  static final int VERSION = 1;
  private static final int HEADER = 68;
  private static final int PER_VCPU = 24;

  /** A decoded blob. */
  record Snapshot(Workload workload, long seed, int blobSize, long[] writes, long[] rng, long[] seq) {}

  private DeviceStateCodec() {}

  static int blobSize(int configured, int vcpus) {
    return Math.max(configured, HEADER + PER_VCPU * vcpus + 4);
  }

  static byte[] encode(VmDescription d, Workload w, long seed, int configuredSize, WorkloadCursor[] cursors) {
    int size = blobSize(configuredSize, cursors.length);
    ByteBuffer b = ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    b.putInt(MAGIC).putInt(VERSION).putInt(size).putInt(cursors.length);
    b.putLong(d.pageCount()).putInt(d.pageSize());
    b.putInt(w.kind().ordinal()).putLong(w.pagesPerSecond()).putDouble(w.hotFraction()).putDouble(w.hotShare());
    b.putLong(seed).putInt(0);
    long mix = seed;
    for (WorkloadCursor c : cursors) {
      b.putLong(c.writes()).putLong(c.rngState()).putLong(c.seqPos());
      mix = GuestMemoryDigest.fmix64(mix ^ c.writes()) + c.rngState();
    }
    while (b.position() + 8 <= size - 4) {
      mix = GuestMemoryDigest.fmix64(mix + 0x9E3779B97F4A7C15L);
      b.putLong(mix);
    }
    while (b.position() < size - 4) {
      b.put((byte) mix);
      mix >>>= 8;
    }
    CRC32C crc = new CRC32C();
    crc.update(b.array(), 0, size - 4);
    b.putInt((int) crc.getValue());
    return b.array();
  }

  /**
   * Checks and decodes a blob for a VM of description {@code d}.
   *
   * @throws IllegalArgumentException saying what is wrong with it
   */
  static Snapshot decode(byte[] blob, VmDescription d) {
    if (blob == null) {
      throw new IllegalArgumentException("device state is null");
    }
    if (blob.length < HEADER + 4) {
      throw new IllegalArgumentException("device state too short: " + blob.length + " bytes, at least "
          + (HEADER + 4) + " expected");
    }
    ByteBuffer b = ByteBuffer.wrap(blob).order(ByteOrder.LITTLE_ENDIAN);
    if (b.getInt(0) != MAGIC) {
      throw new IllegalArgumentException("not a sim device state (bad magic 0x" + Integer.toHexString(b.getInt(0)) + ")");
    }
    CRC32C crc = new CRC32C();
    crc.update(blob, 0, blob.length - 4);
    if ((int) crc.getValue() != b.getInt(blob.length - 4)) {
      throw new IllegalArgumentException("device state checksum mismatch: the blob is corrupt");
    }
    int version = b.getInt(4);
    if (version != VERSION) {
      throw new IllegalArgumentException("unsupported sim device-state version " + version + ", expected " + VERSION);
    }
    if (b.getInt(8) != blob.length) {
      throw new IllegalArgumentException("device state length field " + b.getInt(8) + " != blob length " + blob.length);
    }
    int vcpus = b.getInt(12);
    long pageCount = b.getLong(16);
    int pageSize = b.getInt(24);
    if (vcpus != d.vcpus() || pageCount != d.pageCount() || pageSize != d.pageSize()) {
      throw new IllegalArgumentException("device state is for a VM of " + vcpus + " vCPUs, " + pageCount + " pages of "
          + pageSize + " B, not " + d.vcpus() + " vCPUs, " + d.pageCount() + " pages of " + d.pageSize() + " B");
    }
    if (blob.length < HEADER + PER_VCPU * vcpus + 4) {
      throw new IllegalArgumentException("device state too short for " + vcpus + " vCPUs: " + blob.length + " bytes");
    }
    int kind = b.getInt(28);
    if (kind < 0 || kind >= Workload.Kind.values().length) {
      throw new IllegalArgumentException("device state names an unknown workload kind " + kind);
    }
    Workload w = new Workload(Workload.Kind.values()[kind], b.getLong(32), b.getDouble(40), b.getDouble(48));
    long seed = b.getLong(56);
    long[] writes = new long[vcpus];
    long[] rng = new long[vcpus];
    long[] seq = new long[vcpus];
    b.position(HEADER);
    for (int i = 0; i < vcpus; i++) {
      writes[i] = b.getLong();
      rng[i] = b.getLong();
      seq[i] = b.getLong();
      if (writes[i] < 0 || seq[i] < 0 || seq[i] >= pageCount) {
        throw new IllegalArgumentException("device state has invalid registers for vCPU " + i);
      }
    }
    return new Snapshot(w, seed, blob.length, writes, rng, seq);
  }
}
