/* grammar_impl.h -- internal structures shared by the grammar engine's source files */
#ifndef DK_GRAMMAR_IMPL_H
#define DK_GRAMMAR_IMPL_H

#include "grammar.h"

/* Byte-level program: code[] holds alternatives, each a run of BYTES/REF/REPEAT ops
 * ended by END. An op is (kind << 24) | argument; REPEAT's argument indexes reps[],
 * TOKEN's (one whole token, from a token reference) indexes toks[]. */
enum { OP_END = 0, OP_BYTES = 1, OP_REF = 2, OP_REPEAT = 3, OP_TOKEN = 4 };
#define OP_MAX_ARG 0xFFFFFFu
#define OP_KIND(c) ((c) >> 24)
#define OP_ARG(c) ((c)&0xFFFFFFu)
#define OP_MAKE(k, a) (((uint32_t)(k) << 24) | (uint32_t)(a))

typedef struct dkg_byteset {
  uint64_t w[4];
} dkg_byteset;

static inline int byteset_has(const dkg_byteset *s, unsigned b) {
  return (int)((s->w[b >> 6] >> (b & 63)) & 1u);
}

/* rule{min,max}, matched with a counter on the stack instead of copies of the rule. */
typedef struct dkg_rep {
  uint32_t rule, min, max;   /* max = DKG_REPEAT_INF: no limit */
} dkg_rep;

typedef struct dkg_ptok {
  int32_t id;
  uint32_t negated;   /* any token but id */
} dkg_ptok;

typedef struct dkg_prog {
  uint32_t n_rules, root;
  uint32_t *code;
  uint32_t n_code, cap_code;
  uint32_t *alt_start;   /* code offset of each alternative */
  uint32_t n_alts, cap_alts;
  uint32_t *rule_alt;    /* rule r owns alternatives rule_alt[r] .. rule_alt[r + 1] */
  dkg_byteset *sets;
  uint32_t n_sets, cap_sets;
  dkg_rep *reps;
  uint32_t n_reps, cap_reps;
  dkg_ptok *toks;
  uint32_t n_toks;
  char **names;          /* for messages; generated rules share their owner's name */
} dkg_prog;

/* Token references by text are looked up in v. */
int dkg_prog_compile(const dkg_grammar *g, const dkg_vocab *v, dkg_prog *out, char *err,
                     size_t errlen);
void dkg_prog_free(dkg_prog *p);

/* Token widths below this get a len_le bitset. */
#define DKG_LEN_CLASSES 32u

/* Pieces sorted by bytes give the trie in preorder; each node knows the end of its
 * subtree (skip) and its tokens' range in sorted[]. */
struct dkg_vocab {
  int32_t n_vocab, eos;
  int refs;
  uint8_t *is_special;
  char *bytes;
  uint32_t *off, *len;        /* piece of token t = bytes + off[t], len[t] */
  uint32_t n_nodes, max_depth;
  /* A token's width: the most places in it where a code point can end, the only
   * places a repeat of a grammar (whose classes are code points) completes an
   * iteration; a bound on a walk's counter moves that is tighter than its bytes. */
  uint16_t *width;
  uint32_t max_width;
  uint8_t *node_byte;
  uint16_t *node_depth;
  uint32_t *node_skip, *node_tok_lo, *node_tok_hi, *node_n_end;
  uint16_t *node_maxlen;      /* widest token in the node's subtree */
  int32_t *sorted;
  uint32_t n_sorted;
  /* len_le[L] (L < n_len_le): bitset of the trie's tokens of width at most L, so a
   * mask can take narrow tokens from another state's walk with word operations */
  uint32_t *len_le;
  uint32_t n_len_le, words;
};

#endif
