/* kmip.c: TTLV as the KMIP 1.x specification lays it out, and every kind
 * of bad input a server (or something that is not one) can send. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "kmip.h"

/* Discover Versions under protocol 1.1, encoded by hand from the spec's
 * layout (tag 3 bytes, type 1, length 4, value padded to 8). */
static const uint8_t discover_11[] = {
	0x42, 0x00, 0x78, 0x01, 0x00, 0x00, 0x00, 0x60,	/* Request Message, 96 */
	0x42, 0x00, 0x77, 0x01, 0x00, 0x00, 0x00, 0x38,	/*  Request Header, 56 */
	0x42, 0x00, 0x69, 0x01, 0x00, 0x00, 0x00, 0x20,	/*   Protocol Version, 32 */
	0x42, 0x00, 0x6A, 0x02, 0x00, 0x00, 0x00, 0x04,	/*    Major: 1 */
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
	0x42, 0x00, 0x6B, 0x02, 0x00, 0x00, 0x00, 0x04,	/*    Minor: 1 */
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
	0x42, 0x00, 0x0D, 0x02, 0x00, 0x00, 0x00, 0x04,	/*   Batch Count: 1 */
	0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
	0x42, 0x00, 0x0F, 0x01, 0x00, 0x00, 0x00, 0x18,	/*  Batch Item, 24 */
	0x42, 0x00, 0x5C, 0x05, 0x00, 0x00, 0x00, 0x04,	/*   Operation: Discover Versions */
	0x00, 0x00, 0x00, 0x1E, 0x00, 0x00, 0x00, 0x00,
	0x42, 0x00, 0x79, 0x01, 0x00, 0x00, 0x00, 0x00,	/*   Request Payload, empty */
};

static void
test_build_discover_matches_spec_layout(void **st)
{
	(void)st;
	uint8_t out[256];
	size_t n = kmip_build_discover(out, sizeof(out), 1, 1);
	assert_int_equal(n, sizeof(discover_11));
	assert_memory_equal(out, discover_11, n);
	assert_int_equal(kmip_message_len(out), n);
	/* Too small a buffer: nothing, not a partial message. */
	assert_int_equal(kmip_build_discover(out, 40, 1, 1), 0);
}

static void
test_build_query(void **st)
{
	(void)st;
	uint8_t out[256];
	struct ttlv_doc doc;
	char err[128];
	size_t n = kmip_build_query(out, sizeof(out), 1, 1);

	assert_int_not_equal(n, 0);
	assert_int_equal(ttlv_decode(out, n, &doc, err, sizeof(err)), 0);
	const struct ttlv *bi = ttlv_find(&doc.items[0], KT_BATCH_ITEM);
	assert_non_null(bi);
	assert_int_equal(ttlv_find(bi, KT_OPERATION)->num, KOP_QUERY);
	const struct ttlv *pl = ttlv_find(bi, KT_REQUEST_PAYLOAD);
	int f = 0;
	for (const struct ttlv *t = pl->child; t; t = t->next) {
		assert_int_equal(t->tag, KT_QUERY_FUNCTION);
		assert_int_equal(t->num, ++f);
	}
	assert_int_equal(f, 3);
	ttlv_doc_free(&doc);
}

/* A small TTLV writer for responses, independent of kmip.c's encoder. */
struct w { uint8_t b[4096]; size_t n; };

static void
hdr(struct w *w, uint32_t tag, uint8_t type, uint32_t len)
{
	uint8_t *p = w->b + w->n;
	p[0] = tag >> 16; p[1] = tag >> 8; p[2] = tag; p[3] = type;
	p[4] = len >> 24; p[5] = len >> 16; p[6] = len >> 8; p[7] = len;
	w->n += 8;
}

static void
i32(struct w *w, uint32_t tag, uint8_t type, uint32_t v)
{
	hdr(w, tag, type, 4);
	uint8_t *p = w->b + w->n;
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
	memset(p + 4, 0, 4);
	w->n += 8;
}

static void
txt(struct w *w, uint32_t tag, const char *s)
{
	size_t l = strlen(s);
	hdr(w, tag, TTLV_TEXT, (uint32_t)l);
	memset(w->b + w->n, 0, (l + 7) & ~7u);
	memcpy(w->b + w->n, s, l);
	w->n += (l + 7) & ~7u;
}

static size_t
open_s(struct w *w, uint32_t tag)
{
	size_t at = w->n;
	hdr(w, tag, TTLV_STRUCT, 0);
	return at;
}

