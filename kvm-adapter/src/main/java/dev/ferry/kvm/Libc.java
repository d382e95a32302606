package dev.ferry.kvm;

import com.sun.jna.LastErrorException;
import com.sun.jna.Native;
import com.sun.jna.Pointer;

/**
 * The few libc functions the VMM calls, bound with JNA's direct mapping (static natives registered
 * once; a call costs far less than an interface-mapped one, and {@code KVM_RUN} is called on every
 * guest exit). Every function that reports failure through {@code errno} is declared to throw
 * {@link LastErrorException}, whose {@code getErrorCode()} is the errno.
 *
 * <p>Constants are Linux x86-64 values; {@code KvmAbiTest} checks them against the C headers.
 *
 * <p>Thread-safety: the functions are those of libc; all are safe from any thread.
 */
final class Libc {
  static final int O_RDWR = 2;
  static final int O_CLOEXEC = 0x80000;
  static final int PROT_READ = 1;
  static final int PROT_WRITE = 2;
  static final int MAP_SHARED = 1;
  static final int MAP_PRIVATE = 2;
  static final int MAP_ANONYMOUS = 0x20;
  static final int MAP_NORESERVE = 0x4000;
  static final int MADV_DONTNEED = 4;
  static final int SIG_BLOCK = 0;
  static final int SIG_SETMASK = 2;
  static final int EINTR = 4;
  static final int EEXIST = 17;
  static final int O_NONBLOCK = 0x800;
  static final int POLLIN = 1;
  static final long SYS_GETTID = 186;
  static final long SYS_USERFAULTFD = 323;
  static final int EAGAIN = 11;
  /** Bytes of glibc's {@code sigset_t}. */
  static final int SIGSET_T_SIZE = 128;
  /** Bytes of the kernel's signal set on x86-64, as {@code KVM_SET_SIGNAL_MASK} wants it. */
  static final int KERNEL_SIGSET_SIZE = 8;
  /** {@code MAP_FAILED}. */
  static final long MAP_FAILED = -1L;

  static {
    Native.register(Libc.class, "c");
  }

  private Libc() {}

  static native int open(String path, int flags) throws LastErrorException;

  static native int close(int fd) throws LastErrorException;

  /** {@code ioctl(fd, request, arg)} with a pointer argument (or null). */
  static native int ioctl(int fd, long request, Pointer arg) throws LastErrorException;

  /** {@code ioctl(fd, request, arg)} with an integer argument. */
  static native int ioctl(int fd, long request, long arg) throws LastErrorException;

  static native Pointer mmap(Pointer addr, long length, int prot, int flags, int fd, long offset)
      throws LastErrorException;

  static native int munmap(Pointer addr, long length) throws LastErrorException;

  static native int madvise(Pointer addr, long length, int advice) throws LastErrorException;

  /** {@code syscall(number, arg)}: for gettid and userfaultfd, which glibc 2.36 does not wrap. */
  static native long syscall(long number, long arg) throws LastErrorException;

  static native int poll(Pointer fds, long nfds, int timeoutMillis) throws LastErrorException;

  static native long read(int fd, Pointer buf, long count) throws LastErrorException;

  /** {@code pthread_self()}: the calling thread's pthread_t (an unsigned long on Linux). */
  static native long pthread_self();

  /** Returns an error number (not errno) on failure, 0 on success. */
  static native int pthread_kill(long thread, int sig);

  /** Returns an error number (not errno) on failure, 0 on success. */
  static native int pthread_sigmask(int how, Pointer set, Pointer oldset);

  static native int sigemptyset(Pointer set) throws LastErrorException;

  static native int sigaddset(Pointer set, int signo) throws LastErrorException;

  static native int sigtimedwait(Pointer set, Pointer info, Pointer timeout) throws LastErrorException;

  static native int __libc_current_sigrtmin();

  static native int __libc_current_sigrtmax();
}
