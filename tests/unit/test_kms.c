/* kms.c: reading CryptoManagerKmipClusterStatus as vCenter sends it, and
 * the verdict of `check` and of the running agent's KMS health. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "kms.h"
#include "inventory.h"
#include "provmap.h"
#include "vsanmap.h"
#include "domtest.h"


#define NOW 1800000000	/* 2027-01-15T08:00:00Z */

static void
test_parse_time(void **st)
{
	(void)st;
	assert_int_equal(kms_parse_time("2027-01-15T08:00:00Z"), NOW);
	assert_int_equal(kms_parse_time("2027-01-15T08:00:00.123456Z"), NOW);
	assert_int_equal(kms_parse_time("2027-01-15T10:00:00+02:00"), NOW);
	assert_int_equal(kms_parse_time("2027-01-15T07:30:00-00:30"), NOW);
	assert_int_equal(kms_parse_time("2027-01-15T08:00:00"), NOW);
	assert_int_equal(kms_parse_time("2027-13-15T08:00:00Z"), -1);
	assert_int_equal(kms_parse_time("yesterday"), -1);
	assert_int_equal(kms_parse_time("2027-01-15T08:00:00Zjunk"), -1);
	assert_int_equal(kms_parse_time(NULL), -1);
}

#define RESULT(body) "<val xmlns=\"urn:vim25\" " \
	"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" " \
	"xsi:type=\"ArrayOfCryptoManagerKmipClusterStatus\">" body "</val>"

static void
test_status_parse(void **st)
{
	(void)st;
	struct kms_cluster_status *s;
	size_t n;

	kms_status_parse(dom_parse(RESULT(
	    "<CryptoManagerKmipClusterStatus><clusterId><id>ovh</id></clusterId>"
	    "<overallStatus>yellow</overallStatus><managementType>vCenter</managementType>"
	    "<servers><name>kms-1</name><status>green</status>"
	    "<connectionStatus>Normal</connectionStatus>"
	    "<certInfo><subject>CN=kms</subject><issuer>CN=ca</issuer>"
	    "<serialNumber>1</serialNumber><notBefore>2026-01-01T00:00:00Z</notBefore>"
	    "<notAfter>2027-01-25T08:00:00Z</notAfter><fingerprint>AB</fingerprint>"
	    "<checkTime>2027-01-15T08:00:00Z</checkTime></certInfo>"
	    "<clientTrustServer>true</clientTrustServer>"
	    "<serverTrustClient>false</serverTrustClient><futureField>x</futureField></servers>"
	    "<servers><name>kms-2</name><status>red</status><connectionStatus/></servers>"
	    "</CryptoManagerKmipClusterStatus>"
	    "<SomethingNewer><x/></SomethingNewer>")), NOW, &s, &n);
	assert_int_equal(n, 1);
	assert_string_equal(s[0].id, "ovh");
	assert_string_equal(s[0].overall, "yellow");
	assert_int_equal(s[0].nservers, 2);
	assert_string_equal(s[0].servers[0].connection, "Normal");
	assert_int_equal(s[0].servers[0].client_trust_server, 1);
	assert_int_equal(s[0].servers[0].server_trust_client, 0);
	assert_int_equal(s[0].servers[0].cert.present, 1);
	assert_int_equal(s[0].servers[0].cert.expires_in, 10 * 86400);
	assert_int_equal(s[0].servers[1].client_trust_server, KMS_UNKNOWN);
	assert_int_equal(s[0].servers[1].cert.present, 0);
	assert_int_equal(s[0].client_cert.present, 0);
	kms_status_free(s, n);

	/* Nothing, or something else entirely: no clusters, no crash. */
	kms_status_parse(NULL, NOW, &s, &n);
	assert_int_equal(n, 0);
	kms_status_parse(dom_parse(RESULT("")), NOW, &s, &n);
	assert_int_equal(n, 0);
	kms_status_free(s, n);
}

