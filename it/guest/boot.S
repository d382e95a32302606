/* Multiboot (v1) header and entry: set up a stack, call kmain(magic, info). */
.set MB_MAGIC, 0x1BADB002
.set MB_FLAGS, 0
.section .multiboot, "a"
.align 4
.long MB_MAGIC
.long MB_FLAGS
.long -(MB_MAGIC + MB_FLAGS)

.section .text
.global _start
_start:
    mov $stack_top, %esp
    push %ebx
    push %eax
    call kmain
1:  cli
    hlt
    jmp 1b

.section .bss
.align 16
stack_bottom:
.skip 16384
stack_top:
.section .note.GNU-stack,"",@progbits
