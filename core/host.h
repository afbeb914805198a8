/* host.h -- the dk_host services table handed to each loaded library. */
#ifndef DK_CORE_HOST_H
#define DK_CORE_HOST_H

#include <decokit/plugin.h>

typedef struct dk_library dk_library;

/* One table per library so log lines can name their plugin (the public
 * struct is the first member of a private one). */
void *dk_host_table_new(dk_library *lib);
void dk_host_table_free(void *table);
/* The table used by the host itself (e.g. for tests and the CLI). */
const dk_host *dk_host_default(void);

#endif
