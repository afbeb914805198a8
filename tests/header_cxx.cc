// header_cxx.cc -- the public header compiles as C++ and gives C++ the same layout as C.
#include <cstdio>

#include "abi_table.h"

int main() {
  int bad = 0;
#define X(type, expect)                                                                  \
  if (sizeof(type) != (expect)) {                                                        \
    std::printf("FAIL: sizeof(%s) = %lu, expected %d\n", #type, (unsigned long)sizeof(type), expect); \
    bad++;                                                                               \
  }
  DK_ABI_SIZES(X)
#undef X
#define X(type, member, expect)                                                          \
  if (offsetof(type, member) != (expect)) {                                              \
    std::printf("FAIL: offsetof(%s, %s) = %lu, expected %d\n", #type, #member,           \
                (unsigned long)offsetof(type, member), expect);                          \
    bad++;                                                                               \
  }
  DK_ABI_OFFSETS(X)
#undef X
  std::printf("%d passed, %d failed\n", bad ? 0 : 1, bad ? 1 : 0);
  return bad ? 1 : 0;
}
