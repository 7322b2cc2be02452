/*
 * `kms setup --okms ID`: the OVHcloud half, in the guide's order
 * (okms-facts §1), each a step of `kms setup`'s report:
 *
 *   okms             GET /v2/okms/resource/ID?publicCA=true: the KMIP
 *                    endpoint (host:port) and the OKMS's public CA, both
 *                    through the signed API
 *   kms-certificate  the host's IPv4 addresses; on each, the certificate
 *                    served on the KMIP port, verified against that CA and
 *                    the host name (nothing to type, nothing to confirm)
 *   firewall         each address and its certificate's SHA-1 in the
 *                    Hosted Private Cloud's firewall (`ovh register-kms`'s
 *                    code), delivered before vCenter is touched
 *
 * then kset_vcenter() with the host name and port as the one server, the
 * CA as the certificate vCenter trusts, and guide/kmsokms.c for the KMS's
 * trust in vCenter.
 */
#include "okmscmd.h"

#include "cli.h"
#include "config.h"
#include "kmssetup.h"
#include "log.h"
#include "ovh.h"
#include "ovhapi.h"
#include "ovhcalls.h"
#include "ovhcmd.h"
#include "tls.h"
#include "xmalloc.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The OVHcloud API and the OKMS resource. */
static int
step_okms(struct setup *s, struct okms_run *r, struct ovhc_opts *oo)
{
	char base[256], err[768];
	int rc;

	if ((rc = ovhc_connect_api(oo, 1, &r->trust.api, base, sizeof(base))) != EXIT_OK) {
		struct step *st = steps_add(&s->steps, "okms", STEP_FAILED, "the OVHcloud API: "
		    "see the line above");
		return steps_fail(&s->steps, st, rc, "give the OVHcloud credentials as `vmcrypt-"
		    "agent ovh --help` says (OVH_* or ovh.conf), then run again");
	}
	if ((rc = okms_resource_get(r->trust.api, r->okms_id, &r->res, err, sizeof(err))) != 0) {
		struct step *st = steps_add(&s->steps, "okms", STEP_FAILED, "%s", err);
		const char *act = ovh_client_error_actions(r->trust.api);
		if (rc == OVH_E_NOTFOUND)
			return steps_fail(&s->steps, st, EXIT_OVH_NO_SERVICE, "no OKMS %s on this "
			    "OVHcloud account: give the id of one (Control Panel > Identity, "
			    "Security & Operations > Key Management Service)", r->okms_id);
		return steps_fail(&s->steps, st, ovhc_exit_for(rc), "%s%s%s", rc == OVH_E_DENIED ?
		    "grant the IAM action " : "run again; if it persists, quote the "
		    "X-Ovh-QueryID to OVHcloud support", rc == OVH_E_DENIED ? (act[0] ? act :
		    "okms:apiovh:resource/get") : "", rc == OVH_E_DENIED ? " to this identity on "
		    "the OKMS (IAM policy), then run again" : "");
	}
	steps_add(&s->steps, "okms", STEP_UNCHANGED, "OKMS %s (%s): KMIP %s:%d, public CA "
	    "read through the signed API", r->okms_id, r->res.region, r->res.host, r->res.port);
	return 0;
}

/* The KMIP host's IPv4 addresses (OVHcloud's firewall takes nothing else). */
static int
resolve(struct setup *s, struct okms_run *r)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;
	int e = getaddrinfo(r->res.host, NULL, &hints, &ai);

	if (e != 0) {
		struct step *st = steps_add(&s->steps, "kms-certificate", STEP_FAILED, "%s: %s",
		    r->res.host, gai_strerror(e));
		return steps_fail(&s->steps, st, EXIT_KMS_UNREACHABLE, "this host must resolve "
		    "%s to its IPv4 address(es): check its DNS", r->res.host);
	}
	for (struct addrinfo *a = ai; a != NULL && r->naddrs < OKMS_MAX_ADDRS; a = a->ai_next) {
		char ip[16];
		inet_ntop(AF_INET, &((struct sockaddr_in *)a->ai_addr)->sin_addr, ip, sizeof(ip));
		int dup = 0;
		for (size_t i = 0; i < r->naddrs; i++)
			dup = dup || strcmp(r->addrs[i], ip) == 0;
		if (!dup)
			snprintf(r->addrs[r->naddrs++], sizeof(r->addrs[0]), "%s", ip);
	}
	freeaddrinfo(ai);
	return 0;
}

