/* grammar.h -- constraint grammar engine: GBNF parsing, byte-level pushdown matcher, token masks */
#ifndef DK_GRAMMAR_H
#define DK_GRAMMAR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Source-level grammar (code points), the form GBNF text parses to and prints from.
 * A rule is its alternatives separated by DKG_ALT and terminated by one DKG_END. */
enum dkg_etype {
  DKG_END = 0,      /* end of the rule */
  DKG_ALT,          /* separates alternatives */
  DKG_REF,          /* value = rule index */
  DKG_CHAR,         /* value = code point; starts a char class */
  DKG_CHAR_NOT,     /* value = code point; starts a negated class */
  DKG_RNG_UPPER,    /* value = upper bound of a range begun by the previous element */
  DKG_CHAR_ALT,     /* value = another code point of the same class */
  DKG_ANY,          /* any code point ('.') */
  DKG_REPEAT,       /* value = rule index; the next two elements bound the count */
  DKG_REPEAT_MIN,   /* value = least number of repetitions */
  DKG_REPEAT_MAX,   /* value = most repetitions, DKG_REPEAT_INF for no limit */
  DKG_TOKEN,        /* value = index in toks: one whole token, <[id]> or <text> */
  DKG_TOKEN_NOT     /* value = index in toks: any one token but that one, !<...> */
};

/* A token reference: by id, or by its text (id -1), resolved against the vocabulary
 * when the grammar is compiled. */
typedef struct dkg_tokref {
  int32_t id;
  char *text;   /* NUL-terminated, with its angle brackets; NULL for <[id]> */
} dkg_tokref;

#define DKG_REPEAT_INF UINT32_MAX

/* Limits, documented in decokit-plugins(7): beyond them parsing fails with a message. */
#define DKG_MAX_RULES (1u << 22)     /* rules, generated ones included */
#define DKG_MAX_REPEAT 100000u       /* m and n in {m,n} */
#define DKG_MAX_NESTING 200          /* nested groups */
#define DKG_MAX_TEXT (16u << 20)     /* bytes of grammar or schema text */

typedef struct dkg_elem {
  uint32_t type;
  uint32_t value;
} dkg_elem;

typedef struct dkg_grammar {
  uint32_t n_rules;
  uint32_t root;
  char **names;          /* rule names; generated rules are named after their parent */
  dkg_elem **rules;      /* rules[r][0 .. rule_len[r]) */
  uint32_t *rule_len;
  dkg_tokref *toks;      /* token references of DKG_TOKEN and DKG_TOKEN_NOT */
  uint32_t n_toks;
} dkg_grammar;

/* Parses GBNF (llama.cpp dialect). On error returns -1 and writes "LINE:COL: message". */
int dkg_grammar_parse(const char *src, size_t len, dkg_grammar **out,
                      char *err, size_t errlen);
void dkg_grammar_free(dkg_grammar *g);
/* Prints g as GBNF into a malloc'd string (caller frees); NULL on allocation failure. */
char *dkg_grammar_print(const dkg_grammar *g);
/* Index of the rule called name, or -1. */
int32_t dkg_grammar_find(const dkg_grammar *g, const char *name);

/* Vocabulary with its byte trie; immutable, shareable between matchers. */
typedef struct dkg_vocab dkg_vocab;
dkg_vocab *dkg_vocab_new(const char *const *piece, const uint32_t *piece_len,
                         int32_t n_vocab, int32_t eos, const uint8_t *is_special,
                         char *err, size_t errlen);
void dkg_vocab_free(dkg_vocab *v);
int32_t dkg_vocab_size(const dkg_vocab *v);
int32_t dkg_vocab_eos(const dkg_vocab *v);

/* Compiled byte-level grammar + the caches shared by a matcher and its forks.
 * Compiling checks for left recursion and removes alternatives that cannot produce
 * any string. */
typedef struct dkg_engine dkg_engine;
dkg_engine *dkg_engine_new(const dkg_grammar *g, dkg_vocab *v,
                           char *err, size_t errlen);
void dkg_engine_release(dkg_engine *e);      /* refcounted; matchers hold a reference */

/* Tuning and statistics; a zero field in the options keeps the default. */
typedef struct dkg_engine_stats {
  uint64_t n_nodes, n_states;
  uint64_t n_hist;   /* live history entries: the root and what matchers can roll back to */
  uint64_t mask_calls, mask_hits, ctx_walks, ctx_hits, cd_checks;
  uint64_t ctx_far;   /* walks that took their short tokens from a far-from-bound state */
} dkg_engine_stats;
void dkg_engine_get_stats(dkg_engine *e, dkg_engine_stats *st);
void dkg_engine_set_context_depth(dkg_engine *e, uint32_t depth);
/* On: every mask walks the trie from its own state with its actual counters, none
 * shared with the state far from a bound; the reference the shortcuts are tested
 * against. */
