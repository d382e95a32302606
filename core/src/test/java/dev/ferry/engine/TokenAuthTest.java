package dev.ferry.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ferry.DestinationRefusedException;
import dev.ferry.HostException;
import dev.ferry.MigrationOptions;
import dev.ferry.MigrationResult;
import dev.ferry.MigrationResult.Outcome;
import dev.ferry.MigrationTarget;
import dev.ferry.ReceiverOptions;
import dev.ferry.sim.SimHost;
import dev.ferry.sim.SimVm;
import dev.ferry.sim.SimVmSpec;
import dev.ferry.sim.Workload;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.VmState;
import dev.ferry.wire.Digest;
import dev.ferry.wire.Message;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The token proven by challenge and response both ways (wire 2.0), and the receiver's secure
 * defaults: a migration with the right token completes and the token never appears in the bytes on
 * the wire; a wrong or missing token is refused before any page moves; a destination that cannot
 * prove the token gets nothing past the handshake; a receiver on a non-loopback address without TLS
 * or a token does not start.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class TokenAuthTest {
  private static final String TOKEN = "correct-horse-battery-staple";

  private SimPair pair;

  @AfterEach
  void cleanUp() {
    if (pair != null) {
      pair.close();
    }
  }

  private SimPair pair(String token) {
    pair = new SimPair("auth", SimHost::driver, ReceiverOptions.builder().token(token).build());
    return pair;
  }

  private SimVm vm(String name) {
    SimVm vm = pair.source.createVm(SimVmSpec.builder(name).memory(DataSize.mib(8)).vcpus(1)
        .workload(Workload.uniform(500)).seed(3).build());
    vm.fillRandom(4);
    return vm;
  }

  private MigrationResult migrate(SimVm vm, MigrationTarget target) throws Exception {
    return SourceMigration.start(pair.source.info(), vm, target, MigrationOptions.builder().verify(true).build())
        .completion().get(40, TimeUnit.SECONDS);
  }

  private void assertRefusedBeforeAnyPage(MigrationResult r, SimVm vm) throws Exception {
    assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(Outcome.FAILED);
    assertThat(r.rounds()).isEmpty();
    assertThat(vm.state()).isEqualTo(VmState.RUNNING);
    pair.assertDestinationEmpty();
  }

  @Test
  void proof_verifiesForTheTokenAndTheNonceItAnswers_only() {
    byte[] token = TOKEN.getBytes(StandardCharsets.UTF_8);
    Message.AuthChallenge challenge = new Message.AuthChallenge(true, TokenAuth.nonce());
    Message.AuthResponse response = TokenAuth.respond(TOKEN, challenge);

    assertThat(TokenAuth.verify(token, challenge.nonce(), response)).isTrue();
    assertThat(TokenAuth.verify("another".getBytes(StandardCharsets.UTF_8), challenge.nonce(), response)).isFalse();
    Digest nextConnection = TokenAuth.nonce();
    assertThat(TokenAuth.verify(token, nextConnection, response)).as("replayed on a new challenge").isFalse();
    assertThat(TokenAuth.noProof(TokenAuth.respond("", challenge))).isTrue();
    Message.AuthOk ok = TokenAuth.accept(token, challenge.nonce(), response);
    assertThat(TokenAuth.verifyDestination(TOKEN, challenge, response, ok)).isTrue();
    assertThat(ok.proof()).as("the destination's proof is not the source's").isNotEqualTo(response.proof());
  }

  @Test
  void migrate_withTheRightToken_completesAndTheTokenNeverCrossesTheWire() throws Exception {
    pair(TOKEN);
    SimVm vm = vm("auth-ok");
    try (RecordingRelay relay = new RecordingRelay(pair.receiver.address())) {
      MigrationResult r = migrate(vm, new MigrationTarget(relay.address(), TOKEN));

      assertThat(r.outcome()).as("cause %s", r.cause()).isEqualTo(Outcome.COMPLETED);
      assertThat(r.verified()).isTrue();
      byte[] wire = relay.recorded();
      assertThat(wire.length).isGreaterThan(8 << 20);
      assertThat(indexOf(wire, TOKEN.getBytes(StandardCharsets.UTF_8))).as("the token in the recorded bytes")
          .isEqualTo(-1);
    }
  }

  @Test
  void migrate_withAWrongToken_isRefusedUnauthorizedBeforeAnyPageMoves() throws Exception {
    pair(TOKEN);
    SimVm vm = vm("auth-wrong");
    MigrationResult r = migrate(vm, pair.receiver.target().withToken("guess"));

    assertRefusedBeforeAnyPage(r, vm);
    assertThat(r.cause()).containsInstanceOf(DestinationRefusedException.class);
    assertThat(r.cause().orElseThrow().getMessage()).contains("UNAUTHORIZED").contains("wrong token");
  }

  @Test
  void migrate_withoutATokenToAReceiverThatRequiresOne_isRefusedSayingSo() throws Exception {
    pair(TOKEN);
    SimVm vm = vm("auth-none");
    MigrationResult r = migrate(vm, pair.receiver.target().withToken(""));

    assertRefusedBeforeAnyPage(r, vm);
    assertThat(r.cause()).containsInstanceOf(DestinationRefusedException.class);
    assertThat(r.cause().orElseThrow().getMessage()).contains("requires a token");
  }

  @Test
  void measureLink_withAWrongToken_isRefusedUnauthorized() {
    pair(TOKEN);
    assertThatThrownBy(() -> dev.ferry.Ferry.measureLink(pair.receiver.target().withToken("guess"),
        java.time.Duration.ofMillis(50)))
        .isInstanceOf(DestinationRefusedException.class).hasMessageContaining("UNAUTHORIZED")
        .hasMessageContaining("wrong token");
  }

  @Test
  void migrate_toADestinationThatCannotProveTheToken_isRefusedBySourceBeforeHello() throws Exception {
    pair(TOKEN);
    SimVm vm = vm("auth-impostor");
    java.util.concurrent.atomic.AtomicReference<String> afterAuth = new java.util.concurrent.atomic.AtomicReference<>();
    try (ServerSocket impostor = new ServerSocket(0, 4, InetAddress.getLoopbackAddress())) {
      Thread t = new Thread(() -> {
        try (Socket s = impostor.accept()) {
          var in = java.nio.channels.Channels.newChannel(s.getInputStream());
          var out = java.nio.channels.Channels.newChannel(s.getOutputStream());
          dev.ferry.wire.Preamble.write(out);
          dev.ferry.wire.Preamble.read(in);
          dev.ferry.wire.FrameWriter w = new dev.ferry.wire.FrameWriter(out);
          dev.ferry.wire.FrameReader r = new dev.ferry.wire.FrameReader(in);
          w.write(new Message.AuthChallenge(true, TokenAuth.nonce()));
          r.next(); // AUTH_RESPONSE: the impostor cannot check it, and answers with a made-up proof
          w.write(new Message.AuthOk(TokenAuth.nonce()));
          afterAuth.set(String.valueOf(r.next().type()));
        } catch (IOException e) {
          afterAuth.compareAndSet(null, "closed");
        }
      }, "test-impostor");
      t.setDaemon(true);
      t.start();
      MigrationResult r = migrate(vm, new MigrationTarget(
          new InetSocketAddress(InetAddress.getLoopbackAddress(), impostor.getLocalPort()), TOKEN));
      t.join(10_000);

      assertThat(r.outcome()).isEqualTo(Outcome.FAILED);
      assertThat(r.cause().orElseThrow().getMessage()).contains("could not prove the token");
      assertThat(afterAuth.get()).as("what the impostor got after AUTH_OK").isEqualTo("closed");
      assertThat(vm.state()).isEqualTo(VmState.RUNNING);
    }
  }

  @Test
  void migrate_withATokenToAReceiverThatRequiresNone_isRefusedBySourceWithoutTls() throws Exception {
    pair("");
    SimVm vm = vm("auth-open-dest");
    MigrationResult r = migrate(vm, pair.receiver.target().withToken(TOKEN));

    assertRefusedBeforeAnyPage(r, vm);
    assertThat(r.cause().orElseThrow().getMessage()).contains("requires no token");
  }

  @Test
  void start_onANonLoopbackAddressWithoutTlsOrToken_refusesToStartAndSaysWhy() {
    SimHost host = SimHost.named("auth-open-" + System.nanoTime());
    try {
      // Refused before binding: nothing listens beyond loopback.
      for (InetSocketAddress a : List.of(new InetSocketAddress("0.0.0.0", 0), new InetSocketAddress("192.0.2.1", 0))) {
        assertThatThrownBy(() -> Receiver.start(host.driver(), a, ReceiverOptions.defaults()))
            .isInstanceOf(HostException.class).hasMessageContaining("without TLS or a token");
      }
    } finally {
      host.destroy();
    }
  }

  @Test
  void start_onLoopbackWithoutTlsOrToken_runsOpen() throws Exception {
    pair("");
    SimVm vm = vm("auth-open");
    assertThat(migrate(vm, pair.receiver.target()).outcome()).isEqualTo(Outcome.COMPLETED);
  }

  private static int indexOf(byte[] hay, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= hay.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (hay[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  /** A loopback TCP relay that keeps every byte it forwards, both ways, of every connection. */
  private static final class RecordingRelay implements AutoCloseable {
    private final ServerSocket server;
    private final InetSocketAddress upstream;
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();

    RecordingRelay(InetSocketAddress upstream) throws IOException {
      this.upstream = upstream;
      this.server = new ServerSocket(0, 16, InetAddress.getLoopbackAddress());
      Thread t = new Thread(this::accept, "test-recording-relay");
      t.setDaemon(true);
      t.start();
    }

    InetSocketAddress address() {
      return new InetSocketAddress(InetAddress.getLoopbackAddress(), server.getLocalPort());
    }

    byte[] recorded() {
      synchronized (bytes) {
        return bytes.toByteArray();
      }
    }

    private void accept() {
      try {
        while (true) {
          Socket in = server.accept();
          Socket out = new Socket(upstream.getAddress(), upstream.getPort());
          sockets.add(in);
          sockets.add(out);
          pump(in, out);
          pump(out, in);
        }
      } catch (IOException closed) {
        // the relay is closed
      }
    }

    private void pump(Socket from, Socket to) {
      Thread t = new Thread(() -> {
        byte[] buf = new byte[64 << 10];
        try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
          int n;
          while ((n = in.read(buf)) >= 0) {
            synchronized (bytes) {
              bytes.write(buf, 0, n);
            }
            out.write(buf, 0, n);
          }
        } catch (IOException ended) {
          // one side closed
        } finally {
          closeQuietly(from);
          closeQuietly(to);
        }
      }, "test-recording-pump");
      t.setDaemon(true);
      t.start();
    }

    private static void closeQuietly(Socket s) {
      try {
        s.close();
      } catch (IOException ignored) {
        // closing
      }
    }

    @Override
    public void close() throws IOException {
      server.close();
      for (Socket s : sockets) {
        closeQuietly(s);
      }
    }
  }
}
