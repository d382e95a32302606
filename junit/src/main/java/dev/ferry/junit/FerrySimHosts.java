package dev.ferry.junit;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Gives each test of the class (and its {@code @BeforeEach} and {@code @AfterEach} methods) a
 * {@link SimHosts} parameter: two fresh simulated hosts, a source and a destination, with a
 * receiver for the destination on 127.0.0.1. After each test, {@link SimHostsExtension} checks that
 * no migration started through {@link SimHosts#migrate} is still running, that each left its VM
 * on exactly one host, and that the destination holds no incoming VM; then it frees both hosts.
 *
 * <pre>{@code
 * @FerrySimHosts
 * class OrchestratorTest {
 *   @Test
 *   void drain_movesEveryVm(SimHosts hosts) throws Exception {
 *     hosts.source().createVm(SimVmSpec.builder("web-1").memory(DataSize.mib(64)).build());
 *     MigrationResult r = hosts.migrate("web-1", MigrationOptions.defaults()).completion().get(30, SECONDS);
 *     assertThat(r.completed()).isTrue();
 *   }
 * }
 * }</pre>
 */
@Target({ElementType.TYPE, ElementType.ANNOTATION_TYPE})
@Retention(RetentionPolicy.RUNTIME)
@Documented
@Inherited
@ExtendWith(SimHostsExtension.class)
public @interface FerrySimHosts {

  /**
   * The start of the hosts' names: {@code PREFIX-src-N} and {@code PREFIX-dst-N}, N counting up
   * across the JVM so that no two tests share a host. Empty: the test class's name, in lower case.
   */
  String prefix() default "";

  /**
   * After the test, how long to wait, at most, for its migrations to end and the destination to
   * discard what it was receiving, before calling them leaked; in milliseconds.
   */
  long settleMillis() default 10_000;
}
