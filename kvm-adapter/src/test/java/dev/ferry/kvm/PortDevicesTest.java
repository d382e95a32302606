package dev.ferry.kvm;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The emulated ports, without KVM: what the test guest reads and writes, and their saved state. */
class PortDevicesTest {
  private final List<String> lines = new ArrayList<>();
  private final PortDevices dev = new PortDevices(lines::add,
      Clock.fixed(Instant.parse("2026-12-03T10:42:37Z"), ZoneOffset.UTC));
  private final byte[] b = new byte[4];

  private int in(int port) {
    assertThat(dev.in(port, 1, b)).as("port 0x%x emulated", port).isTrue();
    return b[0] & 0xff;
  }

  private void out(int port, int v) {
    b[0] = (byte) v;
    assertThat(dev.out(port, 1, b)).as("port 0x%x emulated", port).isTrue();
  }

  @Test
  void serial_bytesUpToNewline_makeOneLine_andTransmitterIsAlwaysEmpty() {
    assertThat(in(0x3fd) & 0x20).isEqualTo(0x20);
    for (char c : "HB n=1\r\n".toCharArray()) {
      out(0x3f8, c);
    }
    assertThat(lines).containsExactly("HB n=1");
  }

  @Test
  void cmos_secondsInBcd_andNeverUpdateInProgress() {
    out(0x70, 0x0a);
    assertThat(in(0x71) & 0x80).isZero();
    out(0x70, 0x00);
    assertThat(in(0x71)).isEqualTo(0x37);
    out(0x70, 0x80 | 0x02);                         // NMI-disable bit set: still the minutes
    assertThat(in(0x71)).isEqualTo(0x42);
  }

  @Test
  void pitChannel2_mode0_outputGoesHighOnlyAfterTheCount() throws Exception {
    out(0x61, 0x01);                                // gate on, speaker off
    out(0x43, 0xb0);                                // channel 2, lobyte/hibyte, mode 0
    out(0x42, 0xff);
    out(0x42, 0xff);                                // 65535 counts, about 55 ms
    assertThat(in(0x61) & 0x20).as("OUT2 right after the count is written").isZero();
    long deadline = System.nanoTime() + 5_000_000_000L;
    while ((in(0x61) & 0x20) == 0 && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    assertThat(in(0x61) & 0x20).as("OUT2 once the count has run out (waited at most 5 s)").isEqualTo(0x20);
  }

  @Test
  void unknownPort_isNotEmulated() {
    assertThat(dev.in(0x1234, 1, b)).isFalse();
    assertThat(dev.out(0x80, 1, b)).isFalse();
  }

  @Test
  void saveAndLoad_carryTheUartAndAPartlyWrittenLine() throws Exception {
    out(0x3fb, 0x03);
    out(0x3ff, 0x5a);
    out(0x3f8, 'H');
    out(0x3f8, 'B');
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    dev.save(new DataOutputStream(bytes), System.nanoTime());
    List<String> other = new ArrayList<>();
    PortDevices copy = new PortDevices(other::add, Clock.systemUTC());
    copy.load(new DataInputStream(new ByteArrayInputStream(bytes.toByteArray())));
    byte[] x = new byte[1];
    copy.in(0x3ff, 1, x);
    assertThat(x[0]).isEqualTo((byte) 0x5a);
    copy.in(0x3fb, 1, x);
    assertThat(x[0]).isEqualTo((byte) 0x03);
    x[0] = '\n';
    copy.out(0x3f8, 1, x);
    assertThat(other).containsExactly("HB");
    assertThat(lines).isEmpty();
  }
}
