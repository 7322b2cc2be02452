/* Durable progress: the last handled event (key and createdTime) in
 * STATE_DIR/checkpoint, replaced atomically (write, fsync, rename, fsync
 * of the directory), so a crash leaves the old file or the new one. */
#ifndef VMCRYPT_CHECKPOINT_H
#define VMCRYPT_CHECKPOINT_H

#include <stddef.h>

struct checkpoint {
	long long	key;
	char		time[64];	/* xsd:dateTime as vCenter sent it */
};

/* 0 read, 1 no checkpoint yet, -1 unreadable or malformed (err says why). */
int	checkpoint_read(const char *dir, struct checkpoint *, char *err, size_t errlen);
/* 0 or -1 with err. */
int	checkpoint_write(const char *dir, const struct checkpoint *, char *err, size_t errlen);
/* Pure parser, for tests: 0 or -1. */
int	checkpoint_parse(const char *text, struct checkpoint *);

#endif
