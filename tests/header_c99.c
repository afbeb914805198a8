/* header_c99.c -- the public header compiles as strict C99 and agrees with the frozen layout. */
#include <stdio.h>

#include "abi_table.h"

int main(void) {
  int bad = 0;
#define X(type, expect)                                                             \
  if (sizeof(type) != (expect)) {                                                   \
    printf("FAIL: sizeof(%s) = %lu, expected %d\n", #type, (unsigned long)sizeof(type), expect); \
    bad++;                                                                          \
  }
  DK_ABI_SIZES(X)
#undef X
#define X(type, member, expect)                                                     \
  if (offsetof(type, member) != (expect)) {                                         \
    printf("FAIL: offsetof(%s, %s) = %lu, expected %d\n", #type, #member,            \
           (unsigned long)offsetof(type, member), expect);                          \
    bad++;                                                                          \
  }
  DK_ABI_OFFSETS(X)
#undef X
#define X(name, expect)                                                             \
  if ((name) != (expect)) {                                                         \
    printf("FAIL: %s = %u, expected %u\n", #name, (unsigned)(name), (unsigned)(expect)); \
    bad++;                                                                          \
  }
  DK_ABI_CONSTANTS(X)
#undef X
  printf("%d passed, %d failed\n", bad ? 0 : 1, bad ? 1 : 0);
  return bad ? 1 : 0;
}
