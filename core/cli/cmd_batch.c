/* cmd_batch.c -- `decokit batch`: OpenAI-style requests from a JSONL file, one result line each, sharded and resumable. */
#include "cli.h"
#include "pipes.h"

#include "batch/input.h"
#include "batch/output.h"
#include "batch/progress.h"
#include "serve/batch_model.h"
#include "serve/request.h"
#include "serve/response.h"
#include "serve/server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void batch_usage(FILE *f) {
  fputs("Usage: decokit batch [OPTIONS] -i IN.jsonl -o OUT.jsonl [NAME=]PIPELINE...\n"
        "\n"
        "Run every request of IN.jsonl and write one result line per request to\n"
        "OUT.jsonl, in input order.  A line is the body of an OpenAI request plus an\n"
        "\"id\": with \"messages\" a chat completion, otherwise a completion of\n"
        "\"prompt\".  A line without an id is named line-N, N its line number (from 1).\n"
        "A result is {\"line\": N, \"id\": ...} then the response's fields, or an\n"
        "\"error\" object for a line that cannot run; a bad line never stops the batch.\n"
        "Shards merge in input order with: LC_ALL=C sort -s -t: -k2,2n OUT...\n"
        "Each pipeline is a model id, named NAME or after its file (less .yaml); the\n"
        "first serves lines that name no \"model\".\n"
        "\n"
        "Options:\n"
        "  -i, --input FILE      the requests, one JSON object a line (- for stdin)\n"
        "  -o, --output FILE     the results; must be empty or absent unless --resume\n"
        "  --shard I/N           only lines N' with (N' - 1) mod N = I, I from 0 to N-1\n"
        "  --resume              skip the requests whose ids OUT already holds, cut a\n"
        "                        partial last line left by a killed run, and append\n"
        "  --progress-interval S seconds between progress lines when standard error\n"
        "                        is not a terminal (default 10; 0: after every request)\n"
        "  -j, --parallel N      run N requests at once, their model calls batched\n"
        "                        together (default 1; see decokit-batch(1))\n"
        "  -q, --quiet           no progress report\n"
        "  -t, --threads N       model threads (default: the pipeline's generate.threads)\n"
        "  --plugin-path DIRS    search these folders for plugins first\n"
        "  -h, --help            show this help\n"
        "\n"
        "Exit status: 0 when every request has a result, 1 when some have an error\n"
        "instead (all were tried) or OUT cannot be written, 2 usage, 3 a pipeline is\n"
        "invalid, 130 or 143 stopped by SIGINT or SIGTERM (--resume continues).\n",
        f);
}

/* Lock-free, so the handler may store it; every worker reads it. */
static atomic_int stop_signal;

static void on_signal(int sig) { atomic_store(&stop_signal, sig); }

/* Set when the batch must stop for another reason (the output failed). */
typedef struct batch batch;
static int batch_abort(void *user);

/* NAME=FILE, or FILE named after its base name less .yaml or .yml. */
struct batch {
  dk_serve_pipe *pipes;
  size_t n_pipes;
  unsigned char *chat_known; /* the pipe's chat format was looked up */
  pthread_mutex_t mu;         /* pipelines, registries and the progress */
  dk_batch_progress prog;
  atomic_int halt;            /* stop for another reason than a signal */
};

static int batch_abort(void *user) {
  batch *b = user;
  return atomic_load(&stop_signal) != 0 || atomic_load(&b->halt) != 0;
}

static json_t *error_result(const dk_batch_line *l, const char *msg, const char *type,
                            const char *param, const char *code) {
  json_t *e = dk_resp_error(msg, type, param, code);
  json_t *r = json_pack("{s:I,s:s,s:O}", "line", (json_int_t)l->lineno, "id", l->id, "error",
                        json_object_get(e, "error"));
  json_decref(e);
  return r;
}

static void on_token(void *user, size_t completion, const dk_token_record *r) {
  batch *b = user;
  (void)completion;
  (void)r;
  pthread_mutex_lock(&b->mu);
  dk_batch_progress_token(&b->prog);
  pthread_mutex_unlock(&b->mu);
}

/* The result of one line; NULL when out of memory or stopped by a signal
 * (then nothing is written: --resume runs the line again). */
