/**
 * JDK Flight Recorder events of migrations, so that JDK Mission Control shows a migration on the
 * time line beside the garbage collector and the threads.
 *
 * <p>Internal, as the rest of the engine: the event classes are not exported, and a recording
 * reads them through the Flight Recorder alone. Their names and fields, which are what a user sees,
 * are documented in {@code dev.ferry}'s package documentation and are stable there.
 */
package dev.ferry.jfr;
