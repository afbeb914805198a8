/* vectors.h -- reference tokenizer vectors: each test string of a .inp file with the ids of its .out line. */
#ifndef DK_FUZZ_VECTORS_H
#define DK_FUZZ_VECTORS_H

#include <stddef.h>
#include <stdint.h>

typedef struct ref_case {
  const char *text; /* points into the .inp buffer, not NUL-terminated */
  size_t len;
  int32_t *ids;
  size_t n_ids;
} ref_case;

typedef struct ref_vectors {
  char *inp; /* the .inp file, cut into the cases' texts */
  ref_case *cases;
  size_t n;
} ref_vectors;

/* Reads BASE.inp (strings separated by a line __ggml_vocab_test__) and
 * BASE.out (one line of ids per string).  0, or -1 with a message. */
int ref_vectors_load(ref_vectors *rv, const char *base, char *err, size_t errlen);
void ref_vectors_free(ref_vectors *rv);
/* The case whose text is exactly s, or NULL. */
const ref_case *ref_vectors_find(const ref_vectors *rv, const char *s, size_t len);

#endif
