/*
 * vimtool: the agent's SOAP decoders and request builders, run on files.
 * The tests that read vCenter traffic recorded by others
 * (tests/integration/test_real_traffic.py) feed real answers through the
 * agent's own code with it and compare what comes out with what Python's
 * XML parser reads in the same recording.  Not shipped.
 *
 *   vimtool answer METHOD FILE     decode FILE as the answer to METHOD
 *   vimtool vms FILE               the VM facts the agent reads from a
 *                                  RetrievePropertiesEx or WaitForUpdatesEx answer
 *   vimtool reconfig FILE          the ReconfigVM_Task the agent would send with
 *                                  every device of each VM in FILE as an edit
 *   vimtool versions FILE          the version picked from a vimServiceVersions.xml
 *   vimtool policies FILE          each profile of a PbmRetrieveContent answer:
 *                                  id, name, encryption policy or not
 * Against a live peer (the replay server), with --config and the password
 * in VMCRYPT_VC_PASSWORD:
 *   vimtool wait CONFIG PC         WaitForUpdatesEx on collector PC until an
 *                                  answer is not truncated
 *   vimtool retrieve CONFIG TYPE VALUE PATH...
 *   vimtool pbm CONFIG             SPBM's storage policies, then log out
 * Output is JSON on stdout; the exit status is 0 unless the tool itself
 * could not run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli.h"
#include "config.h"
#include "encpolicy.h"
#include "enforce.h"
#include "inventory.h"
#include "log.h"
#include "pbm.h"
#include "vim.h"
#include "xmalloc.h"

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (f == NULL) {
		perror(path);
		exit(2);
	}
	do {
		if (len + 65536 + 1 > cap) {
			cap = cap ? cap * 2 : 131072;
			buf = xreallocarray(buf, cap, 1);
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

static const char *
rc_name(int rc)
{
	switch (rc) {
	case 0:			return "ok";
	case V_ERR_TRANSPORT:	return "transport";
	case V_ERR_TLS:		return "tls";
	case V_ERR_FAULT:	return "fault";
	case V_ERR_LOGIN:	return "login";
	case V_ERR_CANCELED:	return "canceled";
	case V_ERR_PROTO:	return "proto";
	case V_ERR_REFUSED:	return "refused";
	}
	return "?";
}

static void
print(json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

static int
cmd_answer(const char *method, const char *file)
{
	char *text = slurp(file), fault[64], err[768];
	json_object *o = json_object_new_object();

	int rc = vim_decode_answer(method, text, fault, sizeof(fault), err, sizeof(err));
	json_object_object_add(o, "method", json_object_new_string(method));
	json_object_object_add(o, "known", json_object_new_boolean(vim_decode_known(method)));
	json_object_object_add(o, "rc", json_object_new_string(rc_name(rc)));
	json_object_object_add(o, "fault", json_object_new_string(fault));
	json_object_object_add(o, "error", json_object_new_string(err));
	print(o);
	free(text);
	return 0;
}

/* ---------------------------------------------------------------- */

struct vms {
	struct inventory	 inv;
	size_t			 objects, enter, modify, leave;
	int			 keep_devices;	/* reconfig: build before the tree goes */
	json_object		*requests;
};

static struct vm_info *
vm_for(struct vms *v, const char *moref)
{
	for (size_t i = 0; i < v->inv.nvms; i++)
		if (strcmp(v->inv.vms[i].moref, moref) == 0)
			return &v->inv.vms[i];
	v->inv.vms = xreallocarray(v->inv.vms, v->inv.nvms + 1, sizeof(*v->inv.vms));
	struct vm_info *vm = &v->inv.vms[v->inv.nvms++];
	memset(vm, 0, sizeof(*vm));
	snprintf(vm->moref, sizeof(vm->moref), "%s", moref);
	return vm;
}

/* The request the agent would send to edit every device of the VM. */
static void
reconfig_request(struct vms *v, const struct vmoref *obj, const xnode *devices)
{
	size_t n = xnode_count(devices, NULL), k = 0;
	const xnode **all = xcalloc(n + 1, sizeof(*all));
	struct vreconfig rs;

	for (const xnode *d = xnode_first(devices); d; d = xnode_next(d))
		all[k++] = d;
	memset(&rs, 0, sizeof(rs));
	rs.disks = all;
	rs.ndisks = k;
	char *xml = vim_reconfigure_xml(obj, &rs);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "moref", json_object_new_string(obj->value));
	json_object_object_add(o, "devices", json_object_new_int((int)k));
	json_object_object_add(o, "request", xml ? json_object_new_string(xml) : NULL);
	json_object_array_add(v->requests, o);
	free(xml);
	free(all);
}

