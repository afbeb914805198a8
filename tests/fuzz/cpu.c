/* cpu.c -- CPUID feature tests for the libFuzzer build, standing in for __builtin_cpu_supports. */
#include "cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <string.h>

int fuzz_cpu_supports(const char *feature) {
  unsigned a, b, c, d;
  if (strcmp(feature, "f16c") == 0) return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
  if (strcmp(feature, "fma") == 0) return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_FMA);
  if (strcmp(feature, "avx2") == 0) return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_AVX2);
  return 0;
}
#else
int fuzz_cpu_supports(const char *feature) {
  (void)feature;
  return 0;
}
#endif
