/**
 * Ferry's public API: connect to a {@link dev.ferry.Host}, pick a {@link dev.ferry.Vm}, and
 * {@linkplain dev.ferry.Host#migrate migrate} it to another host's {@link dev.ferry.MigrationTarget};
 * watch the returned {@link dev.ferry.MigrationSession} through its
 * {@linkplain dev.ferry.MigrationSession#progress() progress}, its
 * {@linkplain dev.ferry.MigrationListener events} and its
 * {@linkplain dev.ferry.MigrationSession#completion() completion}. The same events reach JDK Flight
 * Recorder (below).
 *
 * <p>All failures are reported as subclasses of the unchecked {@link dev.ferry.FerryException};
 * a migration that ends without moving the VM is not an exception but a
 * {@link dev.ferry.MigrationResult} whose {@link dev.ferry.MigrationResult.Outcome outcome} says what
 * happened and where the VM runs.
 *
 * <h2>JDK Flight Recorder</h2>
 *
 * <p>Migrations are recorded as JDK Flight Recorder events, so that JDK Mission Control shows a
 * migration on the time line beside the garbage collector and the threads.
 *
 * <p>Every migration a {@link dev.ferry.Host} starts records them unless
 * {@link dev.ferry.MigrationOptions.Builder#flightRecorder(boolean)} turns them off; they cost a
 * check per event while no recording asks for them. A recording that enables them
 * ({@code -XX:StartFlightRecording}, {@code jcmd PID JFR.start}, JDK Mission Control, or a
 * {@code jdk.jfr.Recording} in code) receives, under the category "Ferry":
 *
 * <table>
 *   <caption>Events</caption>
 *   <tr><th>name</th><th>kind</th><th>when</th></tr>
 *   <tr><td>{@code dev.ferry.MigrationStart}</td><td>instant</td><td>the migration started: VM,
 *       source, destination, policy, memory, limits</td></tr>
 *   <tr><td>{@code dev.ferry.Migration}</td><td>duration</td><td>the whole migration, committed at
 *       its end: outcome, cause, rounds, pages, bytes, downtime, post-copy figures</td></tr>
 *   <tr><td>{@code dev.ferry.PhaseChange}</td><td>instant</td><td>each change of phase</td></tr>
 *   <tr><td>{@code dev.ferry.Round}</td><td>duration</td><td>each copy round, stop-and-copy
 *       included: pages, bytes, bandwidth, dirty rate, remaining, expected downtime, throttle</td></tr>
 *   <tr><td>{@code dev.ferry.PolicyDecision}</td><td>instant</td><td>what the policy (or the engine
 *       on its behalf) decided, and why</td></tr>
 *   <tr><td>{@code dev.ferry.Switchover}</td><td>duration</td><td>from the pause (or the switch to
 *       post-copy) to the end: the downtime and where it went, part by part</td></tr>
 *   <tr><td>{@code dev.ferry.PostCopyProgress}</td><td>instant</td><td>during post-copy, at most
 *       every 100 ms: pages missing, faults, time blocked, pages requested and pushed</td></tr>
 *   <tr><td>{@code dev.ferry.PostCopyRecovery}</td><td>instant</td><td>post-copy resumed on a new
 *       connection after its link broke</td></tr>
 *   <tr><td>{@code dev.ferry.VerificationFailed}</td><td>instant</td><td>the frozen source differs
 *       from what was sent</td></tr>
 *   <tr><td>{@code dev.ferry.IncomingMigration}</td><td>instant</td><td>on the destination, a
 *       migration received ended: VM, host, outcome, detail, time taken
 *       ({@link dev.ferry.ReceiverOptions.Builder#flightRecorder(boolean)} turns it off)</td></tr>
 * </table>
 *
 * <p>Every event of the source side carries {@code migrationId}, the same for all the events of one migration, so that
 * migrations running side by side can be told apart. Names and fields are stable: a field may be
 * added, none is renamed or removed without a new event name.
 */
package dev.ferry;