static json_t *run_line(batch *b, const dk_batch_line *l, size_t *tokens) {
  *tokens = 0;
  if (!l->body) return error_result(l, l->error, "invalid_request_error", l->param, NULL);
  /* Which endpoint the line is for: a body with messages is a chat. */
  dk_req_kind kind = json_object_get(l->body, "messages") ? DK_REQ_CHAT : DK_REQ_COMPLETION;
  char *text = json_dumps(l->body, JSON_COMPACT);
  if (!text) return NULL;
  dk_req req;
  dk_req_error e;
  int rc = dk_req_parse(text, strlen(text), kind, &req, &e);
  free(text);
  if (rc) {
    dk_req_free(&req);
    char msg[sizeof e.message + 32];
    snprintf(msg, sizeof msg, "line %zu: %s", l->lineno, e.message);
    return error_result(l, msg, "invalid_request_error", e.param, NULL);
  }
  json_t *out = NULL;
  dk_pipeline *p = NULL;
  dk_run *run = NULL;
  dk_result *res = NULL;
  char *prompt = NULL;
  const char *name = req.pipeline ? req.pipeline : req.model;
  dk_serve_pipe *sp = NULL;
  for (size_t i = 0; i < b->n_pipes && !sp; i++)
    if (!name || strcmp(b->pipes[i].name, name) == 0) sp = &b->pipes[i];
  if (!sp) {
    char msg[256];
    snprintf(msg, sizeof msg, "line %zu: no model or pipeline named '%.100s'", l->lineno, name);
    out = error_result(l, msg, "invalid_request_error", req.pipeline ? "decokit" : "model",
                       "model_not_found");
    goto done;
  }
  size_t at = (size_t)(sp - b->pipes);
  /* Resolving reads the shared registry: one request at a time. */
  pthread_mutex_lock(&b->mu);
  if (kind == DK_REQ_CHAT && !b->chat_known[at]) {
    int fmt = 0;
    sp->chat = dk_cli_chat_format(sp->p, NULL, &fmt) == DK_EXIT_OK ? (dk_chat_format)fmt : DK_CHAT_UNKNOWN;
    b->chat_known[at] = 1;
  }
  rc = dk_req_pipeline(&req, sp->file, sp->p, sp->reg, sp->default_model, &p, &e);
  if (!rc) {
    dk_batch_model_attach(sp->bm, p); /* the model stays loaded from line to line */
    rc = dk_req_prompt(&req, p, sp->chat, &prompt, &e);
  }
  pthread_mutex_unlock(&b->mu);
  if (rc) {
    char msg[sizeof e.message + 32];
    snprintf(msg, sizeof msg, "line %zu: %s", l->lineno, e.message);
    out = error_result(l, msg, "invalid_request_error", e.param, NULL);
    goto done;
  }
  dk_run_opts opts = {.prompt = prompt,
                      .record_logprobs = req.logprobs,
                      .logprobs = req.logprobs ? req.top_logprobs : 0,
                      .should_abort = batch_abort,
                      .parse_special = kind == DK_REQ_CHAT,
                      .on_token = on_token,
                      .user = b};
  dk_error err;
  dk_error_clear(&err);
  char msg[sizeof err.msg + 32];
  if ((rc = dk_run_new(p, &opts, &run, &err))) {
    snprintf(msg, sizeof msg, "line %zu: %s", l->lineno, err.msg);
    out = error_result(l, msg, rc == DK_ERR_NOMEM ? "server_error" : "invalid_request_error",
                       "decokit", NULL);
    goto done;
  }
  rc = dk_run_generate(run, &res, &err);
  if (batch_abort(b)) goto done;
  for (size_t i = 0; res && i < res->n; i++) *tokens += res->c[i].n_tokens;
  if (rc) {
    snprintf(msg, sizeof msg, "line %zu: %s", l->lineno, err.msg);
    out = error_result(l, msg, "server_error", NULL, NULL);
    goto done;
  }
  dk_resp_meta meta = {.model = sp->name};
  json_t *resp = dk_resp_result(&req, res, dk_run_vocab(run), &meta, 0);
  /* The input line first, so that shards merge with a numeric sort; the
   * request's id names the response; no creation time, so that a rerun or
   * a sharded run writes the same bytes. */
  out = json_pack("{s:I,s:s}", "line", (json_int_t)l->lineno, "id", l->id);
  if (!resp || !out || json_object_del(resp, "id") || json_object_del(resp, "created") ||
      json_object_update(out, resp)) {
    json_decref(out);
    out = NULL;
  }
  json_decref(resp);
done:
  dk_result_free(res);
  dk_run_free(run);
  dk_pipeline_free(p);
  free(prompt);
  dk_req_free(&req);
  return out;
}

