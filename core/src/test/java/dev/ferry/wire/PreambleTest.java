package dev.ferry.wire;

import static dev.ferry.wire.WireTestSupport.in;
import static dev.ferry.wire.WireTestSupport.preamble;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class PreambleTest {

  private static byte[] preambleOf(int major, int minor, int reserved) {
    return ByteBuffer.allocate(16).put(WireFormat.MAGIC).putShort((short) major).putShort((short) minor)
        .putInt(reserved).array();
  }

  @Test
  void write_thenRead_returnsThisSidesVersion() throws Exception {
    byte[] b = preamble();
    assertThat(b).hasSize(WireFormat.PREAMBLE_LENGTH);
    assertThat(new String(b, 0, 8, StandardCharsets.US_ASCII)).isEqualTo("FERRYMIG");
    assertThat(Preamble.read(in(b))).isEqualTo(Preamble.CURRENT).hasToString("2.0");
  }

  @Test
  void read_higherMinorOfSameMajor_isAccepted() throws Exception {
    assertThat(Preamble.read(in(preambleOf(2, 7, 0)))).isEqualTo(new Preamble(2, 7));
  }

  @Test
  void read_otherMajor_failsIncompatibleWithBothVersions() {
    // 1.1 sent the token in clear: a 2.0 side refuses it.
    assertThatThrownBy(() -> Preamble.read(in(preambleOf(1, 1, 0))))
        .isInstanceOf(ProtocolException.class)
        .hasMessage("protocol version 1.1 not supported, this side speaks 2.0")
        .extracting(e -> ((WireException) e).errorCode()).isEqualTo(ErrorCode.INCOMPATIBLE);
  }

  @Test
  void read_httpRequest_failsNotAFerryStream() {
    byte[] http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
    assertThatThrownBy(() -> Preamble.read(in(http)))
        .isInstanceOf(ProtocolException.class)
        .hasMessageStartingWith("not a Ferry migration stream")
        .hasMessageContaining("GET / HT");
  }

  @Test
  void read_shortWrongMagic_failsNotAFerryStream() {
    assertThatThrownBy(() -> Preamble.read(in(new byte[] {0x16, 0x03, 0x01})))
        .isInstanceOf(ProtocolException.class)
        .hasMessageStartingWith("not a Ferry migration stream")
        .hasMessageContaining("\\x16\\x03\\x01");
  }

  @Test
  void read_emptyStream_failsEndOfStream() {
    assertThatThrownBy(() -> Preamble.read(in(new byte[0]))).isInstanceOf(EndOfStreamException.class);
  }

  @Test
  void read_truncatedPreamble_failsClosedInside() throws Exception {
    byte[] b = Arrays.copyOf(preamble(), 11);
    assertThatThrownBy(() -> Preamble.read(in(b)))
        .isInstanceOf(ProtocolException.class)
        .hasMessageContaining("closed inside the Ferry preamble after 11 of 16 bytes");
  }

  @Test
  void read_nonZeroReserved_fails() {
    assertThatThrownBy(() -> Preamble.read(in(preambleOf(WireFormat.MAJOR_VERSION, 0, 1))))
        .isInstanceOf(ProtocolException.class).hasMessageContaining("reserved");
  }
}
