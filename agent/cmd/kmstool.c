/*
 * `kms-thumbprint` and `kms-probe`: the KMS side of the guide's manual
 * steps (openssl s_client | openssl x509 -fingerprint, and "does it speak
 * KMIP 1.1?"), with a distinct exit code for each way they can fail.
 */
#include "cli.h"
#include "kmip.h"
#include "kmipio.h"
#include "log.h"
#include "opts.h"
#include "tls.h"
#include "xmalloc.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WARN_DAYS	30
#define STR(x)		#x
#define XSTR(x)		STR(x)		/* a number above, in a help text */

/* HOST, HOST:PORT, [V6]:PORT or a bare IPv6 address. */
int
cli_split_hostport(const char *arg, const char *defport, char *host, size_t hlen,
    char *port, size_t plen)
{
	const char *c;

	snprintf(port, plen, "%s", defport);
	if (arg[0] == '[') {
		const char *e = strchr(arg, ']');
		if (e == NULL || (e[1] != '\0' && e[1] != ':') || e == arg + 1)
			return -1;
		snprintf(host, hlen, "%.*s", (int)(e - arg - 1), arg + 1);
		if (e[1] == ':')
			snprintf(port, plen, "%s", e + 2);
	} else if ((c = strchr(arg, ':')) != NULL && strchr(c + 1, ':') == NULL) {
		snprintf(host, hlen, "%.*s", (int)(c - arg), arg);
		snprintf(port, plen, "%s", c + 1);
	} else {
		snprintf(host, hlen, "%s", arg);
	}
	if (host[0] == '\0' || port[0] == '\0' || strspn(port, "0123456789") != strlen(port))
		return -1;
	long p = strtol(port, NULL, 10);
	return p >= 1 && p <= 65535 ? 0 : -1;
}

static int
exit_for_tls(int rc)
{
	switch (rc) {
	case TLS_E_RESOLVE:
	case TLS_E_CONNECT:
		return EXIT_KMS_UNREACHABLE;
	case TLS_E_SETUP:
		return EXIT_USAGE;
	case TLS_E_HANDSHAKE:
	case TLS_E_VERIFY:
		return EXIT_KMS_TLS;
	default:
		return EXIT_KMS_PROTOCOL;
	}
}

int
kms_fetch_certificate(const char *target, int timeout, struct tls_cert_info *ci,
    char *host, size_t hlen, char *port, size_t plen)
{
	struct tls_client_opts o = { NULL, NULL, NULL, 0, timeout };
	struct tls_client *c = NULL;
	char err[512];

	if (cli_split_hostport(target, KMIP_PORT, host, hlen, port, plen) != 0) {
		fprintf(stderr, "vmcrypt-agent: '%s' is not HOST[:PORT] (port 1..65535)\n",
		    target);
		return EXIT_USAGE;
	}
	int rc = tls_client_open(host, port, &o, &c, err, sizeof(err));
	if (c == NULL || tls_client_peer(c, ci) != 0) {
		fprintf(stderr, "vmcrypt-agent: %s\n", err);
		tls_client_free(c);
		return exit_for_tls(rc ? rc : TLS_E_HANDSHAKE);
	}
	if (rc != 0)	/* e.g. the KMS wants a client certificate */
		fprintf(stderr, "note: %s; the certificate was received before that\n", err);
	tls_client_free(c);
	return EXIT_OK;
}

static void
expiry_warning(const struct tls_cert_info *ci)
{
	if (ci->expires_in < 0)
		fprintf(stderr, "warning: the certificate has EXPIRED (notAfter=%s); vCenter "
		    "will not trust it: renew it on the KMS\n", ci->not_after);
	else if (ci->expires_in < WARN_DAYS * 86400LL)
		fprintf(stderr, "warning: the certificate expires in %lld days (notAfter=%s); "
		    "renew it and register the new thumbprint\n", ci->expires_in / 86400,
		    ci->not_after);
}

/* ---------------------------------------------------------------- */

