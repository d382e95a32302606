/**
 * A JUnit 5 extension for tests that drive migrations between simulated hosts: annotate the class
 * with {@link dev.ferry.junit.FerrySimHosts} and take a {@link dev.ferry.junit.SimHosts} parameter.
 */
package dev.ferry.junit;
