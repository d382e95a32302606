/**
 * Ferry's public API ({@link dev.ferry.Ferry}, {@code dev.ferry}) and its convergence policies
 * ({@code dev.ferry.policy}).
 *
 * <p>The engine ({@code dev.ferry.engine}), the wire protocol ({@code dev.ferry.wire}) and the
 * Flight Recorder events ({@code dev.ferry.jfr}) are internal and not exported: no other module
 * can compile against them or reach them at run time, Ferry's own modules included. (Code on the
 * class path is not held to a descriptor; the benchmarks, a class-path program, measure the wire
 * codec that way.) The events still reach a recording, since the Flight Recorder reads them
 * through {@code jdk.jfr}, which this module requires; their names and fields (documented in
 * {@code dev.ferry}'s package documentation) are what a reader sees.
 *
 * <p>Backends are found with {@link java.util.ServiceLoader}: any module that {@code provides
 * dev.ferry.spi.HypervisorProvider} (or a jar on the class path with a {@code META-INF/services}
 * entry for it) can be connected to with {@link dev.ferry.Ferry#connect}.
 */
module dev.ferry.core {
  requires transitive dev.ferry.spi;
  requires org.slf4j;
  requires org.lz4.java;
  requires jdk.jfr;

  exports dev.ferry;
  exports dev.ferry.policy;

  uses dev.ferry.spi.HypervisorProvider;
}