static void
close_s(struct w *w, size_t at)
{
	uint32_t len = (uint32_t)(w->n - at - 8);
	uint8_t *p = w->b + at;
	p[4] = len >> 24; p[5] = len >> 16; p[6] = len >> 8; p[7] = len;
}

/* Response Message { header, Batch Item { op, status [reason msg] payload } } */
static size_t
response(struct w *w, int op, int status, int reason, const char *msg,
    void (*payload)(struct w *))
{
	memset(w, 0, sizeof(*w));
	size_t m = open_s(w, KT_RESPONSE_MESSAGE);
	size_t h = open_s(w, KT_RESPONSE_HEADER);
	size_t pv = open_s(w, KT_PROTOCOL_VERSION);
	i32(w, KT_PV_MAJOR, TTLV_INT, 1);
	i32(w, KT_PV_MINOR, TTLV_INT, 1);
	close_s(w, pv);
	hdr(w, KT_TIME_STAMP, TTLV_DATETIME, 8);
	memset(w->b + w->n, 0, 8);
	w->b[w->n + 7] = 42;
	w->n += 8;
	i32(w, KT_BATCH_COUNT, TTLV_INT, 1);
	close_s(w, h);
	size_t bi = open_s(w, KT_BATCH_ITEM);
	i32(w, KT_OPERATION, TTLV_ENUM, (uint32_t)op);
	i32(w, KT_RESULT_STATUS, TTLV_ENUM, (uint32_t)status);
	if (reason >= 0)
		i32(w, KT_RESULT_REASON, TTLV_ENUM, (uint32_t)reason);
	if (msg)
		txt(w, KT_RESULT_MESSAGE, msg);
	if (payload) {
		size_t pl = open_s(w, KT_RESPONSE_PAYLOAD);
		payload(w);
		close_s(w, pl);
	}
	close_s(w, bi);
	close_s(w, m);
	return w->n;
}

static void
versions_payload(struct w *w)
{
	static const int v[][2] = { { 2, 0 }, { 1, 4 }, { 1, 1 }, { 1, 0 } };
	for (size_t i = 0; i < 4; i++) {
		size_t pv = open_s(w, KT_PROTOCOL_VERSION);
		i32(w, KT_PV_MAJOR, TTLV_INT, (uint32_t)v[i][0]);
		i32(w, KT_PV_MINOR, TTLV_INT, (uint32_t)v[i][1]);
		close_s(w, pv);
	}
}

static void
query_payload(struct w *w)
{
	i32(w, KT_OPERATION, TTLV_ENUM, 0x01);
	i32(w, KT_OPERATION, TTLV_ENUM, 0x0A);
	i32(w, KT_OPERATION, TTLV_ENUM, 0x77);	/* a vendor's own */
	i32(w, KT_OBJECT_TYPE, TTLV_ENUM, 0x02);
	txt(w, KT_VENDOR_ID, "Acme KMS\x01");
	size_t si = open_s(w, KT_SERVER_INFORMATION);
	txt(w, 0x540000, "extension");
	close_s(w, si);
}

static void
test_parse_discover_and_query(void **st)
{
	(void)st;
	struct w w;
	struct kmip_answer a;
	char err[256];

	size_t n = response(&w, KOP_DISCOVER_VERSIONS, 0, -1, NULL, versions_payload);
	assert_int_equal(kmip_message_len(w.b), n);
	assert_int_equal(kmip_parse_response(w.b, n, KOP_DISCOVER_VERSIONS, &a, err,
	    sizeof(err)), 0);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.nversions, 4);
	assert_int_equal(a.versions[2].major, 1);
	assert_int_equal(a.versions[2].minor, 1);

	n = response(&w, KOP_QUERY, 0, -1, NULL, query_payload);
	assert_int_equal(kmip_parse_response(w.b, n, KOP_QUERY, &a, err, sizeof(err)), 0);
	assert_int_equal(a.noperations, 3);
	assert_string_equal(kmip_operation_name(a.operations[1]), "Get");
	assert_string_equal(kmip_operation_name(a.operations[2]), "0x00000077");
	assert_int_equal(a.nobjects, 1);
	assert_string_equal(kmip_object_name(a.objects[0]), "Symmetric Key");
	assert_string_equal(a.vendor, "Acme KMS?");	/* control bytes not echoed */

	/* Refused: status, reason and message come back. */
	n = response(&w, KOP_QUERY, 1, 0x04, "Invalid Message", NULL);
	assert_int_equal(kmip_parse_response(w.b, n, KOP_QUERY, &a, err, sizeof(err)), 0);
	assert_int_equal(a.status, 1);
	assert_string_equal(kmip_result_reason_name(a.reason), "Invalid Message");
	assert_string_equal(a.message, "Invalid Message");

	/* An answer to another operation is not ours. */
	n = response(&w, KOP_QUERY, 0, -1, NULL, NULL);
	assert_int_equal(kmip_parse_response(w.b, n, KOP_DISCOVER_VERSIONS, &a, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "answers operation 24"));
}

