// exit0: the trivial program the spawn baseline starts; it exits with
// status 0 at once. The static build has no C library: its first
// instruction is the exit system call.
//
// baseline-helper: exit0_static -static -nostdlib -fno-stack-protector
// baseline-helper: exit0_dynamic -DLIBC
#if defined(LIBC)
int main(void) { return 0; }
#elif defined(__x86_64__)
void _start(void) { __asm__ volatile("mov $60, %eax\n\txor %edi, %edi\n\tsyscall"); }
#elif defined(__aarch64__)
void _start(void) { __asm__ volatile("mov x8, #93\n\tmov x0, #0\n\tsvc #0"); }
#else
#error "exit0: no bare exit for this architecture; build it with -DLIBC"
#endif