/* The certificate served at ip, verified against the OKMS CA for the host
 * name; tp its SHA-1 as OVHcloud takes it. */
static int
check_address(struct setup *s, struct okms_run *r, const char *ip, char tp[60])
{
	struct tls_client_opts o = { NULL, NULL, NULL, 0, 10 };
	struct tls_client *c = NULL;
	struct tls_cert_info ci;
	char port[16], err[512] = "";

	snprintf(port, sizeof(port), "%d", r->res.port);
	int rc = tls_client_open(ip, port, &o, &c, err, sizeof(err));
	if (c == NULL || tls_client_peer(c, &ci) != 0 || ci.pem[0] == '\0') {
		tls_client_free(c);
		struct step *st = steps_add(&s->steps, "kms-certificate", STEP_FAILED, "%s (%s:%s): "
		    "%s", r->res.host, ip, port, err[0] ? err : "no certificate received");
		return steps_fail(&s->steps, st, rc == TLS_E_CONNECT || rc == TLS_E_RESOLVE ?
		    EXIT_KMS_UNREACHABLE : EXIT_KMS_TLS, "this host must reach the OKMS at "
		    "%s:%s (vmcrypt-agent kms-probe %s:%s)", ip, port, r->res.host, port);
	}
	tls_client_free(c);
	if (tls_verify_pem(ci.pem, r->res.public_ca, r->res.host, err, sizeof(err)) != 0) {
		struct step *st = steps_add(&s->steps, "kms-certificate", STEP_FAILED, "%s (%s:%s): "
		    "the certificate served (%s, issuer %s) is not the OKMS's: %s", r->res.host,
		    ip, port, ci.subject, ci.issuer, err);
		return steps_fail(&s->steps, st, EXIT_KMS_TLS, "nothing was registered: %s does "
		    "not lead to OKMS %s from here (DNS, proxy, or interception?)", r->res.host,
		    r->okms_id);
	}
	if (ovh_thumbprint_norm(strchr(ci.sha1, '=') ? strchr(ci.sha1, '=') + 1 : ci.sha1,
	    tp) != 0)
		fatalx("the SHA-1 of a certificate is not 20 bytes");
	steps_add(&s->steps, "kms-certificate", STEP_UNCHANGED, "%s (%s:%s): SHA-1 %s, "
	    "subject %s, issued by the OKMS CA, expires %s", r->res.host, ip, port, tp,
	    ci.subject, ci.not_after);
	return 0;
}

/* One address in the firewall, delivered. */
static int
step_firewall(struct setup *s, struct okms_run *r, struct ovhc_opts *oo, const char *ip,
    const char *tp)
{
	char desc[128];
	json_object *res = json_object_new_object();

	snprintf(desc, sizeof(desc), "OKMS %s KMIP (%.60s)", r->okms_id, r->res.host);
	oo->kms_ip = ip;
	oo->description = desc;
	oo->update = 1;		/* a thumbprint the OKMS CA vouches for */
	int rc = ovhcmd_register(r->trust.api, oo, tp, res);
	json_object *k = NULL;
	json_object_object_get_ex(res, "kms", &k);
	const char *act = ovhc_jstr(res, "action"), *state = ovhc_jstr(k, "state");
	if (rc != EXIT_OK) {
		struct step *st = steps_add(&s->steps, "firewall", STEP_FAILED, "%s (%s) in %s: "
		    "%s", ip, tp, r->service, act ? act : "see the lines above");
		json_object_put(res);
		return steps_fail(&s->steps, st, rc, "the fix is on the lines above; the key "
		    "provider is added only once the address is delivered: run again then");
	}
	if (!s->dry_run && (state == NULL || strcmp(state, "delivered") != 0)) {
		struct step *st = steps_add(&s->steps, "firewall", STEP_FAILED, "%s in %s: state "
		    "%s", ip, r->service, state ? state : "unknown");
		json_object_put(res);
		return steps_fail(&s->steps, st, EXIT_FAIL, "OVHcloud has not delivered it yet: "
		    "run again in a few minutes (vmcrypt-agent ovh status --service %s)",
		    r->service);
	}
	steps_add(&s->steps, "firewall", strcmp(act, "unchanged") == 0 ? STEP_UNCHANGED :
	    s->dry_run ? STEP_WOULD : STEP_DONE, "%s (SHA-1 %s) in the firewall of %s: %s%s%s",
	    ip, tp, r->service, act, state ? ", " : "", state ? state : "");
	json_object_put(res);
	return 0;
}