static void
test_not_a_response(void **st)
{
	(void)st;
	struct kmip_answer a;
	char err[256];

	/* Our own request is well-formed TTLV but no response. */
	assert_int_equal(kmip_parse_response(discover_11, sizeof(discover_11),
	    KOP_DISCOVER_VERSIONS, &a, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a KMIP response message"));
	/* HTTP is not KMIP, from the first 8 bytes on. */
	assert_int_equal(kmip_message_len((const uint8_t *)"HTTP/1.1"), 0);
	/* A header announcing an odd length. */
	static const uint8_t odd[8] = { 0x42, 0x00, 0x7B, 0x01, 0, 0, 0, 0x05 };
	assert_int_equal(kmip_message_len(odd), 0);
}

static void
test_truncations_and_flips_never_crash(void **st)
{
	(void)st;
	struct w w;
	struct kmip_answer a;
	char err[256];
	size_t n = response(&w, KOP_QUERY, 0, -1, NULL, query_payload);
	uint8_t *buf = malloc(n);

	/* Every prefix: an error (the buffer is exactly that long, so ASan
	 * sees any read past it). */
	for (size_t len = 0; len < n; len++) {
		uint8_t *p = malloc(len ? len : 1);
		memcpy(p, w.b, len);
		assert_int_equal(kmip_parse_response(p, len, KOP_QUERY, &a, err, sizeof(err)), -1);
		free(p);
	}
	/* Random corruption, deterministic: a clear answer either way. */
	srand(20261125);
	for (int i = 0; i < 20000; i++) {
		memcpy(buf, w.b, n);
		for (int k = 1 + rand() % 4; k > 0; k--)
			buf[rand() % n] ^= (uint8_t)(1 + rand() % 255);
		int rc = kmip_parse_response(buf, n, KOP_QUERY, &a, err, sizeof(err));
		assert_true(rc == 0 || rc == -1);
		if (rc == -1)
			assert_true(err[0] != '\0');
	}
	free(buf);
}

static void
test_limits(void **st)
{
	(void)st;
	static uint8_t b[8 * 40];
	struct ttlv_doc doc;
	char err[256];

	/* 40 nested structures: refused as too deep, no stack blow-up. */
	for (int i = 0; i < 40; i++) {
		uint32_t len = (uint32_t)(8 * (39 - i));
		uint8_t *p = b + 8 * i;
		p[0] = 0x42; p[1] = 0; p[2] = 0x01; p[3] = TTLV_STRUCT;
		p[4] = len >> 24; p[5] = len >> 16; p[6] = len >> 8; p[7] = len;
	}
	assert_int_equal(ttlv_decode(b, sizeof(b), &doc, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too deep"));

	/* An item claiming 4 GiB. */
	static const uint8_t huge[16] = { 0x42, 0x00, 0x7B, 0x01, 0xFF, 0xFF, 0xFF, 0xF8 };
	assert_int_equal(ttlv_decode(huge, sizeof(huge), &doc, err, sizeof(err)), -1);
	/* An unknown item type inside a structure. */
	static const uint8_t badtype[16] = { 0x42, 0x00, 0x7B, 0x01, 0, 0, 0, 8,
	    0x42, 0x00, 0x01, 0x0F, 0, 0, 0, 0 };
	assert_int_equal(ttlv_decode(badtype, sizeof(badtype), &doc, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown item type"));
	/* An integer of the wrong length, a boolean that is 2. */
	static const uint8_t badint[24] = { 0x42, 0x00, 0x7B, 0x01, 0, 0, 0, 16,
	    0x42, 0x00, 0x0D, 0x02, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1 };
	assert_int_equal(ttlv_decode(badint, sizeof(badint), &doc, err, sizeof(err)), -1);
	static const uint8_t badbool[24] = { 0x42, 0x00, 0x7B, 0x01, 0, 0, 0, 16,
	    0x42, 0x00, 0x0D, 0x06, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 2 };
	assert_int_equal(ttlv_decode(badbool, sizeof(badbool), &doc, err, sizeof(err)), -1);
	/* Trailing bytes after the message. */
	uint8_t two[sizeof(discover_11) + 8];
	memcpy(two, discover_11, sizeof(discover_11));
	memset(two + sizeof(discover_11), 0, 8);
	assert_int_equal(ttlv_decode(two, sizeof(two), &doc, err, sizeof(err)), -1);
	/* Over the message size limit. */
	assert_int_equal(ttlv_decode(discover_11, KMIP_MAX_MESSAGE + 1, &doc, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "limit"));
}

/* A key's dates: the request names the key and the two attributes; the
 * answer's DateTime values are read, other attributes and types ignored,
 * a refusal given with its reason. */
static void
dates_payload(struct w *w)
{
	txt(w, KT_UNIQUE_IDENTIFIER, "42");
	size_t a = open_s(w, KT_ATTRIBUTE);
	txt(w, KT_ATTRIBUTE_NAME, "Initial Date");
	hdr(w, KT_ATTRIBUTE_VALUE, TTLV_DATETIME, 8);
	memset(w->b + w->n, 0, 8);
	w->b[w->n + 4] = 0x69; w->b[w->n + 5] = 0x35; w->b[w->n + 6] = 0x00; w->b[w->n + 7] = 0x10;
	w->n += 8;
	close_s(w, a);
	a = open_s(w, KT_ATTRIBUTE);
	txt(w, KT_ATTRIBUTE_NAME, "Activation Date");
	txt(w, KT_ATTRIBUTE_VALUE, "not a date");	/* wrong type: ignored */
	close_s(w, a);
}

static void
test_key_dates(void **st)
{
	(void)st;
	uint8_t req[512];
	struct ttlv_doc doc;
	char err[256];
	size_t n = kmip_build_get_dates(req, sizeof(req), 1, 1, "42");

	assert_true(n > 0);
	assert_int_equal(ttlv_decode(req, n, &doc, err, sizeof(err)), 0);
	const struct ttlv *bi = ttlv_find(&doc.items[0], KT_BATCH_ITEM);
	assert_int_equal(ttlv_find(bi, KT_OPERATION)->num, KOP_GET_ATTRIBUTES);
	const struct ttlv *pl = ttlv_find(bi, KT_REQUEST_PAYLOAD);
	const struct ttlv *t = pl->child;
	assert_int_equal(t->tag, KT_UNIQUE_IDENTIFIER);
	assert_memory_equal(t->val, "42", 2);
	assert_int_equal(t->next->tag, KT_ATTRIBUTE_NAME);
	assert_memory_equal(t->next->val, "Initial Date", 12);
	assert_memory_equal(t->next->next->val, "Activation Date", 15);
	ttlv_doc_free(&doc);
	assert_int_equal(kmip_build_get_dates(req, 40, 1, 1, "42"), 0);	/* too small */
	assert_int_equal(kmip_build_get_dates(req, sizeof(req), 1, 1, ""), 0);

	struct w w;
	struct kmip_dates d;
	n = response(&w, KOP_GET_ATTRIBUTES, 0, -1, NULL, dates_payload);
	assert_int_equal(kmip_parse_dates(w.b, n, &d, err, sizeof(err)), 0);
	assert_int_equal(d.status, 0);
	assert_int_equal(d.initial, 0x69350010LL);
	assert_int_equal(d.activation, 0);
	/* Refused: status and reason, no dates. */
	n = response(&w, KOP_GET_ATTRIBUTES, 1, 1, "Item Not Found", NULL);
	assert_int_equal(kmip_parse_dates(w.b, n, &d, err, sizeof(err)), 0);
	assert_int_equal(d.status, 1);
	assert_int_equal(d.reason, 1);
	assert_string_equal(d.message, "Item Not Found");
	assert_int_equal(d.initial, 0);
	/* The answer to another operation is not this one's. */
	n = response(&w, KOP_QUERY, 0, -1, NULL, dates_payload);
	assert_int_equal(kmip_parse_dates(w.b, n, &d, err, sizeof(err)), -1);
	/* Every truncation is an error, never a crash. */
	n = response(&w, KOP_GET_ATTRIBUTES, 0, -1, NULL, dates_payload);
	for (size_t cut = 0; cut < n; cut++)
		assert_int_equal(kmip_parse_dates(w.b, cut, &d, err, sizeof(err)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_discover_matches_spec_layout),
		cmocka_unit_test(test_build_query),
		cmocka_unit_test(test_parse_discover_and_query),
		cmocka_unit_test(test_not_a_response),
		cmocka_unit_test(test_truncations_and_flips_never_crash),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_key_dates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
