/* oracle.c -- the grammar fixtures of METHODS 19.5, their direct checkers, and the comparison with the engine. */
/*
 * Each checker decides a text by hand, without the grammar engine: a depth
 * counter for the parentheses, a recursive-descent reader for the JSON
 * subset.  The JSON subset is LL(1), so the reader never backtracks: it stops
 * with "dead" at the first byte no sentence can have there, and with
 * "viable" when the text ends where something is still required (every
 * construct it has started can be finished).
 */
#include "oracle.h"

#include <stdio.h>
#include <string.h>

/* ---- balanced parentheses with atoms ---- */

static int check_parens(const char *s, size_t n) {
  long depth = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '(')
      depth++;
    else if (s[i] == ')') {
      if (--depth < 0) return ORACLE_DEAD;
    } else if (s[i] != 'x')
      return ORACLE_DEAD;
  }
  return depth == 0 ? ORACLE_COMPLETE : ORACLE_VIABLE;
}

/* ---- the JSON subset ---- */

enum { R_OK, R_ERR, R_NEED }; /* parsed; no sentence continues so; the text ended first */

typedef struct reader {
  const char *s;
  size_t n, i;
} reader;

static int peek(const reader *r) { return r->i < r->n ? (unsigned char)r->s[r->i] : -1; }

static int expect(reader *r, char c) {
  if (r->i == r->n) return R_NEED;
  if (r->s[r->i] != c) return R_ERR;
  r->i++;
  return R_OK;
}

static void spaces(reader *r) {
  while (peek(r) == ' ') r->i++;
}

static int value(reader *r);

static int string(reader *r) {
  int rc = expect(r, '"');
  if (rc) return rc;
  while (peek(r) == 'a') r->i++;
  return expect(r, '"');
}

static int number(reader *r) {
  if (peek(r) == '0') {
    r->i++;
    return R_OK; /* no leading zeros: a 0 is a whole number */
  }
  int rc = expect(r, '1');
  if (rc) return rc;
  while (peek(r) == '0' || peek(r) == '1') r->i++;
  return R_OK;
}

static int member(reader *r) {
  int rc = string(r);
  if (rc) return rc;
  spaces(r);
  if ((rc = expect(r, ':'))) return rc;
  spaces(r);
  return value(r);
}

/* "{" or "[", items separated by ",", then the closing bracket; spaces around
 * every item. */
static int items(reader *r, char open, char close, int (*item)(reader *)) {
  int rc = expect(r, open);
  if (rc) return rc;
  spaces(r);
  if (peek(r) == close) {
    r->i++;
    return R_OK;
  }
  for (;;) {
    if ((rc = item(r))) return rc;
    spaces(r);
    int c = peek(r);
    if (c < 0) return R_NEED;
    r->i++;
    if (c == close) return R_OK;
    if (c != ',') return R_ERR;
    spaces(r);
  }
}

static int object(reader *r) { return items(r, '{', '}', member); }
static int array(reader *r) { return items(r, '[', ']', value); }

static int value(reader *r) {
  switch (peek(r)) {
    case -1: return R_NEED;
    case '{': return object(r);
    case '[': return array(r);
    case '"': return string(r);
    default: return number(r);
  }
}

static int check_json(const char *s, size_t n) {
  reader r = {s, n, 0};
  spaces(&r);
  int rc = value(&r);
  if (rc == R_ERR) return ORACLE_DEAD;
  if (rc == R_NEED) return ORACLE_VIABLE;
  spaces(&r);
  return r.i == n ? ORACLE_COMPLETE : ORACLE_DEAD;
}

const oracle_fixture oracle_fixtures[ORACLE_N_FIXTURES] = {
    {"parentheses", "root ::= p*\np ::= \"(\" p* \")\" | \"x\"\n", "()x", check_parens},
    {"json",
     "root   ::= ws value ws\n"
     "value  ::= object | array | string | number\n"
     "object ::= \"{\" ws ( member ( ws \",\" ws member )* ws )? \"}\"\n"
     "member ::= string ws \":\" ws value\n"
     "array  ::= \"[\" ws ( value ( ws \",\" ws value )* ws )? \"]\"\n"
     "string ::= \"\\\"\" \"a\"* \"\\\"\"\n"
     "number ::= \"0\" | \"1\" [01]*\n"
     "ws     ::= \" \"*\n",
     "{}[],:\"a01 ", check_json},
};

dkg_engine *oracle_engine(const oracle_fixture *f, dkg_vocab *vocab, char *err, size_t errlen) {
  dkg_grammar *g;
  if (dkg_grammar_parse(f->gbnf, strlen(f->gbnf), &g, err, errlen)) return NULL;
  dkg_engine *e = dkg_engine_new(g, vocab, err, errlen);
  dkg_grammar_free(g);
  return e;
}

static const char *const state_name[] = {"dead", "viable", "complete"};

int oracle_step(const oracle_fixture *f, dkg_matcher *m, const char *s, size_t i, int *state,
                char *msg, size_t msglen) {
  int want = f->check(s, i + 1);
  int accepts = dkg_matcher_accepts_bytes(m, s + i, 1) != 0;
  int rc = dkg_matcher_advance_bytes(m, s + i, 1);
  *state = want;
  if (accepts != (want != ORACLE_DEAD) || (rc == 0) != (want != ORACLE_DEAD)) {
    snprintf(msg, msglen, "%s '%.*s': checker says %s, accepts_bytes %d, advance_bytes %d", f->name,
             (int)(i + 1), s, state_name[want], accepts, rc);
    return -1;
  }
  if (want != ORACLE_DEAD && (want == ORACLE_COMPLETE) != (dkg_matcher_is_complete(m) != 0)) {
    snprintf(msg, msglen, "%s '%.*s': checker says %s, is_complete %d", f->name, (int)(i + 1), s,
             state_name[want], dkg_matcher_is_complete(m));
    return -1;
  }
  return 0;
}

int oracle_whole(const oracle_fixture *f, dkg_checker *k, const char *s, size_t n, char *msg,
                 size_t msglen) {
  size_t dead_at = n; /* offset of the byte that made the text dead */
  for (size_t j = 1; j <= n && dead_at == n; j++)
    if (f->check(s, j) == ORACLE_DEAD) dead_at = j - 1;
  int want = f->check(s, n) == ORACLE_COMPLETE;
  size_t fail_at = 0;
  int got = dkg_checker_run(k, s, n, &fail_at);
  if (got != want || fail_at != dead_at) {
    snprintf(msg, msglen, "%s '%.*s': whole-text checker says %d failing at %zu, direct checker %d at %zu",
             f->name, (int)n, s, got, fail_at, want, dead_at);
    return -1;
  }
  return 0;
}
