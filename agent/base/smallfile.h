/* Reading a small file whole: a PEM certificate, a key, a password file
 * named on the command line. */
#ifndef VMCRYPT_SMALLFILE_H
#define VMCRYPT_SMALLFILE_H

#include <stddef.h>

#define SMALLFILE_MAX	65536

/*
 * The contents of path, a regular file of at most SMALLFILE_MAX bytes,
 * NUL-terminated and malloc'd; or NULL with err.  secret: the file must
 * be readable by its owner only (a key, a password), and the caller
 * wipes the copy (secret_free).
 */
char	*smallfile_read(const char *path, int secret, char *err, size_t errlen);

/* Two PEM texts equal but for white space (line ends, trailing space). */
int	pem_same(const char *a, const char *b);

#endif
