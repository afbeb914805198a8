/* progress.c -- done/total, tokens per second and the time left, as a redrawn bar or a line now and then. */
#include "progress.h"

#include "session.h"

#include <string.h>

static void fmt_eta(const dk_batch_progress *p, double now, char *out, size_t n) {
  size_t left = p->total - p->done;
  if (!left) {
    snprintf(out, n, "0:00");
    return;
  }
  if (!p->ran) {
    snprintf(out, n, "?");
    return;
  }
  double s = (now - p->t0) / (double)p->ran * (double)left;
  long long t = (long long)(s + 0.5);
  if (t >= 3600)
    snprintf(out, n, "%lld:%02lld:%02lld", t / 3600, t / 60 % 60, t % 60);
  else
    snprintf(out, n, "%lld:%02lld", t / 60, t % 60);
}

static void draw(dk_batch_progress *p, double now, int final) {
  double el = now - p->t0;
  double rate = el > 0 ? (double)(p->tokens + p->cur) / el : 0;
  char eta[32];
  fmt_eta(p, now, eta, sizeof eta);
  if (p->tty) {
    enum { W = 24 };
    char bar[W + 1];
    size_t fill = p->total ? p->done * W / p->total : W;
    for (size_t i = 0; i < W; i++) bar[i] = i < fill ? '#' : '.';
    bar[W] = 0;
    fprintf(p->f, "\r\033[Kbatch [%s] %zu/%zu  %.1f tok/s  ETA %s", bar, p->done, p->total, rate, eta);
    if (p->errors) fprintf(p->f, "  %zu error%s", p->errors, p->errors == 1 ? "" : "s");
    if (final) fputc('\n', p->f);
  } else {
    fprintf(p->f, "decokit: batch: %zu/%zu done (%zu skipped, %zu errors), %llu tokens, %.1f tok/s, ETA %s\n",
            p->done, p->total, p->skipped, p->errors, p->tokens, rate, eta);
  }
  fflush(p->f);
  p->last = now;
  p->shown = p->done;
}

void dk_batch_progress_start(dk_batch_progress *p, FILE *f, int tty, int quiet, double interval,
                             size_t total, size_t skipped) {
  memset(p, 0, sizeof *p);
  p->f = f;
  p->tty = tty;
  p->quiet = quiet;
  p->interval = interval;
  p->total = total;
  p->done = p->skipped = skipped;
  p->t0 = p->last = dk_now();
  if (!quiet && tty) draw(p, p->t0, 0);
}

void dk_batch_progress_line(dk_batch_progress *p, size_t tokens, int error) {
  p->done++;
  p->ran++;
  p->errors += error != 0;
  p->tokens += tokens;
  p->cur = 0;
  if (p->quiet) return;
  double now = dk_now();
  if (p->tty ? now - p->last >= 0.2 || p->done == p->total : now - p->last >= p->interval)
    draw(p, now, 0);
}

void dk_batch_progress_token(dk_batch_progress *p) {
  p->cur++;
  if (p->quiet || !p->tty) return;
  double now = dk_now();
  if (now - p->last >= 0.2) draw(p, now, 0);
}

void dk_batch_progress_end(dk_batch_progress *p, int interrupted) {
  if (p->quiet) return;
  if (p->tty || p->shown != p->done || !p->ran) draw(p, dk_now(), 1);
  if (interrupted)
    fprintf(p->f, "decokit: batch: interrupted; --resume continues with the %zu requests left\n",
            p->total - p->done);
}
