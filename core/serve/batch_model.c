/* batch_model.c -- a host-side model component whose instances are clients of one shared model: concurrent evals become one ragged call. */
#include "batch_model.h"

#include "error.h"
#include "host.h"
#include "instance.h"
#include "loader.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One eval a run is waiting on; it lives on the run's stack. */
typedef struct eval_job {
  dk_seq seq;
  const dk_token *toks;
  size_t n;
  float *logits;
  uint32_t flags;
  dk_error *err;
  int rc, done;
  struct eval_job *next;
} eval_job;

struct dk_batch_model {
  dk_component comp; /* the real model's, with the client's ops */
  dk_library lib;    /* comp.lib: the real library's description, our own host table */
  const struct dk_model_iface *real;
  dk_instance *inst;
  dk_model_info info;
  pthread_mutex_t model_mu; /* held around every call into the shared instance */
  pthread_mutex_t q_mu;
  pthread_cond_t q_work, q_done;
  eval_job *head, *tail;
  size_t n_pending, n_clients, live_seqs;
  unsigned window_us;
  int leader; /* a run is collecting and running the pending evals */
  dk_batch_stats stats;
  dk_batch_model *next_open;
};

/* A component's create gets only the host table, so the clients' create
 * finds its model through the table it was handed. */
static pthread_mutex_t open_mu = PTHREAD_MUTEX_INITIALIZER;
static dk_batch_model *open_list;

typedef struct client {
  dk_batch_model *m;
  dk_seq *seqs; /* live sequences, freed with the client */
  size_t n_seqs, cap;
} client;

#define CL(p) ((client *)(p))

/* The ops a client passes on; the rest (abort, sharing, masked evaluation)
 * stay the host's or are refused at open. */
#define CLIENT_CAPS                                                                              \
  (DK_MODEL_CAP_BATCH | DK_MODEL_CAP_TREE | DK_MODEL_CAP_FORK | DK_MODEL_CAP_TRUNCATE |          \
   DK_MODEL_CAP_HIDDEN | DK_MODEL_CAP_RAGGED | DK_MODEL_CAP_HEAD)

static int track(client *c, dk_seq s, dk_error *err) {
  if (c->n_seqs == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 8;
    dk_seq *n = realloc(c->seqs, cap * sizeof *n);
    if (!n) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
    c->seqs = n;
    c->cap = cap;
  }
  c->seqs[c->n_seqs++] = s;
  return DK_OK;
}

static int c_create(const dk_host *host, const dk_create_info *ci, void **inst, dk_error *err) {
  (void)ci;
  dk_batch_model *m;
  pthread_mutex_lock(&open_mu);
  for (m = open_list; m && m->lib.host != (const void *)host; m = m->next_open) {
  }
  pthread_mutex_unlock(&open_mu);
  if (!m) return dk_error_set(err, DK_ERR_STATE, "shared model is not open");
  client *c = calloc(1, sizeof *c);
  if (!c) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  c->m = m;
  pthread_mutex_lock(&m->q_mu);
  m->n_clients++;
  pthread_mutex_unlock(&m->q_mu);
  *inst = c;
  return DK_OK;
}

static void c_destroy(void *p) {
  client *c = CL(p);
  dk_batch_model *m = c->m;
  pthread_mutex_lock(&m->model_mu);
  for (size_t i = 0; i < c->n_seqs; i++) m->real->seq_free(m->inst->inst, c->seqs[i]);
  m->live_seqs -= c->n_seqs;
  pthread_mutex_unlock(&m->model_mu);
  pthread_mutex_lock(&m->q_mu);
  m->n_clients--;
  pthread_cond_signal(&m->q_work); /* a leader may be waiting for this client */
  pthread_mutex_unlock(&m->q_mu);
  free(c->seqs);
  free(c);
}

static int c_info(void *p, dk_model_info *out) {
  const dk_model_info *in = &CL(p)->m->info;
  size_t n = out->struct_size < sizeof *in ? out->struct_size : sizeof *in;
  uint32_t size = out->struct_size;
  memcpy(out, in, n);
  out->struct_size = size;
  out->caps = in->caps & CLIENT_CAPS;
  return DK_OK;
}

static int c_seq_new(void *p, dk_seq *out, dk_error *err) {
  client *c = CL(p);
  dk_batch_model *m = c->m;
  pthread_mutex_lock(&m->model_mu);
  int rc = m->real->seq_new(m->inst->inst, out, err);
  if (!rc && (rc = track(c, *out, err))) m->real->seq_free(m->inst->inst, *out);
  if (!rc) m->live_seqs++;
  pthread_mutex_unlock(&m->model_mu);
  return rc;
}

