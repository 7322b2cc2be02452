/*
 * KMIP TTLV: a bounded decoder, a small encoder for the probe's two
 * requests, and the reading of their responses.  No I/O here.
 */
#include "kmip.h"

#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t
be64s(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return (int64_t)v;
}

static size_t
padded(uint32_t len)
{
	return ((size_t)len + 7) & ~(size_t)7;
}

/* ---------------------------------------------------------------- */
/* decoding                                                          */

struct dec {
	struct ttlv_doc	*doc;
	size_t		 cap;
	char		*err;
	size_t		 errlen;
};

static int
fail(struct dec *d, const char *what, size_t off)
{
	snprintf(d->err, d->errlen, "malformed TTLV at byte %zu: %s", off, what);
	return -1;
}

/* Decodes the items in buf[off, end) as siblings; *first gets the first. */
static int
decode_seq(struct dec *d, const uint8_t *base, size_t off, size_t end, int depth,
    const struct ttlv **first)
{
	struct ttlv *prev = NULL;

	*first = NULL;
	if (depth > KMIP_MAX_DEPTH)
		return fail(d, "structures nested too deep", off);
	while (off < end) {
		if (end - off < KMIP_HEADER_LEN)
			return fail(d, "truncated item header", off);
		const uint8_t *h = base + off;
		uint32_t tag = (uint32_t)h[0] << 16 | (uint32_t)h[1] << 8 | h[2];
		uint8_t type = h[3];
		uint32_t len = be32(h + 4);
		size_t vlen = padded(len);
		if (vlen > end - off - KMIP_HEADER_LEN)
			return fail(d, "item longer than its enclosure", off);
		if (d->doc->n >= d->cap)
			return fail(d, "too many items", off);
		struct ttlv *t = &d->doc->items[d->doc->n++];
		memset(t, 0, sizeof(*t));
		t->tag = tag;
		t->type = type;
		t->len = len;
		t->val = h + KMIP_HEADER_LEN;
		switch (type) {
		case TTLV_STRUCT:
			if (len % 8 != 0)
				return fail(d, "structure length not a multiple of 8", off);
			if (decode_seq(d, base, off + KMIP_HEADER_LEN,
			    off + KMIP_HEADER_LEN + len, depth + 1, &t->child) != 0)
				return -1;
			break;
		case TTLV_INT:
		case TTLV_ENUM:
		case TTLV_INTERVAL:
			if (len != 4)
				return fail(d, "integer/enumeration length is not 4", off);
			t->num = type == TTLV_INT ? (int32_t)be32(t->val) : (int64_t)be32(t->val);
			break;
		case TTLV_LONG:
		case TTLV_DATETIME:
		case TTLV_BOOL:
			if (len != 8)
				return fail(d, "long/date/boolean length is not 8", off);
			t->num = be64s(t->val);
			if (type == TTLV_BOOL && (uint64_t)t->num > 1)
				return fail(d, "boolean neither 0 nor 1", off);
			break;
		case TTLV_BIGINT:
			if (len % 8 != 0)
				return fail(d, "big integer length not a multiple of 8", off);
			break;
		case TTLV_TEXT:
		case TTLV_BYTES:
			break;
		default:
			return fail(d, "unknown item type", off);
		}
		if (prev)
			prev->next = t;
		else
			*first = t;
		prev = t;
		off += KMIP_HEADER_LEN + vlen;
	}
	return 0;
}

int
ttlv_decode(const uint8_t *buf, size_t len, struct ttlv_doc *doc, char *err,
    size_t errlen)
{
	struct dec d = { doc, 0, err, errlen };
	const struct ttlv *root;

	memset(doc, 0, sizeof(*doc));
	if (len < KMIP_HEADER_LEN) {
		snprintf(err, errlen, "malformed TTLV: %zu bytes, less than one item", len);
		return -1;
	}
	if (len > KMIP_MAX_MESSAGE) {
		snprintf(err, errlen, "TTLV message of %zu bytes is over the %u-byte limit",
		    len, KMIP_MAX_MESSAGE);
		return -1;
	}
	d.cap = len / KMIP_HEADER_LEN;
	if (d.cap > KMIP_MAX_ITEMS)
		d.cap = KMIP_MAX_ITEMS;
	doc->items = xcalloc(d.cap, sizeof(*doc->items));
	/* Exactly one root item, filling the buffer. */
	size_t rootlen = KMIP_HEADER_LEN + padded(be32(buf + 4));
	if (rootlen != len) {
		snprintf(err, errlen, "malformed TTLV: the message says %zu bytes, %zu arrived",
		    rootlen, len);
		ttlv_doc_free(doc);
		return -1;
	}
	if (decode_seq(&d, buf, 0, len, 0, &root) != 0) {
		ttlv_doc_free(doc);
		return -1;
	}
	return 0;
}

