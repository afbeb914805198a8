/* server.c -- libmicrohttpd front end: routes, body limits, session slots and queue, streaming, cancellation. */
#include "server.h"

#include "error.h"
#include "metrics.h"
#include "params.h"
#include "request.h"
#include "response.h"
#include "session.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct dk_server {
  dk_serve_pipe *pipes;
  size_t n_pipes;
  dk_serve_opts o;
  struct MHD_Daemon *d;
  int port;
  long long started;
  pthread_mutex_t mu; /* slots and queue */
  pthread_cond_t slot_free;
  size_t active, waiting;
  pthread_mutex_t reg_mu; /* registries and pipeline resolution */
  atomic_int stopping;
  atomic_ullong next_id;
  dk_metrics metrics;
};

/* What a connection has sent so far. */
typedef struct conn {
  char *body;
  size_t len, cap;
  int too_big;
} conn;

/* One generation, from its slot to its response. */
typedef struct job {
  dk_server *srv;
  dk_req req;
  dk_serve_pipe *pipe;
  dk_pipeline *p;
  dk_run *run;
  dk_result *res;
  char *prompt;
  dk_resp_meta meta;
  double t0, deadline;
  int fd; /* the client's socket, watched for a hang-up */
  atomic_int cancel, timed_out;
  int has_slot;
  /* streaming: SSE bytes from the generating thread to the connection's */
  pthread_t th;
  int has_thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char *out;
  size_t out_len, out_cap, out_pos;
  int finished, role_sent;
  size_t n_gen;
} job;

/* ---- responses ---- */

static enum MHD_Result send_body(struct MHD_Connection *c, dk_server *s, int status,
                                 const char *type, char *body, size_t len, int retry_after) {
  struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
  if (!r) {
    free(body);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type", type);
  if (retry_after) MHD_add_response_header(r, "Retry-After", "1");
  enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
  MHD_destroy_response(r);
  dk_metrics_status(&s->metrics, status);
  return ok;
}

static enum MHD_Result send_json(struct MHD_Connection *c, dk_server *s, int status, json_t *j,
                                 int retry_after) {
  char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (!t) {
    static const char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}";
    t = dk_strdup(oom);
    status = 500;
    if (!t) return MHD_NO;
  }
  return send_body(c, s, status, "application/json", t, strlen(t), retry_after);
}

static enum MHD_Result send_error(struct MHD_Connection *c, dk_server *s, int status,
                                  const char *msg, const char *param, const char *code) {
  const char *type = status == 500 ? "server_error" : status == 503 ? "overloaded_error"
                                                                    : "invalid_request_error";
  return send_json(c, s, status, dk_resp_error(msg, type, param, code), status == 503);
}

/* ---- slots ---- */

