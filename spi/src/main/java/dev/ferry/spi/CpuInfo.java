package dev.ferry.spi;

import java.util.Objects;
import java.util.Set;
import java.util.TreeSet;

/**
 * A CPU model and the feature flags a guest may rely on.
 *
 * <p>A destination can run a VM when it offers the VM's model and every feature the VM uses: see
 * {@link #canRun(CpuInfo)}.
 */
public record CpuInfo(String model, Set<String> features) {
  public CpuInfo {
    Objects.requireNonNull(model, "model");
    features = Set.copyOf(features);
  }

  /**
   * Whether a host with this CPU can run a guest that was started on {@code guest}: the same
   * model, and a superset of its features.
   */
  public boolean canRun(CpuInfo guest) {
    return model.equals(guest.model) && features.containsAll(guest.features);
  }

  /** What {@code guest} needs that this CPU lacks, for error messages; empty when it can run it. */
  public String missingFor(CpuInfo guest) {
    StringBuilder sb = new StringBuilder();
    if (!model.equals(guest.model)) {
      sb.append("CPU model ").append(guest.model).append(" needed, host has ").append(model);
    }
    Set<String> missing = new TreeSet<>(guest.features);
    missing.removeAll(features);
    if (!missing.isEmpty()) {
      if (sb.length() > 0) {
        sb.append("; ");
      }
      sb.append("CPU features missing: ").append(String.join(",", missing));
    }
    return sb.toString();
  }
}