static int c_fork(void *p, dk_seq src, dk_seq *out, dk_error *err) {
  client *c = CL(p);
  dk_batch_model *m = c->m;
  pthread_mutex_lock(&m->model_mu);
  int rc = m->real->fork(m->inst->inst, src, out, err);
  if (!rc && (rc = track(c, *out, err))) m->real->seq_free(m->inst->inst, *out);
  if (!rc) m->live_seqs++;
  pthread_mutex_unlock(&m->model_mu);
  return rc;
}

static void c_seq_free(void *p, dk_seq seq) {
  client *c = CL(p);
  dk_batch_model *m = c->m;
  /* Only the client's own sequences: another run's are not its to free. */
  for (size_t i = 0; i < c->n_seqs; i++) {
    if (c->seqs[i] != seq) continue;
    c->seqs[i] = c->seqs[--c->n_seqs];
    pthread_mutex_lock(&m->model_mu);
    m->real->seq_free(m->inst->inst, seq);
    m->live_seqs--;
    pthread_mutex_unlock(&m->model_mu);
    return;
  }
}

/* A client may name only its own sequences: the shared instance holds
 * every run's. */
static int owns(const client *c, dk_seq seq, dk_error *err) {
  for (size_t i = 0; i < c->n_seqs; i++)
    if (c->seqs[i] == seq) return DK_OK;
  return dk_error_set(err, DK_ERR_INVALID, "sequence %d is not one of this run's", (int)seq);
}

static size_t c_seq_len(void *p, dk_seq seq) {
  client *c = CL(p);
  if (owns(c, seq, &(dk_error){0})) return 0;
  pthread_mutex_lock(&c->m->model_mu);
  size_t n = c->m->real->seq_len(c->m->inst->inst, seq);
  pthread_mutex_unlock(&c->m->model_mu);
  return n;
}

/* ---- batching: the run that finds no leader leads ---- */

static int eval_alone(dk_batch_model *m, eval_job *j) {
  pthread_mutex_lock(&m->model_mu);
  int rc = m->real->eval(m->inst->inst, j->seq, j->toks, j->n, j->logits, j->flags, j->err);
  pthread_mutex_unlock(&m->model_mu);
  return rc;
}

/* Rows of job j in the batch's output. */
static size_t out_rows(const eval_job *j) {
  return !j->logits ? 0 : (j->flags & DK_EVAL_ALL_LOGITS) ? j->n : 1;
}

/* One ragged call for jobs [list...]; DK_OK only when every job is done. */
static int eval_merged(dk_batch_model *m, eval_job *list, size_t n_jobs, size_t total) {
  size_t n_out = 0;
  for (eval_job *j = list; j; j = j->next) n_out += out_rows(j);
  size_t nv = (size_t)m->info.n_vocab;
  dk_seq *seqs = malloc(n_jobs * sizeof *seqs);
  size_t *n_tokens = malloc(n_jobs * sizeof *n_tokens);
  dk_token *toks = malloc(total * sizeof *toks);
  uint8_t *flags = calloc(total, 1);
  float *logits = n_out ? malloc(n_out * nv * sizeof *logits) : NULL;
  int rc = DK_ERR_NOMEM;
  if (!seqs || !n_tokens || !toks || !flags || (n_out && !logits)) goto out;
  size_t k = 0, t = 0;
  for (eval_job *j = list; j; j = j->next, k++) {
    seqs[k] = j->seq;
    n_tokens[k] = j->n;
    memcpy(toks + t, j->toks, j->n * sizeof *toks);
    size_t r = out_rows(j);
    for (size_t q = 0; q < r; q++) flags[t + j->n - r + q] = 1;
    t += j->n;
  }
  dk_batch b = {.struct_size = sizeof b,
                .n_seqs = n_jobs,
                .seqs = seqs,
                .n_tokens = n_tokens,
                .tokens = toks,
                .output = flags,
                .logits = logits};
  dk_error e;
  dk_error_clear(&e);
  pthread_mutex_lock(&m->model_mu);
  rc = m->real->eval_ragged(m->inst->inst, &b, &e);
  pthread_mutex_unlock(&m->model_mu);
  if (rc) goto out;
  size_t row = 0;
  for (eval_job *j = list; j; j = j->next) {
    size_t r = out_rows(j);
    if (r) memcpy(j->logits, logits + row * nv, r * nv * sizeof *logits);
    row += r;
    j->rc = DK_OK;
  }
out:
  free(seqs);
  free(n_tokens);
  free(toks);
  free(flags);
  free(logits);
  return rc;
}

