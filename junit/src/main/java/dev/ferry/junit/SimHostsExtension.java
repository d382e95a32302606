package dev.ferry.junit;

import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.platform.commons.support.AnnotationSupport;

/**
 * Resolves {@link SimHosts} parameters: one pair of fresh hosts per test, shared by the test method
 * and its {@code @BeforeEach} and {@code @AfterEach} methods. After each test (its own
 * {@code @AfterEach} methods included), runs {@link SimHosts#verify()}, frees the hosts, and fails
 * the test with every problem found. Used through {@link FerrySimHosts}, or
 * {@code @ExtendWith(SimHostsExtension.class)}.
 *
 * <p>Stateless; the hosts live in the test's {@link ExtensionContext.Store}.
 */
public final class SimHostsExtension implements ParameterResolver, AfterEachCallback {
  private static final ExtensionContext.Namespace NAMESPACE = ExtensionContext.Namespace.create(SimHostsExtension.class);
  private static final String KEY = "hosts";

  /** Made by JUnit, which creates an extension named in {@code @ExtendWith} reflectively. */
  public SimHostsExtension() {}

  @Override
  public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
    return parameter.getParameter().getType() == SimHosts.class && context.getTestMethod().isPresent();
  }

  @Override
  public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
    java.util.Optional<FerrySimHosts> a = context.getTestClass()
        .flatMap(c -> AnnotationSupport.findAnnotation(c, FerrySimHosts.class));
    java.time.Duration settle = a.map(f -> java.time.Duration.ofMillis(f.settleMillis())).orElse(SimHosts.SETTLE);
    return context.getStore(NAMESPACE).getOrComputeIfAbsent(KEY, k -> SimHosts.create(prefix(context, a), settle),
        SimHosts.class);
  }

  private static String prefix(ExtensionContext context, java.util.Optional<FerrySimHosts> a) {
    String p = a.map(FerrySimHosts::prefix).orElse("");
    if (p.isEmpty()) {
      p = context.getRequiredTestClass().getSimpleName().toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]+", "-");
    }
    return p;
  }

  @Override
  public void afterEach(ExtensionContext context) throws Exception {
    SimHosts hosts = context.getStore(NAMESPACE).remove(KEY, SimHosts.class);
    if (hosts == null) {
      return;
    }
    List<String> problems;
    try {
      problems = hosts.verify();
    } finally {
      hosts.close();
    }
    if (!problems.isEmpty()) {
      throw new AssertionError("after the test, on " + hosts + ": " + String.join("; ", problems));
    }
  }
}
