package dev.ferry.kvm;

import dev.ferry.spi.DataSize;
import java.nio.file.Path;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What to boot: a VM's name, its RAM, and the multiboot kernel with its command line. Immutable;
 * made with {@link #builder(String)}.
 *
 * <p>The VMM runs one vCPU per VM (a multiboot kernel starts on its boot processor only, and this
 * VMM has no interrupt controller to start others). When the command line carries the test
 * guest's {@code mb=N}, the RAM must hold its region (4 MiB up to 4 + N MiB): {@link Builder#build()}
 * says so if not.
 */
public final class KvmVmSpec {
  /** Where the test guest's dirtied region starts. */
  static final long GUEST_REGION_BASE = 4L << 20;
  private static final Pattern MB = Pattern.compile("(?:^|\\s)mb=(\\d+)");

  private final String name;
  private final DataSize memory;
  private final Path kernel;
  private final String cmdline;

  private KvmVmSpec(Builder b) {
    this.name = b.name;
    this.memory = b.memory;
    this.kernel = b.kernel;
    this.cmdline = b.cmdline;
  }

  /** A spec for a VM named {@code name}: 64 MiB of RAM, an empty command line; a kernel is required. */
  public static Builder builder(String name) {
    return new Builder(name);
  }

  public String name() {
    return name;
  }

  public DataSize memory() {
    return memory;
  }

  public Path kernel() {
    return kernel;
  }

  public String cmdline() {
    return cmdline;
  }

  @Override
  public String toString() {
    return "KvmVmSpec[" + name + ", " + memory + ", " + kernel + " \"" + cmdline + "\"]";
  }

  /** Builds a {@link KvmVmSpec}. Not thread-safe. */
  public static final class Builder {
    private final String name;
    private DataSize memory = DataSize.mib(64);
    private Path kernel;
    private String cmdline = "";

    private Builder(String name) {
      this.name = Objects.requireNonNull(name, "name");
    }

    /** RAM, a whole number of 4 KiB pages. */
    public Builder memory(DataSize memory) {
      this.memory = Objects.requireNonNull(memory, "memory");
      return this;
    }

    /** The multiboot v1 ELF32 kernel to boot. */
    public Builder kernel(Path kernel) {
      this.kernel = Objects.requireNonNull(kernel, "kernel");
      return this;
    }

    /** The kernel's command line (for the test guest, {@code "mb=N rate=R"}). */
    public Builder cmdline(String cmdline) {
      this.cmdline = Objects.requireNonNull(cmdline, "cmdline");
      return this;
    }

    /**
     * @throws IllegalArgumentException if the name is blank, no kernel is given, the RAM is not a
     *     whole number of pages or is smaller than the guest's {@code mb=} region needs
     */
    public KvmVmSpec build() {
      if (name.isBlank()) {
        throw new IllegalArgumentException("VM name must not be blank");
      }
      if (kernel == null) {
        throw new IllegalArgumentException("VM " + name + " needs a kernel to boot: builder.kernel(path)");
      }
      long bytes = memory.bytes();
      if (bytes < (2L << 20) || bytes % GuestRam.PAGE_SIZE != 0) {
        throw new IllegalArgumentException("RAM must be at least 2 MiB and a whole number of 4 KiB pages: " + memory);
      }
      Matcher m = MB.matcher(cmdline);
      if (m.find()) {
        long need = GUEST_REGION_BASE + (Long.parseLong(m.group(1)) << 20);
        if (bytes < need) {
          throw new IllegalArgumentException("command line '" + cmdline + "' has the guest write up to "
              + (need >> 20) + " MiB, but the VM has " + memory + " of RAM");
        }
      }
      return new KvmVmSpec(this);
    }
  }
}
