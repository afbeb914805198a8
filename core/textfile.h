/* textfile.h -- read a text input (a pipeline, a corpus) whole, refusing what is not a bounded file. */
#ifndef DK_CORE_TEXTFILE_H
#define DK_CORE_TEXTFILE_H

#include <decokit/plugin.h>

/* Read path into a NUL-terminated *out of *len bytes.  `what` names the
 * input in messages ("pipeline").  A directory is refused by name; a file
 * larger than max bytes (or a device or pipe that keeps producing) is
 * refused after reading at most max + 1 bytes. */
int dk_textfile_read(const char *path, const char *what, size_t max, char **out, size_t *len,
                     dk_error *err);

#endif
