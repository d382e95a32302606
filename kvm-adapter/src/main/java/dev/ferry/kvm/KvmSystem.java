package dev.ferry.kvm;

import com.sun.jna.LastErrorException;
import com.sun.jna.Memory;
import dev.ferry.spi.DriverException;
import java.util.Optional;

/**
 * The process's handle on {@code /dev/kvm}: opened once, kept open, shared by every VM of every
 * {@link KvmHost} in this process. Checks the API version and the capabilities the VMM relies on
 * when it opens, and says in words why KVM cannot be used when it cannot.
 *
 * <p>Thread-safety: immutable after {@link #get()}; safe from any thread.
 */
final class KvmSystem {
  /** The KVM device; the system property {@code ferry.kvm.device} names another (tests use a missing one). */
  static final String DEVICE = System.getProperty("ferry.kvm.device", "/dev/kvm");
  private static final int CPUID_ENTRIES = 256;
  private static volatile Object instance;

  final int fd;
  final int vcpuMmapSize;
  final boolean vcpuEvents;
  /** {@code KVM_GET_SUPPORTED_CPUID}'s answer, a {@code struct kvm_cpuid2} ready for {@code KVM_SET_CPUID2}. */
  final Memory supportedCpuid;

  private KvmSystem(int fd) {
    this.fd = fd;
    int api = Libc.ioctl(fd, KvmAbi.KVM_GET_API_VERSION, 0L);
    if (api != KvmAbi.API_VERSION) {
      throw new DriverException(DEVICE + " speaks KVM API " + api + ", this VMM needs " + KvmAbi.API_VERSION);
    }
    require(KvmAbi.KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY");
    require(KvmAbi.KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID");
    this.vcpuEvents = checkExtension(KvmAbi.KVM_CAP_VCPU_EVENTS) > 0;
    this.vcpuMmapSize = Libc.ioctl(fd, KvmAbi.KVM_GET_VCPU_MMAP_SIZE, 0L);
    if (vcpuMmapSize < KvmAbi.RUN_SIZE) {
      throw new DriverException("KVM_GET_VCPU_MMAP_SIZE answered " + vcpuMmapSize + ", less than struct kvm_run");
    }
    Memory cpuid = new Memory(KvmAbi.CPUID2_SIZE + (long) CPUID_ENTRIES * KvmAbi.CPUID_ENTRY2_SIZE);
    cpuid.clear();
    cpuid.setInt(KvmAbi.CPUID2_NENT, CPUID_ENTRIES);
    Libc.ioctl(fd, KvmAbi.KVM_GET_SUPPORTED_CPUID, cpuid);
    this.supportedCpuid = cpuid;
  }

  private void require(int cap, String name) {
    if (checkExtension(cap) <= 0) {
      throw new DriverException(DEVICE + " lacks " + name + ", which this VMM needs");
    }
  }

  /** {@code KVM_CHECK_EXTENSION}: 0 when absent, else the capability's value. */
  int checkExtension(int cap) {
    return Libc.ioctl(fd, KvmAbi.KVM_CHECK_EXTENSION, (long) cap);
  }

  /**
   * The process's KVM handle, opened at the first call.
   *
   * @throws DriverException saying why KVM cannot be used here (no device, no permission, a
   *     missing capability); the same error on every later call
   */
  static KvmSystem get() {
    Object o = instance;
    if (o == null) {
      synchronized (KvmSystem.class) {
        o = instance;
        if (o == null) {
          o = openNow();
          instance = o;
        }
      }
    }
    if (o instanceof DriverException) {
      DriverException e = (DriverException) o;
      throw new DriverException(e.getMessage(), e);
    }
    return (KvmSystem) o;
  }

  /** Why KVM cannot be used in this process, or empty when it can. Opens the device at most once. */
  static Optional<String> unavailableReason() {
    try {
      get();
      return Optional.empty();
    } catch (DriverException e) {
      return Optional.of(e.getMessage());
    }
  }

  private static Object openNow() {
    int fd;
    try {
      fd = Libc.open(DEVICE, Libc.O_RDWR | Libc.O_CLOEXEC);
    } catch (LastErrorException e) {
      return new DriverException("cannot open " + DEVICE + ": " + Errno.describe(e.getErrorCode())
          + (e.getErrorCode() == 2 ? " (no KVM on this machine)" : "")
          + (e.getErrorCode() == 13 ? " (run as a user who may open it)" : ""));
    } catch (UnsatisfiedLinkError e) {
      return new DriverException("cannot call libc through JNA: " + e.getMessage());
    }
    try {
      return new KvmSystem(fd);
    } catch (LastErrorException e) {
      closeQuietly(fd);
      return new DriverException(DEVICE + " refused a probe ioctl: " + Errno.describe(e.getErrorCode()));
    } catch (DriverException e) {
      closeQuietly(fd);
      return e;
    }
  }

  static void closeQuietly(int fd) {
    if (fd < 0) {
      return;
    }
    try {
      Libc.close(fd);
    } catch (LastErrorException e) {
      // nothing more to do
    }
  }
}