void
ttlv_doc_free(struct ttlv_doc *doc)
{
	free(doc->items);
	doc->items = NULL;
	doc->n = 0;
}

const struct ttlv *
ttlv_find(const struct ttlv *s, uint32_t tag)
{
	if (s == NULL || s->type != TTLV_STRUCT)
		return NULL;
	for (const struct ttlv *c = s->child; c; c = c->next)
		if (c->tag == tag)
			return c;
	return NULL;
}

size_t
kmip_message_len(const uint8_t hdr[KMIP_HEADER_LEN])
{
	if (hdr[0] != 0x42 || hdr[3] != TTLV_STRUCT)
		return 0;
	uint32_t len = be32(hdr + 4);
	if (len % 8 != 0)
		return 0;
	return KMIP_HEADER_LEN + (size_t)len;
}

/* ---------------------------------------------------------------- */
/* encoding                                                          */

struct enc {
	uint8_t	*p;
	size_t	 cap, n;
	int	 overflow;
};

static void
put_hdr(struct enc *e, uint32_t tag, uint8_t type, uint32_t len)
{
	if (e->overflow || e->cap - e->n < KMIP_HEADER_LEN) {
		e->overflow = 1;
		return;
	}
	uint8_t *h = e->p + e->n;
	h[0] = tag >> 16; h[1] = tag >> 8; h[2] = tag; h[3] = type;
	h[4] = len >> 24; h[5] = len >> 16; h[6] = len >> 8; h[7] = len;
	e->n += KMIP_HEADER_LEN;
}

/* An INT or ENUM: 4 bytes, padded to 8. */
static void
put_int(struct enc *e, uint32_t tag, uint8_t type, uint32_t v)
{
	put_hdr(e, tag, type, 4);
	if (e->overflow || e->cap - e->n < 8) {
		e->overflow = 1;
		return;
	}
	uint8_t *b = e->p + e->n;
	b[0] = v >> 24; b[1] = v >> 16; b[2] = v >> 8; b[3] = v;
	memset(b + 4, 0, 4);
	e->n += 8;
}

static size_t
open_struct(struct enc *e, uint32_t tag)
{
	size_t at = e->n;
	put_hdr(e, tag, TTLV_STRUCT, 0);
	return at;
}

static void
close_struct(struct enc *e, size_t at)
{
	if (e->overflow)
		return;
	uint32_t len = (uint32_t)(e->n - at - KMIP_HEADER_LEN);
	uint8_t *h = e->p + at;
	h[4] = len >> 24; h[5] = len >> 16; h[6] = len >> 8; h[7] = len;
}

/* A TEXT item, padded to 8. */
static void
put_text(struct enc *e, uint32_t tag, const char *s)
{
	size_t len = strlen(s), pad = padded((uint32_t)len);
	put_hdr(e, tag, TTLV_TEXT, (uint32_t)len);
	if (e->overflow || e->cap - e->n < pad) {
		e->overflow = 1;
		return;
	}
	memcpy(e->p + e->n, s, len);
	memset(e->p + e->n + len, 0, pad - len);
	e->n += pad;
}

static size_t
build(uint8_t *out, size_t cap, int major, int minor, int op, const char *uid)
{
	struct enc e = { out, cap, 0, 0 };
	size_t msg = open_struct(&e, KT_REQUEST_MESSAGE);
	size_t hdr = open_struct(&e, KT_REQUEST_HEADER);
	size_t pv = open_struct(&e, KT_PROTOCOL_VERSION);
	put_int(&e, KT_PV_MAJOR, TTLV_INT, (uint32_t)major);
	put_int(&e, KT_PV_MINOR, TTLV_INT, (uint32_t)minor);
	close_struct(&e, pv);
	put_int(&e, KT_BATCH_COUNT, TTLV_INT, 1);
	close_struct(&e, hdr);
	size_t bi = open_struct(&e, KT_BATCH_ITEM);
	put_int(&e, KT_OPERATION, TTLV_ENUM, (uint32_t)op);
	size_t pl = open_struct(&e, KT_REQUEST_PAYLOAD);
	if (op == KOP_QUERY)
		for (uint32_t f = 1; f <= 3; f++)	/* operations, objects, server info */
			put_int(&e, KT_QUERY_FUNCTION, TTLV_ENUM, f);
	if (op == KOP_GET_ATTRIBUTES) {
		put_text(&e, KT_UNIQUE_IDENTIFIER, uid);
		put_text(&e, KT_ATTRIBUTE_NAME, "Initial Date");
		put_text(&e, KT_ATTRIBUTE_NAME, "Activation Date");
	}
	close_struct(&e, pl);
	close_struct(&e, bi);
	close_struct(&e, msg);
	return e.overflow ? 0 : e.n;
}

