/*
 * KMIP's TTLV encoding (OASIS KMIP 1.x: tag 3 bytes, type 1, length 4,
 * value padded to 8) and the two requests the KMS probe sends: Discover
 * Versions and Query.  Pure: bytes in, bytes or a tree out; everything a
 * server sends is bounded (depth, items, sizes) and checked.
 */
#ifndef VMCRYPT_KMIP_H
#define VMCRYPT_KMIP_H

#include <stddef.h>
#include <stdint.h>

enum ttlv_type {
	TTLV_STRUCT = 0x01, TTLV_INT = 0x02, TTLV_LONG = 0x03, TTLV_BIGINT = 0x04,
	TTLV_ENUM = 0x05, TTLV_BOOL = 0x06, TTLV_TEXT = 0x07, TTLV_BYTES = 0x08,
	TTLV_DATETIME = 0x09, TTLV_INTERVAL = 0x0A,
};

/* Tags (KMIP 1.x, 0x42XXXX). */
#define KT_ATTRIBUTE		0x420008
#define KT_ATTRIBUTE_NAME	0x42000A
#define KT_ATTRIBUTE_VALUE	0x42000B
#define KT_BATCH_COUNT		0x42000D
#define KT_BATCH_ITEM		0x42000F
#define KT_OBJECT_TYPE		0x420057
#define KT_OPERATION		0x42005C
#define KT_PROTOCOL_VERSION	0x420069
#define KT_PV_MAJOR		0x42006A
#define KT_PV_MINOR		0x42006B
#define KT_QUERY_FUNCTION	0x420074
#define KT_REQUEST_HEADER	0x420077
#define KT_REQUEST_MESSAGE	0x420078
#define KT_REQUEST_PAYLOAD	0x420079
#define KT_RESPONSE_HEADER	0x42007A
#define KT_RESPONSE_MESSAGE	0x42007B
#define KT_RESPONSE_PAYLOAD	0x42007C
#define KT_RESULT_MESSAGE	0x42007D
#define KT_RESULT_REASON	0x42007E
#define KT_RESULT_STATUS	0x42007F
#define KT_SERVER_INFORMATION	0x420088
#define KT_TIME_STAMP		0x420092
#define KT_UNIQUE_IDENTIFIER	0x420094
#define KT_VENDOR_ID		0x42009D

#define KOP_GET_ATTRIBUTES	0x0B
#define KOP_QUERY		0x18
#define KOP_DISCOVER_VERSIONS	0x1E

#define KMIP_HEADER_LEN		8
#define KMIP_MAX_MESSAGE	(1U << 20)	/* a response bigger than this is refused */
#define KMIP_MAX_DEPTH		16
#define KMIP_MAX_ITEMS		8192

struct ttlv {
	uint32_t		 tag;
	uint8_t			 type;
	uint32_t		 len;		/* value length, unpadded */
	const uint8_t		*val;		/* into the decoded buffer */
	int64_t			 num;		/* INT, LONG, ENUM, BOOL, DATETIME, INTERVAL */
	const struct ttlv	*child;		/* STRUCT: first member */
	const struct ttlv	*next;		/* next member of the parent */
};

/* A decoded message: items point into buf, which must outlive it. */
struct ttlv_doc {
	struct ttlv	*items;
	size_t		 n;
};

/*
 * Decodes one TTLV item (normally a whole message) from buf.  Returns 0
 * with the root at doc->items[0], or -1 with one line in err; malformed,
 * truncated, over-deep or over-large input is an error, never a crash.
 */
int	ttlv_decode(const uint8_t *buf, size_t len, struct ttlv_doc *doc,
	    char *err, size_t errlen);
void	ttlv_doc_free(struct ttlv_doc *);
/* The first member of s with tag, or NULL. */
const struct ttlv *ttlv_find(const struct ttlv *s, uint32_t tag);

/* The total length of the message whose 8-byte header is hdr (header
 * included), or 0 if the header is not a KMIP structure header. */
size_t	kmip_message_len(const uint8_t hdr[KMIP_HEADER_LEN]);

/* Builds a request with one batch item: Discover Versions (no versions
 * listed: the server answers with all it speaks) or Query (operations,
 * objects, server information), under protocol version major.minor.
 * Returns the length written to out, or 0 if out is too small. */
size_t	kmip_build_discover(uint8_t *out, size_t cap, int major, int minor);
size_t	kmip_build_query(uint8_t *out, size_t cap, int major, int minor);

struct kmip_version { int major, minor; };

#define KMIP_MAX_LIST	128

struct kmip_answer {
	int			 operation;
	int			 status;		/* 0 success, 1 failed, ... */
	int			 reason;		/* ResultReason, -1 none */
	char			 message[256];		/* ResultMessage */
	struct kmip_version	 versions[KMIP_MAX_LIST];	/* Discover Versions */
	size_t			 nversions;
	int			 operations[KMIP_MAX_LIST];	/* Query */
	size_t			 noperations;
	int			 objects[KMIP_MAX_LIST];
	size_t			 nobjects;
	char			 vendor[256];
};

/*
 * Reads a Response Message answering operation op.  Returns 0 with *a
 * filled (a->status says whether the server did it), or -1 with err when
 * the bytes are not such a message.
 */
int	kmip_parse_response(const uint8_t *buf, size_t len, int op,
	    struct kmip_answer *a, char *err, size_t errlen);

/*
 * Get Attributes of the object uid: its Initial Date and Activation Date
 * (KMIP 1.x attribute names), the two dates a key's age is read from.
 * Returns the length written, or 0 (out too small, uid too long).
 */
size_t	kmip_build_get_dates(uint8_t *out, size_t cap, int major, int minor,
	    const char *uid);
struct kmip_dates {
	int	 status;		/* 0 success */
	int	 reason;		/* ResultReason, -1 none */
	char	 message[256];
	long long initial;		/* unix time, 0 absent */
	long long activation;
};
/* Reads the answer to kmip_build_get_dates: 0 with *d (d->status says
 * whether the server did it), or -1 with err (not such a message). */
int	kmip_parse_dates(const uint8_t *buf, size_t len, struct kmip_dates *d,
	    char *err, size_t errlen);

const char *kmip_operation_name(int op);
const char *kmip_object_name(int type);
const char *kmip_result_reason_name(int reason);

#endif