/* "I/N" with 0 <= I < N. */
static int parse_shard(const char *v, size_t *i, size_t *n) {
  char *end;
  errno = 0;
  unsigned long long a = strtoull(v, &end, 10);
  if (end == v || *end != '/' || errno || v[0] == '-') return -1;
  const char *s = end + 1;
  unsigned long long b = strtoull(s, &end, 10);
  if (end == s || *end || errno || s[0] == '-' || b == 0 || a >= b || b > 1000000) return -1;
  *i = (size_t)a;
  *n = (size_t)b;
  return 0;
}

static int load_pipes(batch *b, const char **files, size_t n, const char *plugin_path, long long threads,
                      unsigned window_us) {
  int st = dk_cli_open_pipes("batch", files, n, plugin_path, threads, window_us, &b->pipes, &b->n_pipes);
  if (!st && !(b->chat_known = calloc(n, 1))) st = DK_EXIT_RUNTIME;
  return st;
}

static void free_pipes(batch *b) {
  dk_cli_close_pipes(b->pipes, b->n_pipes);
  free(b->chat_known);
}

static char *read_input(const char *path, size_t *len) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f) {
    dk_cli_error("batch: cannot open %s: %s", path, strerror(errno));
    return NULL;
  }
  char *text = dk_cli_slurp(f);
  if (f != stdin) fclose(f);
  if (!text) dk_cli_error("batch: cannot read %s", path);
  else *len = strlen(text);
  return text;
}

/* Workers take the lines in order and run them side by side; the writer
 * (the main thread) writes their results in input order.  Workers run at
 * most AHEAD lines past the first unwritten one, so results in waiting
 * stay few. */
typedef struct pool {
  batch *b;
  const dk_batch_input *in;
  const unsigned char *skip;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  size_t next, low, ahead, busy;
  json_t **res;
  size_t *tokens;
  unsigned char *ready;
} pool;

static void *worker(void *arg) {
  pool *q = arg;
  pthread_mutex_lock(&q->mu);
  for (;;) {
    while (q->next < q->in->n && q->skip[q->next]) q->next++;
    if (q->next >= q->in->n || batch_abort(q->b)) break;
    if (q->next - q->low >= q->ahead) {
      pthread_cond_wait(&q->cv, &q->mu);
      continue;
    }
    size_t i = q->next++;
    q->busy++;
    pthread_mutex_unlock(&q->mu);
    size_t tokens;
    json_t *r = run_line(q->b, &q->in->lines[i], &tokens);
    pthread_mutex_lock(&q->mu);
    q->res[i] = r;
    q->tokens[i] = tokens;
    q->ready[i] = 1;
    q->busy--;
    pthread_cond_broadcast(&q->cv);
  }
  pthread_cond_broadcast(&q->cv);
  pthread_mutex_unlock(&q->mu);
  return NULL;
}

/* Write the results in input order as they come; the exit status. */
static int write_all(pool *q, dk_batch_output *out, const char *out_path) {
  batch *b = q->b;
  size_t errors = 0;
  int status = DK_EXIT_OK;
  for (size_t i = 0; i < q->in->n && !status; i++) {
    if (q->skip[i]) continue;
    pthread_mutex_lock(&q->mu);
    q->low = i;
    pthread_cond_broadcast(&q->cv);
    /* After a signal the lines not yet taken never come. */
    while (!q->ready[i] && !(atomic_load(&stop_signal) && q->next <= i)) {
      struct timespec dl;
      clock_gettime(CLOCK_REALTIME, &dl);
      dl.tv_nsec += 100000000L;
      dl.tv_sec += dl.tv_nsec / 1000000000L;
      dl.tv_nsec %= 1000000000L;
      pthread_cond_timedwait(&q->cv, &q->mu, &dl);
    }
    json_t *r = q->res[i];
    q->res[i] = NULL;
    int got = q->ready[i];
    pthread_mutex_unlock(&q->mu);
    if (atomic_load(&stop_signal)) {
      json_decref(r);
      break;
    }
    if (!got || !r) {
      dk_cli_error("batch: out of memory at line %zu", q->in->lines[i].lineno);
      status = DK_EXIT_RUNTIME;
      break;
    }
    int is_error = json_object_get(r, "error") != NULL;
    int wrc = dk_batch_output_write(out, r);
    json_decref(r);
    if (wrc) {
      dk_cli_error("batch: cannot write %s: %s", out_path, strerror(errno));
      status = DK_EXIT_RUNTIME;
      break;
    }
    errors += (size_t)is_error;
    pthread_mutex_lock(&b->mu);
    dk_batch_progress_line(&b->prog, q->tokens[i], is_error);
    pthread_mutex_unlock(&b->mu);
  }
  if (status) return status;
  if (atomic_load(&stop_signal)) return 128 + atomic_load(&stop_signal);
  return errors ? DK_EXIT_RUNTIME : DK_EXIT_OK;
}