/* A vCenter 8 with one standard provider "ovh", default, healthy. */
static struct kms_facts
healthy(void)
{
	struct kms_facts f;
	memset(&f, 0, sizeof(f));
	strcpy(f.api_type, "VirtualCenter");
	strcpy(f.api_version, "8.0.3.0");
	strcpy(f.crypto_manager_type, "CryptoManagerKmip");
	f.has_crypto_manager = 1;
	f.listed = 1;
	f.nclusters = 1;
	f.clusters = calloc(1, sizeof(*f.clusters));
	strcpy(f.clusters[0].id, "ovh");
	strcpy(f.clusters[0].mgmt, "vCenter");
	f.clusters[0].use_as_default = 1;
	f.clusters[0].nservers = 1;
	f.clusters[0].servers = calloc(1, sizeof(struct kms_server));
	strcpy(f.clusters[0].servers[0].name, "kms-1");
	strcpy(f.clusters[0].servers[0].address, "192.0.2.10");
	f.clusters[0].servers[0].port = 5696;
	f.default_asked = 1;
	strcpy(f.default_id, "ovh");
	f.status_read = 1;
	f.nstatus = 1;
	f.status = calloc(1, sizeof(*f.status));
	strcpy(f.status[0].id, "ovh");
	strcpy(f.status[0].overall, "green");
	f.status[0].nservers = 1;
	f.status[0].servers = calloc(1, sizeof(struct kms_server_status));
	strcpy(f.status[0].servers[0].name, "kms-1");
	strcpy(f.status[0].servers[0].status, "green");
	f.status[0].servers[0].client_trust_server = 1;
	f.status[0].servers[0].server_trust_client = 1;
	f.policy_checked = 1;
	strcpy(f.policy_name, "VM Encryption Policy");
	f.privs_checked = 1;
	for (size_t i = 0; i < kms_nprivileges; i++)
		f.granted[i] = 1;
	return f;
}

static struct config
cfg_any(void)
{
	struct config c;
	memset(&c, 0, sizeof(c));
	c.kms_require_default = 1;
	return c;
}

static const struct chk_item *
find(const struct chk_report *r, const char *id)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->items[i].id, id) == 0)
			return &r->items[i];
	return NULL;
}

static enum chk_result
result_of(const struct chk_report *r, const char *id)
{
	const struct chk_item *it = find(r, id);
	assert_non_null(it);
	return it->result;
}

static void
test_all_pass(void **st)
{
	(void)st;
	struct kms_facts f = healthy();
	struct config c = cfg_any();
	struct chk_report r;

	kms_evaluate(&c, &f, &r);
	assert_int_equal(r.n, 10);
	for (size_t i = 0; i < r.n; i++)
		assert_int_equal(r.items[i].result, CHK_PASS);
	assert_true(chk_ok(&r));
	assert_true(r.kms_usable);
	assert_string_equal(r.provider, "ovh");
	kms_facts_free(&f);
}

static void
test_esxi_and_no_crypto_manager(void **st)
{
	(void)st;
	struct kms_facts f = healthy();
	struct config c = cfg_any();
	struct chk_report r;

	strcpy(f.api_type, "HostAgent");
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "vcenter-type"), CHK_FAIL);
	assert_non_null(strstr(find(&r, "vcenter-type")->detail, "standalone ESXi host"));
	assert_null(find(&r, "kms-providers"));		/* nothing more to ask */
	assert_false(r.kms_usable);

	strcpy(f.api_type, "VirtualCenter");
	f.has_crypto_manager = 0;
	strcpy(f.crypto_manager_type, "CryptoManager");
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "crypto-manager"), CHK_FAIL);
	assert_false(r.kms_usable);
	kms_facts_free(&f);
}

static void
test_api_version_for_ft(void **st)
{
	(void)st;
	struct kms_facts f = healthy();
	struct config c = cfg_any();
	struct chk_report r;

	c.ft_encryption = "required";
	strcpy(f.api_version, "7.0.1.0");
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "api-version"), CHK_FAIL);
	assert_non_null(strstr(find(&r, "api-version")->detail, "7.0.2"));
	assert_true(r.kms_usable);	/* a config problem, not the KMS's */
	strcpy(f.api_version, "7.0.2.0");
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "api-version"), CHK_PASS);
	kms_facts_free(&f);
}

