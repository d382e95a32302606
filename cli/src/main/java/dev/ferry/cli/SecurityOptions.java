package dev.ferry.cli;

import dev.ferry.FerryTls;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * The security options of a command that sends to a remote receiver or is one, as a picocli mixin:
 * the token from a file or the {@code FERRY_TOKEN} environment variable (never from the command
 * line, where every user sees it in {@code ps}), and TLS from a PKCS#12 key store and trust store
 * (their password from a file) or from PEM files. Not thread-safe: picocli fills it, one command
 * reads it.
 */
public final class SecurityOptions {
  public static final String TOKEN_ENV = "FERRY_TOKEN";

  @Option(names = "--token-file", paramLabel = "FILE",
      description = "File whose first line is the shared token (else the FERRY_TOKEN environment variable).")
  Path tokenFile;

  @Option(names = "--tls-keystore", paramLabel = "FILE",
      description = "PKCS#12 file with this host's private key and certificate chain (turns TLS on).")
  Path keyStore;

  @Option(names = "--tls-truststore", paramLabel = "FILE",
      description = "PKCS#12 file with the certificates to trust (the CA that signed the peers).")
  Path trustStore;

  @Option(names = "--tls-password-file", paramLabel = "FILE",
      description = "File whose first line is the password of the key store and the trust store.")
  Path passwordFile;

  @Option(names = "--tls-cert", paramLabel = "FILE",
      description = "PEM certificate chain of this host (with --tls-key and --tls-ca, instead of PKCS#12).")
  Path certPem;

  @Option(names = "--tls-key", paramLabel = "FILE", description = "PEM unencrypted PKCS#8 private key of this host.")
  Path keyPem;

  @Option(names = "--tls-ca", paramLabel = "FILE", description = "PEM certificates to trust.")
  Path caPem;

  @Option(names = "--tls-allow-peer", paramLabel = "NAME",
      description = "On the receiving side: accept only sources whose certificate names NAME (DNS or IP; repeatable).")
  List<String> allowPeers = List.of();

  /** The token: the file's first line, else {@code FERRY_TOKEN}, else empty. */
  public String token(Map<String, String> env) throws IOException {
    if (tokenFile != null) {
      String t = firstLine(tokenFile);
      if (t.isEmpty()) {
        throw new IllegalArgumentException("the token file " + tokenFile + " is empty");
      }
      return t;
    }
    return env.getOrDefault(TOKEN_ENV, "");
  }

  /** TLS from the options, or null when none is given. */
  public FerryTls tls() throws IOException {
    boolean pkcs12 = keyStore != null || trustStore != null;
    boolean pem = certPem != null || keyPem != null || caPem != null;
    if (!pkcs12 && !pem) {
      if (!allowPeers.isEmpty()) {
        throw new IllegalArgumentException("--tls-allow-peer needs TLS: give --tls-keystore and --tls-truststore");
      }
      return null;
    }
    if (pkcs12 && pem) {
      throw new IllegalArgumentException("give either --tls-keystore/--tls-truststore or --tls-cert/--tls-key/--tls-ca");
    }
    FerryTls.Builder b = FerryTls.builder();
    if (pkcs12) {
      if (keyStore == null || trustStore == null || passwordFile == null) {
        throw new IllegalArgumentException("TLS from PKCS#12 needs --tls-keystore, --tls-truststore and"
            + " --tls-password-file");
      }
      char[] password = firstLine(passwordFile).toCharArray();
      b.keyStore(keyStore, password).trustStore(trustStore, password);
    } else {
      if (certPem == null || keyPem == null || caPem == null) {
        throw new IllegalArgumentException("TLS from PEM needs --tls-cert, --tls-key and --tls-ca");
      }
      b.pem(certPem, keyPem).trustPem(caPem);
    }
    return b.allowPeers(allowPeers.toArray(new String[0])).build();
  }

  private static String firstLine(Path file) throws IOException {
    List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
    return lines.isEmpty() ? "" : lines.get(0).strip();
  }
}