size_t
kmip_build_discover(uint8_t *out, size_t cap, int major, int minor)
{
	return build(out, cap, major, minor, KOP_DISCOVER_VERSIONS, NULL);
}

size_t
kmip_build_query(uint8_t *out, size_t cap, int major, int minor)
{
	return build(out, cap, major, minor, KOP_QUERY, NULL);
}

size_t
kmip_build_get_dates(uint8_t *out, size_t cap, int major, int minor, const char *uid)
{
	if (uid == NULL || uid[0] == '\0' || strlen(uid) > 1024)
		return 0;
	return build(out, cap, major, minor, KOP_GET_ATTRIBUTES, uid);
}

/* ---------------------------------------------------------------- */
/* responses                                                         */

static void
text(char *dst, size_t cap, const struct ttlv *t)
{
	size_t n = t->len < cap - 1 ? t->len : cap - 1;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = t->val[i];
		dst[i] = ch >= 0x20 && ch != 0x7f ? (char)ch : '?';
	}
	dst[n] = '\0';
}

int
kmip_parse_response(const uint8_t *buf, size_t len, int op, struct kmip_answer *a,
    char *err, size_t errlen)
{
	struct ttlv_doc doc;
	const struct ttlv *root, *bi, *t;
	int rc = -1;

	memset(a, 0, sizeof(*a));
	a->reason = -1;
	a->operation = op;
	if (ttlv_decode(buf, len, &doc, err, errlen) != 0)
		return -1;
	root = &doc.items[0];
	if (root->tag != KT_RESPONSE_MESSAGE || root->type != TTLV_STRUCT) {
		snprintf(err, errlen, "not a KMIP response message (tag %06X)", root->tag);
		goto out;
	}
	if (ttlv_find(root, KT_RESPONSE_HEADER) == NULL) {
		snprintf(err, errlen, "KMIP response without a response header");
		goto out;
	}
	if ((bi = ttlv_find(root, KT_BATCH_ITEM)) == NULL) {
		snprintf(err, errlen, "KMIP response without a batch item");
		goto out;
	}
	if ((t = ttlv_find(bi, KT_OPERATION)) != NULL) {
		if (t->type != TTLV_ENUM || t->num != op) {
			snprintf(err, errlen, "KMIP response answers operation %lld, not %s",
			    (long long)t->num, kmip_operation_name(op));
			goto out;
		}
	}
	if ((t = ttlv_find(bi, KT_RESULT_STATUS)) == NULL || t->type != TTLV_ENUM) {
		snprintf(err, errlen, "KMIP response without a result status");
		goto out;
	}
	a->status = (int)t->num;
	if ((t = ttlv_find(bi, KT_RESULT_REASON)) != NULL && t->type == TTLV_ENUM)
		a->reason = (int)t->num;
	if ((t = ttlv_find(bi, KT_RESULT_MESSAGE)) != NULL && t->type == TTLV_TEXT)
		text(a->message, sizeof(a->message), t);
	const struct ttlv *pl = ttlv_find(bi, KT_RESPONSE_PAYLOAD);
	for (t = pl && pl->type == TTLV_STRUCT ? pl->child : NULL; t; t = t->next) {
		if (t->tag == KT_PROTOCOL_VERSION && t->type == TTLV_STRUCT &&
		    a->nversions < KMIP_MAX_LIST) {
			const struct ttlv *ma = ttlv_find(t, KT_PV_MAJOR);
			const struct ttlv *mi = ttlv_find(t, KT_PV_MINOR);
			if (ma && mi && ma->type == TTLV_INT && mi->type == TTLV_INT) {
				a->versions[a->nversions].major = (int)ma->num;
				a->versions[a->nversions++].minor = (int)mi->num;
			}
		} else if (t->tag == KT_OPERATION && t->type == TTLV_ENUM &&
		    a->noperations < KMIP_MAX_LIST) {
			a->operations[a->noperations++] = (int)t->num;
		} else if (t->tag == KT_OBJECT_TYPE && t->type == TTLV_ENUM &&
		    a->nobjects < KMIP_MAX_LIST) {
			a->objects[a->nobjects++] = (int)t->num;
		} else if (t->tag == KT_VENDOR_ID && t->type == TTLV_TEXT) {
			text(a->vendor, sizeof(a->vendor), t);
		}
	}
	rc = 0;
out:
	ttlv_doc_free(&doc);
	return rc;
}

