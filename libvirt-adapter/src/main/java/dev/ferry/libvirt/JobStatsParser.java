package dev.ferry.libvirt;

import dev.ferry.spi.Bandwidth;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.HypervisorMigration.JobState;
import dev.ferry.spi.HypervisorMigration.Stats;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.libvirt.TypedBooleanParameter;
import org.libvirt.TypedDoubleParameter;
import org.libvirt.TypedIntParameter;
import org.libvirt.TypedLongParameter;
import org.libvirt.TypedParameter;
import org.libvirt.TypedStringParameter;
import org.libvirt.TypedUintParameter;
import org.libvirt.TypedUlongParameter;

/**
 * Turns the typed parameters of {@code virDomainGetJobStats} into Ferry's {@link Stats}.
 *
 * <p>Field names are libvirt's {@code VIR_DOMAIN_JOB_*} keys. The job type is libvirt's raw
 * {@code virDomainJobType} (0 none, 1 bounded, 2 unbounded, 3 completed, 4 failed, 5 cancelled),
 * which {@code DomainJobStats.type} carries as is; libvirt-java's {@code Domain.JobType} constants
 * are bit values (NONE=1, BOUNDED=2, …) and must not be compared with it. {@code downtime} is the
 * expected downtime while a job runs and the real one in a completed job's statistics.
 *
 * <p>Pure and thread-safe.
 */
final class JobStatsParser {
  private JobStatsParser() {}

  /** The parameters as a map from name to value (numbers as Long or Double, strings, booleans). */
  static Map<String, Object> values(TypedParameter[] params) {
    Map<String, Object> m = new HashMap<>();
    if (params == null) {
      return m;
    }
    for (TypedParameter p : params) {
      if (p == null || p.field == null) {
        continue;
      }
      Object v;
      if (p instanceof TypedUlongParameter u) {
        v = u.value;
      } else if (p instanceof TypedLongParameter l) {
        v = l.value;
      } else if (p instanceof TypedUintParameter u) {
        v = (long) u.value & 0xffffffffL;
      } else if (p instanceof TypedIntParameter i) {
        v = (long) i.value;
      } else if (p instanceof TypedDoubleParameter d) {
        v = d.value;
      } else if (p instanceof TypedBooleanParameter b) {
        v = b.value;
      } else if (p instanceof TypedStringParameter s) {
        v = s.value;
      } else {
        v = p.getValueAsString();
      }
      m.put(p.field, v);
    }
    return m;
  }

  /** Whether the raw libvirt job type says a job is running (bounded or unbounded). */
  static boolean active(int rawType) {
    return rawType == VirtNative.JOB_BOUNDED || rawType == VirtNative.JOB_UNBOUNDED;
  }

  /**
   * Stats from one sample.
   *
   * @param state where the job is (from the job type and the domain's state)
   * @param values the parameters, as {@link #values} gives them
   * @param total guest memory, used when libvirt does not report {@code memory_total}
   * @param completed whether these are a completed job's statistics (then {@code downtime} is real)
   */
  static Stats stats(JobState state, Map<String, Object> values, DataSize total, boolean completed) {
    long memTotal = num(values, "memory_total", total.bytes());
    long pageSize = num(values, "memory_page_size", 4096);
    long downtimeMs = num(values, "downtime", 0);
    return new Stats(state,
        num(values, "memory_iteration", 0),
        DataSize.bytes(memTotal),
        DataSize.bytes(num(values, "memory_processed", 0)),
        DataSize.bytes(num(values, "memory_remaining", completed ? 0 : memTotal)),
        num(values, "memory_normal", 0),
        num(values, "memory_constant", 0),
        num(values, "data_processed", num(values, "memory_processed", 0)),
        num(values, "memory_dirty_rate", 0),
        (int) (pageSize > 0 ? pageSize : 4096),
        Bandwidth.bytesPerSecond(num(values, "memory_bps", 0)),
        completed ? Duration.ZERO : Duration.ofMillis(downtimeMs),
        completed ? Duration.ofMillis(downtimeMs) : Duration.ZERO,
        (int) Math.min(99, num(values, "auto_converge_throttle", 0)),
        Duration.ofMillis(num(values, "time_elapsed", 0)),
        num(values, "memory_postcopy_requests", 0));
  }

  /**
   * Why a completed migration's downtime is not known, or empty when {@code completed} (the
   * completed job's statistics, empty if libvirt kept none) holds one.
   *
   * @param postCopy whether the job switched to post-copy
   */
  static java.util.Optional<String> downtimeUnknown(Map<String, Object> completed, boolean postCopy) {
    if (completed.isEmpty()) {
      return java.util.Optional.of("libvirt kept no completed-job statistics"
          + (postCopy ? " after the post-copy migration" : " for the migration"));
    }
    if (!(completed.get("downtime") instanceof Long)) {
      return java.util.Optional.of("libvirt's completed-job statistics hold no downtime");
    }
    return java.util.Optional.empty();
  }

  /** The error message a failed completed job carries, if any. */
  static String errorMessage(Map<String, Object> values) {
    Object v = values.get("errmsg");
    return v instanceof String s ? s : "";
  }

  static long num(Map<String, Object> values, String key, long otherwise) {
    Object v = values.get(key);
    if (v instanceof Long l) {
      return l;
    }
    if (v instanceof Double d) {
      return d.longValue();
    }
    return otherwise;
  }

  /** The job state from the domain's state and reason while a job runs. */
  static JobState runningState(int domainState, int reason) {
    if (domainState == VirtNative.STATE_PAUSED) {
      if (reason == VirtNative.PAUSED_POSTCOPY || reason == VirtNative.PAUSED_POSTCOPY_FAILED) {
        return JobState.POST_COPY;
      }
      return JobState.STOP_AND_COPY;
    }
    if (domainState == VirtNative.STATE_RUNNING
        && (reason == VirtNative.RUNNING_POSTCOPY || reason == VirtNative.RUNNING_POSTCOPY_FAILED)) {
      return JobState.POST_COPY;
    }
    return JobState.PRE_COPY;
  }
}
