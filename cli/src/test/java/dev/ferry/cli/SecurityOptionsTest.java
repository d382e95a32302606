package dev.ferry.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** Where the commands take the token and TLS from: files and the environment, never the command line. */
class SecurityOptionsTest {

  private static SecurityOptions parse(String... args) {
    SecurityOptions s = new SecurityOptions();
    new CommandLine(s).parseArgs(args);
    return s;
  }

  @Test
  void token_fromFile_isItsFirstLineAndWinsOverTheEnvironment(@TempDir Path dir) throws Exception {
    Path file = Files.writeString(dir.resolve("token"), "from-file\nignored\n");
    SecurityOptions s = parse("--token-file", file.toString());
    assertThat(s.token(Map.of(SecurityOptions.TOKEN_ENV, "from-env"))).isEqualTo("from-file");
  }

  @Test
  void token_withoutFile_comesFromFerryTokenOrIsEmpty() throws Exception {
    assertThat(parse().token(Map.of(SecurityOptions.TOKEN_ENV, "from-env"))).isEqualTo("from-env");
    assertThat(parse().token(Map.of())).isEmpty();
  }

  @Test
  void token_emptyFile_isRefused(@TempDir Path dir) throws Exception {
    Path file = Files.writeString(dir.resolve("token"), "\n");
    assertThatThrownBy(() -> parse("--token-file", file.toString()).token(Map.of()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("empty");
  }

  @Test
  void remoteCommands_haveNoTokenOptionOnTheCommandLine() {
    for (Object command : List.of(new QuickStartCommand(), new MigrateCommand(), new ReceiveCommand(), new PlanCommand())) {
      List<String> names = new CommandLine(command).getCommandSpec().options().stream()
          .flatMap(o -> List.of(o.names()).stream()).toList();
      assertThat(names).as(command.getClass().getSimpleName())
          .contains("--token-file", "--tls-keystore", "--tls-truststore", "--tls-password-file")
          .doesNotContain("--token");
    }
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