static void
test_no_providers(void **st)
{
	(void)st;
	struct kms_facts f = healthy();
	struct config c = cfg_any();
	struct chk_report r;

	kms_clusters_free(f.clusters, f.nclusters);
	f.clusters = NULL;
	f.nclusters = 0;
	f.default_id[0] = '\0';
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "kms-providers"), CHK_FAIL);
	assert_non_null(strstr(find(&r, "kms-providers")->fix, "Add Standard Key Provider"));
	assert_false(r.kms_usable);
	assert_false(chk_ok(&r));

	/* A provider named with no server: the fix names that provider, not
	 * "name the KMS". */
	c.kms_cluster = "ovh-kms";
	c.nkms_servers = 0;
	c.path = "/etc/vmcrypt-agent/vmcrypt-agent.xml";
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "kms-providers"), CHK_FAIL);
	assert_non_null(strstr(find(&r, "kms-providers")->fix,
	    "add the key provider 'ovh-kms' that /etc/vmcrypt-agent/vmcrypt-agent.xml names"));
	assert_non_null(strstr(find(&r, "kms-providers")->fix, "name 'ovh-kms'"));
	assert_null(strstr(find(&r, "kms-providers")->fix, "name the KMS"));

	/* The list could not be read at all. */
	f.listed = 0;
	strcpy(f.list_err.msg, "ListKmipServers: NoPermission: permission denied");
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "kms-providers"), CHK_FAIL);
	assert_non_null(strstr(find(&r, "kms-providers")->detail, "NoPermission"));
	kms_facts_free(&f);
}

static void
test_default(void **st)
{
	(void)st;
	struct kms_facts f = healthy();
	struct config c = cfg_any();
	struct chk_report r;

	/* None selected: a failure naming the fix, and the KMS is not usable. */
	f.default_id[0] = '\0';
	f.clusters[0].use_as_default = 0;
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "kms-default"), CHK_FAIL);
	assert_non_null(strstr(find(&r, "kms-default")->fix, "vmcrypt-agent kms setup"));
	assert_int_equal(result_of(&r, "kms-health"), CHK_SKIP);
	assert_false(r.kms_usable);

	/* Before 7.0 (no GetDefaultKmsCluster) useAsDefault says it. */
	f.default_asked = 0;
	f.clusters[0].use_as_default = 1;
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "kms-default"), CHK_PASS);
	assert_non_null(strstr(find(&r, "kms-default")->detail, "useAsDefault"));

	/* A native key provider as default is named as such. */
	strcpy(f.clusters[0].mgmt, "nativeProvider");
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "kms-default"), CHK_FAIL);
	assert_non_null(strstr(find(&r, "kms-default")->detail, "native key provider"));
	assert_false(r.kms_usable);
	kms_facts_free(&f);
}

/* <default-for>: the provider must be some entity's default, not vCenter's. */
static void
test_default_for_clusters(void **st)
{
	(void)st;
	struct kms_facts f = healthy();
	struct config c = cfg_any();
	struct chk_report r;
	char *paths[] = { "/DC/host/C1" };

	c.kms_cluster = f.clusters[0].id;
	c.kms_default_for = paths;
	c.nkms_default_for = 1;
	f.default_id[0] = '\0';		/* no global default at all */
	f.clusters[0].use_as_default = 0;
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "kms-default"), CHK_FAIL);
	assert_non_null(strstr(find(&r, "kms-default")->fix, "<default-for>"));
	f.clusters[0].entities = calloc(1, sizeof(struct kms_entity));
	strcpy(f.clusters[0].entities[0].type, "ClusterComputeResource");
	strcpy(f.clusters[0].entities[0].value, "domain-c7");
	f.clusters[0].nentities = 1;
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "kms-default"), CHK_PASS);
	assert_non_null(strstr(find(&r, "kms-default")->detail, "of 1 cluster or host folder"));
	kms_facts_free(&f);
}

/* A host under a cluster default and a folder default: the cluster's. */
static void
test_provmap(void **st)
{
	(void)st;
	struct provmap m = { 0 };
	assert_null(provmap_lookup(&m, "host-1"));
	provmap_add(&m, "host-9", "folder-kms", 1);
	provmap_add(&m, "host-1", "folder-kms", 1);
	provmap_add(&m, "host-1", "cluster-kms", 0);
	provmap_add(&m, "host-20", "cluster-kms", 0);
	provmap_sort(&m);
	assert_int_equal(m.n, 3);
	assert_string_equal(provmap_lookup(&m, "host-1"), "cluster-kms");
	assert_string_equal(provmap_lookup(&m, "host-9"), "folder-kms");
	assert_string_equal(provmap_lookup(&m, "host-20"), "cluster-kms");
	assert_null(provmap_lookup(&m, "host-2"));
	assert_null(provmap_lookup(&m, ""));
	assert_null(provmap_lookup(&m, NULL));
	provmap_free(&m);
	assert_int_equal(m.n, 0);
}

