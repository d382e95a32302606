package dev.ferry.libvirt;

import com.sun.jna.Native;
import com.sun.jna.NativeLong;
import com.sun.jna.Pointer;
import com.sun.jna.PointerType;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import dev.ferry.spi.DriverException;
import java.lang.reflect.Field;
import org.libvirt.Domain;

/**
 * libvirt C functions that libvirt-java 0.5.4 does not bind, called through JNA on the same
 * {@code libvirt.so.0} and the same domain pointers libvirt-java holds.
 *
 * <p>libvirt-java keeps a domain's {@code virDomainPtr} in the package-private field
 * {@code Domain.vdp}; it is read once by reflection. Errors are libvirt's own: on a return of -1
 * the thread-local last error message is read with {@code virGetLastErrorMessage}.
 *
 * <p>Thread-safe: libvirt's API is, and the binding holds no state.
 */
final class VirtNative {
  /** libvirt's job types (virDomainJobType), 0 to 5. libvirt-java's Domain.JobType holds bit values instead. */
  static final int JOB_NONE = 0;
  static final int JOB_BOUNDED = 1;
  static final int JOB_UNBOUNDED = 2;
  static final int JOB_COMPLETED = 3;
  static final int JOB_FAILED = 4;
  static final int JOB_CANCELLED = 5;

  /** virDomainState. */
  static final int STATE_RUNNING = 1;
  static final int STATE_BLOCKED = 2;
  static final int STATE_PAUSED = 3;
  static final int STATE_SHUTDOWN = 4;
  static final int STATE_SHUTOFF = 5;
  static final int STATE_CRASHED = 6;
  static final int STATE_PMSUSPENDED = 7;

  /** virDomainPausedReason values that matter to migration. */
  static final int PAUSED_USER = 1;
  static final int PAUSED_MIGRATION = 2;
  static final int PAUSED_POSTCOPY = 12;
  static final int PAUSED_POSTCOPY_FAILED = 13;

  /** virDomainRunningReason values that matter to migration. */
  static final int RUNNING_POSTCOPY = 10;
  static final int RUNNING_POSTCOPY_FAILED = 11;

  /** VIR_DOMAIN_JOB_STATS_COMPLETED. */
  static final int JOB_STATS_COMPLETED = 1;

  /** The largest bandwidth libvirt's QEMU driver accepts, in MiB/s (LLONG_MAX / 1 MiB): no limit. */
  static final long MAX_BANDWIDTH_MIBPS = Long.MAX_VALUE / (1024 * 1024);

  /** virErrorNumber VIR_ERR_NO_DOMAIN. */
  static final int ERR_NO_DOMAIN = 42;

  /** The functions bound here. */
  interface Virt extends com.sun.jna.Library {
    int virDomainGetState(Pointer dom, IntByReference state, IntByReference reason, int flags);

    int virDomainMigrateStartPostCopy(Pointer dom, int flags);

    int virDomainMigrateSetMaxSpeed(Pointer dom, NativeLong bandwidthMiBps, int flags);

    int virDomainMigrateGetMaxSpeed(Pointer dom, LongByReference bandwidthMiBps, int flags);

    int virDomainMigrateSetMaxDowntime(Pointer dom, long downtimeMs, int flags);

    int virDomainMigrateGetMaxDowntime(Pointer dom, LongByReference downtimeMs, int flags);

    int virDomainStartDirtyRateCalc(Pointer dom, int seconds, int flags);

    String virGetLastErrorMessage();

    int virGetLastErrorCode();
  }

  private static volatile Virt virt;
  private static final Field VDP;

  static {
    try {
      VDP = Domain.class.getDeclaredField("vdp");
      VDP.setAccessible(true);
    } catch (NoSuchFieldException e) {
      throw new ExceptionInInitializerError("libvirt-java without Domain.vdp: " + e);
    }
  }

  private VirtNative() {}

  private static Virt virt() {
    Virt v = virt;
    if (v == null) {
      synchronized (VirtNative.class) {
        v = virt;
        if (v == null) {
          v = Native.load("virt", Virt.class);
          virt = v;
        }
      }
    }
    return v;
  }

  static Pointer pointer(Domain d) {
    try {
      return ((PointerType) VDP.get(d)).getPointer();
    } catch (IllegalAccessException e) {
      throw new IllegalStateException("cannot read libvirt-java's domain pointer", e);
    }
  }

