/* output.c -- result lines: one write per line to a locked file, resumed by counting the ids it holds. */
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* "WHAT PATH: the system's reason", the file closed. */
static int fail(dk_batch_output *o, char *err, size_t errlen, const char *what, const char *path) {
  if (what) snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
  if (o->fd >= 0) close(o->fd);
  o->fd = -1;
  json_decref(o->done);
  o->done = NULL;
  return -1;
}

/* All of fd from offset 0; NULL on failure (errno set). */
static char *read_all(int fd, size_t *len) {
  struct stat st;
  if (fstat(fd, &st)) return NULL;
  size_t n = (size_t)st.st_size, got = 0;
  char *buf = malloc(n + 1);
  if (!buf) return NULL;
  while (got < n) {
    ssize_t r = pread(fd, buf + got, n - got, (off_t)got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      free(buf);
      if (r == 0) errno = EIO;
      return NULL;
    }
    got += (size_t)r;
  }
  buf[n] = 0;
  *len = n;
  return buf;
}

/* Count the ids of the results in buf[0..len), whole lines only. */
static int count_results(dk_batch_output *o, const char *buf, size_t len, char *err, size_t errlen,
                         const char *path) {
  size_t lineno = 0;
  for (size_t at = 0; at < len;) {
    const char *s = buf + at, *nl = memchr(s, '\n', len - at);
    size_t n = (size_t)(nl - s);
    at += n + 1;
    lineno++;
    json_t *r = json_loadb(s, n, 0, NULL);
    const char *id = json_string_value(json_object_get(r, "id"));
    if (!id) {
      json_decref(r);
      snprintf(err, errlen, "%s: line %zu is not a result of decokit batch (a JSON object with an "
               "\"id\"); not resuming", path, lineno);
      return -1;
    }
    json_int_t k = json_integer_value(json_object_get(o->done, id));
    int bad = json_object_set_new(o->done, id, json_integer(k + 1));
    json_decref(r);
    if (bad) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    o->n_results++;
  }
  return 0;
}

int dk_batch_output_open(const char *path, int resume, dk_batch_output *o, char *err, size_t errlen) {
  memset(o, 0, sizeof *o);
  o->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  if (o->fd < 0) return fail(o, err, errlen, "cannot open", path);
  if (flock(o->fd, LOCK_EX | LOCK_NB)) {
    snprintf(err, errlen, "%s is being written by another process", path);
    return fail(o, err, errlen, NULL, path);
  }
  if (!(o->done = json_object())) return fail(o, err, errlen, "out of memory for", path);
  size_t len = 0;
  char *buf = read_all(o->fd, &len);
  if (!buf) return fail(o, err, errlen, "cannot read", path);
  if (len && !resume) {
    free(buf);
    snprintf(err, errlen, "%s is not empty: give --resume to continue it, or remove it", path);
    return fail(o, err, errlen, NULL, path);
  }
  /* A run killed in the middle of a write leaves a line without its
   * newline: it is no result, and the line is written again. */
  size_t whole = len;
  while (whole && buf[whole - 1] != '\n') whole--;
  if (whole < len) {
    if (ftruncate(o->fd, (off_t)whole)) {
      free(buf);
      return fail(o, err, errlen, "cannot cut the partial last line of", path);
    }
    o->dropped = len - whole;
  }
  int rc = count_results(o, buf, whole, err, errlen, path);
  free(buf);
  return rc ? fail(o, err, errlen, NULL, path) : 0;
}

int dk_batch_output_take(dk_batch_output *o, const char *id) {
  json_t *k = json_object_get(o->done, id);
  json_int_t left = json_integer_value(k);
  if (left <= 0) return 0;
  json_integer_set(k, left - 1);
  return 1;
}

int dk_batch_output_write(dk_batch_output *o, json_t *result) {
  char *t = json_dumps(result, JSON_COMPACT);
  if (!t) {
    errno = ENOMEM;
    return -1;
  }
  size_t n = strlen(t);
  t[n] = '\n'; /* json_dumps's NUL: the line goes out in one write */
  size_t off = 0;
  int rc = 0;
  while (off < n + 1) {
    ssize_t w = write(o->fd, t + off, n + 1 - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      rc = -1;
      break;
    }
    off += (size_t)w;
  }
  free(t);
  return rc;
}

int dk_batch_output_close(dk_batch_output *o) {
  int rc = 0;
  if (o->fd >= 0) {
    if (fsync(o->fd) && errno != EINVAL) rc = -1;
    if (close(o->fd)) rc = -1;
  }
  o->fd = -1;
  json_decref(o->done);
  o->done = NULL;
  return rc;
}