/* Run the shard's lines with n_workers at once; returns the exit status. */
static int run_all(batch *b, const dk_batch_input *in, const unsigned char *skip, size_t n_workers,
                   dk_batch_output *out, const char *out_path) {
  pool q = {.b = b, .in = in, .skip = skip, .ahead = 4 * n_workers};
  q.res = calloc(in->n + 1, sizeof *q.res);
  q.tokens = calloc(in->n + 1, sizeof *q.tokens);
  q.ready = calloc(in->n + 1, 1);
  pthread_t *th = calloc(n_workers, sizeof *th);
  int status = DK_EXIT_RUNTIME;
  size_t started = 0;
  pthread_mutex_init(&q.mu, NULL);
  pthread_cond_init(&q.cv, NULL);
  if (q.res && q.tokens && q.ready && th) {
    while (started < n_workers && !pthread_create(&th[started], NULL, worker, &q)) started++;
    if (started)
      status = write_all(&q, out, out_path);
    else
      dk_cli_error("batch: cannot start a thread");
  }
  if (status == DK_EXIT_RUNTIME) {
    /* All is written when the status is 1 for error results; otherwise
     * the workers stop. */
    atomic_store(&b->halt, 1);
    pthread_mutex_lock(&q.mu);
    pthread_cond_broadcast(&q.cv);
    pthread_mutex_unlock(&q.mu);
  }
  for (size_t k = 0; k < started; k++) pthread_join(th[k], NULL);
  dk_batch_progress_end(&b->prog, atomic_load(&stop_signal) != 0);
  for (size_t i = 0; q.res && i < in->n; i++) json_decref(q.res[i]);
  pthread_cond_destroy(&q.cv);
  pthread_mutex_destroy(&q.mu);
  free(q.res);
  free(q.tokens);
  free(q.ready);
  free(th);
  return status;
}