/* The one server vCenter gets: the host name and port (OVHcloud advises
 * the name), with the CA to trust. */
static void
point_vcenter(struct setup *s, struct okms_run *r, const char *sha1)
{
	struct config *cfg = s->cfg;

	for (size_t i = 0; i < cfg->nkms_servers; i++) {
		free(cfg->kms_servers[i].name);
		free(cfg->kms_servers[i].address);
	}
	free(cfg->kms_servers);
	cfg->kms_servers = xcalloc(1, sizeof(*cfg->kms_servers));
	cfg->nkms_servers = 1;
	cfg->kms_servers[0].name = xstrdup(r->res.host);
	cfg->kms_servers[0].address = xstrdup(r->res.host);
	cfg->kms_servers[0].port = r->res.port;
	s->pem[0] = xstrdup(r->res.public_ca);
	snprintf(s->sha1[0], sizeof(s->sha1[0]), "the OKMS CA (server %s)", sha1);
	r->trust.okms_id = r->okms_id;
	r->trust.wait = r->wait;
	r->trust.validity = r->validity;
	okms_credential_name(cfg->vc_url, r->trust.name, sizeof(r->trust.name));
	if (cfg->nokms_identities > 0) {
		r->trust.urns = json_object_new_array();
		for (size_t i = 0; i < cfg->nokms_identities; i++)
			json_object_array_add(r->trust.urns,
			    json_object_new_string(cfg->okms_identities[i]));
	}
	s->okms = &r->trust;
}

int
okms_prepare(struct setup *s, struct okms_run *r)
{
	struct ovhc_opts oo = { .service = r->service, .dry_run = s->dry_run, .json = 1,
		.poll = 2, .wait = 1800, .timeout = 30 };
	char tp[60] = "";

	if (step_okms(s, r, &oo) != 0 || resolve(s, r) != 0)
		return -1;
	for (size_t i = 0; i < r->naddrs; i++)
		if (check_address(s, r, r->addrs[i], tp) != 0 ||
		    step_firewall(s, r, &oo, r->addrs[i], tp) != 0)
			return -1;
	point_vcenter(s, r, tp);
	return 0;
}

/* STATE-DIR/okms-CLUSTER.json: ours, for renewal and drift checks. */
static void
write_state(struct setup *s, const struct okms_run *r)
{
	char path[1024], tmp[1040];
	json_object *o = okms_json(r);

	snprintf(path, sizeof(path), "%s/okms-%s.json", s->cfg->state_dir, s->cfg->kms_cluster);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL || fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY), f) < 0
	    || fclose(f) != 0 || rename(tmp, path) != 0) {
		if (f != NULL)
			unlink(tmp);
		fprintf(stderr, "vmcrypt-agent: warning: cannot write %s (the set-up is done; "
		    "the state file only records it)\n", path);
	}
	json_object_put(o);
}

json_object *
okms_json(const struct okms_run *r)
{
	json_object *o = json_object_new_object(), *a = json_object_new_array();

	json_object_object_add(o, "id", json_object_new_string(r->okms_id));
	json_object_object_add(o, "service", json_object_new_string(r->service));
	if (r->res.host[0]) {
		char ep[300];
		snprintf(ep, sizeof(ep), "%s:%d", r->res.host, r->res.port);
		json_object_object_add(o, "kmip_endpoint", json_object_new_string(ep));
	}
	for (size_t i = 0; i < r->naddrs; i++)
		json_object_array_add(a, json_object_new_string(r->addrs[i]));
	json_object_object_add(o, "addresses", a);
	json_object_object_add(o, "credential_name", json_object_new_string(r->trust.name));
	json_object_object_add(o, "credential", r->trust.cred_id[0] ?
	    json_object_new_string(r->trust.cred_id) : NULL);
	json_object_object_add(o, "credential_created", json_object_new_boolean(r->trust.posted));
	return o;
}

void
okms_finish(struct setup *s, struct okms_run *r)
{
	if (!s->dry_run && s->steps.exit_code == EXIT_OK && r->trust.cred_id[0] &&
	    s->cfg->state_dir != NULL)
		write_state(s, r);
	ovh_client_free(r->trust.api);
	r->trust.api = NULL;
	json_object_put(r->trust.urns);
	r->trust.urns = NULL;
	okms_resource_clear(&r->res);
}