/* Runs every job; returns the number of model calls it took. */
static size_t run_jobs(dk_batch_model *m, eval_job *list, size_t n, size_t total) {
  int distinct = 1;
  for (eval_job *j = list; j; j = j->next)
    for (eval_job *k = list; k != j; k = k->next) distinct &= k->seq != j->seq;
  /* A failed ragged call leaves every sequence as it was: each eval then
   * runs alone, so a failure is its own run's and not the others'. */
  if (n > 1 && distinct && (m->info.caps & DK_MODEL_CAP_RAGGED) &&
      eval_merged(m, list, n, total) == DK_OK)
    return 1;
  for (eval_job *j = list; j; j = j->next) j->rc = eval_alone(m, j);
  return n;
}

/* Take every pending eval, after waiting up to the window for the other
 * live runs' next ones, run them, and wake their runs.  Called by the run
 * that found no leader, with q_mu held: a run evaluated alone never waits
 * on another thread. */
static void lead(dk_batch_model *m) {
  m->leader = 1;
  if (m->window_us && m->n_pending < m->n_clients) {
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_nsec += (long)m->window_us * 1000L;
    dl.tv_sec += dl.tv_nsec / 1000000000L;
    dl.tv_nsec %= 1000000000L;
    while (m->n_pending < m->n_clients)
      if (pthread_cond_timedwait(&m->q_work, &m->q_mu, &dl) == ETIMEDOUT) break;
  }
  eval_job *list = m->head;
  size_t n = m->n_pending, total = 0;
  for (eval_job *j = list; j; j = j->next) total += j->n;
  m->head = m->tail = NULL;
  m->n_pending = 0;
  pthread_mutex_unlock(&m->q_mu);
  size_t calls = run_jobs(m, list, n, total);
  pthread_mutex_lock(&m->q_mu);
  m->stats.calls += calls;
  m->stats.evals += n;
  m->stats.tokens += total;
  for (eval_job *j = list, *nx; j; j = nx) {
    nx = j->next;
    j->done = 1; /* j may be gone once the lock is released */
  }
  m->leader = 0;
  pthread_cond_broadcast(&m->q_done);
}

static int c_eval(void *p, dk_seq seq, const dk_token *toks, size_t n, float *logits,
                  uint32_t flags, dk_error *err) {
  client *c = CL(p);
  dk_batch_model *m = c->m;
  int rc = owns(c, seq, err);
  if (rc) return rc;
  if (n == 0) return dk_error_set(err, DK_ERR_INVALID, "eval: no tokens");
  eval_job j = {.seq = seq, .toks = toks, .n = n, .logits = logits, .flags = flags, .err = err};
  pthread_mutex_lock(&m->q_mu);
  if (m->tail)
    m->tail->next = &j;
  else
    m->head = &j;
  m->tail = &j;
  m->n_pending++;
  pthread_cond_signal(&m->q_work); /* a leader waiting for this one */
  while (!j.done) {
    if (!m->leader)
      lead(m);
    else
      pthread_cond_wait(&m->q_done, &m->q_mu);
  }
  pthread_mutex_unlock(&m->q_mu);
  return j.rc;
}

/* ---- ops passed on under the model lock ---- */

static int c_tokenize(void *p, const char *text, size_t len, uint32_t fl, dk_token *out,
                      size_t cap, size_t *n_out, dk_error *err) {
  dk_batch_model *m = CL(p)->m;
  pthread_mutex_lock(&m->model_mu);
  int rc = m->real->tokenize(m->inst->inst, text, len, fl, out, cap, n_out, err);
  pthread_mutex_unlock(&m->model_mu);
  return rc;
}

static const char *c_token_piece(void *p, dk_token tok, size_t *len) {
  dk_batch_model *m = CL(p)->m;
  pthread_mutex_lock(&m->model_mu);
  const char *s = m->real->token_piece(m->inst->inst, tok, len);
  pthread_mutex_unlock(&m->model_mu);
  return s;
}

