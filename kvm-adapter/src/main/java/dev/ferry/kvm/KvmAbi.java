package dev.ferry.kvm;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The binary interface of {@code /dev/kvm} on x86-64, written out from {@code <linux/kvm.h>}: ioctl
 * numbers, exit reasons, capabilities, and the size and offsets of every structure the VMM passes.
 * Structures are not JNA {@code Structure}s: the VMM lays them out by hand in native memory at these
 * offsets, and {@code KvmAbiTest} compiles a C program against the real header and compares each
 * value with {@link #values()}, so a wrong offset fails the build loudly.
 *
 * <p>Thread-safety: constants only.
 */
final class KvmAbi {
  private KvmAbi() {}

  private static final int KVMIO = 0xAE;

  private static long io(int nr) {
    return ioc(0, nr, 0);
  }

  private static long iow(int nr, int size) {
    return ioc(1, nr, size);
  }

  private static long ior(int nr, int size) {
    return ioc(2, nr, size);
  }

  private static long iowr(int nr, int size) {
    return ioc(3, nr, size);
  }

  private static long ioc(int dir, int nr, int size) {
    return ((long) dir << 30) | ((long) size << 16) | ((long) KVMIO << 8) | nr;
  }

  // ---- struct sizes and offsets
  static final int MEMORY_REGION_SIZE = 32;
  static final int MEMORY_REGION_SLOT = 0;
  static final int MEMORY_REGION_FLAGS = 4;
  static final int MEMORY_REGION_GUEST_PHYS_ADDR = 8;
  static final int MEMORY_REGION_MEMORY_SIZE = 16;
  static final int MEMORY_REGION_USERSPACE_ADDR = 24;

  static final int RUN_SIZE = 2352;
  static final int RUN_IMMEDIATE_EXIT = 1;
  static final int RUN_EXIT_REASON = 8;
  static final int RUN_IO_DIRECTION = 32;
  static final int RUN_IO_SIZE = 33;
  static final int RUN_IO_PORT = 34;
  static final int RUN_IO_COUNT = 36;
  static final int RUN_IO_DATA_OFFSET = 40;
  static final int RUN_MMIO_PHYS_ADDR = 32;
  static final int RUN_MMIO_LEN = 48;
  static final int RUN_MMIO_IS_WRITE = 52;
  static final int RUN_HW_EXIT_REASON = 32;
  static final int RUN_FAIL_ENTRY_REASON = 32;
  static final int RUN_INTERNAL_SUBERROR = 32;

  static final int REGS_SIZE = 144;
  static final int REGS_RAX = 0;
  static final int REGS_RBX = 8;
  static final int REGS_RSP = 48;
  static final int REGS_RIP = 128;
  static final int REGS_RFLAGS = 136;

  static final int SEGMENT_SIZE = 24;
  static final int SEGMENT_BASE = 0;
  static final int SEGMENT_LIMIT = 8;
  static final int SEGMENT_SELECTOR = 12;
  static final int SEGMENT_TYPE = 14;
  static final int SEGMENT_PRESENT = 15;
  static final int SEGMENT_DPL = 16;
  static final int SEGMENT_DB = 17;
  static final int SEGMENT_S = 18;
  static final int SEGMENT_L = 19;
  static final int SEGMENT_G = 20;
  static final int SEGMENT_AVL = 21;
  static final int SEGMENT_UNUSABLE = 22;

  static final int SREGS_SIZE = 312;
  static final int SREGS_CS = 0;
  static final int SREGS_DS = 24;
  static final int SREGS_ES = 48;
  static final int SREGS_FS = 72;
  static final int SREGS_GS = 96;
  static final int SREGS_SS = 120;
  static final int SREGS_TR = 144;
  static final int SREGS_LDT = 168;
  static final int SREGS_GDT = 192;
  static final int SREGS_IDT = 208;
  static final int SREGS_CR0 = 224;
  static final int SREGS_CR2 = 232;
  static final int SREGS_CR3 = 240;
  static final int SREGS_CR4 = 248;
  static final int SREGS_CR8 = 256;
  static final int SREGS_EFER = 264;
  static final int SREGS_APIC_BASE = 272;

  static final int FPU_SIZE = 416;

  static final int MSRS_SIZE = 8;
  static final int MSRS_NMSRS = 0;
  static final int MSRS_ENTRIES = 8;
  static final int MSR_ENTRY_SIZE = 16;
  static final int MSR_ENTRY_INDEX = 0;
  static final int MSR_ENTRY_DATA = 8;

  static final int DIRTY_LOG_SIZE = 16;
  static final int DIRTY_LOG_SLOT = 0;
  static final int DIRTY_LOG_BITMAP = 8;

  static final int CPUID2_SIZE = 8;
  static final int CPUID2_NENT = 0;
  static final int CPUID2_ENTRIES = 8;
  static final int CPUID_ENTRY2_SIZE = 40;

  static final int SIGNAL_MASK_SIZE = 4;
  static final int SIGNAL_MASK_LEN = 0;
  static final int SIGNAL_MASK_SIGSET = 4;

  static final int VCPU_EVENTS_SIZE = 64;

  // ---- ioctls
  static final long KVM_GET_API_VERSION = io(0x00);
  static final long KVM_CREATE_VM = io(0x01);
  static final long KVM_CHECK_EXTENSION = io(0x03);
  static final long KVM_GET_VCPU_MMAP_SIZE = io(0x04);
  static final long KVM_GET_SUPPORTED_CPUID = iowr(0x05, CPUID2_SIZE);
  static final long KVM_CREATE_VCPU = io(0x41);
  static final long KVM_GET_DIRTY_LOG = iow(0x42, DIRTY_LOG_SIZE);
  static final long KVM_SET_USER_MEMORY_REGION = iow(0x46, MEMORY_REGION_SIZE);
  static final long KVM_SET_TSS_ADDR = io(0x47);
  static final long KVM_SET_IDENTITY_MAP_ADDR = iow(0x48, 8);
  static final long KVM_RUN = io(0x80);
  static final long KVM_GET_REGS = ior(0x81, REGS_SIZE);
  static final long KVM_SET_REGS = iow(0x82, REGS_SIZE);
  static final long KVM_GET_SREGS = ior(0x83, SREGS_SIZE);
  static final long KVM_SET_SREGS = iow(0x84, SREGS_SIZE);
  static final long KVM_GET_MSRS = iowr(0x88, MSRS_SIZE);
  static final long KVM_SET_MSRS = iow(0x89, MSRS_SIZE);
  static final long KVM_SET_SIGNAL_MASK = iow(0x8b, SIGNAL_MASK_SIZE);
  static final long KVM_GET_FPU = ior(0x8c, FPU_SIZE);
  static final long KVM_SET_FPU = iow(0x8d, FPU_SIZE);
  static final long KVM_SET_CPUID2 = iow(0x90, CPUID2_SIZE);
  static final long KVM_GET_VCPU_EVENTS = ior(0x9f, VCPU_EVENTS_SIZE);
  static final long KVM_SET_VCPU_EVENTS = iow(0xa0, VCPU_EVENTS_SIZE);

  // ---- exit reasons and other constants
  static final int KVM_EXIT_UNKNOWN = 0;
  static final int KVM_EXIT_IO = 2;
  static final int KVM_EXIT_HLT = 5;
  static final int KVM_EXIT_MMIO = 6;
  static final int KVM_EXIT_SHUTDOWN = 8;
  static final int KVM_EXIT_FAIL_ENTRY = 9;
  static final int KVM_EXIT_INTR = 10;
  static final int KVM_EXIT_INTERNAL_ERROR = 17;
  static final int KVM_EXIT_SYSTEM_EVENT = 24;
  static final int KVM_EXIT_IO_IN = 0;
  static final int KVM_EXIT_IO_OUT = 1;
  static final int KVM_MEM_LOG_DIRTY_PAGES = 1;
  static final int KVM_CAP_USER_MEMORY = 3;
  static final int KVM_CAP_SET_TSS_ADDR = 4;
  static final int KVM_CAP_EXT_CPUID = 7;
  static final int KVM_CAP_NR_MEMSLOTS = 10;
  static final int KVM_CAP_VCPU_EVENTS = 41;
  static final int KVM_CAP_IMMEDIATE_EXIT = 136;

  // ---- userfaultfd (post-copy), <linux/userfaultfd.h>
  private static final int UFFDIO = 0xAA;

  private static long uffd(int dir, int nr, int size) {
    return ((long) dir << 30) | ((long) size << 16) | ((long) UFFDIO << 8) | nr;
  }

  static final int UFFDIO_API_SIZE = 24;
  static final int UFFDIO_API_FEATURES = 8;
  static final int UFFDIO_RANGE_SIZE = 16;
  static final int UFFDIO_REGISTER_SIZE = 32;
  static final int UFFDIO_REGISTER_MODE = 16;
  static final int UFFDIO_COPY_SIZE = 40;
  static final int UFFDIO_COPY_SRC = 8;
  static final int UFFDIO_COPY_LEN = 16;
  static final int UFFDIO_COPY_MODE = 24;
  static final int UFFDIO_COPY_COPY = 32;
  static final int UFFDIO_ZEROPAGE_SIZE = 32;
  static final int UFFDIO_ZEROPAGE_MODE = 16;
  static final int UFFD_MSG_SIZE = 32;
  static final int UFFD_MSG_EVENT = 0;
  static final int UFFD_MSG_ADDRESS = 16;
  static final int UFFD_MSG_PTID = 24;
  static final int POLLFD_SIZE = 8;
  static final long UFFD_API = 0xAA;
  static final long UFFDIO_API = uffd(3, 0x3F, UFFDIO_API_SIZE);
  static final long UFFDIO_REGISTER = uffd(3, 0x00, UFFDIO_REGISTER_SIZE);
  static final long UFFDIO_UNREGISTER = uffd(2, 0x01, UFFDIO_RANGE_SIZE);
  static final long UFFDIO_WAKE = uffd(2, 0x02, UFFDIO_RANGE_SIZE);
  static final long UFFDIO_COPY = uffd(3, 0x03, UFFDIO_COPY_SIZE);
  static final long UFFDIO_ZEROPAGE = uffd(3, 0x04, UFFDIO_ZEROPAGE_SIZE);
  static final int UFFDIO_MODE_DONTWAKE = 1;
  static final int UFFDIO_REGISTER_MODE_MISSING = 1;
  static final int UFFD_EVENT_PAGEFAULT = 0x12;
  static final long UFFD_FEATURE_THREAD_ID = 1 << 8;

  /** The API version this VMM speaks ({@code KVM_GET_API_VERSION} must answer it). */
  static final int API_VERSION = 12;

  /**
   * Every value above under the name the C check prints: {@code sizeof.<struct>},
   * {@code offsetof.<struct>.<field>} or {@code const.<MACRO>}.
   */
  static Map<String, Long> values() {
    Map<String, Long> m = new LinkedHashMap<>();
    String r = "kvm_userspace_memory_region";
    m.put("sizeof." + r, (long) MEMORY_REGION_SIZE);
    m.put("offsetof." + r + ".slot", (long) MEMORY_REGION_SLOT);
    m.put("offsetof." + r + ".flags", (long) MEMORY_REGION_FLAGS);
    m.put("offsetof." + r + ".guest_phys_addr", (long) MEMORY_REGION_GUEST_PHYS_ADDR);
    m.put("offsetof." + r + ".memory_size", (long) MEMORY_REGION_MEMORY_SIZE);
    m.put("offsetof." + r + ".userspace_addr", (long) MEMORY_REGION_USERSPACE_ADDR);
    m.put("sizeof.kvm_run", (long) RUN_SIZE);
    m.put("offsetof.kvm_run.immediate_exit", (long) RUN_IMMEDIATE_EXIT);
    m.put("offsetof.kvm_run.exit_reason", (long) RUN_EXIT_REASON);
    m.put("offsetof.kvm_run.io.direction", (long) RUN_IO_DIRECTION);
    m.put("offsetof.kvm_run.io.size", (long) RUN_IO_SIZE);
    m.put("offsetof.kvm_run.io.port", (long) RUN_IO_PORT);
    m.put("offsetof.kvm_run.io.count", (long) RUN_IO_COUNT);
    m.put("offsetof.kvm_run.io.data_offset", (long) RUN_IO_DATA_OFFSET);
    m.put("offsetof.kvm_run.mmio.phys_addr", (long) RUN_MMIO_PHYS_ADDR);
    m.put("offsetof.kvm_run.mmio.len", (long) RUN_MMIO_LEN);
    m.put("offsetof.kvm_run.mmio.is_write", (long) RUN_MMIO_IS_WRITE);
    m.put("offsetof.kvm_run.hw.hardware_exit_reason", (long) RUN_HW_EXIT_REASON);
    m.put("offsetof.kvm_run.fail_entry.hardware_entry_failure_reason", (long) RUN_FAIL_ENTRY_REASON);
    m.put("offsetof.kvm_run.internal.suberror", (long) RUN_INTERNAL_SUBERROR);
    m.put("sizeof.kvm_regs", (long) REGS_SIZE);
    m.put("offsetof.kvm_regs.rax", (long) REGS_RAX);
    m.put("offsetof.kvm_regs.rbx", (long) REGS_RBX);
    m.put("offsetof.kvm_regs.rsp", (long) REGS_RSP);
    m.put("offsetof.kvm_regs.rip", (long) REGS_RIP);
    m.put("offsetof.kvm_regs.rflags", (long) REGS_RFLAGS);
    m.put("sizeof.kvm_segment", (long) SEGMENT_SIZE);
    m.put("offsetof.kvm_segment.base", (long) SEGMENT_BASE);
    m.put("offsetof.kvm_segment.limit", (long) SEGMENT_LIMIT);
    m.put("offsetof.kvm_segment.selector", (long) SEGMENT_SELECTOR);
    m.put("offsetof.kvm_segment.type", (long) SEGMENT_TYPE);
    m.put("offsetof.kvm_segment.present", (long) SEGMENT_PRESENT);
    m.put("offsetof.kvm_segment.dpl", (long) SEGMENT_DPL);
    m.put("offsetof.kvm_segment.db", (long) SEGMENT_DB);
    m.put("offsetof.kvm_segment.s", (long) SEGMENT_S);
    m.put("offsetof.kvm_segment.l", (long) SEGMENT_L);
    m.put("offsetof.kvm_segment.g", (long) SEGMENT_G);
    m.put("offsetof.kvm_segment.avl", (long) SEGMENT_AVL);
    m.put("offsetof.kvm_segment.unusable", (long) SEGMENT_UNUSABLE);
    m.put("sizeof.kvm_sregs", (long) SREGS_SIZE);
    m.put("offsetof.kvm_sregs.cs", (long) SREGS_CS);
    m.put("offsetof.kvm_sregs.ds", (long) SREGS_DS);
    m.put("offsetof.kvm_sregs.es", (long) SREGS_ES);
    m.put("offsetof.kvm_sregs.fs", (long) SREGS_FS);
    m.put("offsetof.kvm_sregs.gs", (long) SREGS_GS);
    m.put("offsetof.kvm_sregs.ss", (long) SREGS_SS);
    m.put("offsetof.kvm_sregs.tr", (long) SREGS_TR);
    m.put("offsetof.kvm_sregs.ldt", (long) SREGS_LDT);
    m.put("offsetof.kvm_sregs.gdt", (long) SREGS_GDT);
    m.put("offsetof.kvm_sregs.idt", (long) SREGS_IDT);
    m.put("offsetof.kvm_sregs.cr0", (long) SREGS_CR0);
    m.put("offsetof.kvm_sregs.cr2", (long) SREGS_CR2);
    m.put("offsetof.kvm_sregs.cr3", (long) SREGS_CR3);
    m.put("offsetof.kvm_sregs.cr4", (long) SREGS_CR4);
    m.put("offsetof.kvm_sregs.cr8", (long) SREGS_CR8);
    m.put("offsetof.kvm_sregs.efer", (long) SREGS_EFER);
    m.put("offsetof.kvm_sregs.apic_base", (long) SREGS_APIC_BASE);
    m.put("sizeof.kvm_fpu", (long) FPU_SIZE);
    m.put("sizeof.kvm_msrs", (long) MSRS_SIZE);
    m.put("sizeof.kvm_msr_entry", (long) MSR_ENTRY_SIZE);
    m.put("offsetof.kvm_msrs.nmsrs", (long) MSRS_NMSRS);
    m.put("offsetof.kvm_msrs.entries", (long) MSRS_ENTRIES);
    m.put("offsetof.kvm_msr_entry.index", (long) MSR_ENTRY_INDEX);
    m.put("offsetof.kvm_msr_entry.data", (long) MSR_ENTRY_DATA);
    m.put("sizeof.kvm_dirty_log", (long) DIRTY_LOG_SIZE);
    m.put("offsetof.kvm_dirty_log.slot", (long) DIRTY_LOG_SLOT);
    m.put("offsetof.kvm_dirty_log.dirty_bitmap", (long) DIRTY_LOG_BITMAP);
    m.put("sizeof.kvm_cpuid2", (long) CPUID2_SIZE);
    m.put("sizeof.kvm_cpuid_entry2", (long) CPUID_ENTRY2_SIZE);
    m.put("offsetof.kvm_cpuid2.nent", (long) CPUID2_NENT);
    m.put("offsetof.kvm_cpuid2.entries", (long) CPUID2_ENTRIES);
    m.put("sizeof.kvm_signal_mask", (long) SIGNAL_MASK_SIZE);
    m.put("offsetof.kvm_signal_mask.len", (long) SIGNAL_MASK_LEN);
    m.put("offsetof.kvm_signal_mask.sigset", (long) SIGNAL_MASK_SIGSET);
    m.put("sizeof.kvm_vcpu_events", (long) VCPU_EVENTS_SIZE);
    m.put("const.KVM_GET_API_VERSION", KVM_GET_API_VERSION);
    m.put("const.KVM_CREATE_VM", KVM_CREATE_VM);
    m.put("const.KVM_CHECK_EXTENSION", KVM_CHECK_EXTENSION);
    m.put("const.KVM_GET_VCPU_MMAP_SIZE", KVM_GET_VCPU_MMAP_SIZE);
    m.put("const.KVM_GET_SUPPORTED_CPUID", KVM_GET_SUPPORTED_CPUID);
    m.put("const.KVM_CREATE_VCPU", KVM_CREATE_VCPU);
    m.put("const.KVM_GET_DIRTY_LOG", KVM_GET_DIRTY_LOG);
    m.put("const.KVM_SET_USER_MEMORY_REGION", KVM_SET_USER_MEMORY_REGION);
    m.put("const.KVM_SET_TSS_ADDR", KVM_SET_TSS_ADDR);
    m.put("const.KVM_SET_IDENTITY_MAP_ADDR", KVM_SET_IDENTITY_MAP_ADDR);
    m.put("const.KVM_RUN", KVM_RUN);
    m.put("const.KVM_GET_REGS", KVM_GET_REGS);
    m.put("const.KVM_SET_REGS", KVM_SET_REGS);
    m.put("const.KVM_GET_SREGS", KVM_GET_SREGS);
    m.put("const.KVM_SET_SREGS", KVM_SET_SREGS);
    m.put("const.KVM_GET_MSRS", KVM_GET_MSRS);
    m.put("const.KVM_SET_MSRS", KVM_SET_MSRS);
    m.put("const.KVM_SET_SIGNAL_MASK", KVM_SET_SIGNAL_MASK);
    m.put("const.KVM_GET_FPU", KVM_GET_FPU);
    m.put("const.KVM_SET_FPU", KVM_SET_FPU);
    m.put("const.KVM_SET_CPUID2", KVM_SET_CPUID2);
    m.put("const.KVM_GET_VCPU_EVENTS", KVM_GET_VCPU_EVENTS);
    m.put("const.KVM_SET_VCPU_EVENTS", KVM_SET_VCPU_EVENTS);
    m.put("const.KVM_EXIT_UNKNOWN", (long) KVM_EXIT_UNKNOWN);
    m.put("const.KVM_EXIT_IO", (long) KVM_EXIT_IO);
    m.put("const.KVM_EXIT_HLT", (long) KVM_EXIT_HLT);
    m.put("const.KVM_EXIT_MMIO", (long) KVM_EXIT_MMIO);
    m.put("const.KVM_EXIT_SHUTDOWN", (long) KVM_EXIT_SHUTDOWN);
    m.put("const.KVM_EXIT_FAIL_ENTRY", (long) KVM_EXIT_FAIL_ENTRY);
    m.put("const.KVM_EXIT_INTR", (long) KVM_EXIT_INTR);
    m.put("const.KVM_EXIT_INTERNAL_ERROR", (long) KVM_EXIT_INTERNAL_ERROR);
    m.put("const.KVM_EXIT_SYSTEM_EVENT", (long) KVM_EXIT_SYSTEM_EVENT);
    m.put("const.KVM_EXIT_IO_IN", (long) KVM_EXIT_IO_IN);
    m.put("const.KVM_EXIT_IO_OUT", (long) KVM_EXIT_IO_OUT);
    m.put("const.KVM_MEM_LOG_DIRTY_PAGES", (long) KVM_MEM_LOG_DIRTY_PAGES);
    m.put("const.KVM_CAP_IMMEDIATE_EXIT", (long) KVM_CAP_IMMEDIATE_EXIT);
    m.put("const.KVM_CAP_USER_MEMORY", (long) KVM_CAP_USER_MEMORY);
    m.put("const.KVM_CAP_SET_TSS_ADDR", (long) KVM_CAP_SET_TSS_ADDR);
    m.put("const.KVM_CAP_EXT_CPUID", (long) KVM_CAP_EXT_CPUID);
    m.put("const.KVM_CAP_VCPU_EVENTS", (long) KVM_CAP_VCPU_EVENTS);
    m.put("const.KVM_CAP_NR_MEMSLOTS", (long) KVM_CAP_NR_MEMSLOTS);
    m.put("const.KVM_API_VERSION", (long) API_VERSION);
    m.put("const.O_RDWR", (long) Libc.O_RDWR);
    m.put("const.O_CLOEXEC", (long) Libc.O_CLOEXEC);
    m.put("const.PROT_READ", (long) Libc.PROT_READ);
    m.put("const.PROT_WRITE", (long) Libc.PROT_WRITE);
    m.put("const.MAP_SHARED", (long) Libc.MAP_SHARED);
    m.put("const.MAP_PRIVATE", (long) Libc.MAP_PRIVATE);
    m.put("const.MAP_ANONYMOUS", (long) Libc.MAP_ANONYMOUS);
    m.put("const.MAP_NORESERVE", (long) Libc.MAP_NORESERVE);
    m.put("const.MADV_DONTNEED", (long) Libc.MADV_DONTNEED);
    m.put("const.SIG_BLOCK", (long) Libc.SIG_BLOCK);
    m.put("const.SIG_SETMASK", (long) Libc.SIG_SETMASK);
    m.put("const.EINTR", (long) Libc.EINTR);
    m.put("const.EAGAIN", (long) Libc.EAGAIN);
    m.put("sizeof.sigset_t", (long) Libc.SIGSET_T_SIZE);
    m.put("const.EEXIST", (long) Libc.EEXIST);
    m.put("const.O_NONBLOCK", (long) Libc.O_NONBLOCK);
    m.put("const.POLLIN", (long) Libc.POLLIN);
    m.put("const.SYS_gettid", Libc.SYS_GETTID);
    m.put("const.SYS_userfaultfd", Libc.SYS_USERFAULTFD);
    m.put("sizeof.pollfd", (long) POLLFD_SIZE);
    m.put("sizeof.uffdio_api", (long) UFFDIO_API_SIZE);
    m.put("offsetof.uffdio_api.features", (long) UFFDIO_API_FEATURES);
    m.put("sizeof.uffdio_range", (long) UFFDIO_RANGE_SIZE);
    m.put("sizeof.uffdio_register", (long) UFFDIO_REGISTER_SIZE);
    m.put("offsetof.uffdio_register.mode", (long) UFFDIO_REGISTER_MODE);
    m.put("sizeof.uffdio_copy", (long) UFFDIO_COPY_SIZE);
    m.put("offsetof.uffdio_copy.src", (long) UFFDIO_COPY_SRC);
    m.put("offsetof.uffdio_copy.len", (long) UFFDIO_COPY_LEN);
    m.put("offsetof.uffdio_copy.mode", (long) UFFDIO_COPY_MODE);
    m.put("offsetof.uffdio_copy.copy", (long) UFFDIO_COPY_COPY);
    m.put("sizeof.uffdio_zeropage", (long) UFFDIO_ZEROPAGE_SIZE);
    m.put("offsetof.uffdio_zeropage.mode", (long) UFFDIO_ZEROPAGE_MODE);
    m.put("sizeof.uffd_msg", (long) UFFD_MSG_SIZE);
    m.put("offsetof.uffd_msg.event", (long) UFFD_MSG_EVENT);
    m.put("offsetof.uffd_msg.arg.pagefault.address", (long) UFFD_MSG_ADDRESS);
    m.put("offsetof.uffd_msg.arg.pagefault.feat.ptid", (long) UFFD_MSG_PTID);
    m.put("const.UFFD_API", UFFD_API);
    m.put("const.UFFDIO_API", UFFDIO_API);
    m.put("const.UFFDIO_REGISTER", UFFDIO_REGISTER);
    m.put("const.UFFDIO_UNREGISTER", UFFDIO_UNREGISTER);
    m.put("const.UFFDIO_WAKE", UFFDIO_WAKE);
    m.put("const.UFFDIO_COPY", UFFDIO_COPY);
    m.put("const.UFFDIO_ZEROPAGE", UFFDIO_ZEROPAGE);
    m.put("const.UFFDIO_COPY_MODE_DONTWAKE", (long) UFFDIO_MODE_DONTWAKE);
    m.put("const.UFFDIO_ZEROPAGE_MODE_DONTWAKE", (long) UFFDIO_MODE_DONTWAKE);
    m.put("const.UFFDIO_REGISTER_MODE_MISSING", (long) UFFDIO_REGISTER_MODE_MISSING);
    m.put("const.UFFD_EVENT_PAGEFAULT", (long) UFFD_EVENT_PAGEFAULT);
    m.put("const.UFFD_FEATURE_THREAD_ID", UFFD_FEATURE_THREAD_ID);
    return m;
  }
}