int
kmip_parse_dates(const uint8_t *buf, size_t len, struct kmip_dates *d, char *err,
    size_t errlen)
{
	struct kmip_answer a;
	struct ttlv_doc doc;

	memset(d, 0, sizeof(*d));
	d->reason = -1;
	if (kmip_parse_response(buf, len, KOP_GET_ATTRIBUTES, &a, err, errlen) != 0)
		return -1;
	d->status = a.status;
	d->reason = a.reason;
	snprintf(d->message, sizeof(d->message), "%s", a.message);
	if (ttlv_decode(buf, len, &doc, err, errlen) != 0)
		return -1;
	const struct ttlv *bi = ttlv_find(&doc.items[0], KT_BATCH_ITEM);
	const struct ttlv *pl = bi ? ttlv_find(bi, KT_RESPONSE_PAYLOAD) : NULL;
	for (const struct ttlv *t = pl && pl->type == TTLV_STRUCT ? pl->child : NULL; t;
	    t = t->next) {
		if (t->tag != KT_ATTRIBUTE || t->type != TTLV_STRUCT)
			continue;
		const struct ttlv *n = ttlv_find(t, KT_ATTRIBUTE_NAME);
		const struct ttlv *v = ttlv_find(t, KT_ATTRIBUTE_VALUE);
		if (n == NULL || v == NULL || n->type != TTLV_TEXT || v->type != TTLV_DATETIME ||
		    v->num <= 0)
			continue;
		if (n->len == 12 && memcmp(n->val, "Initial Date", 12) == 0)
			d->initial = v->num;
		else if (n->len == 15 && memcmp(n->val, "Activation Date", 15) == 0)
			d->activation = v->num;
	}
	ttlv_doc_free(&doc);
	return 0;
}

/* ---------------------------------------------------------------- */
/* names                                                             */

static const char *const op_names[] = {
	NULL, "Create", "Create Key Pair", "Register", "Re-key", "Derive Key",
	"Certify", "Re-certify", "Locate", "Check", "Get", "Get Attributes",
	"Get Attribute List", "Add Attribute", "Modify Attribute", "Delete Attribute",
	"Obtain Lease", "Get Usage Allocation", "Activate", "Revoke", "Destroy",
	"Archive", "Recover", "Validate", "Query", "Cancel", "Poll", "Notify", "Put",
	"Re-key Key Pair", "Discover Versions", "Encrypt", "Decrypt", "Sign",
	"Signature Verify", "MAC", "MAC Verify", "RNG Retrieve", "RNG Seed", "Hash",
	"Create Split Key", "Join Split Key", "Import", "Export",
};

static const char *const obj_names[] = {
	NULL, "Certificate", "Symmetric Key", "Public Key", "Private Key", "Split Key",
	"Template", "Secret Data", "Opaque Object", "PGP Key", "Certificate Request",
};

static const char *const reason_names[] = {
	NULL, "Item Not Found", "Response Too Large", "Authentication Not Successful",
	"Invalid Message", "Operation Not Supported", "Missing Data", "Invalid Field",
	"Feature Not Supported", "Operation Canceled By Requester",
	"Cryptographic Failure", "Illegal Operation", "Permission Denied",
	"Object archived", "Index Out of Bounds", "Application Namespace Not Supported",
	"Key Format Type Not Supported", "Key Compression Type Not Supported",
	"Encoding Option Error", "Key Value Not Present", "Attestation Required",
	"Attestation Failed", "Sensitive", "Not Extractable", "Object Already Exists",
};

#define NAME(tab, i) ((i) > 0 && (size_t)(i) < sizeof(tab) / sizeof(tab[0]) ? tab[i] : NULL)

static const char *
unknown(int v)
{
	static _Thread_local char buf[32];
	snprintf(buf, sizeof(buf), "0x%08X", (unsigned)v);
	return buf;
}

const char *
kmip_operation_name(int op)
{
	const char *n = NAME(op_names, op);
	return n ? n : unknown(op);
}

const char *
kmip_object_name(int type)
{
	const char *n = NAME(obj_names, type);
	return n ? n : unknown(type);
}

const char *
kmip_result_reason_name(int reason)
{
	if (reason == 0x100)
		return "General Failure";
	const char *n = NAME(reason_names, reason);
	return n ? n : unknown(reason);
}
