package dev.ferry.sim;

import dev.ferry.spi.CpuInfo;
import dev.ferry.spi.DataSize;
import dev.ferry.spi.VmId;
import java.nio.charset.StandardCharsets;
import java.util.Objects;
import java.util.Optional;
import java.util.UUID;

/**
 * What {@link SimHost#createVm(SimVmSpec)} creates: name, memory, page size, vCPUs, workload, seed
 * and device-state size. Immutable; built with {@link #builder(String)}.
 *
 * <p>Defaults (in one place): 256 MiB of memory, 4096-byte pages, one vCPU, the {@linkplain
 * Workload#idle() idle} workload, seed 1, a 64 KiB device-state blob, the host's CPU, and an id
 * derived from the name and the seed.
 *
 * <p>Thread-safety: instances are immutable and safe to share; a {@link Builder} is not
 * thread-safe.
 */
public final class SimVmSpec {
  /** Default guest memory: 256 MiB. */
  public static final DataSize DEFAULT_MEMORY = DataSize.mib(256);
  /** Default page size: 4096 bytes. */
  public static final int DEFAULT_PAGE_SIZE = 4096;
  /** Default device-state blob size: 64 KiB. */
  public static final DataSize DEFAULT_DEVICE_STATE_SIZE = DataSize.kib(64);
  /** Default seed. */
  public static final long DEFAULT_SEED = 1;
  /** Smallest page size accepted: 256 bytes (room for eight vCPU write slots). */
  public static final int MIN_PAGE_SIZE = 256;
  /** Largest page size accepted: 16 MiB. */
  public static final int MAX_PAGE_SIZE = 16 << 20;
  /** Most vCPUs a simulated VM may have. */
  public static final int MAX_VCPUS = 256;
  /** Largest device-state blob: 64 MiB. */
  public static final DataSize MAX_DEVICE_STATE_SIZE = DataSize.mib(64);

  private final String name;
  private final VmId id;
  private final DataSize memory;
  private final int pageSize;
  private final int vcpus;
  private final Workload workload;
  private final long seed;
  private final DataSize deviceStateSize;
  private final CpuInfo cpu;

  private SimVmSpec(Builder b) {
    this.name = b.name;
    this.memory = b.memory;
    this.pageSize = b.pageSize;
    this.vcpus = b.vcpus;
    this.workload = b.workload;
    this.seed = b.seed;
    this.deviceStateSize = b.deviceStateSize;
    this.cpu = b.cpu;
    this.id = b.id != null ? b.id
        : new VmId(UUID.nameUUIDFromBytes(("ferry-sim-vm:" + name + ":" + seed).getBytes(StandardCharsets.UTF_8))
            .toString());
  }

  /** A builder for a VM named {@code name}, with every other setting at its default. */
  public static Builder builder(String name) {
    return new Builder(name);
  }

  public String name() {
    return name;
  }

  public VmId id() {
    return id;
  }

  public DataSize memory() {
    return memory;
  }

  public int pageSize() {
    return pageSize;
  }

  public long pageCount() {
    return memory.bytes() / pageSize;
  }

  public int vcpus() {
    return vcpus;
  }

  public Workload workload() {
    return workload;
  }

  public long seed() {
    return seed;
  }

  public DataSize deviceStateSize() {
    return deviceStateSize;
  }

  /** The CPU the guest runs with; empty means the host's CPU. */
  public Optional<CpuInfo> cpu() {
    return Optional.ofNullable(cpu);
  }

  @Override
  public String toString() {
    return "SimVmSpec[" + name + ", " + memory + ", " + pageSize + " B pages, " + vcpus + " vCPUs, " + workload
        + ", seed " + seed + "]";
  }

  /** Builds a {@link SimVmSpec}; {@link #build()} checks every value. Not thread-safe. */
  public static final class Builder {
    private final String name;
    private VmId id;
    private DataSize memory = DEFAULT_MEMORY;
    private int pageSize = DEFAULT_PAGE_SIZE;
    private int vcpus = 1;
    private Workload workload = Workload.idle();
    private long seed = DEFAULT_SEED;
    private DataSize deviceStateSize = DEFAULT_DEVICE_STATE_SIZE;
    private CpuInfo cpu;

    private Builder(String name) {
      Objects.requireNonNull(name, "name");
      if (name.isBlank()) {
        throw new IllegalArgumentException("VM name must not be blank");
      }
      this.name = name;
    }

    /** The VM's id; by default derived from the name and the seed. */
    public Builder id(VmId id) {
      this.id = Objects.requireNonNull(id, "id");
      return this;
    }

    /** Guest memory size: positive, a whole number of pages. */
    public Builder memory(DataSize memory) {
      this.memory = Objects.requireNonNull(memory, "memory");
      return this;
    }

    /** Page size in bytes: a power of two from 256 B to 16 MiB. */
    public Builder pageSize(int pageSize) {
      this.pageSize = pageSize;
      return this;
    }

    /** Number of vCPUs (threads), 1 to 256. */
    public Builder vcpus(int vcpus) {
      this.vcpus = vcpus;
      return this;
    }

    /** What the vCPUs do. */
    public Builder workload(Workload workload) {
      this.workload = Objects.requireNonNull(workload, "workload");
      return this;
    }

    /** Seed of the workload's page sequence. */
    public Builder seed(long seed) {
      this.seed = seed;
      return this;
    }

    /** Size of the device-state blob: positive, at most 64 MiB; grown if the vCPU registers need more. */
    public Builder deviceStateSize(DataSize size) {
      this.deviceStateSize = Objects.requireNonNull(size, "deviceStateSize");
      return this;
    }

    /** The guest CPU; by default the host's. */
    public Builder cpu(CpuInfo cpu) {
      this.cpu = Objects.requireNonNull(cpu, "cpu");
      return this;
    }

    /**
     * The spec.
     *
     * @throws IllegalArgumentException naming the first invalid value
     */
    public SimVmSpec build() {
      if (pageSize < MIN_PAGE_SIZE || pageSize > MAX_PAGE_SIZE || Integer.bitCount(pageSize) != 1) {
        throw new IllegalArgumentException("page size must be a power of two from " + MIN_PAGE_SIZE + " to "
            + MAX_PAGE_SIZE + " bytes: " + pageSize);
      }
      if (memory.bytes() <= 0) {
        throw new IllegalArgumentException("VM memory must be positive: " + memory);
      }
      if (memory.bytes() % pageSize != 0) {
        throw new IllegalArgumentException("VM memory must be a whole number of " + pageSize + "-byte pages: "
            + memory.bytes() + " bytes");
      }
      if (vcpus < 1 || vcpus > MAX_VCPUS) {
        throw new IllegalArgumentException("vCPUs must be from 1 to " + MAX_VCPUS + ": " + vcpus);
      }
      if (deviceStateSize.bytes() <= 0 || deviceStateSize.compareTo(MAX_DEVICE_STATE_SIZE) > 0) {
        throw new IllegalArgumentException("device-state size must be positive and at most "
            + MAX_DEVICE_STATE_SIZE + ": " + deviceStateSize);
      }
      return new SimVmSpec(this);
    }
  }
}
