/*
 * KMIP over TLS (kmipio.h).
 */
#include "kmipio.h"

#include "config.h"
#include "kmip.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
kmip_exchange(struct tls_client *c, const uint8_t *req, size_t reqlen, int op,
    uint8_t **resp, size_t *resplen, char *err, size_t errlen)
{
	uint8_t hdr[KMIP_HEADER_LEN];
	char why[256];

	*resp = NULL;
	*resplen = 0;
	if (tls_client_write(c, req, reqlen, why, sizeof(why)) != 0 ||
	    tls_client_read(c, hdr, sizeof(hdr), why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s: not a KMIP server?", kmip_operation_name(op), why);
		return -1;
	}
	size_t len = kmip_message_len(hdr);
	if (len == 0) {
		char shown[KMIP_HEADER_LEN + 1];
		for (int i = 0; i < KMIP_HEADER_LEN; i++)
			shown[i] = hdr[i] >= 0x20 && hdr[i] < 0x7f ? (char)hdr[i] : '.';
		shown[KMIP_HEADER_LEN] = '\0';
		snprintf(err, errlen, "%s: the answer is not KMIP (it starts with "
		    "%02X %02X %02X %02X \"%s\"): is this port a KMS?", kmip_operation_name(op),
		    hdr[0], hdr[1], hdr[2], hdr[3], shown);
		return -1;
	}
	if (len > KMIP_MAX_MESSAGE) {
		snprintf(err, errlen, "%s: the answer announces %zu bytes, over the %u-byte "
		    "limit", kmip_operation_name(op), len, KMIP_MAX_MESSAGE);
		return -1;
	}
	uint8_t *buf = xmalloc(len);
	memcpy(buf, hdr, sizeof(hdr));
	if (tls_client_read(c, buf + KMIP_HEADER_LEN, len - KMIP_HEADER_LEN, why,
	    sizeof(why)) != 0) {
		free(buf);
		snprintf(err, errlen, "%s: %s", kmip_operation_name(op), why);
		return -1;
	}
	*resp = buf;
	*resplen = len;
	return 0;
}

int
kmip_key_since(const struct kmip_target *t, const char *uid, double *since, char *err,
    size_t errlen)
{
	struct tls_client *c = NULL;
	struct kmip_dates d;
	uint8_t req[2048], *resp = NULL;
	size_t n, rlen = 0;
	char why[512];
	int rc = -1;

	*since = 0;
	if ((n = kmip_build_get_dates(req, sizeof(req), 1, 1, uid)) == 0) {
		snprintf(err, errlen, "key id '%.64s' cannot be asked about", uid);
		return -1;
	}
	if (tls_client_open(t->host, t->port, &t->tls, &c, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "KMS %s:%s: %s", t->host, t->port, why);
		tls_client_free(c);
		return -1;
	}
	if (kmip_exchange(c, req, n, KOP_GET_ATTRIBUTES, &resp, &rlen, why, sizeof(why)) != 0 ||
	    kmip_parse_dates(resp, rlen, &d, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "KMS %s:%s: %s", t->host, t->port, why);
	} else if (d.status != 0) {
		snprintf(err, errlen, "KMS %s:%s: Get Attributes of key %s refused: %s%s%s",
		    t->host, t->port, uid, d.reason >= 0 ? kmip_result_reason_name(d.reason) :
		    "failed", d.message[0] ? ": " : "", d.message);
	} else {
		*since = (double)(d.initial > 0 ? d.initial : d.activation);
		rc = 0;
	}
	free(resp);
	tls_client_free(c);
	return rc;
}

const struct kmip_target *
kmip_target_of(const struct config *cfg)
{
	static struct kmip_target t;

	if (cfg->kmip_address == NULL)
		return NULL;
	memset(&t, 0, sizeof(t));
	snprintf(t.host, sizeof(t.host), "%s", cfg->kmip_address);
	snprintf(t.port, sizeof(t.port), "%d", cfg->kmip_port);
	t.tls.cert_file = cfg->kmip_cert;
	t.tls.key_file = cfg->kmip_key;
	t.tls.ca_file = cfg->kmip_ca;
	t.tls.verify = 1;
	t.tls.timeout = cfg->timeout > 0 && cfg->timeout < 30 ? cfg->timeout : 30;
	return &t;
}

int
kmip_key_since_cb(void *target, const char *uid, double *since, char *err, size_t errlen)
{
	return kmip_key_since(target, uid, since, err, errlen);
}
