/* cpu.h -- forced into the libFuzzer build only: CPU feature tests clang 14 cannot name itself. */
/*
 * clang 14's __builtin_cpu_supports does not know "f16c", which the
 * quantisation kernels ask about; with this macro every such test goes
 * through fuzz_cpu_supports (fuzz_common.c), which asks CPUID directly.
 */
#ifndef DK_FUZZ_CPU_H
#define DK_FUZZ_CPU_H

int fuzz_cpu_supports(const char *feature);
#define __builtin_cpu_supports(feature) fuzz_cpu_supports(feature)

#endif