static int
apply(struct vms *v, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	v->objects++;
	if (strcmp(obj->type, "VirtualMachine") != 0)
		return 0;
	struct vm_info *vm = vm_for(v, obj->value);
	for (size_t i = 0; i < n; i++) {
		vm_info_set_prop(vm, names[i], vals[i]);
		if (v->requests != NULL && strcmp(names[i], "config.hardware.device") == 0)
			reconfig_request(v, obj, vals[i]);
	}
	return 0;
}

static int
on_objects(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	return apply(arg, obj, n, names, vals);
}

static int
on_updates(void *arg, const char *kind, const struct vmoref *obj, size_t n,
    const char *const *names, const xnode *const *vals)
{
	struct vms *v = arg;
	if (strcmp(kind, "enter") == 0)
		v->enter++;
	else if (strcmp(kind, "modify") == 0)
		v->modify++;
	else if (strcmp(kind, "leave") == 0)
		v->leave++;
	return apply(v, obj, n, names, vals);
}

static int
cmd_vms(const char *file, int reconfig)
{
	char *text = slurp(file), err[768];
	struct vms v;
	int updates = strstr(text, "WaitForUpdatesExResponse") != NULL;

	memset(&v, 0, sizeof(v));
	if (reconfig)
		v.requests = json_object_new_array();
	int rc = vim_decode(updates ? VIM_ANSWER_UPDATES : VIM_ANSWER_PROPERTIES, text,
	    on_objects, on_updates, NULL, &v, err, sizeof(err));
	json_object *o = json_object_new_object();
	json_object_object_add(o, "rc", json_object_new_string(rc_name(rc)));
	json_object_object_add(o, "error", json_object_new_string(rc ? err : ""));
	json_object_object_add(o, "objects", json_object_new_int64((int64_t)v.objects));
	json_object_object_add(o, "enter", json_object_new_int64((int64_t)v.enter));
	json_object_object_add(o, "modify", json_object_new_int64((int64_t)v.modify));
	json_object_object_add(o, "leave", json_object_new_int64((int64_t)v.leave));
	if (reconfig) {
		json_object_object_add(o, "requests", v.requests);
	} else {
		char *buf = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&buf, &len);
		inventory_print_json(&v.inv, m, NULL, NULL);
		fclose(m);
		json_object_object_add(o, "inventory", json_tokener_parse(buf));
		free(buf);
	}
	print(o);
	inventory_free(&v.inv);
	free(text);
	return 0;
}

/* ---------------------------------------------------------------- */

static int
cmd_versions(const char *file)
{
	char *text = slurp(file), best[32];
	json_object *o = json_object_new_object();
	int rc = vim_versions_text(text, best, sizeof(best));
	json_object_object_add(o, "xml", json_object_new_boolean(rc == 0));
	json_object_object_add(o, "version", json_object_new_string(best));
	print(o);
	free(text);
	return 0;
}

static void
policy_cb(void *arg, const xnode *p)
{
	char ds[8][64];
	size_t nds;
	json_object *o = json_object_new_object(), *d = json_object_new_array();
	const char *id = xnode_path_text(p, "profileId.uniqueId");
	const char *name = xnode_path_text(p, "name");

	int enc = policy_profile_is_encryption(p, ds, &nds, 8);
	json_object_object_add(o, "id", id ? json_object_new_string(id) : NULL);
	json_object_object_add(o, "name", name ? json_object_new_string(name) : NULL);
	json_object_object_add(o, "type", json_object_new_string(xnode_type(p)));
	json_object_object_add(o, "encryption", json_object_new_boolean(enc));
	for (size_t i = 0; i < nds; i++)
		json_object_array_add(d, json_object_new_string(ds[i]));
	json_object_object_add(o, "dataServices", d);
	json_object_array_add(arg, o);
}

static int
cmd_policies(const char *file)
{
	char *text = slurp(file), err[768];
	json_object *arr = json_object_new_array(), *o = json_object_new_object();
	int rc = pbm_decode_profiles(text, policy_cb, arr, err, sizeof(err));
	json_object_object_add(o, "rc", json_object_new_string(rc_name(rc)));
	json_object_object_add(o, "error", json_object_new_string(rc ? err : ""));
	json_object_object_add(o, "profiles", arr);
	print(o);
	free(text);
	return 0;
}

/* ---------------------------------------------------------------- */
/* against a live peer                                               */

static int
open_peer(const char *cfgpath, struct config **cfg, struct vsession **s, struct vconn **c)
{
	int rc;
	if ((rc = cli_load_config(cfgpath, cfg)) != EXIT_OK)
		return rc;
	if ((rc = cli_open_session(*cfg, s)) != EXIT_OK)
		return rc;
	*c = vconn_new(*s);
	vconn_set_timeout(*c, 30);
	return 0;
}

