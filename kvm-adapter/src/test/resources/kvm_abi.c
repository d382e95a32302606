/* Prints the layout of <linux/kvm.h> and the libc constants the VMM uses; KvmAbiTest compares
 * every line with KvmAbi.values(). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <linux/userfaultfd.h>
#include <stdio.h>
#include <stddef.h>
#include <linux/kvm.h>
#define S(t) printf("sizeof.%s %zu\n", #t, sizeof(struct t))
#define O(t,f) printf("offsetof.%s.%s %zu\n", #t, #f, offsetof(struct t, f))
#define C(n) printf("const.%s %lu\n", #n, (unsigned long)(n))
int main(void){
 S(kvm_userspace_memory_region); O(kvm_userspace_memory_region,slot);O(kvm_userspace_memory_region,flags);O(kvm_userspace_memory_region,guest_phys_addr);O(kvm_userspace_memory_region,memory_size);O(kvm_userspace_memory_region,userspace_addr);
 S(kvm_run); O(kvm_run,immediate_exit); O(kvm_run,exit_reason); O(kvm_run,io.direction);O(kvm_run,io.size);O(kvm_run,io.port);O(kvm_run,io.count);O(kvm_run,io.data_offset);
 O(kvm_run,mmio.phys_addr); O(kvm_run,mmio.len); O(kvm_run,mmio.is_write); O(kvm_run,hw.hardware_exit_reason); O(kvm_run,fail_entry.hardware_entry_failure_reason); O(kvm_run,internal.suberror);
 S(kvm_regs); O(kvm_regs,rax);O(kvm_regs,rbx);O(kvm_regs,rsp);O(kvm_regs,rip);O(kvm_regs,rflags);
 S(kvm_segment); O(kvm_segment,base);O(kvm_segment,limit);O(kvm_segment,selector);O(kvm_segment,type);O(kvm_segment,present);O(kvm_segment,dpl);O(kvm_segment,db);O(kvm_segment,s);O(kvm_segment,l);O(kvm_segment,g);O(kvm_segment,avl);O(kvm_segment,unusable);
 S(kvm_sregs); O(kvm_sregs,cs);O(kvm_sregs,ds);O(kvm_sregs,es);O(kvm_sregs,fs);O(kvm_sregs,gs);O(kvm_sregs,ss);O(kvm_sregs,tr);O(kvm_sregs,ldt);O(kvm_sregs,gdt);O(kvm_sregs,idt);O(kvm_sregs,cr0);O(kvm_sregs,cr2);O(kvm_sregs,cr3);O(kvm_sregs,cr4);O(kvm_sregs,cr8);O(kvm_sregs,efer);O(kvm_sregs,apic_base);
 S(kvm_fpu); S(kvm_msrs); S(kvm_msr_entry); O(kvm_msrs,nmsrs); O(kvm_msrs,entries); O(kvm_msr_entry,index); O(kvm_msr_entry,data);
 S(kvm_dirty_log); O(kvm_dirty_log,slot); O(kvm_dirty_log,dirty_bitmap);
 S(kvm_cpuid2); S(kvm_cpuid_entry2); O(kvm_cpuid2,nent); O(kvm_cpuid2,entries);
 S(kvm_signal_mask); O(kvm_signal_mask,len); O(kvm_signal_mask,sigset);
 S(kvm_vcpu_events);
 C(KVM_GET_API_VERSION);C(KVM_CREATE_VM);C(KVM_CHECK_EXTENSION);C(KVM_GET_VCPU_MMAP_SIZE);C(KVM_GET_SUPPORTED_CPUID);
 C(KVM_CREATE_VCPU);C(KVM_GET_DIRTY_LOG);C(KVM_SET_USER_MEMORY_REGION);C(KVM_SET_TSS_ADDR);C(KVM_SET_IDENTITY_MAP_ADDR);
 C(KVM_RUN);C(KVM_GET_REGS);C(KVM_SET_REGS);C(KVM_GET_SREGS);C(KVM_SET_SREGS);C(KVM_GET_MSRS);C(KVM_SET_MSRS);C(KVM_GET_FPU);C(KVM_SET_FPU);C(KVM_SET_CPUID2);C(KVM_SET_SIGNAL_MASK);C(KVM_GET_VCPU_EVENTS);C(KVM_SET_VCPU_EVENTS);
 C(KVM_EXIT_UNKNOWN);C(KVM_EXIT_IO);C(KVM_EXIT_HLT);C(KVM_EXIT_MMIO);C(KVM_EXIT_SHUTDOWN);C(KVM_EXIT_FAIL_ENTRY);C(KVM_EXIT_INTR);C(KVM_EXIT_INTERNAL_ERROR);C(KVM_EXIT_SYSTEM_EVENT);
 C(KVM_EXIT_IO_IN);C(KVM_EXIT_IO_OUT);C(KVM_MEM_LOG_DIRTY_PAGES);
 C(KVM_CAP_IMMEDIATE_EXIT);C(KVM_CAP_USER_MEMORY);C(KVM_CAP_SET_TSS_ADDR);C(KVM_CAP_EXT_CPUID);C(KVM_CAP_VCPU_EVENTS);C(KVM_CAP_NR_MEMSLOTS);
 C(KVM_API_VERSION);C(O_RDWR);C(O_CLOEXEC);C(PROT_READ);C(PROT_WRITE);C(MAP_SHARED);C(MAP_PRIVATE);C(MAP_ANONYMOUS);C(MAP_NORESERVE);C(MADV_DONTNEED);C(SIG_BLOCK);C(SIG_SETMASK);C(EINTR);C(EAGAIN);
 printf("sizeof.sigset_t %zu\n", sizeof(sigset_t));
 C(EEXIST);C(O_NONBLOCK);C(POLLIN);C(SYS_gettid);C(SYS_userfaultfd);S(pollfd);
 S(uffdio_api);O(uffdio_api,features);S(uffdio_range);S(uffdio_register);O(uffdio_register,mode);
 S(uffdio_copy);O(uffdio_copy,src);O(uffdio_copy,len);O(uffdio_copy,mode);O(uffdio_copy,copy);
 S(uffdio_zeropage);O(uffdio_zeropage,mode);
 S(uffd_msg);O(uffd_msg,event);O(uffd_msg,arg.pagefault.address);O(uffd_msg,arg.pagefault.feat.ptid);
 C(UFFD_API);C(UFFDIO_API);C(UFFDIO_REGISTER);C(UFFDIO_UNREGISTER);C(UFFDIO_WAKE);C(UFFDIO_COPY);C(UFFDIO_ZEROPAGE);
 C(UFFDIO_COPY_MODE_DONTWAKE);C(UFFDIO_ZEROPAGE_MODE_DONTWAKE);C(UFFDIO_REGISTER_MODE_MISSING);C(UFFD_EVENT_PAGEFAULT);C(UFFD_FEATURE_THREAD_ID);
 return 0;
}