int
cmd_kms_thumbprint(int argc, char **argv)
{
	struct tls_client_opts o = { NULL, NULL, NULL, 0, 10 };
	struct tls_cert_info ci;
	const char *target = NULL;
	char host[256], port[16];
	int json = 0, rc;
	const struct opt opts[] = {
		{ "json", 'j', OPT_FLAG, NULL, &json, .help = "the certificate as JSON" },
		{ "timeout", 't', OPT_INT, "S", &o.timeout, .min = 1, .max = 300,
		  .unit = "seconds", .help = "give up after S seconds (10)" },
		{ NULL }
	};
	const struct opts_cmd cmd = {
		.usage = "usage: vmcrypt-agent kms-thumbprint HOST[:PORT] [--json] [--timeout S]\n",
		.about =
		    "Connects to the KMS (port 5696 by default) and prints its TLS\n"
		    "certificate's SHA-1 fingerprint exactly as `openssl x509 -fingerprint\n"
		    "-sha1` prints it (upper-case hex pairs joined by colons: what OVHcloud's\n"
		    "API and vCenter take), then SHA-256, subject, issuer and validity, each\n"
		    "line as `openssl x509` prints it.  Warns on an expired certificate or one\n"
		    "expiring within " XSTR(WARN_DAYS) " days.  The certificate is shown, not "
		    "verified:\n"
		    "compare it with the KMS's own before you register it.\n",
		.tail =
		    "exit status: 0 printed; 2 usage; 6 KMS unreachable (name, refused,\n"
		    "timeout); 7 TLS failed before any certificate was received.\n",
		.opts = opts,
		.min_args = 1, .max_args = 1, .args_name = "HOST[:PORT]", .args = &target,
	};

	if ((rc = opts_parse(&cmd, argc, argv)) != EXIT_OK)
		return rc == OPTS_HELP ? EXIT_OK : rc;
	if ((rc = kms_fetch_certificate(target, o.timeout, &ci, host, sizeof(host), port,
	    sizeof(port))) != EXIT_OK)
		return rc;

	if (json) {
		json_object *o = json_object_new_object();
		const char *sha1 = strchr(ci.sha1, '=') + 1, *sha256 = strchr(ci.sha256, '=') + 1;
		json_object_object_add(o, "host", json_object_new_string(host));
		json_object_object_add(o, "port", json_object_new_int(atoi(port)));
		json_object_object_add(o, "sha1", json_object_new_string(sha1));
		json_object_object_add(o, "sha256", json_object_new_string(sha256));
		json_object_object_add(o, "subject", json_object_new_string(ci.subject));
		json_object_object_add(o, "issuer", json_object_new_string(ci.issuer));
		json_object_object_add(o, "not_before", json_object_new_string(ci.not_before));
		json_object_object_add(o, "not_after", json_object_new_string(ci.not_after));
		json_object_object_add(o, "expires_in_days",
		    json_object_new_int64(ci.expires_in / 86400));
		json_object_object_add(o, "expired", json_object_new_boolean(ci.expires_in < 0));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		printf("%s\n%s\nsubject=%s\nissuer=%s\nnotBefore=%s\nnotAfter=%s\n", ci.sha1,
		    ci.sha256, ci.subject, ci.issuer, ci.not_before, ci.not_after);
	}
	expiry_warning(&ci);
	return EXIT_OK;
}

/* ---------------------------------------------------------------- */

/* Sends one request and reads its response; 0 or an exit code. */
static int
roundtrip(struct tls_client *c, const uint8_t *req, size_t reqlen, int op,
    struct kmip_answer *a, char *err, size_t errlen)
{
	uint8_t *buf;
	size_t len;
	char why[256];

	if (kmip_exchange(c, req, reqlen, op, &buf, &len, err, errlen) != 0)
		return EXIT_KMS_PROTOCOL;
	int rc = kmip_parse_response(buf, len, op, a, why, sizeof(why));
	free(buf);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", kmip_operation_name(op), why);
		return EXIT_KMS_PROTOCOL;
	}
	return 0;
}

static void
refusal(const struct kmip_answer *a, char *buf, size_t len)
{
	const char *op = kmip_operation_name(a->operation);

	if (a->reason >= 0)
		snprintf(buf, len, "%s refused: %s%s%s", op, kmip_result_reason_name(a->reason),
		    a->message[0] ? ": " : "", a->message);
	else if (a->message[0])
		snprintf(buf, len, "%s refused: %s", op, a->message);
	else
		snprintf(buf, len, "%s refused (result status %d)", op, a->status);
}

/* What Discover Versions and Query said. */
struct probe {
	char			 host[256], port[16];
	struct tls_cert_info	 ci;
	struct kmip_answer	*dv, *q;
	char			 qerr[512];	/* Query refused: why */
	int			 has11;
};

