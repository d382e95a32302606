package dev.ferry;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * TLS for every connection of a migration: this host's key and certificate, the certificates it
 * trusts, and who may migrate to it. Both ends use TLS 1.3 with mutual authentication (JSSE):
 *
 * <ul>
 *   <li>the <b>source</b> accepts a destination whose certificate chains to a trusted certificate and
 *       names the host it connects to (endpoint identification as HTTPS does it: a DNS or IP
 *       subject alternative name matching the host of the {@link MigrationTarget}'s address);
 *   <li>the <b>destination</b> accepts a source whose certificate chains to a trusted certificate and,
 *       when {@link Builder#allowPeers allowed peers} are given, names one of them in a DNS or IP
 *       subject alternative name (case-insensitive, exact: no wildcards). A source it refuses fails
 *       in the TLS handshake, before it can say anything in Ferry's protocol.
 * </ul>
 *
 * <p>Keys and certificates come from a PKCS#12 (or any JCA) {@link KeyStore}, or from PEM files
 * (a certificate chain and an unencrypted PKCS#8 private key). Pass the same value to
 * {@link MigrationOptions.Builder#tls} and {@link ReceiverOptions.Builder#tls}, or one each.
 *
 * <p>Immutable and thread-safe: the {@link SSLContext} is built once, by {@link Builder#build()}.
 */
public final class FerryTls {
  /** The only protocol version offered or accepted. */
  public static final String PROTOCOL = "TLSv1.3";

  private final SSLContext context;
  private final Set<String> allowedPeers;
  private final java.util.Optional<String> serverName;
  private final String description;

  private FerryTls(SSLContext context, Set<String> allowedPeers, String serverName, String description) {
    this.context = context;
    this.allowedPeers = allowedPeers;
    this.serverName = java.util.Optional.ofNullable(serverName);
    this.description = description;
  }

  public static Builder builder() {
    return new Builder();
  }

  /**
   * TLS from two PKCS#12 files: this host's key and certificate chain, and the certificates it
   * trusts.
   *
   * @throws IllegalArgumentException if a file cannot be read or holds no usable key or certificate
   */
  public static FerryTls pkcs12(Path keyStore, char[] keyStorePassword, Path trustStore, char[] trustStorePassword) {
    return builder().keyStore(keyStore, keyStorePassword).trustStore(trustStore, trustStorePassword).build();
  }

  /** The context every connection's engine is made from. */
  public SSLContext context() {
    return context;
  }

  /** The identities a destination accepts a source under; empty: any source the trust store vouches for. */
  public Set<String> allowedPeers() {
    return allowedPeers;
  }

  /**
   * The name a source checks the destination's certificate against instead of the host it connects
   * to; empty: the target's host (see {@link Builder#serverName}).
   */
  public java.util.Optional<String> serverName() {
    return serverName;
  }

  /**
   * A new engine for one connection: TLS 1.3 only; as a client it checks that the peer's certificate
   * names {@code host}, or the {@link #serverName()} when one is set (which it also sends as SNI);
   * as a server it requires the peer's certificate.
   */
  public SSLEngine engine(boolean client, String host, int port) {
    SSLEngine e = client ? context.createSSLEngine(serverName.orElse(host), port) : context.createSSLEngine();
    e.setUseClientMode(client);
    e.setEnabledProtocols(new String[] {PROTOCOL});
    javax.net.ssl.SSLParameters p = e.getSSLParameters();
    if (client) {
      p.setEndpointIdentificationAlgorithm("HTTPS");
    } else {
      p.setNeedClientAuth(true);
    }
    e.setSSLParameters(p);
    return e;
  }

  @Override
  public String toString() {
    return "FerryTls[" + description + (allowedPeers.isEmpty() ? "" : ", peers=" + allowedPeers) + "]";
  }

  /** Builds {@link FerryTls}. Not thread-safe. A key and a trust source are required. */
  public static final class Builder {
    private KeyStore keyStore;
    private char[] keyPassword;
    private KeyStore trustStore;
    private final Set<String> allowedPeers = new LinkedHashSet<>();
    private String serverName;
    private String keyFrom = "";
    private String trustFrom = "";

    private Builder() {}

    /** This host's private key and certificate chain: the store's one key entry, under {@code password}. */
    public Builder keyStore(KeyStore store, char[] password) {
      this.keyStore = Objects.requireNonNull(store, "keyStore");
      this.keyPassword = Objects.requireNonNull(password, "password").clone();
      this.keyFrom = "key store";
      return this;
    }

    /** This host's key and certificate chain from a PKCS#12 file. */
    public Builder keyStore(Path pkcs12, char[] password) {
      keyStore(load(pkcs12, password), password);
      this.keyFrom = pkcs12.getFileName().toString();
      return this;
    }

    /** The certificates (usually one CA) that a peer's certificate must chain to. */
    public Builder trustStore(KeyStore store) {
      this.trustStore = Objects.requireNonNull(store, "trustStore");
      this.trustFrom = "trust store";
      return this;
    }

    /** The trusted certificates from a PKCS#12 file. */
    public Builder trustStore(Path pkcs12, char[] password) {
      trustStore(load(pkcs12, password));
      this.trustFrom = pkcs12.getFileName().toString();
      return this;
    }

    /**
     * This host's key and certificate chain from PEM files: {@code chain} holds the certificate
     * first, then its issuers; {@code key} an unencrypted PKCS#8 private key ("BEGIN PRIVATE KEY":
     * RSA, EC or Ed25519).
     */
    public Builder pem(Path chain, Path key) {
      List<X509Certificate> certs = certificates(chain);
      PrivateKey pk = privateKey(key);
      try {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        char[] pw = new char[0];
        ks.setKeyEntry("ferry", pk, pw, certs.toArray(new Certificate[0]));
        keyStore(ks, pw);
      } catch (GeneralSecurityException | IOException e) {
        throw new IllegalArgumentException("cannot use the key in " + key + " with the chain in " + chain + ": "
            + e.getMessage(), e);
      }
      this.keyFrom = chain.getFileName().toString();
      return this;
    }

    /** The trusted certificates from a PEM file of one or more certificates. */
    public Builder trustPem(Path certificates) {
      try {
        KeyStore ts = KeyStore.getInstance("PKCS12");
        ts.load(null, null);
        int i = 0;
        for (X509Certificate c : certificates(certificates)) {
          ts.setCertificateEntry("trusted-" + i++, c);
        }
        trustStore(ts);
      } catch (GeneralSecurityException | IOException e) {
        throw new IllegalArgumentException("cannot read trusted certificates from " + certificates + ": "
            + e.getMessage(), e);
      }
      this.trustFrom = certificates.getFileName().toString();
      return this;
    }

    /**
     * On a destination: accept only sources whose certificate names one of these identities (a DNS
     * name or an IP address, as a subject alternative name). Without any, every source whose
     * certificate chains to the trust store is accepted.
     */
    public Builder allowPeers(String... identities) {
      for (String id : identities) {
        String s = Objects.requireNonNull(id, "identity").trim();
        if (s.isEmpty()) {
          throw new IllegalArgumentException("an allowed peer identity must not be empty");
        }
        allowedPeers.add(s.toLowerCase(Locale.ROOT));
      }
      return this;
    }

    /**
     * As a source: check the destination's certificate against {@code name} (a DNS name or an IP
     * address, matched as a subject alternative name the same way) instead of the host of the
     * migration's target, for a receiver reached by an address its certificate does not name (a
     * tunnel, a proxy, a bare IP). Null: the target's host, the default. A receiver ignores it.
     */
    public Builder serverName(String name) {
      if (name != null && name.isBlank()) {
        throw new IllegalArgumentException("a server name must not be blank");
      }
      this.serverName = name == null ? null : name.trim();
      return this;
    }

    /**
     * Builds the context once.
     *
     * @throws IllegalArgumentException if the key or trust store is missing or unusable
     */
    public FerryTls build() {
      if (keyStore == null) {
        throw new IllegalArgumentException("TLS needs this host's key and certificate (keyStore or pem)");
      }
      if (trustStore == null) {
        throw new IllegalArgumentException("TLS needs the certificates to trust (trustStore or trustPem)");
      }
      try {
        if (trustStore.size() == 0) {
          throw new IllegalArgumentException("the trust store holds no certificate");
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(keyStore, keyPassword);
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trustStore);
        X509ExtendedTrustManager base = null;
        for (TrustManager tm : tmf.getTrustManagers()) {
          if (tm instanceof X509ExtendedTrustManager x) {
            base = x;
          }
        }
        if (base == null) {
          throw new IllegalArgumentException("no X.509 trust manager for the trust store");
        }
        Set<String> peers = Set.copyOf(allowedPeers);
        SSLContext ctx = SSLContext.getInstance(PROTOCOL);
        ctx.init(kmf.getKeyManagers(), new TrustManager[] {new PeerRule(base, peers)}, null);
        return new FerryTls(ctx, peers, serverName, "key=" + keyFrom + ", trust=" + trustFrom
            + (serverName == null ? "" : ", serverName=" + serverName));
      } catch (GeneralSecurityException e) {
        throw new IllegalArgumentException("cannot set up TLS: " + e.getMessage(), e);
      }
    }

    private static KeyStore load(Path file, char[] password) {
      try (InputStream in = Files.newInputStream(file)) {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(in, password);
        return ks;
      } catch (IOException | GeneralSecurityException e) {
        throw new IllegalArgumentException("cannot read the PKCS#12 store " + file + ": " + e.getMessage(), e);
      }
    }

    private static List<X509Certificate> certificates(Path file) {
      try (InputStream in = Files.newInputStream(file)) {
        Collection<? extends Certificate> all = CertificateFactory.getInstance("X.509").generateCertificates(in);
        List<X509Certificate> out = new ArrayList<>();
        for (Certificate c : all) {
          out.add((X509Certificate) c);
        }
        if (out.isEmpty()) {
          throw new IllegalArgumentException("no certificate in " + file);
        }
        return out;
      } catch (IOException | GeneralSecurityException e) {
        throw new IllegalArgumentException("cannot read certificates from " + file + ": " + e.getMessage(), e);
      }
    }

    private static PrivateKey privateKey(Path file) {
      String text;
      try {
        text = Files.readString(file, StandardCharsets.US_ASCII);
      } catch (IOException e) {
        throw new IllegalArgumentException("cannot read the private key " + file + ": " + e.getMessage(), e);
      }
      String begin = "-----BEGIN PRIVATE KEY-----";
      String end = "-----END PRIVATE KEY-----";
      int b = text.indexOf(begin);
      int e = text.indexOf(end);
      if (b < 0 || e < b) {
        throw new IllegalArgumentException(file + " holds no unencrypted PKCS#8 key (\"" + begin + "\")");
      }
      byte[] der = Base64.getMimeDecoder().decode(text.substring(b + begin.length(), e));
      try {
        for (String alg : new String[] {"RSA", "EC", "Ed25519"}) {
          try {
            return KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(der));
          } catch (java.security.spec.InvalidKeySpecException wrongAlgorithm) {
            // try the next
          }
        }
      } catch (GeneralSecurityException ex) {
        throw new IllegalArgumentException("cannot read the private key " + file + ": " + ex.getMessage(), ex);
      } finally {
        Arrays.fill(der, (byte) 0);
      }
      throw new IllegalArgumentException("the key in " + file + " is not an RSA, EC or Ed25519 key");
    }
  }

  /**
   * The JDK's PKIX trust manager, plus the destination's rule: a source's certificate must name an
   * allowed peer. A server certificate that does not name the host is refused with the host and
   * the names it does carry.
   */
  private static final class PeerRule extends X509ExtendedTrustManager {
    private final X509ExtendedTrustManager base;
    private final Set<String> peers;

    PeerRule(X509ExtendedTrustManager base, Set<String> peers) {
      this.base = base;
      this.peers = peers;
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      base.checkClientTrusted(chain, authType, engine);
      requireAllowed(chain);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      base.checkClientTrusted(chain, authType, socket);
      requireAllowed(chain);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      base.checkClientTrusted(chain, authType);
      requireAllowed(chain);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
        throws CertificateException {
      try {
        base.checkServerTrusted(chain, authType, engine);
      } catch (CertificateException e) {
        throw explained(e, chain, engine == null ? null : engine.getPeerHost());
      }
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
        throws CertificateException {
      base.checkServerTrusted(chain, authType, socket);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
      base.checkServerTrusted(chain, authType);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return base.getAcceptedIssuers();
    }

    private void requireAllowed(X509Certificate[] chain) throws CertificateException {
      if (peers.isEmpty()) {
        return;
      }
      Set<String> names = names(chain[0]);
      for (String n : names) {
        if (peers.contains(n)) {
          return;
        }
      }
      throw new CertificateException("the source's certificate (" + chain[0].getSubjectX500Principal().getName()
          + ", names " + names + ") names none of the peers allowed here " + peers);
    }

    private static CertificateException explained(CertificateException e, X509Certificate[] chain, String host) {
      if (host == null || chain.length == 0 || !(e.getMessage() != null && e.getMessage().contains("subject"))) {
        return e;
      }
      Set<String> names;
      try {
        names = names(chain[0]);
      } catch (CertificateParsingException p) {
        return e;
      }
      CertificateException x = new CertificateException("the destination's certificate names " + names
          + ", not the host this migration was sent to (" + host + "; FerryTls.serverName, when set, is the name"
          + " checked instead): " + e.getMessage(), e);
      return x;
    }

    static Set<String> names(X509Certificate cert) throws CertificateParsingException {
      Set<String> out = new LinkedHashSet<>();
      Collection<List<?>> sans = cert.getSubjectAlternativeNames();
      if (sans != null) {
        for (List<?> san : sans) {
          int type = (Integer) san.get(0);
          if (type == 2) { // dNSName
            out.add(String.valueOf(san.get(1)).toLowerCase(Locale.ROOT));
          } else if (type == 7) { // iPAddress
            out.add(normalIp(String.valueOf(san.get(1))));
          }
        }
      }
      return out;
    }

    private static String normalIp(String ip) {
      try {
        return InetAddress.getByName(ip).getHostAddress().toLowerCase(Locale.ROOT);
      } catch (IOException e) {
        return ip.toLowerCase(Locale.ROOT);
      }
    }
  }
}
