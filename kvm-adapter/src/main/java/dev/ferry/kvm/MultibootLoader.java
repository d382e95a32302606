package dev.ferry.kvm;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Loads a multiboot (v1) ELF32 kernel into guest RAM the way a boot loader does, for a vCPU that
 * starts in 32-bit protected mode with paging off: each {@code PT_LOAD} segment is copied to its
 * physical address and its tail (bss) zeroed; a multiboot information block (flags: memory sizes
 * and command line) and the command line are written at {@link #INFO_ADDRESS}; the entry state is
 * {@code eax = 0x2BADB002}, {@code ebx} = the block's address, {@code eip} = the ELF entry.
 *
 * <p>Only what the project's test guest needs is supported: ELF32 little-endian i386 executables
 * with the multiboot header in their first 8 KiB. The a.out kludge (header flag 16), modules, and
 * video modes are refused or ignored, with a message saying so.
 *
 * <p>Thread-safety: stateless.
 */
final class MultibootLoader {
  static final int HEADER_MAGIC = 0x1BADB002;
  static final int BOOT_MAGIC = 0x2BADB002;
  /** Where the information block goes: below the 640 KiB line, far from a kernel linked at 1 MiB. */
  static final int INFO_ADDRESS = 0x9000;
  private static final int CMDLINE_ADDRESS = INFO_ADDRESS + 0x100;
  private static final int CMDLINE_MAX = 0x9f000 - CMDLINE_ADDRESS;

  /** What the vCPU starts with. */
  record Entry(long eip, long eax, long ebx) {}

  private MultibootLoader() {}

  /**
   * Loads {@code kernel} into {@code ram} with {@code cmdline}.
   *
   * @throws IllegalArgumentException if the image is not a multiboot ELF32 kernel this loader
   *     supports, or does not fit in RAM
   */
  static Entry load(byte[] kernel, String cmdline, GuestRam ram) {
    ByteBuffer b = ByteBuffer.wrap(kernel).order(ByteOrder.LITTLE_ENDIAN);
    if (kernel.length < 52 || b.getInt(0) != 0x464c457f) {
      throw new IllegalArgumentException("not an ELF file (" + kernel.length + " bytes)");
    }
    if (b.get(4) != 1 || b.get(5) != 1) {
      throw new IllegalArgumentException("not a little-endian ELF32 file: multiboot v1 kernels are 32-bit");
    }
    int type = b.getShort(16) & 0xffff;
    int machine = b.getShort(18) & 0xffff;
    if (type != 2 || machine != 3) {
      throw new IllegalArgumentException("not an i386 executable (e_type " + type + ", e_machine " + machine + ")");
    }
    checkHeader(b, kernel.length);
    long entry = b.getInt(24) & 0xffffffffL;
    long phoff = b.getInt(28) & 0xffffffffL;
    int phentsize = b.getShort(42) & 0xffff;
    int phnum = b.getShort(44) & 0xffff;
    if (phentsize < 32 || phoff + (long) phnum * phentsize > kernel.length) {
      throw new IllegalArgumentException("program headers outside the file");
    }
    int loaded = 0;
    for (int i = 0; i < phnum; i++) {
      int h = (int) (phoff + (long) i * phentsize);
      if (b.getInt(h) != 1) {
        continue;                                   // only PT_LOAD
      }
      long offset = b.getInt(h + 4) & 0xffffffffL;
      long paddr = b.getInt(h + 12) & 0xffffffffL;
      long filesz = b.getInt(h + 16) & 0xffffffffL;
      long memsz = b.getInt(h + 20) & 0xffffffffL;
      if (offset + filesz > kernel.length || filesz > memsz) {
        throw new IllegalArgumentException("segment " + i + " lies outside the file");
      }
      if (paddr + memsz > ram.size()) {
        throw new IllegalArgumentException(String.format("segment %d at 0x%x+0x%x does not fit in %d MiB of guest RAM",
            i, paddr, memsz, ram.size() >> 20));
      }
      if (paddr < CMDLINE_ADDRESS + CMDLINE_MAX && paddr + memsz > INFO_ADDRESS) {
        throw new IllegalArgumentException(String.format("segment %d at 0x%x overlaps the multiboot information at 0x%x",
            i, paddr, INFO_ADDRESS));
      }
      ram.write(paddr, ByteBuffer.wrap(kernel), (int) offset, (int) filesz);
      ram.zero(paddr + filesz, memsz - filesz);
      loaded++;
    }
    if (loaded == 0) {
      throw new IllegalArgumentException("the kernel has no loadable segment");
    }
    byte[] cmd = (cmdline + "\0").getBytes(StandardCharsets.US_ASCII);
    if (cmd.length > CMDLINE_MAX) {
      throw new IllegalArgumentException("command line too long: " + cmdline.length() + " characters");
    }
    ByteBuffer info = ByteBuffer.allocate(0x58).order(ByteOrder.LITTLE_ENDIAN);
    info.putInt(0, (1 << 0) | (1 << 2));            // mem_lower/mem_upper and cmdline are valid
    info.putInt(4, 640);                            // KiB of memory below 1 MiB
    info.putInt(8, (int) Math.min(0xffffffffL, Math.max(0, (ram.size() >> 10) - 1024)));
    info.putInt(16, CMDLINE_ADDRESS);
    ram.write(INFO_ADDRESS, info.array());
    ram.write(CMDLINE_ADDRESS, cmd);
    return new Entry(entry, BOOT_MAGIC, INFO_ADDRESS);
  }

  private static void checkHeader(ByteBuffer b, int length) {
    int limit = Math.min(length, 8192) - 12;
    for (int off = 0; off <= limit; off += 4) {
      if (b.getInt(off) == HEADER_MAGIC) {
        int flags = b.getInt(off + 4);
        int checksum = b.getInt(off + 8);
        if (HEADER_MAGIC + flags + checksum != 0) {
          continue;
        }
        if ((flags & (1 << 16)) != 0) {
          throw new IllegalArgumentException("multiboot header asks for the a.out kludge (flag 16): not supported");
        }
        return;
      }
    }
    throw new IllegalArgumentException("no multiboot v1 header (magic 0x1BADB002) in the first 8 KiB");
  }
}