/* 1 when the peer has closed its end (a read would see end of file). */
static int hung_up(int fd) {
  if (fd < 0) return 0;
  struct pollfd pf = {.fd = fd, .events = POLLIN | POLLRDHUP};
  if (poll(&pf, 1, 0) <= 0) return 0;
  if (pf.revents & (POLLRDHUP | POLLHUP | POLLERR)) return 1;
  char b;
  return recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* 0 with a slot taken; -1 when the queue is full, the server stops or the
 * client left while waiting. */
static int take_slot(dk_server *s, int fd) {
  pthread_mutex_lock(&s->mu);
  if (s->active >= s->o.max_sessions) {
    if (s->waiting >= s->o.queue) {
      pthread_mutex_unlock(&s->mu);
      return -1;
    }
    s->waiting++;
    while (s->active >= s->o.max_sessions && !atomic_load(&s->stopping) && !hung_up(fd)) {
      struct timespec dl;
      clock_gettime(CLOCK_REALTIME, &dl);
      dl.tv_nsec += 100000000L;
      dl.tv_sec += dl.tv_nsec / 1000000000L;
      dl.tv_nsec %= 1000000000L;
      pthread_cond_timedwait(&s->slot_free, &s->mu, &dl);
    }
    s->waiting--;
    if (s->active >= s->o.max_sessions) {
      pthread_mutex_unlock(&s->mu);
      return -1;
    }
  }
  s->active++;
  pthread_mutex_unlock(&s->mu);
  return 0;
}

static void give_slot(dk_server *s) {
  pthread_mutex_lock(&s->mu);
  s->active--;
  pthread_cond_signal(&s->slot_free);
  pthread_mutex_unlock(&s->mu);
}

/* ---- jobs ---- */

static int job_abort(void *user) {
  job *j = user;
  if (atomic_load(&j->cancel) || atomic_load(&j->srv->stopping)) return 1;
  if (dk_now() > j->deadline) {
    atomic_store(&j->timed_out, 1);
    return 1;
  }
  if (hung_up(j->fd)) {
    atomic_store(&j->cancel, 1);
    return 1;
  }
  return 0;
}

static void job_free(job *j) {
  if (!j) return;
  if (j->res) {
    size_t gen = 0;
    for (size_t i = 0; i < j->res->n; i++) gen += j->res->c[i].n_tokens;
    dk_metrics_generation(&j->srv->metrics, dk_now() - j->t0, j->res->n_prompt, gen);
  }
  dk_result_free(j->res);
  dk_run_free(j->run); /* its sequences leave the shared model here */
  dk_pipeline_free(j->p);
  free(j->prompt);
  dk_req_free(&j->req);
  if (j->has_slot) give_slot(j->srv);
  free(j->out);
  pthread_mutex_destroy(&j->mu);
  pthread_cond_destroy(&j->cv);
  free(j);
}

static void sse_push(job *j, json_t *chunk) {
  char *t = chunk ? json_dumps(chunk, JSON_COMPACT) : NULL;
  json_decref(chunk);
  pthread_mutex_lock(&j->mu);
  if (t) {
    dk_buf_append(&j->out, &j->out_len, &j->out_cap, "data: ", 6);
    dk_buf_append(&j->out, &j->out_len, &j->out_cap, t, strlen(t));
    dk_buf_append(&j->out, &j->out_len, &j->out_cap, "\n\n", 2);
  }
  pthread_cond_signal(&j->cv);
  pthread_mutex_unlock(&j->mu);
  free(t);
}

static void on_stream_text(void *user, size_t completion, const char *bytes, size_t len) {
  job *j = user;
  (void)completion;
  int role = j->req.kind == DK_REQ_CHAT && !j->role_sent;
  j->role_sent = 1;
  sse_push(j, dk_resp_chunk(&j->req, &j->meta, bytes, len, NULL, role));
}

static void *stream_main(void *arg) {
  job *j = arg;
  dk_error err;
  dk_error_clear(&err);
  int rc = dk_run_generate(j->run, &j->res, &err);
  size_t gen = 0;
  for (size_t i = 0; j->res && i < j->res->n; i++) gen += j->res->c[i].n_tokens;
  if (rc) {
    sse_push(j, dk_resp_error(err.msg, "server_error", NULL, NULL));
  } else {
    const char *stop = j->res && j->res->n ? j->res->c[0].stop_reason : NULL;
    int role = j->req.kind == DK_REQ_CHAT && !j->role_sent;
    sse_push(j, dk_resp_chunk(&j->req, &j->meta, "", 0, dk_resp_finish(stop, atomic_load(&j->timed_out)), role));
    if (j->req.include_usage)
      sse_push(j, dk_resp_usage_chunk(&j->req, &j->meta, j->res ? j->res->n_prompt : 0, gen));
  }
  pthread_mutex_lock(&j->mu);
  dk_buf_append(&j->out, &j->out_len, &j->out_cap, "data: [DONE]\n\n", 14);
  j->finished = 1;
  pthread_cond_signal(&j->cv);
  pthread_mutex_unlock(&j->mu);
  return NULL;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
  job *j = cls;
  (void)pos;
  pthread_mutex_lock(&j->mu);
  while (j->out_pos == j->out_len && !j->finished) pthread_cond_wait(&j->cv, &j->mu);
  ssize_t n;
  if (j->out_cap == DK_BUF_FAILED) {
    n = MHD_CONTENT_READER_END_WITH_ERROR;
  } else if (j->out_pos == j->out_len) {
    n = MHD_CONTENT_READER_END_OF_STREAM;
  } else {
    size_t k = j->out_len - j->out_pos < max ? j->out_len - j->out_pos : max;
    memcpy(buf, j->out + j->out_pos, k);
    j->out_pos += k;
    if (j->out_pos == j->out_len) j->out_pos = j->out_len = 0;
    n = (ssize_t)k;
  }
  pthread_mutex_unlock(&j->mu);
  return n;
}

/* The response is done or the client is gone: stop the run and free it. */
static void stream_free(void *cls) {
  job *j = cls;
  atomic_store(&j->cancel, 1);
  if (j->has_thread) pthread_join(j->th, NULL);
  job_free(j);
}

static dk_serve_pipe *find_pipe(dk_server *s, const char *name) {
  if (!name) return &s->pipes[0];
  for (size_t i = 0; i < s->n_pipes; i++)
    if (strcmp(s->pipes[i].name, name) == 0) return &s->pipes[i];
  return NULL;
}

static int conn_fd(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  return ci ? ci->connect_fd : -1;
}

static enum MHD_Result generate(struct MHD_Connection *c, dk_server *s, conn *cs, dk_req_kind kind) {
  char msg[256];
  if (cs->too_big) {
    snprintf(msg, sizeof msg, "the request body is larger than %zu bytes", s->o.max_body);
    return send_error(c, s, 413, msg, NULL, "request_too_large");
  }
  job *j = calloc(1, sizeof *j);
  if (!j) return send_error(c, s, 500, "out of memory", NULL, NULL);
  j->srv = s;
  j->fd = conn_fd(c);
  pthread_mutex_init(&j->mu, NULL);
  pthread_cond_init(&j->cv, NULL);
  dk_req_error e;
  enum MHD_Result ok;
  if (dk_req_parse(cs->body ? cs->body : "", cs->len, kind, &j->req, &e)) {
    ok = send_error(c, s, 400, e.message, e.param, NULL);
    goto done;
  }
  const char *name = j->req.pipeline ? j->req.pipeline : j->req.model;
  if (!(j->pipe = find_pipe(s, name))) {
    snprintf(msg, sizeof msg, "no model or pipeline named '%.100s' (GET /v1/models lists them)", name);
    ok = send_error(c, s, 404, msg, j->req.pipeline ? "decokit" : "model", "model_not_found");
    goto done;
  }
  if (j->req.has_max_tokens && j->req.max_tokens > s->o.max_tokens) {
    snprintf(msg, sizeof msg, "'max_tokens' is above this server's limit of %lld", s->o.max_tokens);
    ok = send_error(c, s, 400, msg, "max_tokens", NULL);
    goto done;
  }
  if (take_slot(s, j->fd)) {
    ok = send_error(c, s, 503, "the server is at its limit of running and queued requests; retry later",
                    NULL, NULL);
    goto done;
  }
  j->has_slot = 1;
  j->t0 = dk_now();
  j->deadline = j->t0 + s->o.timeout;
  pthread_mutex_lock(&s->reg_mu);
  int rc = dk_req_pipeline(&j->req, j->pipe->file, j->pipe->p, j->pipe->reg, j->pipe->default_model, &j->p, &e);
  if (!rc && dk_gen_int(j->p, "max_tokens") > s->o.max_tokens) {
    dk_error err;
    char v[32];
    snprintf(v, sizeof v, "%lld", s->o.max_tokens);
    dk_config_set(&j->p->generate.cfg, "max_tokens", v, &err);
  }
  if (!rc) dk_batch_model_attach(j->pipe->bm, j->p);
  pthread_mutex_unlock(&s->reg_mu);
  if (!rc && j->req.stream && dk_gen_int(j->p, "n") > 1) {
    snprintf(e.message, sizeof e.message, "streaming makes one completion; the pipeline asks for %lld",
             (long long)dk_gen_int(j->p, "n"));
    snprintf(e.param, sizeof e.param, "n");
    rc = -1;
  }
  if (rc || dk_req_prompt(&j->req, j->p, j->pipe->chat, &j->prompt, &e)) {
    ok = send_error(c, s, 400, e.message, e.param, NULL);
    goto done;
  }
  unsigned long long id = atomic_fetch_add(&s->next_id, 1);
  snprintf(j->meta.id, sizeof j->meta.id, "%s-%llx%llx", kind == DK_REQ_CHAT ? "chatcmpl" : "cmpl",
           (unsigned long long)s->started, id);
  j->meta.created = (long long)time(NULL);
  j->meta.model = j->pipe->name;
  dk_run_opts opts = {.prompt = j->prompt,
                      .record_logprobs = j->req.logprobs,
                      .logprobs = j->req.logprobs ? j->req.top_logprobs : 0,
                      .should_abort = job_abort,
                      .user = j,
                      .parse_special = kind == DK_REQ_CHAT,
                      .on_text = j->req.stream ? on_stream_text : NULL};
  dk_error err;
  dk_error_clear(&err);
  if ((rc = dk_run_new(j->p, &opts, &j->run, &err))) {
    ok = send_error(c, s, rc == DK_ERR_NOMEM ? 500 : 400, err.msg, "decokit", NULL);
    goto done;
  }
  if (j->req.stream) {
    if (pthread_create(&j->th, NULL, stream_main, j)) {
      ok = send_error(c, s, 500, "cannot start a thread", NULL, NULL);
      goto done;
    }
    j->has_thread = 1;
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, j, stream_free);
    if (!r) {
      stream_free(j);
      return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    ok = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    dk_metrics_status(&s->metrics, 200);
    return ok;
  }
  rc = dk_run_generate(j->run, &j->res, &err);
  if (rc) {
    ok = send_error(c, s, 500, err.msg, NULL, NULL);
  } else {
    json_t *body = dk_resp_result(&j->req, j->res, dk_run_vocab(j->run), &j->meta,
                                  atomic_load(&j->timed_out));
    ok = send_json(c, s, 200, body, 0);
  }
done:
  job_free(j);
  return ok;
}

static enum MHD_Result send_models(struct MHD_Connection *c, dk_server *s) {
  json_t *data = json_array();
  for (size_t i = 0; i < s->n_pipes; i++)
    json_array_append_new(data, json_pack("{s:s,s:s,s:I,s:s}", "id", s->pipes[i].name, "object",
                                          "model", "created", (json_int_t)s->started, "owned_by", "decokit"));
  return send_json(c, s, 200, json_pack("{s:s,s:o}", "object", "list", "data", data), 0);
}

static enum MHD_Result send_metrics(struct MHD_Connection *c, dk_server *s) {
  dk_batch_stats sum = {0};
  size_t seqs = 0;
  for (size_t i = 0; i < s->n_pipes; i++) {
    dk_batch_stats b;
    dk_batch_model_stats(s->pipes[i].bm, &b);
    sum.calls += b.calls;
    sum.evals += b.evals;
    sum.tokens += b.tokens;
    seqs += dk_batch_model_live_seqs(s->pipes[i].bm);
  }
  pthread_mutex_lock(&s->mu);
  size_t active = s->active, waiting = s->waiting;
  pthread_mutex_unlock(&s->mu);
  char *t = dk_metrics_text(&s->metrics, active, waiting, s->o.max_sessions, &sum, seqs);
  if (!t) return send_error(c, s, 500, "out of memory", NULL, NULL);
  return send_body(c, s, 200, "text/plain; version=0.0.4", t, strlen(t), 0);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
  dk_server *s = cls;
  (void)version;
  conn *cs = *con_cls;
  if (!cs) {
    if (!(cs = calloc(1, sizeof *cs))) return MHD_NO;
    *con_cls = cs;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > s->o.max_body) cs->too_big = 1;
    return MHD_YES;
  }
  if (*upload_size) {
    /* Past the limit the rest is read and dropped, then refused whole. */
    if (!cs->too_big && cs->len + *upload_size > s->o.max_body) cs->too_big = 1;
    if (!cs->too_big && dk_buf_append(&cs->body, &cs->len, &cs->cap, upload, *upload_size))
      return MHD_NO;
    if (cs->too_big) {
      free(cs->body);
      cs->body = NULL;
      cs->len = cs->cap = 0;
    }
    *upload_size = 0;
    return MHD_YES;
  }
  int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
  int is_gen = !strcmp(url, "/v1/completions") || !strcmp(url, "/v1/chat/completions");
  int is_get = !strcmp(url, "/health") || !strcmp(url, "/metrics") || !strcmp(url, "/v1/models");
  if ((is_gen && !post) || (is_get && !get))
    return send_error(c, s, 405, is_gen ? "use POST" : "use GET", NULL, NULL);
  if (!strcmp(url, "/health")) {
    if (atomic_load(&s->stopping))
      return send_json(c, s, 503, json_pack("{s:s}", "status", "stopping"), 0);
    return send_json(c, s, 200, json_pack("{s:s}", "status", "ok"), 0);
  }
  if (!strcmp(url, "/metrics")) return send_metrics(c, s);
  if (!strcmp(url, "/v1/models")) return send_models(c, s);
  if (!strcmp(url, "/v1/completions")) return generate(c, s, cs, DK_REQ_COMPLETION);
  if (!strcmp(url, "/v1/chat/completions")) return generate(c, s, cs, DK_REQ_CHAT);
  return send_error(c, s, 404, "no such endpoint", NULL, NULL);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
  (void)cls;
  (void)c;
  (void)toe;
  conn *cs = *con_cls;
  if (!cs) return;
  free(cs->body);
  free(cs);
  *con_cls = NULL;
}