static uint32_t c_token_attr(void *p, dk_token tok) {
  dk_batch_model *m = CL(p)->m;
  pthread_mutex_lock(&m->model_mu);
  uint32_t a = m->real->token_attr(m->inst->inst, tok);
  pthread_mutex_unlock(&m->model_mu);
  return a;
}

static int c_detokenize(void *p, const dk_token *toks, size_t n, char *out, size_t cap,
                        size_t *n_out, dk_error *err) {
  dk_batch_model *m = CL(p)->m;
  pthread_mutex_lock(&m->model_mu);
  int rc = m->real->detokenize(m->inst->inst, toks, n, out, cap, n_out, err);
  pthread_mutex_unlock(&m->model_mu);
  return rc;
}

static int c_eval_batch(void *p, const dk_seq *seqs, const dk_token *toks, size_t n,
                        float *logits, dk_error *err) {
  client *c = CL(p);
  for (size_t i = 0; i < n; i++)
    if (owns(c, seqs[i], err)) return DK_ERR_INVALID;
  pthread_mutex_lock(&c->m->model_mu);
  int rc = c->m->real->eval_batch(c->m->inst->inst, seqs, toks, n, logits, err);
  pthread_mutex_unlock(&c->m->model_mu);
  return rc;
}

static int c_eval_ragged(void *p, const dk_batch *b, dk_error *err) {
  client *c = CL(p);
  for (size_t i = 0; i < b->n_seqs; i++)
    if (owns(c, b->seqs[i], err)) return DK_ERR_INVALID;
  pthread_mutex_lock(&c->m->model_mu);
  int rc = c->m->real->eval_ragged(c->m->inst->inst, b, err);
  pthread_mutex_unlock(&c->m->model_mu);
  return rc;
}

static int c_eval_tree(void *p, dk_seq seq, const dk_token *toks, const int32_t *parents,
                       size_t n, float *logits, dk_error *err) {
  client *c = CL(p);
  int rc = owns(c, seq, err);
  if (rc) return rc;
  pthread_mutex_lock(&c->m->model_mu);
  rc = c->m->real->eval_tree(c->m->inst->inst, seq, toks, parents, n, logits, err);
  pthread_mutex_unlock(&c->m->model_mu);
  return rc;
}

static int c_accept_path(void *p, dk_seq seq, const int32_t *path, size_t n, dk_error *err) {
  client *c = CL(p);
  int rc = owns(c, seq, err);
  if (rc) return rc;
  pthread_mutex_lock(&c->m->model_mu);
  rc = c->m->real->accept_path(c->m->inst->inst, seq, path, n, err);
  pthread_mutex_unlock(&c->m->model_mu);
  return rc;
}

static int c_truncate(void *p, dk_seq seq, size_t n_keep, dk_error *err) {
  client *c = CL(p);
  int rc = owns(c, seq, err);
  if (rc) return rc;
  pthread_mutex_lock(&c->m->model_mu);
  rc = c->m->real->truncate(c->m->inst->inst, seq, n_keep, err);
  pthread_mutex_unlock(&c->m->model_mu);
  return rc;
}

static int c_hidden(void *p, dk_seq seq, size_t n, float *out, dk_error *err) {
  client *c = CL(p);
  int rc = owns(c, seq, err);
  if (rc) return rc;
  pthread_mutex_lock(&c->m->model_mu);
  rc = c->m->real->hidden(c->m->inst->inst, seq, n, out, err);
  pthread_mutex_unlock(&c->m->model_mu);
  return rc;
}

static int c_describe(void *p, char *out, size_t cap, size_t *n_out, dk_error *err) {
  dk_batch_model *m = CL(p)->m;
  pthread_mutex_lock(&m->model_mu);
  int rc = m->real->describe(m->inst->inst, out, cap, n_out, err);
  pthread_mutex_unlock(&m->model_mu);
  return rc;
}

/* ---- open and close ---- */