int dk_cmd_batch(int argc, char **argv) {
  const char *in_path = NULL, *out_path = NULL, *plugin_path = NULL;
  size_t shard = 0, n_shards = 1;
  int resume = 0, quiet = 0;
  long long threads = 0, parallel = 1;
  double interval = 10;
  const char **files = calloc((size_t)argc, sizeof *files);
  size_t n_files = 0;
  if (!files) return DK_EXIT_RUNTIME;
  int status = DK_EXIT_OK;
  for (int i = 1; i < argc && !status; i++) {
    const char *a = argv[i], *v;
    char *end;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      batch_usage(stdout);
      free(files);
      return DK_EXIT_OK;
    } else if ((v = dk_cli_value("--input", argc, argv, &i)) || (v = dk_cli_value("-i", argc, argv, &i))) {
      if (!dk_cli_nonempty("--input", v)) status = DK_EXIT_USAGE;
      in_path = v;
    } else if ((v = dk_cli_value("--output", argc, argv, &i)) || (v = dk_cli_value("-o", argc, argv, &i))) {
      if (!dk_cli_nonempty("--output", v)) status = DK_EXIT_USAGE;
      out_path = v;
    } else if ((v = dk_cli_value("--plugin-path", argc, argv, &i))) {
      if (!dk_cli_nonempty("--plugin-path", v)) status = DK_EXIT_USAGE;
      plugin_path = v;
    } else if ((v = dk_cli_value("--shard", argc, argv, &i))) {
      if (parse_shard(v, &shard, &n_shards)) {
        dk_cli_error("option --shard: expected I/N with 0 <= I < N, got '%s'", v);
        status = DK_EXIT_USAGE;
      }
    } else if ((v = dk_cli_value("--progress-interval", argc, argv, &i))) {
      errno = 0;
      interval = strtod(v, &end);
      if (!*v || *end || errno || !(interval >= 0 && interval <= 86400)) {
        dk_cli_error("option --progress-interval: expected seconds from 0 to 86400, got '%s'", v);
        status = DK_EXIT_USAGE;
      }
    } else if ((v = dk_cli_value("--threads", argc, argv, &i)) || (v = dk_cli_value("-t", argc, argv, &i))) {
      errno = 0;
      threads = strtoll(v, &end, 10);
      if (!*v || *end || errno || threads < 0 || threads > 256) {
        dk_cli_error("option --threads: expected a whole number from 0 to 256, got '%s'", v);
        status = DK_EXIT_USAGE;
      }
    } else if ((v = dk_cli_value("--parallel", argc, argv, &i)) || (v = dk_cli_value("-j", argc, argv, &i))) {
      errno = 0;
      parallel = strtoll(v, &end, 10);
      if (!*v || *end || errno || parallel < 1 || parallel > 256) {
        dk_cli_error("option --parallel: expected a whole number from 1 to 256, got '%s'", v);
        status = DK_EXIT_USAGE;
      }
    } else if (!strcmp(a, "--resume")) {
      resume = 1;
    } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
      quiet = 1;
    } else if (a[0] == '-' && a[1]) {
      dk_cli_error("batch: unknown option '%s' (try decokit batch --help)", a);
      status = DK_EXIT_USAGE;
    } else {
      files[n_files++] = a;
    }
  }
  if (!status && (!n_files || !in_path || !out_path)) {
    dk_cli_error("batch: give -i IN.jsonl, -o OUT.jsonl and at least one pipeline (try decokit batch --help)");
    status = DK_EXIT_USAGE;
  }
  if (status) {
    free(files);
    return status;
  }
  batch b = {0};
  pthread_mutex_init(&b.mu, NULL);
  dk_batch_input in = {0};
  dk_batch_output out = {.fd = -1};
  size_t len = 0;
  char *text = read_input(in_path, &len);
  if (!text) status = DK_EXIT_RUNTIME;
  if (!status && dk_batch_input_read(text, len, shard, n_shards, &in)) {
    dk_cli_error("batch: out of memory reading %s", in_path);
    status = DK_EXIT_RUNTIME;
  }
  free(text);
  char err[1024];
  if (!status && dk_batch_output_open(out_path, resume, &out, err, sizeof err)) {
    dk_cli_error("batch: %s", err);
    status = DK_EXIT_RUNTIME;
  }
  if (!status && out.dropped)
    fprintf(stderr, "decokit: batch: %s: removed a partial last line (%zu bytes) of an interrupted run\n",
            out_path, out.dropped);
  /* Requests side by side share each model call: the batcher waits up to
   * 2 ms for the others' next evaluations, as decokit serve's does. */
  if (!status) status = load_pipes(&b, files, n_files, plugin_path, threads, parallel > 1 ? 2000 : 0);
  free(files);
  if (!status) {
    /* Decided before the first line runs, so that the progress knows. */
    unsigned char *skip = calloc(in.n + 1, 1);
    size_t skipped = 0;
    for (size_t i = 0; skip && i < in.n; i++) skipped += skip[i] = (unsigned char)dk_batch_output_take(&out, in.lines[i].id);
    if (!skip) status = DK_EXIT_RUNTIME;
    dk_batch_progress_start(&b.prog, stderr, isatty(STDERR_FILENO), quiet || !skip, interval, in.n, skipped);
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = (int)SA_RESETHAND}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    stop_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    if (skip) status = run_all(&b, &in, skip, (size_t)parallel, &out, out_path);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    free(skip);
  }
  if (out.fd >= 0 && dk_batch_output_close(&out) && !status) {
    dk_cli_error("batch: cannot write %s: %s", out_path, strerror(errno));
    status = DK_EXIT_RUNTIME;
  }
  free_pipes(&b);
  pthread_mutex_destroy(&b.mu);
  dk_batch_input_free(&in);
  return status;
}
