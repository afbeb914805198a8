/* textfile.c -- bounded reads of text inputs, so /dev/zero or a directory fails with a message. */
#include "textfile.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(int fd, char *buf, dk_error *err, int code, const char *path, const char *what,
                int e) {
  if (fd >= 0) close(fd);
  free(buf);
  return dk_error_set(err, code, "%s: cannot read %s: %s", path, what, strerror(e));
}

int dk_textfile_read(const char *path, const char *what, size_t max, char **out, size_t *len,
                     dk_error *err) {
  *out = NULL;
  *len = 0;
  /* O_NONBLOCK: opening a FIFO nobody writes to must not hang; reads
   * block again once the type is known. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return dk_error_set(err, DK_ERR_IO, "%s: cannot open %s: %s", path, what, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) return fail(fd, NULL, err, DK_ERR_IO, path, what, errno);
  if (S_ISDIR(st.st_mode)) return fail(fd, NULL, err, DK_ERR_IO, path, what, EISDIR);
  if (S_ISREG(st.st_mode) && (unsigned long long)st.st_size > max) {
    close(fd);
    return dk_error_set(err, DK_ERR_INVALID, "%s: %lld bytes is larger than a %s may be (%zu)",
                        path, (long long)st.st_size, what, max);
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
    return fail(fd, NULL, err, DK_ERR_IO, path, what, errno);
  size_t cap = (S_ISREG(st.st_mode) ? (size_t)st.st_size : 0) + 4096, n = 0;
  char *buf = NULL;
  for (;;) {
    if (n + 1 >= cap || !buf) {
      if (buf) cap = cap > max / 2 ? max + 2 : cap * 2;
      char *t = realloc(buf, cap);
      if (!t) {
        close(fd);
        free(buf);
        return dk_error_set(err, DK_ERR_NOMEM, "out of memory");
      }
      buf = t;
    }
    ssize_t got = read(fd, buf + n, cap - 1 - n);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return fail(fd, buf, err, DK_ERR_IO, path, what, errno);
    if (got == 0) break;
    n += (size_t)got;
    if (n > max) {
      /* A device or pipe that keeps producing (/dev/zero): stop at the limit. */
      close(fd);
      free(buf);
      return dk_error_set(err, DK_ERR_INVALID, "%s: more than %zu bytes, larger than a %s may be",
                          path, max, what);
    }
  }
  close(fd);
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return DK_OK;
}
