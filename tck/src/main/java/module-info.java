/**
 * Ferry's compatibility kit: {@link dev.ferry.tck.HypervisorCompatibilityKit}, the JUnit 5 tests
 * every backend runs by extending it with its own provider.
 */
module dev.ferry.tck {
  requires transitive dev.ferry.spi;
  requires transitive org.junit.jupiter.api;

  exports dev.ferry.tck;
  // The kit's test and lifecycle methods are package-private, as JUnit 5 allows; JUnit calls them
  // reflectively, which a named module permits only to whom it opens the package.
  opens dev.ferry.tck to org.junit.platform.commons;

  // serviceLoader_findsProvider looks the backend up as Ferry.connect would.
  uses dev.ferry.spi.HypervisorProvider;
}
