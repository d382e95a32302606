package dev.ferry.jfr;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Frequency;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.Percentage;
import jdk.jfr.StackTrace;
import jdk.jfr.Timespan;

/**
 * The Flight Recorder event types, one nested class each. Their names, listed in
 * {@code package-info.java}, are the stable part; the classes are internal. None records a stack
 * trace: they are committed from the migration's thread, whose stack says nothing about the
 * migration.
 */
final class Events {
  private Events() {}

  static final String CATEGORY = "Ferry";

  @Name("dev.ferry.MigrationStart")
  @Label("Migration Start")
  @Category({CATEGORY, "Migration"})
  @Description("A live migration of a VM started")
  @StackTrace(false)
  static final class MigrationStart extends Event {
    @Label("Migration Id") String migrationId;
    @Label("VM") String vm;
    @Label("Source") String source;
    @Label("Destination") String destination;
    @Label("Data Plane") @Description("engine: Ferry copies the pages; hypervisor: the hypervisor does")
    String plane;
    @Label("Policy") String policy;
    @Label("Guest Memory") @DataAmount long memory;
    @Label("Max Downtime") @Timespan(Timespan.NANOSECONDS) long maxDowntime;
    @Label("Deadline") @Description("0 for none") @Timespan(Timespan.NANOSECONDS) long deadline;
    @Label("Post-copy Allowed") boolean postCopyAllowed;
    @Label("Verify") boolean verify;
  }

  @Name("dev.ferry.Migration")
  @Label("Migration")
  @Category({CATEGORY, "Migration"})
  @Description("A live migration of a VM, from its start to its end")
  @StackTrace(false)
  static final class Migration extends Event {
    @Label("Migration Id") String migrationId;
    @Label("VM") String vm;
    @Label("Source") String source;
    @Label("Destination") String destination;
    @Label("Policy") String policy;
    @Label("Outcome") String outcome;
    @Label("Cause") @Description("Why it did not complete; empty when it completed") String cause;
    @Label("Rounds") @Description("Copy rounds, stop-and-copy included") int rounds;
    @Label("Pages Sent") long pagesSent;
    @Label("Bytes on Wire") @DataAmount long bytesOnWire;
    @Label("Downtime Known") boolean downtimeKnown;
    @Label("Downtime") @Description("0 when not known") @Timespan(Timespan.NANOSECONDS) long downtime;
    @Label("Total Time") @Timespan(Timespan.NANOSECONDS) long totalTime;
    @Label("Verified") boolean verified;
    @Label("Post-copy") boolean postCopy;
    @Label("Post-copy Faults") long postCopyFaults;
    @Label("Post-copy Blocked") @Description("Time destination vCPUs spent blocked on missing pages")
    @Timespan(Timespan.NANOSECONDS) long postCopyBlocked;
  }

  @Name("dev.ferry.PhaseChange")
  @Label("Migration Phase Change")
  @Category({CATEGORY, "Migration"})
  @StackTrace(false)
  static final class PhaseChange extends Event {
    @Label("Migration Id") String migrationId;
    @Label("From") String from;
    @Label("To") String to;
  }

  @Name("dev.ferry.Round")
  @Label("Migration Round")
  @Category({CATEGORY, "Migration"})
  @Description("One copy round: the full first pass, a pass over the dirty pages, or the stop-and-copy")
  @StackTrace(false)
  static final class Round extends Event {
    @Label("Migration Id") String migrationId;
    @Label("Round") long round;
    @Label("Stop-and-copy") boolean stopAndCopy;
    @Label("Pages Sent") @Description("Zero pages included") long pagesSent;
    @Label("Zero Pages") long zeroPages;
    @Label("Bytes on Wire") @DataAmount long bytesOnWire;
    @Label("Round Time") @Description("The round's duration as the engine measured it")
    @Timespan(Timespan.NANOSECONDS) long roundTime;
    @Label("Bandwidth") @DataAmount @Frequency long bandwidth;
    @Label("Pages Dirtied") long pagesDirtied;
    @Label("Dirty Rate (pages)") @Frequency long dirtyRatePages;
    @Label("Dirty Rate") @DataAmount @Frequency long dirtyRate;
    @Label("Remaining") @Description("Memory known dirty and not yet sent at the round's end")
    @DataAmount long remaining;
    @Label("Transferred") @Description("Guest memory sent so far, all rounds counted") @DataAmount long transferred;
    @Label("Expected Downtime") @Timespan(Timespan.NANOSECONDS) long expectedDowntime;
    @Label("Downtime Limit") @Timespan(Timespan.NANOSECONDS) long downtimeLimit;
    @Label("Throttle") @Percentage double throttle;
  }