/* A VM is covered only when every datastore it uses is in the map. */
static void
test_vsanmap(void **st)
{
	(void)st;
	struct vsanmap m = { 0 };
	struct vm_info vm;
	char ds[2][96] = { "datastore-9", "datastore-3" };
	memset(&vm, 0, sizeof(vm));
	vm.datastores = ds;
	vm.ndatastores = 2;
	assert_false(vsanmap_covers(&m, &vm));
	vsanmap_add(&m, "datastore-9");
	vsanmap_add(&m, "datastore-1");
	vsanmap_sort(&m);
	assert_false(vsanmap_covers(&m, &vm));		/* datastore-3 is not vSAN */
	vsanmap_add(&m, "datastore-3");
	vsanmap_sort(&m);
	assert_true(vsanmap_covers(&m, &vm));
	vm.ndatastores = 0;				/* none known: not covered */
	assert_false(vsanmap_covers(&m, &vm));
	vsanmap_free(&m);
}

static void
test_expected_cluster(void **st)
{
	(void)st;
	struct kms_facts f = healthy();
	struct config c = cfg_any();
	struct kms_server_expect want = { "kms-1", "192.0.2.10", 5696 };
	struct chk_report r;

	c.kms_cluster = "ovh";
	c.kms_servers = &want;
	c.nkms_servers = 1;
	kms_evaluate(&c, &f, &r);
	assert_true(chk_ok(&r));

	/* A member on another port. */
	want.port = 5697;
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "kms-expected"), CHK_FAIL);
	assert_non_null(strstr(find(&r, "kms-expected")->detail,
	    "kms-1 is 192.0.2.10:5696, expected 192.0.2.10:5697"));
	assert_false(r.kms_usable);

	/* A missing member. */
	want.port = 5696;
	want.name = "kms-2";
	kms_evaluate(&c, &f, &r);
	assert_non_null(strstr(find(&r, "kms-expected")->detail, "kms-2 (192.0.2.10:5696) is missing"));

	/* Another provider named. */
	c.nkms_servers = 0;
	c.kms_cluster = "other";
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "kms-expected"), CHK_FAIL);
	assert_non_null(strstr(find(&r, "kms-expected")->detail, "'other'"));
	assert_false(r.kms_usable);

	/* Present but not the default: fails unless require-default="false". */
	kms_clusters_free(f.clusters, f.nclusters);
	f.nclusters = 2;
	f.clusters = calloc(2, sizeof(*f.clusters));
	strcpy(f.clusters[0].id, "ovh");
	strcpy(f.clusters[1].id, "other");
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "kms-default"), CHK_FAIL);
	assert_non_null(strstr(find(&r, "kms-default")->detail,
	    "the default is 'ovh', the configuration expects 'other'"));
	c.kms_require_default = 0;
	strcpy(f.status[0].id, "other");
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "kms-default"), CHK_PASS);
	assert_string_equal(r.provider, "other");
	assert_true(r.kms_usable);
	kms_facts_free(&f);
}

