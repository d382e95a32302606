/**
 * Ferry's public API: connect to a {@link dev.ferry.Host}, pick a {@link dev.ferry.Vm}, and
 * {@linkplain dev.ferry.Host#migrate migrate} it to another host's {@link dev.ferry.MigrationTarget};
 * watch the returned {@link dev.ferry.MigrationSession} through its
 * {@linkplain dev.ferry.MigrationSession#progress() progress}, its
 * {@linkplain dev.ferry.MigrationListener events} and its
 * {@linkplain dev.ferry.MigrationSession#completion() completion}. The same events reach JDK Flight
 * Recorder (see {@link dev.ferry.jfr}).
 *
 * <p>All failures are reported as subclasses of the unchecked {@link dev.ferry.FerryException};
 * a migration that ends without moving the VM is not an exception but a
 * {@link dev.ferry.MigrationResult} whose {@link dev.ferry.MigrationResult.Outcome outcome} says what
 * happened and where the VM runs.
 */
package dev.ferry;