int dk_server_start(dk_serve_pipe *pipes, size_t n, const dk_serve_opts *o, dk_server **out,
                    char *err, size_t errlen) {
  *out = NULL;
  dk_server *s = calloc(1, sizeof *s);
  if (!s) return snprintf(err, errlen, "out of memory"), -1;
  s->pipes = pipes;
  s->n_pipes = n;
  s->o = *o;
  s->started = (long long)time(NULL);
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->slot_free, NULL);
  pthread_mutex_init(&s->reg_mu, NULL);
  dk_metrics_init(&s->metrics);
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
  struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, o->host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)o->port);
  } else if (inet_pton(AF_INET6, o->host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)o->port);
    flags |= MHD_USE_IPv6;
  } else {
    snprintf(err, errlen, "--host: '%s' is not an IPv4 or IPv6 address", o->host);
    dk_server_stop(s);
    return -1;
  }
  s->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, handler, s, MHD_OPTION_SOCK_ADDR,
                          (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
                          (unsigned)(o->max_sessions + o->queue + 16), MHD_OPTION_CONNECTION_TIMEOUT,
                          (unsigned)120, MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_END);
  if (!s->d) {
    snprintf(err, errlen, "cannot listen on %s port %d (in use, or not an address of this machine)",
             o->host, o->port);
    dk_server_stop(s);
    return -1;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  s->port = di ? (int)di->port : o->port;
  *out = s;
  return 0;
}

int dk_server_port(const dk_server *s) { return s->port; }

void dk_server_stop(dk_server *s) {
  if (!s) return;
  atomic_store(&s->stopping, 1);
  pthread_mutex_lock(&s->mu);
  pthread_cond_broadcast(&s->slot_free);
  pthread_mutex_unlock(&s->mu);
  if (s->d) MHD_stop_daemon(s->d);
  dk_metrics_destroy(&s->metrics);
  pthread_mutex_destroy(&s->reg_mu);
  pthread_cond_destroy(&s->slot_free);
  pthread_mutex_destroy(&s->mu);
  free(s);
}
