package dev.ferry.engine;

import dev.ferry.wire.Digest;
import dev.ferry.wire.Message;
import dev.ferry.wire.WireFormat;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The shared token, proven both ways and never sent (wire protocol 2.0): on every connection the
 * destination sends a fresh nonce in AUTH_CHALLENGE, the source answers with a nonce of its own and
 * {@code HMAC-SHA256(key = token as UTF-8, "FERRY-AUTH-2.0 source" || 0x00 || destinationNonce ||
 * sourceNonce)}, and the destination accepts with AUTH_OK carrying its own proof, the same HMAC
 * over {@code "FERRY-AUTH-2.0 destination" || 0x00 || sourceNonce || destinationNonce}, so that a
 * source never sends pages to a host that does not know the token. A proof seen on one connection
 * is worthless on the next (the nonces change), and the token cannot be read off the wire. Against an active attacker who relays a
 * whole connection only TLS helps; the token is the authentication for networks that have no PKI.
 *
 * <p>Stateless and thread-safe.
 */
final class TokenAuth {
  private static final byte[] SOURCE = "FERRY-AUTH-2.0 source\0".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] DESTINATION = "FERRY-AUTH-2.0 destination\0".getBytes(StandardCharsets.US_ASCII);
  private static final Digest NO_PROOF = Digest.of(new byte[WireFormat.DIGEST_LENGTH]);
  private static final SecureRandom RANDOM = new SecureRandom();

  private TokenAuth() {}

  /** 32 fresh random bytes. */
  static Digest nonce() {
    byte[] b = new byte[WireFormat.DIGEST_LENGTH];
    RANDOM.nextBytes(b);
    return Digest.of(b);
  }

  /** The source's answer to {@code challenge}: its proof of {@code token}, or no proof for an empty token. */
  static Message.AuthResponse respond(String token, Message.AuthChallenge challenge) {
    Digest mine = nonce();
    if (token.isEmpty()) {
      return new Message.AuthResponse(mine, NO_PROOF);
    }
    return new Message.AuthResponse(mine, proof(SOURCE, token.getBytes(StandardCharsets.UTF_8), challenge.nonce(),
        mine));
  }

  /** The destination's AUTH_OK: its proof of {@code token} (empty: no proof) over both nonces. */
  static Message.AuthOk accept(byte[] token, Digest sent, Message.AuthResponse response) {
    return new Message.AuthOk(token.length == 0 ? NO_PROOF : proof(DESTINATION, token, response.nonce(), sent));
  }

  /** Whether the destination's AUTH_OK proves {@code token} (non-empty); constant time. */
  static boolean verifyDestination(String token, Message.AuthChallenge challenge, Message.AuthResponse mine,
      Message.AuthOk ok) {
    byte[] expected = proof(DESTINATION, token.getBytes(StandardCharsets.UTF_8), mine.nonce(), challenge.nonce())
        .toByteArray();
    return MessageDigest.isEqual(expected, ok.proof().toByteArray());
  }

  /** Whether the response proves {@code token} (non-empty) over the nonce the destination sent; constant time. */
  static boolean verify(byte[] token, Digest sent, Message.AuthResponse response) {
    byte[] expected = proof(SOURCE, token, sent, response.nonce()).toByteArray();
    return MessageDigest.isEqual(expected, response.proof().toByteArray());
  }

  /** Whether the source sent no proof at all (it has no token). */
  static boolean noProof(Message.AuthResponse response) {
    return response.proof().equals(NO_PROOF);
  }

  static Digest proof(byte[] label, byte[] token, Digest first, Digest second) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(token, "HmacSHA256"));
      mac.update(label);
      mac.update(first.toByteArray());
      mac.update(second.toByteArray());
      return Digest.of(mac.doFinal());
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HMAC-SHA256 is missing from this JDK", e);
    }
  }
}
