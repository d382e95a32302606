package dev.ferry.engine;

import dev.ferry.FerryTls;
import java.io.IOException;
import java.io.OutputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import javax.security.auth.x500.X500Principal;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A certificate authority made in memory for one test (BouncyCastle's bcpkix builds the
 * certificates; the JDK makes the EC P-256 keys): its certificate as a trust store, and host
 * certificates it issues with the subject alternative names a test asks for. Valid from an hour ago
 * for a day, so nothing checked in can expire.
 */
final class TestPki {
  private static final AtomicLong SERIAL = new AtomicLong(System.currentTimeMillis());
  static final char[] PASSWORD = "test-only".toCharArray();

  private final KeyPair caKeys;
  private final X509Certificate caCert;

  private TestPki(String name) {
    try {
      caKeys = keyPair();
      X500Principal subject = new X500Principal("CN=" + name);
      X509v3CertificateBuilder b = builder(subject, subject, caKeys);
      JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
      b.addExtension(Extension.basicConstraints, true, new BasicConstraints(0));
      b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
      b.addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(caKeys.getPublic()));
      caCert = sign(b, caKeys.getPrivate());
    } catch (GeneralSecurityException | IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A new authority named {@code name}. */
  static TestPki authority(String name) {
    return new TestPki(name);
  }

  /** A host's key and certificate, issued by an authority. */
  record Identity(PrivateKey key, X509Certificate cert, X509Certificate ca) {
    /** A PKCS#12 store in memory with the key and the chain, under {@link #PASSWORD}. */
    KeyStore keyStore() {
      try {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        ks.setKeyEntry("host", key, PASSWORD, new Certificate[] {cert, ca});
        return ks;
      } catch (GeneralSecurityException | IOException e) {
        throw new IllegalStateException(e);
      }
    }

    /** The key store written to {@code file} as PKCS#12. */
    Path writePkcs12(Path file) throws IOException, GeneralSecurityException {
      try (OutputStream out = Files.newOutputStream(file)) {
        keyStore().store(out, PASSWORD);
      }
      return file;
    }

    /** The chain as PEM to {@code chain}, the key as unencrypted PKCS#8 PEM to {@code keyFile}. */
    void writePem(Path chain, Path keyFile) throws IOException, GeneralSecurityException {
      Files.writeString(chain, pem("CERTIFICATE", cert.getEncoded()) + pem("CERTIFICATE", ca.getEncoded()));
      Files.writeString(keyFile, pem("PRIVATE KEY", key.getEncoded()));
    }
  }

  /**
   * A host certificate with these subject alternative names: each an IP address literal (an IP
   * name) or else a DNS name. Good for both TLS server and client authentication.
   */
  Identity issue(String commonName, String... names) {
    try {
      KeyPair keys = keyPair();
      X509v3CertificateBuilder b = builder(caCert.getSubjectX500Principal(), new X500Principal("CN=" + commonName),
          keys);
      JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
      b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
      b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
      b.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(
          new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}));
      b.addExtension(Extension.authorityKeyIdentifier, false, ext.createAuthorityKeyIdentifier(caCert));
      List<GeneralName> sans = new ArrayList<>();
      for (String n : names) {
        sans.add(new GeneralName(isIp(n) ? GeneralName.iPAddress : GeneralName.dNSName, n));
      }
      if (!sans.isEmpty()) {
        b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(sans.toArray(new GeneralName[0])));
      }
      return new Identity(keys.getPrivate(), sign(b, caKeys.getPrivate()), caCert);
    } catch (GeneralSecurityException | IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A trust store holding this authority's certificate alone. */
  KeyStore trustStore() {
    try {
      KeyStore ks = KeyStore.getInstance("PKCS12");
      ks.load(null, null);
      ks.setCertificateEntry("ca", caCert);
      return ks;
    } catch (GeneralSecurityException | IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The authority's certificate as PEM to {@code file}. */
  Path writeCaPem(Path file) throws IOException, GeneralSecurityException {
    Files.writeString(file, pem("CERTIFICATE", caCert.getEncoded()));
    return file;
  }

  /** TLS for a host with {@code id}, trusting this authority, accepting only {@code allowedPeers} if any. */
  FerryTls tls(Identity id, String... allowedPeers) {
    return FerryTls.builder().keyStore(id.keyStore(), PASSWORD).trustStore(trustStore()).allowPeers(allowedPeers)
        .build();
  }

  private static boolean isIp(String n) {
    return n.matches("[0-9.]+") || n.contains(":");
  }

  private static KeyPair keyPair() throws GeneralSecurityException {
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec("secp256r1"));
    return g.generateKeyPair();
  }

  private static X509v3CertificateBuilder builder(X500Principal issuer, X500Principal subject, KeyPair keys) {
    Instant now = Instant.now();
    return new JcaX509v3CertificateBuilder(issuer, BigInteger.valueOf(SERIAL.incrementAndGet()),
        Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(Duration.ofDays(1))), subject, keys.getPublic());
  }

  private static X509Certificate sign(X509v3CertificateBuilder b, PrivateKey key) throws GeneralSecurityException {
    try {
      ContentSigner signer = new JcaContentSignerBuilder("SHA256withECDSA").build(key);
      return new JcaX509CertificateConverter().getCertificate(b.build(signer));
    } catch (org.bouncycastle.operator.OperatorCreationException e) {
      throw new GeneralSecurityException(e);
    }
  }

  private static String pem(String type, byte[] der) {
    return "-----BEGIN " + type + "-----\n"
        + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der)
        + "\n-----END " + type + "-----\n";
  }
}