static void
close_peer(struct config *cfg, struct vsession *s, struct vconn *c, json_object *o, int rc)
{
	json_object_object_add(o, "rc", json_object_new_string(rc_name(rc)));
	json_object_object_add(o, "fault", json_object_new_string(vconn_fault_type(c)));
	json_object_object_add(o, "error", json_object_new_string(rc ? vconn_error(c) : ""));
	vconn_free(c);
	vsession_close(s);
	vsession_free(s);
	config_free(cfg);
	print(o);
}

static int
cmd_wait(const char *cfgpath, const char *pc_value)
{
	struct config *cfg;
	struct vsession *s;
	struct vconn *c;
	struct vmoref pc = { "PropertyCollector", "" };
	char version[256] = "";
	struct vms v;
	int rc;

	if ((rc = open_peer(cfgpath, &cfg, &s, &c)) != 0)
		return rc;
	snprintf(pc.value, sizeof(pc.value), "%s", pc_value);
	memset(&v, 0, sizeof(v));
	rc = vim_wait_for_updates(c, &pc, version, sizeof(version), 60, on_updates, &v);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "version", json_object_new_string(version));
	json_object_object_add(o, "objects", json_object_new_int64((int64_t)v.objects));
	json_object_object_add(o, "enter", json_object_new_int64((int64_t)v.enter));
	json_object_object_add(o, "vms", json_object_new_int64((int64_t)v.inv.nvms));
	inventory_free(&v.inv);
	close_peer(cfg, s, c, o, rc);
	return 0;
}

static int
print_props(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "obj", json_object_new_string(obj->value));
	for (size_t i = 0; i < n; i++)
		json_object_object_add(o, names[i], json_object_new_string(xnode_text(vals[i])));
	json_object_array_add(arg, o);
	return 0;
}

static int
cmd_retrieve(const char *cfgpath, const char *type, const char *value,
    const char *const *paths, size_t npaths)
{
	struct config *cfg;
	struct vsession *s;
	struct vconn *c;
	struct vmoref obj;
	int rc;

	if ((rc = open_peer(cfgpath, &cfg, &s, &c)) != 0)
		return rc;
	snprintf(obj.type, sizeof(obj.type), "%s", type);
	snprintf(obj.value, sizeof(obj.value), "%s", value);
	json_object *arr = json_object_new_array(), *o = json_object_new_object();
	rc = vim_retrieve_objects(c, &obj, 1, type, paths, npaths, print_props, arr);
	json_object_object_add(o, "objects", arr);
	json_object_object_add(o, "generation", json_object_new_int(
	    (int)vsession_generation(s)));
	close_peer(cfg, s, c, o, rc);
	return 0;
}

static void
name_cb(void *arg, const xnode *p)
{
	const char *name = xnode_path_text(p, "name");
	json_object_array_add(arg, json_object_new_string(name ? name : ""));
}

static int
cmd_pbm(const char *cfgpath)
{
	struct config *cfg;
	struct vsession *s;
	struct vconn *c;
	int rc;

	if ((rc = open_peer(cfgpath, &cfg, &s, &c)) != 0)
		return rc;
	json_object *arr = json_object_new_array(), *o = json_object_new_object();
	rc = pbm_requirement_profiles(c, name_cb, arr);
	json_object_object_add(o, "profiles", arr);
	close_peer(cfg, s, c, o, rc);
	return 0;
}

int
main(int argc, char **argv)
{
	log_init(LOG_LVL_WARN);
	if (argc == 4 && strcmp(argv[1], "answer") == 0)
		return cmd_answer(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "vms") == 0)
		return cmd_vms(argv[2], 0);
	if (argc == 3 && strcmp(argv[1], "reconfig") == 0)
		return cmd_vms(argv[2], 1);
	if (argc == 3 && strcmp(argv[1], "versions") == 0)
		return cmd_versions(argv[2]);
	if (argc == 3 && strcmp(argv[1], "policies") == 0)
		return cmd_policies(argv[2]);
	if (argc == 4 && strcmp(argv[1], "wait") == 0)
		return cmd_wait(argv[2], argv[3]);
	if (argc >= 6 && strcmp(argv[1], "retrieve") == 0)
		return cmd_retrieve(argv[2], argv[3], argv[4], (const char *const *)argv + 5,
		    (size_t)(argc - 5));
	if (argc == 3 && strcmp(argv[1], "pbm") == 0)
		return cmd_pbm(argv[2]);
	fprintf(stderr, "usage: vimtool answer METHOD FILE | vms FILE | reconfig FILE | "
	    "versions FILE | policies FILE | wait CONFIG PC | retrieve CONFIG TYPE VALUE "
	    "PATH... | pbm CONFIG\n");
	return 2;
}
