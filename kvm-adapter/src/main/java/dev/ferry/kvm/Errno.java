package dev.ferry.kvm;

/** Names for the errno values the VMM may see, for error messages. Stateless. */
final class Errno {
  private Errno() {}

  static String describe(int errno) {
    String name;
    switch (errno) {
      case 1: name = "EPERM (operation not permitted)"; break;
      case 2: name = "ENOENT (no such file or directory)"; break;
      case 4: name = "EINTR (interrupted)"; break;
      case 9: name = "EBADF (bad file descriptor)"; break;
      case 11: name = "EAGAIN (try again)"; break;
      case 12: name = "ENOMEM (out of memory)"; break;
      case 13: name = "EACCES (permission denied)"; break;
      case 14: name = "EFAULT (bad address)"; break;
      case 16: name = "EBUSY (busy)"; break;
      case 17: name = "EEXIST (exists)"; break;
      case 19: name = "ENODEV (no such device)"; break;
      case 22: name = "EINVAL (invalid argument)"; break;
      case 24: name = "EMFILE (too many open files)"; break;
      case 25: name = "ENOTTY (not a KVM ioctl for this descriptor)"; break;
      case 28: name = "ENOSPC (no space)"; break;
      case 38: name = "ENOSYS (not implemented)"; break;
      case 95: name = "EOPNOTSUPP (not supported)"; break;
      default: name = "errno " + errno;
    }
    return name;
  }
}
