/* Allocation that cannot fail: out of memory is fatal (the service manager
 * restarts us), so callers never carry an ENOMEM path. */
#ifndef VMCRYPT_XMALLOC_H
#define VMCRYPT_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xreallocarray(void *, size_t, size_t);
char *xstrdup(const char *);
char *xstrdup_or_null(const char *);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
