package dev.ferry.engine;

import dev.ferry.wire.FrameReader;
import dev.ferry.wire.FrameWriter;
import dev.ferry.wire.Message;
import dev.ferry.wire.Messages;
import dev.ferry.wire.Preamble;
import java.io.IOException;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;

/**
 * How a hand-written peer opens a connection in protocol 2.0, for tests that speak the wire
 * themselves: preambles, then AUTH_CHALLENGE from the destination, AUTH_RESPONSE from the source and
 * AUTH_OK from the destination.
 */
final class RawPeer {
  private RawPeer() {}

  /** As a source: preambles, then answers the receiver's challenge with a proof of {@code token}. */
  static void openAsSource(ReadableByteChannel in, WritableByteChannel out, String token) throws IOException {
    Preamble.write(out);
    Preamble.read(in);
    FrameReader reader = new FrameReader(in);
    Message.AuthChallenge c = Messages.expect(reader.next(), Message.AuthChallenge.class);
    new FrameWriter(out).write(TokenAuth.respond(token, c));
    Messages.expect(reader.next(), Message.AuthOk.class);
  }

  /** As a receiver that requires no token: preambles, a challenge, and the source's response read. */
  static void openAsReceiver(ReadableByteChannel in, WritableByteChannel out) throws IOException {
    Preamble.write(out);
    Preamble.read(in);
    FrameWriter writer = new FrameWriter(out);
    dev.ferry.wire.Digest nonce = TokenAuth.nonce();
    writer.write(new Message.AuthChallenge(false, nonce));
    Message.AuthResponse r = Messages.expect(new FrameReader(in).next(), Message.AuthResponse.class);
    writer.write(TokenAuth.accept(new byte[0], nonce, r));
  }
}