int dk_batch_model_open(const dk_pipeline *p, int threads, unsigned window_us,
                        dk_batch_model **out, dk_error *err) {
  *out = NULL;
  if (!p->resolved || !p->model || !p->model->comp)
    return dk_error_set(err, DK_ERR_STATE, "pipeline is not resolved");
  dk_batch_model *m = calloc(1, sizeof *m);
  if (!m) return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
  const dk_component *rc_comp = p->model->comp;
  m->real = &rc_comp->copy.model;
  m->window_us = window_us;
  pthread_mutex_init(&m->model_mu, NULL);
  pthread_mutex_init(&m->q_mu, NULL);
  pthread_cond_init(&m->q_work, NULL);
  pthread_cond_init(&m->q_done, NULL);
  int rc = dk_instance_create(rc_comp, &p->model->cfg, 0, 0, NULL, threads, &m->inst, err);
  if (rc) {
    dk_block_error(p, p->model, err);
    goto fail;
  }
  m->info.struct_size = sizeof m->info;
  m->info.bos = m->info.eos = m->info.eot = m->info.mask = -1;
  if ((rc = m->real->info(m->inst->inst, &m->info))) {
    dk_error_ensure(err, rc, "model info");
    goto fail;
  }
  if (m->info.attention != DK_ATTN_CAUSAL) {
    rc = dk_error_set(err, DK_ERR_UNSUPPORTED,
                      "%s: model '%s' is not autoregressive; the server batches causal models only",
                      p->file, rc_comp->hdr->name);
    goto fail;
  }
  m->lib = *rc_comp->lib;
  m->lib.comps = &m->comp;
  m->lib.n_comps = 1;
  m->lib.host = dk_host_table_new(&m->lib);
  if (!m->lib.host) {
    rc = dk_error_set(err, DK_ERR_NOMEM, "out of memory");
    goto fail;
  }
  m->comp = *rc_comp;
  m->comp.lib = &m->lib;
  m->comp.hdr = &m->comp.copy.hdr;
  struct dk_model_iface *mi = &m->comp.copy.model;
  const struct dk_model_iface *r = m->real;
  uint32_t caps = m->info.caps;
  memset((char *)mi + sizeof mi->hdr, 0, sizeof *mi - sizeof mi->hdr);
  mi->create = c_create;
  mi->destroy = c_destroy;
  mi->info = c_info;
  mi->seq_new = c_seq_new;
  mi->seq_free = c_seq_free;
  mi->seq_len = c_seq_len;
  mi->eval = c_eval;
  mi->tokenize = c_tokenize;
  mi->token_piece = c_token_piece;
  if (r->token_attr) mi->token_attr = c_token_attr;
  if (r->detokenize) mi->detokenize = c_detokenize;
  if (r->describe) mi->describe = c_describe;
  if (caps & DK_MODEL_CAP_BATCH) mi->eval_batch = c_eval_batch;
  if (caps & DK_MODEL_CAP_TREE) {
    mi->eval_tree = c_eval_tree;
    mi->accept_path = c_accept_path;
  }
  if (caps & DK_MODEL_CAP_FORK) mi->fork = c_fork;
  if (caps & DK_MODEL_CAP_TRUNCATE) mi->truncate = c_truncate;
  if (caps & DK_MODEL_CAP_HIDDEN) mi->hidden = c_hidden;
  if (caps & (DK_MODEL_CAP_RAGGED | DK_MODEL_CAP_HEAD)) mi->eval_ragged = c_eval_ragged;
  pthread_mutex_lock(&open_mu);
  m->next_open = open_list;
  open_list = m;
  pthread_mutex_unlock(&open_mu);
  *out = m;
  return DK_OK;
fail:
  dk_batch_model_close(m);
  return rc;
}

void dk_batch_model_close(dk_batch_model *m) {
  if (!m) return;
  pthread_mutex_lock(&open_mu);
  for (dk_batch_model **pp = &open_list; *pp; pp = &(*pp)->next_open)
    if (*pp == m) {
      *pp = m->next_open;
      break;
    }
  pthread_mutex_unlock(&open_mu);
  dk_instance_destroy(m->inst);
  if (m->lib.host) dk_host_table_free(m->lib.host);
  pthread_cond_destroy(&m->q_work);
  pthread_cond_destroy(&m->q_done);
  pthread_mutex_destroy(&m->q_mu);
  pthread_mutex_destroy(&m->model_mu);
  free(m);
}

void dk_batch_model_attach(dk_batch_model *m, dk_pipeline *p) { p->model->comp = &m->comp; }

void dk_batch_model_stats(dk_batch_model *m, dk_batch_stats *out) {
  pthread_mutex_lock(&m->q_mu);
  *out = m->stats;
  pthread_mutex_unlock(&m->q_mu);
}

size_t dk_batch_model_live_seqs(dk_batch_model *m) {
  pthread_mutex_lock(&m->model_mu);
  size_t n = m->live_seqs;
  pthread_mutex_unlock(&m->model_mu);
  return n;
}