/* EXIT_OK to go on, an exit code, or OPTS_HELP (--help said). */
static int
probe_args(int argc, char **argv, struct tls_client_opts *o, int *json, struct probe *p)
{
	const char *target = NULL;
	int insecure = 0, rc;
	const struct opt opts[] = {
		{ "cert", 0, OPT_STRING, "FILE", &o->cert_file,
		  .help = "the client certificate to present, PEM" },
		{ "key", 0, OPT_STRING, "FILE", &o->key_file, .help = "its private key, PEM" },
		{ "ca", 0, OPT_STRING, "FILE", &o->ca_file,
		  .help = "verify the KMS against these CAs" },
		{ "insecure", 0, OPT_FLAG, NULL, &insecure,
		  .help = "do not verify the KMS certificate" },
		{ "json", 'j', OPT_FLAG, NULL, json, .help = "the answers as JSON" },
		{ "timeout", 't', OPT_INT, "S", &o->timeout, .min = 1, .max = 300,
		  .unit = "seconds", .help = "give up after S seconds (10)" },
		{ NULL }
	};
	const struct opts_cmd cmd = {
		.usage = "usage: vmcrypt-agent kms-probe HOST[:PORT] [--cert FILE --key FILE]\n"
		    "                 [--ca FILE | --insecure] [--json] [--timeout S]\n",
		.about =
		    "Speaks KMIP over TLS to the KMS (port 5696 by default): Discover\n"
		    "Versions, then Query.  Prints the KMIP versions and the operations and\n"
		    "object types it offers, and whether KMIP 1.1 (what vCenter speaks) is\n"
		    "among them.  A KMS usually wants a client certificate: give the one\n"
		    "vCenter uses, or one it trusts, with --cert and --key.  The server is\n"
		    "verified against --ca FILE, else the system CA store; --insecure skips\n"
		    "that (and says so).\n",
		.tail =
		    "exit status: 0 KMIP 1.1 offered; 1 it is not; 2 usage or unreadable\n"
		    "certificate/key/CA files; 6 KMS unreachable (name, refused, timeout);\n"
		    "7 TLS failed (not TLS, certificate refused, client certificate\n"
		    "required); 8 TLS works but the service does not answer KMIP.\n",
		.opts = opts,
		.min_args = 1, .max_args = 1, .args_name = "HOST[:PORT]", .args = &target,
	};

	if ((rc = opts_parse(&cmd, argc, argv)) != EXIT_OK)
		return rc;
	o->verify = !insecure;
	if (o->key_file && !o->cert_file) {
		fprintf(stderr, "vmcrypt-agent: --key goes with --cert\n");
		return EXIT_USAGE;
	}
	if (o->ca_file && insecure) {
		fprintf(stderr, "vmcrypt-agent: --ca and --insecure exclude each other\n");
		return EXIT_USAGE;
	}
	if (cli_split_hostport(target, KMIP_PORT, p->host, sizeof(p->host), p->port,
	    sizeof(p->port)) != 0) {
		fprintf(stderr, "vmcrypt-agent: '%s' is not HOST[:PORT] (port 1..65535)\n",
		    target);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* TLS, then Discover Versions and Query.  Exit code. */
static int
probe_run(const struct tls_client_opts *o, struct probe *p)
{
	struct tls_client *c = NULL;
	char err[768];
	uint8_t req[256];
	int rc;

	if ((rc = tls_client_open(p->host, p->port, o, &c, err, sizeof(err))) != 0) {
		fprintf(stderr, "vmcrypt-agent: %s\n", err);
		if (c != NULL && tls_client_peer(c, &p->ci) == 0)
			fprintf(stderr, "vmcrypt-agent: the server's certificate: %s; subject=%s; "
			    "issuer=%s%s\n", p->ci.sha1, p->ci.subject, p->ci.issuer,
			    rc == TLS_E_VERIFY ? "; give its CA with --ca FILE" : "");
		tls_client_free(c);
		return exit_for_tls(rc);
	}
	tls_client_peer(c, &p->ci);
	/* Discover Versions exists from KMIP 1.1 on: ask under 1.1. */
	size_t n = kmip_build_discover(req, sizeof(req), 1, 1);
	if ((rc = roundtrip(c, req, n, KOP_DISCOVER_VERSIONS, p->dv, err, sizeof(err))) == 0) {
		n = kmip_build_query(req, sizeof(req), 1, 1);
		rc = roundtrip(c, req, n, KOP_QUERY, p->q, err, sizeof(err));
	}
	tls_client_free(c);
	if (rc != 0) {
		fprintf(stderr, "vmcrypt-agent: %s:%s: %s\n", p->host, p->port, err);
		return rc;
	}
	for (size_t i = 0; p->dv->status == 0 && i < p->dv->nversions; i++)
		p->has11 |= p->dv->versions[i].major == 1 && p->dv->versions[i].minor == 1;
	if (p->q->status != 0)
		refusal(p->q, p->qerr, sizeof(p->qerr));
	return EXIT_OK;
}

static void
probe_json(const struct probe *p)
{
	const struct kmip_answer *dv = p->dv, *q = p->q;
	json_object *j = json_object_new_object(), *v = json_object_new_array();
	json_object *ops = json_object_new_array(), *objs = json_object_new_array();

	json_object_object_add(j, "host", json_object_new_string(p->host));
	json_object_object_add(j, "port", json_object_new_int(atoi(p->port)));
	json_object_object_add(j, "tls", json_object_new_string(p->ci.protocol));
	json_object_object_add(j, "sha1", json_object_new_string(strchr(p->ci.sha1, '=') + 1));
	for (size_t i = 0; dv->status == 0 && i < dv->nversions; i++) {
		char s[24];
		snprintf(s, sizeof(s), "%d.%d", dv->versions[i].major, dv->versions[i].minor);
		json_object_array_add(v, json_object_new_string(s));
	}
	json_object_object_add(j, "versions", v);
	json_object_object_add(j, "kmip_1_1", json_object_new_boolean(p->has11));
	json_object_object_add(j, "vendor", q->vendor[0] ? json_object_new_string(q->vendor) :
	    NULL);
	for (size_t i = 0; i < q->noperations; i++)
		json_object_array_add(ops, json_object_new_string(
		    kmip_operation_name(q->operations[i])));
	for (size_t i = 0; i < q->nobjects; i++)
		json_object_array_add(objs, json_object_new_string(
		    kmip_object_name(q->objects[i])));
	json_object_object_add(j, "operations", ops);
	json_object_object_add(j, "object_types", objs);
	json_object_object_add(j, "query_error", p->qerr[0] ?
	    json_object_new_string(p->qerr) : NULL);
	printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
}

static void
probe_text(const struct probe *p)
{
	const struct kmip_answer *dv = p->dv, *q = p->q;

	printf("KMS %s port %s: %s, %s\n", p->host, p->port, p->ci.protocol, p->ci.cipher);
	printf("certificate: %s\n", p->ci.sha1);
	if (dv->status != 0) {
		char r[512];
		refusal(dv, r, sizeof(r));
		printf("KMIP versions: not reported (%s)\n", r);
	} else {
		printf("KMIP versions:");
		for (size_t i = 0; i < dv->nversions; i++)
			printf("%s %d.%d", i ? "," : "", dv->versions[i].major,
			    dv->versions[i].minor);
		printf("%s\n", dv->nversions ? "" : " none listed");
	}
	if (q->vendor[0])
		printf("vendor: %s\n", q->vendor);
	if (p->qerr[0]) {
		printf("operations: not reported (%s)\n", p->qerr);
	} else {
		printf("operations (%zu):", q->noperations);
		for (size_t i = 0; i < q->noperations; i++)
			printf("%s %s", i ? "," : "", kmip_operation_name(q->operations[i]));
		printf("\nobject types:");
		for (size_t i = 0; i < q->nobjects; i++)
			printf("%s %s", i ? "," : "", kmip_object_name(q->objects[i]));
		printf("%s\n", q->nobjects ? "" : " none reported");
	}
	printf("KMIP 1.1: %s\n", p->has11 ? "offered (vCenter speaks KMIP 1.1)" :
	    "NOT offered: vCenter needs KMIP 1.1");
}

int
cmd_kms_probe(int argc, char **argv)
{
	struct tls_client_opts o = { NULL, NULL, NULL, 1, 10 };
	struct probe *p = xcalloc(1, sizeof(*p));
	int json = 0, rc;

	p->dv = xcalloc(1, sizeof(*p->dv));
	p->q = xcalloc(1, sizeof(*p->q));
	if ((rc = probe_args(argc, argv, &o, &json, p)) != EXIT_OK) {
		rc = rc == OPTS_HELP ? EXIT_OK : rc;
		goto out;
	}
	if (!o.verify)
		fprintf(stderr, "warning: --insecure: the KMS certificate is NOT verified\n");
	if ((rc = probe_run(&o, p)) != EXIT_OK)
		goto out;
	if (json)
		probe_json(p);
	else
		probe_text(p);
	expiry_warning(&p->ci);
	if (!p->has11)
		fprintf(stderr, "vmcrypt-agent: %s:%s does not offer KMIP 1.1, which vCenter "
		    "uses to talk to a KMS\n", p->host, p->port);
	rc = p->has11 ? EXIT_OK : EXIT_FAIL;
out:
	free(p->dv);
	free(p->q);
	free(p);
	return rc;
}