void dkg_engine_set_plain_walks(dkg_engine *e, int on);
/* The most parser stacks one state may hold (default 2^20). */
void dkg_engine_set_max_stacks(dkg_engine *e, uint32_t n);

/* A position in the language: a history of parser states. */
typedef struct dkg_matcher dkg_matcher;
dkg_matcher *dkg_matcher_new(dkg_engine *e);        /* takes a new reference on e */
dkg_matcher *dkg_matcher_fork(const dkg_matcher *m); /* O(1): shares the history */
/* Freeing a matcher or rolling it back frees the history only it could return to. */
void dkg_matcher_free(dkg_matcher *m);

/* Writes the allowed-token bitset, (n_vocab + 31) / 32 words, bit set = allowed.
 * Returns 0, -1 when out of memory, or DKG_TOO_AMBIGUOUS when a parser state would
 * hold more than its limit of stacks (the engine then stays failed). */
#define DKG_TOO_AMBIGUOUS (-2)
int dkg_matcher_mask(dkg_matcher *m, uint32_t *bits);
/* Advances by one token; returns 0, -1 when the token is not allowed (state kept), or
 * DKG_TOO_AMBIGUOUS when the step would pass the stack limit (the engine then stays failed).
 * Advancing by EOS ends the matcher: afterwards nothing is allowed. */
int dkg_matcher_advance(dkg_matcher *m, int32_t token);
/* Advances by raw bytes as one step (rollback(1) undoes it); -1 if rejected. */
int dkg_matcher_advance_bytes(dkg_matcher *m, const char *s, size_t n);
/* Undoes the last n advances; -1 if fewer than n were made (state kept). */
int dkg_matcher_rollback(dkg_matcher *m, size_t n);
size_t dkg_matcher_n_steps(const dkg_matcher *m);
int dkg_matcher_is_complete(const dkg_matcher *m);  /* EOS allowed now */
int dkg_matcher_is_finished(const dkg_matcher *m);  /* EOS consumed */
/* Bytes that must follow whatever comes next (the forced continuation), up to cap;
 * stops where a choice or completion is possible. Returns the length. */
size_t dkg_matcher_forced(dkg_matcher *m, char *buf, size_t cap);
/* True when the bytes s could be the next output (a viable continuation). */
int dkg_matcher_accepts_bytes(dkg_matcher *m, const char *s, size_t n);

/* Membership test of whole texts, for checking and for compiling schemas. */
typedef struct dkg_checker dkg_checker;
dkg_checker *dkg_checker_new(const char *gbnf, size_t len, char *err, size_t errlen);
void dkg_checker_free(dkg_checker *k);
/* 1 when s is in the language, 0 when not, -1 on failure (out of memory, a state
 * too ambiguous). fail_at gets the offset of the first byte that cannot follow, or
 * n when the text stops short of a complete one. */
int dkg_checker_run(dkg_checker *k, const char *s, size_t n, size_t *fail_at);
/* After the prefix s[0..n): which bytes may follow, and whether the text may end. -1
 * when the prefix itself is rejected. */
int dkg_checker_next(dkg_checker *k, const char *s, size_t n, uint8_t allowed[256], int *can_end);

/* Converters to GBNF text (malloc'd, caller frees). On error they return NULL and
 * write a message. */
char *dkg_regex_to_gbnf(const char *pattern, char *err, size_t errlen);
/* Appends rules for a regex to buf as rule `name`, used by the JSON Schema converter. */
char *dkg_choice_to_gbnf(const char *const *options, size_t n, char *err, size_t errlen);
enum dkg_ws { DKG_WS_NONE = 0, DKG_WS_FLEXIBLE = 1 };
char *dkg_json_schema_to_gbnf(const char *schema_json, size_t len, int ws,
                              char *err, size_t errlen);
typedef struct dkg_schema_opts {
  int ws;          /* enum dkg_ws */
  int strict;      /* refuse unknown keywords and formats instead of ignoring them */
  int any_order;   /* properties in any order (required ones still guaranteed) */
} dkg_schema_opts;
char *dkg_json_schema_to_gbnf_opts(const char *schema_json, size_t len,
                                   const dkg_schema_opts *opts, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
