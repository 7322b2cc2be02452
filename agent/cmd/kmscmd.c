/*
 * `vmcrypt-agent kms setup`: its command line and its report; the steps
 * are guide/kmssetup.c's.
 */
#include "cli.h"
#include "config.h"
#include "kmssetup.h"
#include "log.h"
#include "okmscmd.h"
#include "opts.h"
#include "ovhcalls.h"
#include "vim.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: vmcrypt-agent kms setup [--config FILE] [--thumbprint SHA1]...\n"
    "           [--kms-user NAME [--kms-password-file FILE]]\n"
    "           [--client-cert FILE --client-key FILE | --csr-out FILE |\n"
    "            --signed-cert FILE] [--client-cert-out FILE]\n"
    "           [--wrapping-rotation-days N]\n"
    "           [--okms ID --ovh-service NAME [--okms-wait S] [--okms-validity DAYS]]\n"
    "           [--timeout SECONDS] [--dry-run] [--json] [--trace-soap DIR]\n";

static const char about[] =
    "Adds the KMS of <kms cluster=\"NAME\"><server name address port/></kms>\n"
    "to vCenter as a standard key provider and makes it usable, as OVHcloud's\n"
    "VM Encryption guide does by hand; each step is read first, so a second\n"
    "run changes nothing and says so:\n"
    "  kms-certificate     read the KMS certificate from here; its SHA-1\n"
    "                      thumbprint must match --thumbprint (or be confirmed\n"
    "                      at a terminal) before anything changes\n"
    "  key-provider        RegisterKmipServer for each server vCenter lacks\n"
    "  vcenter-trusts-kms  UploadKmipServerCert (Make vCenter Trust KMS)\n"
    "  kms-trusts-vcenter  UploadClientCert with --client-cert/--client-key; or\n"
    "                      vCenter's certificate signing request written to\n"
    "                      --csr-out for the KMS to sign (OVHcloud's KMS signs\n"
    "                      one), then the signed certificate given back with\n"
    "                      --signed-cert (UpdateKmsSignedCsrClientCert); or\n"
    "                      the client certificate vCenter has or generates\n"
    "                      (self-signed), written to --client-cert-out (default\n"
    "                      STATE-DIR/vcenter-client-NAME.pem) for the KMS admin\n"
    "  default             MarkDefault: the default key provider\n"
    "  connection          RetrieveKmipServersStatus_Task until every server is\n"
    "                      green and trusted both ways (--timeout, default 60)\n"
    "  wrapping-rotation   with --wrapping-rotation-days N (30 to 3650), vSphere\n"
    "                      9.0: vCenter rotates the provider's wrapping key every\n"
    "                      N days (UpdateKmipServer, keySpec); before 9.0 the run\n"
    "                      is refused before anything changes\n\n"
    "The KMS user's password comes from --kms-password-file (mode 600) or\n"
    "VMCRYPT_KMS_PASSWORD, never the command line.\n\n"
    "With --okms ID (or <okms id> in <kms>), OVHcloud's KMS, through the OVHcloud\n"
    "API (credentials as `vmcrypt-agent ovh --help` says), before vCenter:\n"
    "  okms                its KMIP endpoint and public CA (GET /v2/okms/resource)\n"
    "  kms-certificate     the endpoint's IPv4 addresses; the certificate each\n"
    "                      serves, checked against that CA (no thumbprint typed)\n"
    "  firewall            each address and SHA-1 in the Hosted Private Cloud's\n"
    "                      firewall (--ovh-service), delivered\n"
    "then the steps above with the endpoint's host name and port, the OKMS CA\n"
    "uploaded, and kms-trusts-vcenter: vCenter's CSR (kept across runs) signed\n"
    "by OKMS (a credential named after this vCenter, POSTed once, followed until\n"
    "READY for --okms-wait seconds, 120) and given back to vCenter.  Only the CSR\n"
    "way: a key made by OVHcloud is outside its PCI DSS scope.\n";

