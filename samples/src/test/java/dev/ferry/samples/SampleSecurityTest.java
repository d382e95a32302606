package dev.ferry.samples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** Where the samples take the token and TLS from: files and the environment, never the command line. */
class SampleSecurityTest {

  private static SampleSecurity parse(String... args) {
    SampleSecurity s = new SampleSecurity();
    new CommandLine(s).parseArgs(args);
    return s;
  }

  @Test
  void token_fromFile_isItsFirstLineAndWinsOverTheEnvironment(@TempDir Path dir) throws Exception {
    Path file = Files.writeString(dir.resolve("token"), "from-file\nignored\n");
    SampleSecurity s = parse("--token-file", file.toString());
    assertThat(s.token(Map.of(SampleSecurity.TOKEN_ENV, "from-env"))).isEqualTo("from-file");
  }

  @Test
  void token_withoutFile_comesFromFerryTokenOrIsEmpty() throws Exception {
    assertThat(parse().token(Map.of(SampleSecurity.TOKEN_ENV, "from-env"))).isEqualTo("from-env");
    assertThat(parse().token(Map.of())).isEmpty();
  }

  @Test
  void token_emptyFile_isRefused(@TempDir Path dir) throws Exception {
    Path file = Files.writeString(dir.resolve("token"), "\n");
    assertThatThrownBy(() -> parse("--token-file", file.toString()).token(Map.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("empty");
  }

  @Test
  void quickStart_hasNoTokenOptionOnTheCommandLine() {
    List<String> names = new CommandLine(new QuickStart()).getCommandSpec().options().stream()
        .flatMap(o -> List.of(o.names()).stream()).toList();
    assertThat(names).contains("--token-file", "--tls-keystore", "--tls-truststore", "--tls-password-file")
        .doesNotContain("--token");
  }

  @Test
  void tls_noneGiven_isNull_andHalfAConfigurationIsRefusedNamingWhatIsMissing(@TempDir Path dir) throws Exception {
    assertThat(parse().tls()).isNull();
    Path ks = Files.writeString(dir.resolve("k.p12"), "x");
    assertThatThrownBy(() -> parse("--tls-keystore", ks.toString()).tls())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--tls-truststore");
    assertThatThrownBy(() -> parse("--tls-allow-peer", "a.example").tls())
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("needs TLS");
  }
}
