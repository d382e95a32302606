package dev.ferry.kvm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.ferry.spi.DataSize;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.file.Paths;
import org.junit.jupiter.api.Test;

/** What ferry-kvm checks without /dev/kvm: URIs, specs, the device-state codec, the loader, guest RAM. */
class OfflineTest {

  @Test
  void supports_kvmScheme_yes_otherScheme_noWithReason() {
    KvmProvider p = new KvmProvider();
    assertThat(p.supports(URI.create("kvm://a")).supported()).isTrue();
    assertThat(p.supports(URI.create("sim://a")).reason()).contains("not kvm");
  }

  @Test
  void open_malformedUri_isRefusedNamingTheForm() {
    KvmProvider p = new KvmProvider();
    assertThat(assertThrows(IllegalArgumentException.class, () -> p.open(URI.create("kvm://a:22")))
        .getMessage()).contains("kvm://<host>");
    assertThat(assertThrows(IllegalArgumentException.class, () -> p.open(URI.create("kvm://a?x=1")))
        .getMessage()).contains("serial-dir");
  }

  @Test
  void spec_ramTooSmallForTheGuestRegion_isRefused() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> KvmVmSpec.builder("g")
        .memory(DataSize.mib(16)).kernel(Paths.get("guest.elf")).cmdline("mb=64 rate=1").build());
    assertThat(e.getMessage()).contains("68 MiB");
  }

  @Test
  void deviceState_garbageTruncatedOrForAnotherShape_isRefused() {
    byte[] regs = new byte[KvmAbi.REGS_SIZE];
    regs[0] = 7;
    KvmDeviceState.VcpuState v = new KvmDeviceState.VcpuState(regs, new byte[KvmAbi.SREGS_SIZE],
        new byte[KvmAbi.FPU_SIZE], new byte[KvmAbi.VCPU_EVENTS_SIZE], new int[] {0x10}, new long[] {12345});
    byte[] blob = KvmDeviceState.encode(new KvmDeviceState.Snapshot(256, new KvmDeviceState.VcpuState[] {v},
        new byte[] {1, 2, 3}));
    KvmDeviceState.Snapshot back = KvmDeviceState.decode(blob, 256, 1);
    assertThat(back.vcpus()[0].regs()).isEqualTo(regs);
    assertThat(back.vcpus()[0].msrValue()).containsExactly(12345);
    assertThrows(IllegalArgumentException.class, () -> KvmDeviceState.decode(new byte[] {1, 2, 3}, 256, 1));
    assertThrows(IllegalArgumentException.class,
        () -> KvmDeviceState.decode(java.util.Arrays.copyOf(blob, blob.length / 2), 256, 1));
    assertThat(assertThrows(IllegalArgumentException.class, () -> KvmDeviceState.decode(blob, 512, 1)).getMessage())
        .contains("512 pages");
    byte[] flipped = blob.clone();
    flipped[40] ^= 1;
    assertThat(assertThrows(IllegalArgumentException.class, () -> KvmDeviceState.decode(flipped, 256, 1)).getMessage())
        .contains("checksum");
  }

  @Test
  void loader_notAnElf_orNoMultibootHeader_isRefused() {
    GuestRam ram = new GuestRam(4 << 20);
    try {
      assertThat(assertThrows(IllegalArgumentException.class,
          () -> MultibootLoader.load(new byte[100], "", ram)).getMessage()).contains("not an ELF");
      byte[] elf = new byte[4096];
      ByteBuffer b = ByteBuffer.wrap(elf).order(java.nio.ByteOrder.LITTLE_ENDIAN);
      b.putInt(0, 0x464c457f);
      elf[4] = 1;
      elf[5] = 1;
      b.putShort(16, (short) 2);
      b.putShort(18, (short) 3);
      assertThat(assertThrows(IllegalArgumentException.class, () -> MultibootLoader.load(elf, "", ram)).getMessage())
          .contains("multiboot");
    } finally {
      ram.release();
    }
  }

  @Test
  void guestRam_isZeroFilled_writable_andRefusesAccessOnceReleased() {
    GuestRam ram = new GuestRam(1 << 20);
    ByteBuffer page = ByteBuffer.allocate(4096);
    ram.readPage(255, page);
    assertThat(page.flip()).isEqualTo(ByteBuffer.allocate(4096));
    page.clear();
    page.order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(0, 0x1122334455667788L);
    ram.writePage(3, page);
    assertThat(ram.readInt(3 * 4096)).isEqualTo(0x55667788);
    ram.zeroPage(3);
    page.clear();
    ram.readPage(3, page);
    assertThat(page.flip()).as("a page zeroed by release reads as zeros").isEqualTo(ByteBuffer.allocate(4096));
    ram.release();
    assertThrows(IllegalStateException.class, () -> ram.readPage(0, ByteBuffer.allocate(4096)));
    ram.release();
  }

  @Test
  void prepareIncoming_moreResidentMemoryThanTheMachineHas_isRefusedBeforeAnyPageMoves() {
    KvmHost h = KvmHost.named("offline-refuse");
    try {
      dev.ferry.spi.VmDescription d = new dev.ferry.spi.VmDescription(new dev.ferry.spi.VmId("big"), "big",
          DataSize.gib(1L << 14), 4096, 1, h.info().cpu());
      dev.ferry.spi.DriverException e = assertThrows(dev.ferry.spi.DriverException.class,
          () -> h.driver().prepareIncoming(new dev.ferry.spi.IncomingRequest(d, DataSize.gib(1L << 14))));
      assertThat(e.getMessage()).contains("cannot hold big").contains("available");
      assertThat(h.vms()).isEmpty();
    } finally {
      h.destroy();
    }
  }

  @Test
  void scratchMemory_isFreshZeroedGuestRam_andCloseReleasesIt() {
    KvmHost h = KvmHost.named("offline-scratch");
    try {
      dev.ferry.spi.ScratchMemory m = h.driver().scratchMemory(DataSize.kib(10)).orElseThrow();
      assertThat(m.memory().pageCount()).isEqualTo(3);
      ByteBuffer page = ByteBuffer.allocate(4096);
      m.memory().readPage(2, page);
      assertThat(page.flip()).isEqualTo(ByteBuffer.allocate(4096));
      m.close();
      m.close();
      assertThrows(IllegalStateException.class, () -> m.memory().readPage(0, ByteBuffer.allocate(4096)));
    } finally {
      h.destroy();
    }
  }
}