  @Name("dev.ferry.PolicyDecision")
  @Label("Migration Policy Decision")
  @Category({CATEGORY, "Migration"})
  @Description("What the convergence policy, or the engine on its behalf, decided, and why")
  @StackTrace(false)
  static final class PolicyDecision extends Event {
    @Label("Migration Id") String migrationId;
    @Label("Round") @Description("The last round completed when it was decided") long round;
    @Label("Actions") @Description("What was done, one action after another, separated by \"; \"") String actions;
    @Label("Action Count") int actionCount;
    @Label("Reason") String reason;
  }

  @Name("dev.ferry.Switchover")
  @Label("Migration Switchover")
  @Category({CATEGORY, "Migration"})
  @Description("From the pause of the guest (or its switch to post-copy) to the end of the migration, "
      + "with where the downtime went")
  @StackTrace(false)
  static final class Switchover extends Event {
    @Label("Migration Id") String migrationId;
    @Label("Kind") @Description("STOP_AND_COPY or POST_COPY") String kind;
    @Label("Outcome") String outcome;
    @Label("Downtime Known") boolean downtimeKnown;
    @Label("Downtime") @Timespan(Timespan.NANOSECONDS) long downtime;
    @Label("Breakdown Measured") @Description("Whether the parts below were measured") boolean breakdown;
    @Label("Pause") @Timespan(Timespan.NANOSECONDS) long pause;
    @Label("Final Sync") @Timespan(Timespan.NANOSECONDS) long finalSync;
    @Label("Final Pages") @Timespan(Timespan.NANOSECONDS) long finalPages;
    @Label("Device State") @Timespan(Timespan.NANOSECONDS) long deviceState;
    @Label("Confirmation") @Timespan(Timespan.NANOSECONDS) long confirmation;
    @Label("Verification") @Description("Part of the confirmation") @Timespan(Timespan.NANOSECONDS)
    long verification;
    @Label("Commit") @Timespan(Timespan.NANOSECONDS) long commit;
    @Label("Activation") @Timespan(Timespan.NANOSECONDS) long activation;
  }

  @Name("dev.ferry.PostCopyProgress")
  @Label("Post-copy Progress")
  @Category({CATEGORY, "Migration", "Post-copy"})
  @StackTrace(false)
  static final class PostCopyProgress extends Event {
    @Label("Migration Id") String migrationId;
    @Label("Pages Missing") long pagesMissing;
    @Label("Faults") @Description("All faults so far") long faults;
    @Label("New Faults") @Description("Faults since the last progress event") long newFaults;
    @Label("Blocked Total") @Timespan(Timespan.NANOSECONDS) long blockedTotal;
    @Label("Blocked Max") @Timespan(Timespan.NANOSECONDS) long blockedMax;
    @Label("Pages Requested") long pagesRequested;
    @Label("Pages Prepaged") long pagesPrepaged;
    @Label("Pages Pushed") long pagesPushed;
    @Label("Recoveries") int recoveries;
  }

  @Name("dev.ferry.PostCopyRecovery")
  @Label("Post-copy Recovery")
  @Category({CATEGORY, "Migration", "Post-copy"})
  @Description("Post-copy resumed on a new connection after its link broke")
  @StackTrace(false)
  static final class PostCopyRecovery extends Event {
    @Label("Migration Id") String migrationId;
    @Label("Recoveries") @Description("Recoveries so far, this one included") int recoveries;
    @Label("Pages Missing") long pagesMissing;
  }

  @Name("dev.ferry.VerificationFailed")
  @Label("Migration Verification Failed")
  @Category({CATEGORY, "Migration"})
  @StackTrace(false)
  static final class VerificationFailed extends Event {
    @Label("Migration Id") String migrationId;
    @Label("Pages") long pages;
    @Label("Reason") String reason;
  }

  @Name("dev.ferry.IncomingMigration")
  @Label("Incoming Migration")
  @Category({CATEGORY, "Migration", "Destination"})
  @Description("A migration received by this process ended: the guest arrived, was discarded or was lost")
  @StackTrace(false)
  static final class IncomingMigration extends Event {
    @Label("VM") String vm;
    @Label("Host") @Description("The destination host that received it") String host;
    @Label("Outcome") @Description("ARRIVED, DISCARDED or LOST") String outcome;
    @Label("Detail") @Description("Why it was discarded or lost; empty when it arrived") String detail;
    @Label("Time") @Description("From the first connection to the end, on the destination's clock")
    @Timespan(Timespan.NANOSECONDS) long time;
  }
}
