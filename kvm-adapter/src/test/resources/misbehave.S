/* Tiny multiboot guests that each do one thing this VMM does not emulate, selected with -DKIND:
 * 1 writes to port 0x1234; 2 executes hlt with interrupts off; 3 triple-faults (an empty IDT and
 * an int3). Each prints "BAD <kind>" on COM1 first, so a test sees that it ran. */
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
    mov $0x3f8, %dx
    mov $'B', %al
    out %al, %dx
    mov $'A', %al
    out %al, %dx
    mov $'D', %al
    out %al, %dx
    mov $' ', %al
    out %al, %dx
    mov $('0' + KIND), %al
    out %al, %dx
    mov $'\n', %al
    out %al, %dx
.if KIND == 1
    mov $0x1234, %dx
    out %al, %dx
.elseif KIND == 2
    cli
    hlt
.else
    lidt empty_idt
    int3
.endif
1:  jmp 1b
.section .data
empty_idt:
    .word 0
    .long 0
.section .note.GNU-stack,"",@progbits