  /** The domain's state and reason: {state, reason}. */
  static int[] state(Domain d) {
    IntByReference s = new IntByReference();
    IntByReference r = new IntByReference();
    check(virt().virDomainGetState(pointer(d), s, r, 0), "virDomainGetState");
    return new int[] {s.getValue(), r.getValue()};
  }

  static void startPostCopy(Domain d) {
    check(virt().virDomainMigrateStartPostCopy(pointer(d), 0), "virDomainMigrateStartPostCopy");
  }

  static void setMaxSpeed(Domain d, long mibps) {
    check(virt().virDomainMigrateSetMaxSpeed(pointer(d), new NativeLong(mibps), 0), "virDomainMigrateSetMaxSpeed");
  }

  /** {@code VIR_DOMAIN_MIGRATE_MAX_SPEED_POSTCOPY}: the speed set is post-copy's (libvirt 5.1 and later). */
  static final int MAX_SPEED_POSTCOPY = 1;

  /** Sets the bandwidth of post-copy's background transfer; 0 is unlimited (QEMU's max-postcopy-bandwidth). */
  static void setMaxPostCopySpeed(Domain d, long mibps) {
    check(virt().virDomainMigrateSetMaxSpeed(pointer(d), new NativeLong(mibps), MAX_SPEED_POSTCOPY),
        "virDomainMigrateSetMaxSpeed(POSTCOPY)");
  }

  static long maxSpeed(Domain d) {
    LongByReference v = new LongByReference();
    check(virt().virDomainMigrateGetMaxSpeed(pointer(d), v, 0), "virDomainMigrateGetMaxSpeed");
    return v.getValue();
  }

  static void setMaxDowntime(Domain d, long ms) {
    check(virt().virDomainMigrateSetMaxDowntime(pointer(d), ms, 0), "virDomainMigrateSetMaxDowntime");
  }

  static long maxDowntime(Domain d) {
    LongByReference v = new LongByReference();
    check(virt().virDomainMigrateGetMaxDowntime(pointer(d), v, 0), "virDomainMigrateGetMaxDowntime");
    return v.getValue();
  }

  /** Starts libvirt's dirty-rate measurement of {@code seconds}; QEMU samples pages, the guest is not paused. */
  static void startDirtyRateCalc(Domain d, int seconds) {
    check(virt().virDomainStartDirtyRateCalc(pointer(d), seconds, 0), "virDomainStartDirtyRateCalc");
  }

  private static void check(int rc, String function) {
    if (rc < 0) {
      int code = virt().virGetLastErrorCode();
      String msg = virt().virGetLastErrorMessage();
      if (code == ERR_NO_DOMAIN) {
        throw new DomainGoneException(function + ": " + msg);
      }
      throw new DriverException(function + ": " + msg);
    }
  }

  private static final String[] STATES = {"no state", "running", "blocked", "paused", "being shut down",
      "shut off", "crashed", "suspended by guest power management"};
  private static final String[] RUNNING_REASONS = {"unknown", "booted", "migrated", "restored", "from snapshot",
      "unpaused", "migration canceled", "save canceled", "wakeup", "crashed", "post-copy", "post-copy failed"};
  private static final String[] PAUSED_REASONS = {"unknown", "user", "migration", "save", "dump", "I/O error",
      "watchdog", "from snapshot", "shutting down", "snapshot", "crashed", "starting up", "post-copy",
      "post-copy failed", "API error"};
  private static final String[] SHUTOFF_REASONS = {"unknown", "shutdown", "destroyed", "crashed", "migrated",
      "saved", "failed", "from snapshot", "daemon"};
  private static final String[] CRASHED_REASONS = {"unknown", "panicked"};

  /** A virDomainState in words (as virsh says it). */
  static String stateName(int state) {
    return state >= 0 && state < STATES.length ? STATES[state] : "state " + state;
  }

  /** A state's reason in words (virDomainRunningReason, PausedReason, ShutoffReason, CrashedReason). */
  static String reasonName(int state, int reason) {
    String[] names = switch (state) {
      case STATE_RUNNING -> RUNNING_REASONS;
      case STATE_PAUSED -> PAUSED_REASONS;
      case STATE_SHUTOFF -> SHUTOFF_REASONS;
      case STATE_CRASHED -> CRASHED_REASONS;
      default -> new String[0];
    };
    return reason >= 0 && reason < names.length ? names[reason] : String.valueOf(reason);
  }

  /** A call found that the domain no longer exists on that host. */
  static final class DomainGoneException extends DriverException {
    private static final long serialVersionUID = 1L;

    DomainGoneException(String message) {
      super(message);
    }
  }
}