static void
test_health(void **st)
{
	(void)st;
	struct kms_facts f = healthy();
	struct config c = cfg_any();
	struct kms_server_status *s = &f.status[0].servers[0];
	struct chk_report r;

	strcpy(f.status[0].overall, "red");
	strcpy(s->status, "red");
	strcpy(s->connection, "Cannot connect");
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "kms-health"), CHK_FAIL);
	assert_non_null(strstr(r.kms_reason, "Cannot connect"));
	assert_false(r.kms_usable);

	/* Green, but one side does not trust the other. */
	strcpy(f.status[0].overall, "green");
	strcpy(s->status, "green");
	s->connection[0] = '\0';
	s->server_trust_client = 0;
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "kms-health"), CHK_FAIL);
	assert_non_null(strstr(find(&r, "kms-health")->detail,
	    "kms-1 does not trust vCenter's client certificate"));
	s->server_trust_client = KMS_UNKNOWN;	/* not reported: not held against it */
	s->client_trust_server = 0;
	kms_evaluate(&c, &f, &r);
	assert_non_null(strstr(find(&r, "kms-health")->detail,
	    "vCenter does not trust kms-1's certificate"));
	s->client_trust_server = KMS_UNKNOWN;

	/* Certificates: soon is a warning, expired a failure. */
	s->cert.present = 1;
	strcpy(s->cert.not_after, "2027-02-01T00:00:00Z");
	s->cert.expires_in = 5 * 86400;
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "kms-health"), CHK_WARN);
	assert_true(r.kms_usable);
	assert_true(chk_ok(&r));
	s->cert.expires_in = -60;
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "kms-health"), CHK_FAIL);
	assert_non_null(strstr(find(&r, "kms-health")->detail, "kms-1 certificate expired"));
	s->cert.present = 0;

	/* vCenter's own client certificate expired. */
	f.status[0].client_cert.present = 1;
	f.status[0].client_cert.expires_in = -1;
	kms_evaluate(&c, &f, &r);
	assert_false(r.kms_usable);
	f.status[0].client_cert.present = 0;

	/* The status task failed. */
	f.status_read = 0;
	strcpy(f.status_err.msg, "RetrieveKmipServersStatus_Task task-9: RuntimeFault: boom");
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "kms-health"), CHK_FAIL);
	assert_non_null(strstr(r.kms_reason, "boom"));
	kms_facts_free(&f);
}

static void
test_two_servers_one_down(void **st)
{
	(void)st;
	struct kms_facts f = healthy();
	struct config c = cfg_any();
	struct chk_report r;

	f.status[0].nservers = 2;
	f.status[0].servers = realloc(f.status[0].servers, 2 * sizeof(struct kms_server_status));
	f.status[0].servers[1] = f.status[0].servers[0];
	strcpy(f.status[0].servers[1].name, "kms-2");
	strcpy(f.status[0].servers[1].status, "red");
	strcpy(f.status[0].overall, "yellow");
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "kms-health"), CHK_WARN);
	assert_true(r.kms_usable);
	kms_facts_free(&f);
}

static void
test_policy_and_privileges(void **st)
{
	(void)st;
	struct kms_facts f = healthy();
	struct config c = cfg_any();
	struct chk_report r;

	f.policy_err.rc = -7;
	strcpy(f.policy_err.msg, "storage policy \"VM Encryption Policy\" not found in SPBM");
	f.granted[2] = 0;	/* Cryptographer.Encrypt */
	f.granted[4] = 0;	/* Cryptographer.ManageKeys */
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "encryption-policy"), CHK_FAIL);
	assert_int_equal(result_of(&r, "privileges"), CHK_FAIL);
	const char *d = find(&r, "privileges")->detail;
	assert_non_null(strstr(d, "Cryptographer.Encrypt (encrypt a VM and its disks)"));
	assert_non_null(strstr(d, "Cryptographer.ManageKeys (GenerateKey)"));
	assert_null(strstr(d, "System.Read"));
	assert_true(r.kms_usable);	/* neither is the KMS's fault */
	assert_false(chk_ok(&r));

	/* The running agent's check leaves both out. */
	f.policy_checked = f.privs_checked = 0;
	kms_evaluate(&c, &f, &r);
	assert_null(find(&r, "encryption-policy"));
	assert_null(find(&r, "privileges"));
	kms_facts_free(&f);
}

#define KEYINFO(type, body) "<keyInfo xmlns=\"urn:vim25\" " \
	"xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" " \
	"xsi:type=\"" type "\">" body "</keyInfo>"

