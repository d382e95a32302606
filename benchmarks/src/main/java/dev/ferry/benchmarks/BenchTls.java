package dev.ferry.benchmarks;

import dev.ferry.FerryTls;
import java.math.BigInteger;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
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
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * TLS for the throughput runner: a CA made in memory for the run and one EC P-256 host certificate
 * it signs, naming 127.0.0.1, used by both ends. Nothing is written to disk.
 */
final class BenchTls {
  private BenchTls() {}

  static FerryTls loopback() throws Exception {
    KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
    g.initialize(new ECGenParameterSpec("secp256r1"));
    KeyPair ca = g.generateKeyPair();
    KeyPair host = g.generateKeyPair();
    X500Principal caName = new X500Principal("CN=Ferry benchmark CA");
    Instant now = Instant.now();
    Date from = Date.from(now.minus(Duration.ofHours(1)));
    Date to = Date.from(now.plus(Duration.ofDays(1)));

    X509v3CertificateBuilder cab = new JcaX509v3CertificateBuilder(caName, BigInteger.ONE, from, to, caName,
        ca.getPublic());
    cab.addExtension(Extension.basicConstraints, true, new BasicConstraints(0));
    cab.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign));
    X509Certificate caCert = sign(cab, ca);

    X509v3CertificateBuilder hb = new JcaX509v3CertificateBuilder(caName, BigInteger.TWO, from, to,
        new X500Principal("CN=bench"), host.getPublic());
    hb.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
    hb.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature));
    hb.addExtension(Extension.extendedKeyUsage, false,
        new ExtendedKeyUsage(new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}));
    hb.addExtension(Extension.subjectAlternativeName, false,
        new GeneralNames(new GeneralName(GeneralName.iPAddress, "127.0.0.1")));
    X509Certificate hostCert = sign(hb, ca);

    char[] pw = "bench".toCharArray();
    KeyStore keys = KeyStore.getInstance("PKCS12");
    keys.load(null, null);
    keys.setKeyEntry("host", host.getPrivate(), pw, new Certificate[] {hostCert, caCert});
    KeyStore trust = KeyStore.getInstance("PKCS12");
    trust.load(null, null);
    trust.setCertificateEntry("ca", caCert);
    return FerryTls.builder().keyStore(keys, pw).trustStore(trust).build();
  }

  private static X509Certificate sign(X509v3CertificateBuilder b, KeyPair issuer) throws Exception {
    return new JcaX509CertificateConverter()
        .getCertificate(b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(issuer.getPrivate())));
  }
}
