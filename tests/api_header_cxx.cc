// api_header_cxx.cc -- decokit.h compiles as C++: the C99 check, built as C++11.
#include "api_header.c"
