package dev.ferry.kvm;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.zip.CRC32C;

/**
 * The device state of a KVM VM as one blob: per vCPU the general registers ({@code kvm_regs}), the
 * special registers ({@code kvm_sregs}: segments, control registers, EFER, APIC base), the FPU and
 * SSE state ({@code kvm_fpu}), pending events ({@code kvm_vcpu_events}) and the MSRs of
 * {@link Vcpu#MSRS} that KVM has, {@code IA32_TSC} among them (this machine kind cannot scale the
 * TSC, so the destination sets the guest's TSC back to where the source left it and the guest's
 * clock does not jump); then the emulated devices ({@link PortDevices}).
 *
 * <p>Layout: magic {@code "FKVM"}, version, page count and vCPU count of the VM it belongs to, the
 * sections, and a CRC32C of everything before it. {@link #decode} refuses a blob with the wrong
 * magic, version, shape or checksum, or a truncated one, with {@link IllegalArgumentException}.
 *
 * <p>Thread-safety: stateless; the records are immutable once built (their arrays are not exposed
 * for change by convention).
 */
final class KvmDeviceState {
  static final int MAGIC = 0x464b564d;
  static final int VERSION = 1;

  /** One vCPU's saved state. */
  record VcpuState(byte[] regs, byte[] sregs, byte[] fpu, byte[] events, int[] msrIndex, long[] msrValue) {}

  /** The whole VM's saved state. */
  record Snapshot(long pageCount, VcpuState[] vcpus, byte[] devices) {}

  private KvmDeviceState() {}

  static byte[] encode(Snapshot s) {
    try {
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      DataOutputStream out = new DataOutputStream(bytes);
      out.writeInt(MAGIC);
      out.writeShort(VERSION);
      out.writeLong(s.pageCount());
      out.writeShort(s.vcpus().length);
      for (VcpuState v : s.vcpus()) {
        out.write(v.regs());
        out.write(v.sregs());
        out.write(v.fpu());
        out.writeBoolean(v.events() != null);
        if (v.events() != null) {
          out.write(v.events());
        }
        out.writeShort(v.msrIndex().length);
        for (int i = 0; i < v.msrIndex().length; i++) {
          out.writeInt(v.msrIndex()[i]);
          out.writeLong(v.msrValue()[i]);
        }
      }
      out.writeInt(s.devices().length);
      out.write(s.devices());
      out.flush();
      CRC32C crc = new CRC32C();
      crc.update(bytes.toByteArray());
      out.writeInt((int) crc.getValue());
      return bytes.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Decodes a blob made by {@link #encode} for a VM of {@code pageCount} pages and {@code vcpus} vCPUs.
   *
   * @throws IllegalArgumentException if it is not one, naming what is wrong
   */
  static Snapshot decode(byte[] blob, long pageCount, int vcpus) {
    if (blob == null || blob.length < 20) {
      throw new IllegalArgumentException("device state too short to be a KVM device state ("
          + (blob == null ? "null" : blob.length + " bytes") + ")");
    }
    ByteBuffer b = ByteBuffer.wrap(blob);
    if (b.getInt(0) != MAGIC) {
      throw new IllegalArgumentException("not a KVM device state (bad magic)");
    }
    CRC32C crc = new CRC32C();
    crc.update(blob, 0, blob.length - 4);
    if ((int) crc.getValue() != b.getInt(blob.length - 4)) {
      throw new IllegalArgumentException("KVM device state is corrupt or truncated (checksum mismatch, "
          + blob.length + " bytes)");
    }
    try {
      DataInputStream in = new DataInputStream(new ByteArrayInputStream(blob, 4, blob.length - 8));
      int version = in.readUnsignedShort();
      if (version != VERSION) {
        throw new IllegalArgumentException("KVM device state version " + version + ", this VMM reads " + VERSION);
      }
      long pages = in.readLong();
      int n = in.readUnsignedShort();
      if (pages != pageCount || n != vcpus) {
        throw new IllegalArgumentException("device state is for a VM of " + pages + " pages and " + n
            + " vCPUs, this one has " + pageCount + " pages and " + vcpus + " vCPUs");
      }
      VcpuState[] out = new VcpuState[n];
      for (int i = 0; i < n; i++) {
        byte[] regs = read(in, KvmAbi.REGS_SIZE);
        byte[] sregs = read(in, KvmAbi.SREGS_SIZE);
        byte[] fpu = read(in, KvmAbi.FPU_SIZE);
        byte[] events = in.readBoolean() ? read(in, KvmAbi.VCPU_EVENTS_SIZE) : null;
        int m = in.readUnsignedShort();
        if (m > Vcpu.MSRS.length) {
          throw new IllegalArgumentException("device state carries " + m + " MSRs, at most " + Vcpu.MSRS.length);
        }
        int[] idx = new int[m];
        long[] val = new long[m];
        for (int k = 0; k < m; k++) {
          idx[k] = in.readInt();
          val[k] = in.readLong();
          final int index = idx[k];
          if (Arrays.stream(Vcpu.MSRS).noneMatch(x -> x == index)) {
            throw new IllegalArgumentException("device state carries MSR 0x" + Integer.toHexString(index)
                + ", which this VMM does not restore");
          }
        }
        out[i] = new VcpuState(regs, sregs, fpu, events, idx, val);
      }
      int len = in.readInt();
      if (len < 0 || len > in.available()) {
        throw new IllegalArgumentException("device section of " + len + " bytes exceeds the blob");
      }
      byte[] devices = read(in, len);
      if (in.available() != 0) {
        throw new IllegalArgumentException(in.available() + " stray bytes after the device state");
      }
      return new Snapshot(pages, out, devices);
    } catch (IOException e) {
      throw new IllegalArgumentException("KVM device state is truncated: " + e.getMessage(), e);
    }
  }

  private static byte[] read(DataInputStream in, int n) throws IOException {
    byte[] b = new byte[n];
    in.readFully(b);
    return b;
  }
}