static const char tail[] =
    "Exit codes: 0 set up (or nothing to change); 1 a step failed (its fix is\n"
    "printed), or --wrapping-rotation-days on a vCenter before 9.0; 2 usage;\n"
    "3 configuration; 4 vCenter unreachable; 5 login failed; 6 KMS unreachable\n"
    "from here; 7 KMS TLS failed or thumbprint mismatch (--okms: the endpoint's\n"
    "certificate is not the OKMS CA's); 9 --okms: an IAM right is missing (named);\n"
    "10 --okms: no such OKMS.\n";

/* --okms's rules: the CSR way only, a Hosted Private Cloud to open. */
static int
okms_args_ok(const struct setup *s, const struct okms_run *r)
{
	if (r->okms_id == NULL)
		return EXIT_OK;
	if (!okms_id_ok(r->okms_id)) {
		fprintf(stderr, "vmcrypt-agent: --okms %s: an OKMS id is a UUID\n", r->okms_id);
		return EXIT_USAGE;
	}
	if (s->client_cert != NULL || s->client_key != NULL) {
		fprintf(stderr, "vmcrypt-agent: refused: with --okms, vCenter's client "
		    "certificate is made from its own CSR; a key made elsewhere (OVHcloud "
		    "generates one when a credential has no CSR) is not covered by OVHcloud's "
		    "PCI DSS certification: only certificates made from a CSR are\n");
		return EXIT_USAGE;
	}
	if (s->csr_out != NULL || s->signed_cert != NULL || s->nthumbprints > 0 ||
	    s->kms_user != NULL) {
		fprintf(stderr, "vmcrypt-agent: --okms does the CSR, the signature and the "
		    "KMS certificate itself: no --csr-out, --signed-cert, --thumbprint or "
		    "--kms-user\n");
		return EXIT_USAGE;
	}
	if (r->service == NULL || !ovhc_safe_segment(r->service)) {
		fprintf(stderr, "vmcrypt-agent: --okms needs --ovh-service NAME: the Hosted "
		    "Private Cloud whose firewall the OKMS endpoint is registered in\n");
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* argv[0] is "setup" (or "kms", for `kms --help`). */
static int
setup_args(int argc, char **argv, struct setup *s, struct okms_run *r)
{
	const struct opt opts[] = {
		{ "config", 'c', OPT_STRING, "FILE", &s->config_path, .help = OPTS_HELP_CONFIG },
		{ "thumbprint", 0, OPT_LIST, "SHA1", s->thumbprints, &s->nthumbprints,
		  .max = MAX_THUMBPRINTS, .help = "a KMS certificate to trust (once for each)" },
		{ "kms-user", 0, OPT_STRING, "NAME", &s->kms_user,
		  .help = "the user vCenter logs in to the KMS as" },
		{ "kms-password-file", 0, OPT_STRING, "FILE", &s->kms_password_file,
		  .help = "that user's password (mode 600)" },
		{ "client-cert", 0, OPT_STRING, "FILE", &s->client_cert,
		  .help = "the client certificate vCenter is to present, PEM" },
		{ "client-key", 0, OPT_STRING, "FILE", &s->client_key,
		  .help = "its private key, PEM (mode 600)" },
		{ "csr-out", 0, OPT_STRING, "FILE", &s->csr_out,
		  .help = "write vCenter's certificate signing request there" },
		{ "signed-cert", 0, OPT_STRING, "FILE", &s->signed_cert,
		  .help = "the certificate the KMS signed on that request" },
		{ "client-cert-out", 0, OPT_STRING, "FILE", &s->cert_out,
		  .help = "where vCenter's own client certificate is written" },
		{ "wrapping-rotation-days", 0, OPT_INT, "N", &s->wrap_days, .min = 30,
		  .max = 3650, .unit = "days", .help = "vSphere 9.0: rotate the wrapping key "
		  "every N days" },
		{ "timeout", 0, OPT_INT, "SECONDS", &s->timeout, .min = 1, .max = 3600,
		  .unit = "seconds", .help = "how long to wait for the connection (60)" },
		{ "dry-run", 0, OPT_FLAG, NULL, &s->dry_run,
		  .help = "say what each step would do, change nothing" },
		{ "json", 0, OPT_FLAG, NULL, &s->json, .help = "the steps as JSON" },
		{ "trace-soap", 0, OPT_STRING, "DIR", &s->trace, .help = OPTS_HELP_TRACE },
		{ "okms", 0, OPT_STRING, "ID", &r->okms_id, .help = "OVHcloud's KMS (OKMS) of "
		  "this id" },
		{ "ovh-service", 0, OPT_STRING, "NAME", &r->service,
		  .help = "with --okms: the Hosted Private Cloud (pcc-...)" },
		{ "okms-wait", 0, OPT_INT, "S", &r->wait, .min = 1, .max = 3600,
		  .unit = "seconds", .help = "how long a new credential may take (120)" },
		{ "okms-validity", 0, OPT_INT, "DAYS", &r->validity, .min = 1, .max = 365,
		  .unit = "days", .help = "the credential's validity (365, the maximum)" },
		{ NULL }
	};
	const struct opts_cmd cmd = { .usage = usage, .about = about, .tail = tail,
		.opts = opts };
	int rc;

	s->timeout = 60;
	r->wait = 120;
	r->validity = 365;
	if ((rc = opts_parse(&cmd, argc, argv)) != EXIT_OK)
		return rc;
	if ((s->client_cert == NULL) != (s->client_key == NULL)) {
		fprintf(stderr, "vmcrypt-agent: --client-cert and --client-key go together\n");
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	if ((s->client_cert != NULL) + (s->csr_out != NULL) + (s->signed_cert != NULL) > 1) {
		fprintf(stderr, "vmcrypt-agent: one way for the KMS to trust vCenter: "
		    "--client-cert/--client-key, --csr-out, or --signed-cert\n");
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < s->nthumbprints; i++) {
		char t[64];
		kset_thumb_norm(s->thumbprints[i], t, sizeof(t));
		if (strlen(t) != 40) {
			fprintf(stderr, "vmcrypt-agent: --thumbprint %s: not a SHA-1 thumbprint "
			    "(40 hex digits, colons allowed)\n", s->thumbprints[i]);
			return EXIT_USAGE;
		}
	}
	return okms_args_ok(s, r);
}

static void
print_steps(const struct setup *s, const struct okms_run *r)
{
	size_t changed = steps_changed(&s->steps);

	if (s->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "key_provider",
		    json_object_new_string(s->cfg->kms_cluster));
		json_object_object_add(o, "dry_run", json_object_new_boolean(s->dry_run));
		json_object_object_add(o, "ok", json_object_new_boolean(s->steps.exit_code == 0));
		json_object_object_add(o, "changes", json_object_new_int((int)changed));
		if (s->wrap_days > 0)
			json_object_object_add(o, "wrapping_rotation_days",
			    json_object_new_int(s->wrap_days));
		if (r->okms_id != NULL)
			json_object_object_add(o, "okms", okms_json(r));
		json_object_object_add(o, "steps", steps_json(&s->steps));
		puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		return;
	}
	printf("vmcrypt-agent kms setup: key provider '%s'%s\n\n", s->cfg->kms_cluster,
	    s->dry_run ? " (dry run: nothing is changed)" : "");
	steps_print_table(&s->steps, stdout);
	if (steps_failed(&s->steps, NULL) != NULL)
		printf("\nstopped at the first failure; %zu change%s made before it\n",
		    s->dry_run ? 0 : changed, changed == 1 ? "" : "s");
	else if (changed == 0)
		printf("\nnothing to change: '%s' is registered, trusted both ways, the "
		    "default, and connected%s\n", s->cfg->kms_cluster, s->wrap_days ?
		    "; its wrapping key's rotation is as asked" : "");
	else
		printf("\n%zu change%s %s\n", changed, changed == 1 ? "" : "s",
		    s->dry_run ? "would be made" : "made");
}

/* The steps against vCenter, on a logged-in session. */
static void
vcenter_run(struct vconn *c, void *arg)
{
	kset_vcenter(arg, c);
}

static void
vcenter_steps(struct setup *s)
{
	cli_guide_vcenter(s->cfg, &s->steps, vcenter_run, s);
}

/* The configuration kms setup needs: a provider name, and its servers
 * or an OKMS.  EXIT_OK or EXIT_CONFIG (said). */
static int
config_ok(struct setup *s, struct okms_run *r)
{
	const struct config *cfg = s->cfg;

	if (r->okms_id == NULL && cfg->okms_id != NULL) {
		r->okms_id = cfg->okms_id;
		if (okms_args_ok(s, r) != EXIT_OK)
			return EXIT_USAGE;
	}
	if (r->okms_id != NULL && cfg->kms_cluster == NULL) {
		fprintf(stderr, "vmcrypt-agent: kms setup --okms needs <kms cluster=\"NAME\"> in "
		    "%s: the key provider's name in vCenter\n", cfg->path);
		return EXIT_CONFIG;
	}
	if (r->okms_id != NULL && cfg->nkms_servers > 0) {
		fprintf(stderr, "vmcrypt-agent: %s: <kms> has both <server> and an OKMS; with "
		    "an OKMS its endpoint is the server: remove the <server> elements\n",
		    cfg->path);
		return EXIT_CONFIG;
	}
	if (r->okms_id == NULL && (cfg->kms_cluster == NULL || cfg->nkms_servers == 0)) {
		fprintf(stderr, "vmcrypt-agent: kms setup needs <kms cluster=\"NAME\"><server "
		    "name=\"...\" address=\"...\" port=\"5696\"/></kms> (or <okms id=\"...\"/>) "
		    "in %s\n", cfg->path);
		return EXIT_CONFIG;
	}
	return EXIT_OK;
}

int
cmd_kms(int argc, char **argv)
{
	struct setup s;
	struct okms_run r;
	int rc;

	memset(&s, 0, sizeof(s));
	memset(&r, 0, sizeof(r));
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
		return setup_args(argc, argv, &s, &r) == OPTS_HELP ? EXIT_OK : EXIT_USAGE;
	if (argc >= 2 && strcmp(argv[1], "renew-client-cert") == 0)
		return cmd_kms_renew(argc - 1, argv + 1);
	if (argc < 2 || strcmp(argv[1], "setup") != 0) {
		fputs(usage, stderr);
		fputs("       vmcrypt-agent kms renew-client-cert --help\n", stderr);
		return EXIT_USAGE;
	}
	if ((rc = setup_args(argc - 1, argv + 1, &s, &r)) != EXIT_OK)
		return rc == OPTS_HELP ? EXIT_OK : rc;
	if ((rc = cli_load_config(s.config_path, &s.cfg)) != EXIT_OK)
		return rc;
	if ((rc = config_ok(&s, &r)) != EXIT_OK ||
	    (rc = cli_trace_soap(s.cfg, s.trace)) != EXIT_OK) {
		config_free(s.cfg);
		return rc;
	}
	if (getenv("VMCRYPT_DEBUG") == NULL)
		log_setlevel(LOG_LVL_WARN);
	if (r.okms_id != NULL ? okms_prepare(&s, &r) == 0 : kset_certificates(&s) == 0)
		vcenter_steps(&s);
	if (s.steps.exit_code != EXIT_CONFIG || s.steps.n > 0)
		print_steps(&s, &r);
	if (r.okms_id != NULL)
		okms_finish(&s, &r);
	for (size_t i = 0; i < MAX_SERVERS; i++)
		free(s.pem[i]);
	config_free(s.cfg);
	return s.steps.exit_code;
}