/* KmipClusterInfo.keyInfo (API 9.0) as govmomi's model writes it. */
static void
test_wrapping_parse(void **st)
{
	(void)st;
	struct kms_wrapping w;

	kms_wrapping_parse(dom_parse(KEYINFO("KmipClusterInfoWrappingRotationIntervalKeyInfo",
	    "<keyId>k-1</keyId><rotationInterval>90</rotationInterval>"
	    "<lastRotation>2027-01-15T08:00:00Z</lastRotation><later>x</later>")), "rawKey", &w);
	assert_int_equal(w.kind, KMS_WRAP_ROTATING);
	assert_string_equal(w.key_id, "k-1");
	assert_int_equal(w.rotation_days, 90);
	assert_string_equal(w.last_rotation, "2027-01-15T08:00:00Z");
	assert_string_equal(w.default_key_type, "rawKey");

	/* Every member optional: no interval sent is 0, never a guess. */
	kms_wrapping_parse(dom_parse(KEYINFO("KmipClusterInfoWrappingRotationIntervalKeyInfo",
	    "<rotationInterval>ninety</rotationInterval>")), NULL, &w);
	assert_int_equal(w.kind, KMS_WRAP_ROTATING);
	assert_int_equal(w.rotation_days, 0);
	assert_string_equal(w.last_rotation, "");

	kms_wrapping_parse(dom_parse(KEYINFO("KmipClusterInfoWrappingKeyIdKeyInfo",
	    "<keyId>fixed</keyId><configuredTime>2027-01-01T00:00:00Z</configuredTime>")),
	    "wrappedKey", &w);
	assert_int_equal(w.kind, KMS_WRAP_FIXED);
	assert_string_equal(w.configured, "2027-01-01T00:00:00Z");
	assert_int_equal(w.rotation_days, 0);

	kms_wrapping_parse(dom_parse(KEYINFO("KmipClusterInfoSomethingNewer", "<keyId>n</keyId>")),
	    NULL, &w);
	assert_int_equal(w.kind, KMS_WRAP_OTHER);
	assert_string_equal(w.type, "KmipClusterInfoSomethingNewer");

	kms_wrapping_parse(NULL, NULL, &w);
	assert_int_equal(w.kind, KMS_WRAP_NONE);
}

/* check's wrapping-key item: shown at 9.0, never a failure; before 9.0
 * said to be unavailable, with vCenter's release. */
static void
test_wrapping_item(void **st)
{
	(void)st;
	struct kms_facts f = healthy();
	struct config c = cfg_any();
	struct chk_report r;

	kms_evaluate(&c, &f, &r);
	assert_null(find(&r, "wrapping-key"));		/* not asked: no item */

	f.wrap_checked = -1;
	strcpy(f.server_api, "8.0.3.0");
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "wrapping-key"), CHK_SKIP);
	assert_string_equal(find(&r, "wrapping-key")->detail, "not available (API 8.0.3)");
	assert_int_equal(r.wrap_state, -1);
	assert_string_equal(r.wrap_api, "8.0.3");
	assert_true(chk_ok(&r));

	f.wrap_checked = 1;
	f.clusters[0].wrap.kind = KMS_WRAP_ROTATING;
	f.clusters[0].wrap.rotation_days = 365;
	strcpy(f.clusters[0].wrap.last_rotation, "2027-01-15T08:00:00Z");
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "wrapping-key"), CHK_PASS);
	assert_string_equal(find(&r, "wrapping-key")->detail,
	    "'ovh': every 365 days, last rotation 2027-01-15T08:00:00Z");
	assert_int_equal(r.wrap.rotation_days, 365);

	f.wrap_err.rc = -1;
	strcpy(f.wrap_err.msg, "NoPermission");
	kms_evaluate(&c, &f, &r);
	assert_int_equal(result_of(&r, "wrapping-key"), CHK_WARN);
	assert_true(r.kms_usable && chk_ok(&r));
	kms_facts_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_status_parse),
		cmocka_unit_test(test_all_pass),
		cmocka_unit_test(test_esxi_and_no_crypto_manager),
		cmocka_unit_test(test_api_version_for_ft),
		cmocka_unit_test(test_no_providers),
		cmocka_unit_test(test_default),
		cmocka_unit_test(test_expected_cluster),
		cmocka_unit_test(test_default_for_clusters),
		cmocka_unit_test(test_provmap),
		cmocka_unit_test(test_vsanmap),
		cmocka_unit_test(test_health),
		cmocka_unit_test(test_two_servers_one_down),
		cmocka_unit_test(test_policy_and_privileges),
		cmocka_unit_test(test_wrapping_parse),
		cmocka_unit_test(test_wrapping_item),
	};
	return cmocka_run_group_tests(tests, dom_open, dom_close);
}
