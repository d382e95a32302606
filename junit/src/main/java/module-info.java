/**
 * Ferry's JUnit 5 extension: {@link dev.ferry.junit.FerrySimHosts} gives a test two fresh
 * simulated hosts with a receiver, checked and destroyed after each test.
 */
module dev.ferry.junit {
  requires transitive dev.ferry.core;
  requires transitive dev.ferry.sim;
  requires transitive org.junit.jupiter.api;
  requires org.junit.platform.commons;

  exports dev.ferry.junit;
}
