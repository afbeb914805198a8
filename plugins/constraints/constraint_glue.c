/* constraint_glue.c -- the constraint-kind vtable shared by the gbnf, json_schema, regex and choice plugins */
#include "constraint_glue.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "grammar.h"

typedef struct dkc_inst {
  const dk_host *host;
  const char *plugin;   /* static name for messages */
  dkg_matcher *m;
  const dk_vocab *vocab;
  char forced[256];
} dkc_inst;

/* Grammar and schema files are regular files of bounded size: a device such as
 * /dev/zero, or a FIFO, would otherwise be read forever. */
int dkc_read_file(const dk_host *host, const char *plugin, const char *path, char **out,
                  size_t *len, dk_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return host->set_error(err, DK_ERR_IO, "%s: cannot open '%s': %s", plugin, path,
                                 strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
    fclose(f);
    return host->set_error(err, DK_ERR_IO, "%s: '%s' is not a regular file", plugin, path);
  }
  if ((uint64_t)st.st_size > DKG_MAX_TEXT) {
    fclose(f);
    return host->set_error(err, DK_ERR_INVALID, "%s: '%s' is larger than %u bytes", plugin, path,
                           (unsigned)DKG_MAX_TEXT);
  }
  size_t cap = (size_t)st.st_size + 1;
  char *buf = malloc(cap);
  if (!buf) {
    fclose(f);
    return host->set_error(err, DK_ERR_NOMEM, "%s: out of memory reading '%s'", plugin, path);
  }
  /* one byte more than the size shows a file that grew while being read */
  size_t n = fread(buf, 1, cap, f);
  int bad = ferror(f);
  fclose(f);
  if (bad || n == cap) {
    free(buf);
    return host->set_error(err, DK_ERR_IO, "%s: cannot read '%s'%s", plugin, path,
                           bad ? "" : ": it changed while being read");
  }
  buf[n] = 0;
  if (memchr(buf, 0, n)) {
    free(buf);
    return host->set_error(err, DK_ERR_INVALID, "%s: '%s' contains a NUL byte", plugin, path);
  }
  *out = buf;
  *len = n;
  return DK_OK;
}

int dkc_create_from_gbnf(const dk_host *host, const dk_create_info *ci, const char *plugin,
                         const char *what, const char *gbnf, void **inst, dk_error *err) {
  char msg[512];
  const dk_vocab *v = ci->vocab;
  if (!v || v->n_vocab <= 0 || !v->piece || !v->piece_len)
    return host->set_error(err, DK_ERR_STATE, "%s: needs the model's vocabulary", plugin);
  dkg_grammar *g;
  if (dkg_grammar_parse(gbnf, strlen(gbnf), &g, msg, sizeof msg))
    return host->set_error(err, DK_ERR_INVALID, "%s: %s:%s", plugin, what, msg);
  uint8_t *special = malloc((size_t)v->n_vocab);
  if (!special) {
    dkg_grammar_free(g);
    return host->set_error(err, DK_ERR_NOMEM, "%s: out of memory", plugin);
  }
  dk_token end = v->eos >= 0 ? v->eos : v->eot;
  for (int32_t t = 0; t < v->n_vocab; t++)
    special[t] = v->attr ? (v->attr[t] & DK_TOKEN_CONTROL) != 0 : (t == v->bos || t == end);
  dkg_vocab *gv = dkg_vocab_new(v->piece, v->piece_len, v->n_vocab, end, special, msg, sizeof msg);
  free(special);
  if (!gv) {
    dkg_grammar_free(g);
    return host->set_error(err, DK_ERR_NOMEM, "%s: %s", plugin, msg);
  }
  dkg_engine *e = dkg_engine_new(g, gv, msg, sizeof msg);
  dkg_vocab_free(gv);   /* the engine keeps its own reference */
  dkg_grammar_free(g);
  if (!e) return host->set_error(err, DK_ERR_INVALID, "%s: %s: %s", plugin, what, msg);
  dkc_inst *s = calloc(1, sizeof *s);
  if (s) s->m = dkg_matcher_new(e);
  dkg_engine_release(e);   /* the matcher holds the engine */
  if (!s || !s->m) {
    free(s);
    return host->set_error(err, DK_ERR_NOMEM, "%s: out of memory", plugin);
  }
  s->host = host;
  s->plugin = plugin;
  s->vocab = v;
  *inst = s;
  return DK_OK;
}

void dkc_destroy(void *inst) {
  dkc_inst *s = inst;
  if (!s) return;
  dkg_matcher_free(s->m);
  free(s);
}

static int too_ambiguous(const dkc_inst *s, dk_error *err) {
  return s->host->set_error(err, DK_ERR_INVALID,
                            "%s: the grammar is too ambiguous here (a parser state would hold "
                            "more than 2^20 stacks)", s->plugin);
}

int dkc_mask(void *inst, uint32_t *words, dk_error *err) {
  dkc_inst *s = inst;
  int rc = dkg_matcher_mask(s->m, words);
  if (rc == DKG_TOO_AMBIGUOUS) return too_ambiguous(s, err);
  if (rc)
    return s->host->set_error(err, DK_ERR_NOMEM, "%s: out of memory computing a mask", s->plugin);
  return DK_OK;
}

int dkc_advance(void *inst, dk_token tok, dk_error *err) {
  dkc_inst *s = inst;
  int rc = dkg_matcher_advance(s->m, tok);
  if (rc == 0) return DK_OK;
  if (rc == DKG_TOO_AMBIGUOUS) return too_ambiguous(s, err);
  if (tok < 0 || tok >= s->vocab->n_vocab)
    return s->host->set_error(err, DK_ERR_INVALID, "%s: token %d is out of range", s->plugin,
                              (int)tok);
  if (dkg_matcher_is_finished(s->m))
    return s->host->set_error(err, DK_ERR_INVALID, "%s: token %d after the end of the text",
                              s->plugin, (int)tok);
  int n = (int)(s->vocab->piece_len[tok] > 40 ? 40 : s->vocab->piece_len[tok]);
  return s->host->set_error(err, DK_ERR_INVALID, "%s: token %d ('%.*s') is not allowed here",
                            s->plugin, (int)tok, n, s->vocab->piece[tok]);
}

int dkc_rollback(void *inst, size_t n, dk_error *err) {
  dkc_inst *s = inst;
  if (dkg_matcher_rollback(s->m, n) == 0) return DK_OK;
  return s->host->set_error(err, DK_ERR_INVALID,
                            "%s: cannot roll back %zu tokens, only %zu were advanced", s->plugin,
                            n, dkg_matcher_n_steps(s->m));
}

int dkc_fork(const void *inst, void **out, dk_error *err) {
  const dkc_inst *s = inst;
  dkc_inst *c = malloc(sizeof *c);
  if (c) {
    *c = *s;
    c->m = dkg_matcher_fork(s->m);
  }
  if (!c || !c->m) {
    free(c);
    return s->host->set_error(err, DK_ERR_NOMEM, "%s: out of memory", s->plugin);
  }
  *out = c;
  return DK_OK;
}

int dkc_is_complete(const void *inst) {
  const dkc_inst *s = inst;
  return dkg_matcher_is_complete(s->m);
}

int dkc_forced(void *inst, const char **bytes, size_t *len) {
  dkc_inst *s = inst;
  size_t n = dkg_matcher_forced(s->m, s->forced, sizeof s->forced);
  if (!n) return 0;
  *bytes = s->forced;
  *len = n;
  return 1;
}
