/* Random (version 4) UUIDs, RFC 9562, from OpenSSL's CSPRNG: the ids an
 * OSCAL document gives its parts. */
#ifndef VMCRYPT_UUID_H
#define VMCRYPT_UUID_H

#define UUID_STR_LEN	37	/* 36 characters and the NUL */

/* A new lower-case "xxxxxxxx-xxxx-4xxx-Nxxx-xxxxxxxxxxxx" (N one of 8, 9,
 * a, b) in out: 0, or -1 if the generator could not be seeded. */
int	uuid_v4(char out[UUID_STR_LEN]);

#endif
