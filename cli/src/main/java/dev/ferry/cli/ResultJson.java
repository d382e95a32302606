package dev.ferry.cli;

import dev.ferry.MigrationResult;

/**
 * The one line of JSON the samples end with: a migration's result, figures that are not known null
 * with the reason, never a 0 that reads as one. (The events of a migration have their own JSON, the
 * event schema's.) Stateless and thread-safe.
 */
public final class ResultJson {
  private ResultJson() {}

  /** The result as one JSON object, with the guest's memory size. */
  public static String of(MigrationResult r, long memoryBytes) {
    StringBuilder sb = new StringBuilder("{");
    sb.append("\"outcome\":\"").append(r.outcome()).append('"');
    sb.append(",\"totalMs\":").append(r.totalTime().toMillis());
    sb.append(",\"downtimeMs\":").append(r.downtime().map(d -> String.valueOf(d.toMillis())).orElse("null"));
    r.downtimeUnknown().ifPresent(why -> sb.append(",\"downtimeUnknown\":\"").append(escape(why)).append('"'));
    sb.append(",\"rounds\":").append(r.roundCount());
    sb.append(",\"bytesSent\":").append(r.bytesOnWire());
    r.bytesNotFinal().ifPresent(why -> sb.append(",\"bytesNotFinal\":\"").append(escape(why)).append('"'));
    sb.append(",\"pagesSent\":").append(r.pagesSent());
    sb.append(",\"memoryBytes\":").append(memoryBytes);
    sb.append(",\"verified\":").append(r.verified());
    r.postCopy().ifPresent(pc -> {
      // figures the backend does not measure are null, with the reason, never a 0 that reads as one
      boolean all = pc.notMeasured().isEmpty();
      sb.append(",\"postCopy\":{\"ms\":").append(pc.duration().toMillis())
          .append(",\"faults\":").append(all ? String.valueOf(pc.faults()) : "null")
          .append(",\"blockedMs\":").append(all ? String.valueOf(pc.blockedTotal().toMillis()) : "null")
          .append(",\"blockedP99Ms\":").append(all ? String.valueOf(pc.blockedP99().toMillis()) : "null")
          .append(",\"pagesRequested\":").append(pc.pagesRequested())
          .append(",\"pagesPushed\":").append(all ? String.valueOf(pc.pagesPushed()) : "null")
          .append(",\"recoveries\":").append(pc.recoveries());
      pc.notMeasured().ifPresent(why -> sb.append(",\"notMeasured\":\"").append(escape(why)).append('"'));
      sb.append('}');
    });
    r.cause().ifPresent(c -> sb.append(",\"cause\":\"").append(escape(String.valueOf(c.getMessage()))).append('"'));
    return sb.append('}').toString();
  }

  static String escape(String s) {
    StringBuilder sb = new StringBuilder();
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') {
        sb.append('\\').append(c);
      } else if (c < 0x20) {
        sb.append(String.format("\\u%04x", (int) c));
      } else {
        sb.append(c);
      }
    }
    return sb.toString();
  }
}
