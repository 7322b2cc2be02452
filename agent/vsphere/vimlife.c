/*
 * A VM's life and the tasks that make it: CreateVM_Task (a small VM of our
 * own: the canary), PowerOnVM_Task, PowerOffVM_Task, Destroy_Task; a task
 * followed to its end by polling its info; and QueryCryptoKeyStatus.  Part
 * of the SOAP module.
 */
#include "vsoap_int.h"

#include "log.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- */
/* following a task                                                  */

struct taskread {
	const char	*state;
	const xnode	*error;
	const xnode	*result;
};

static int
task_cb(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct taskread *t = arg;
	(void)obj;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], "info.state") == 0)
			t->state = xnode_text(vals[i]);
		else if (strcmp(names[i], "info.error") == 0)
			t->error = vals[i];
		else if (strcmp(names[i], "info.result") == 0)
			t->result = vals[i];
	}
	return 0;
}

/* A failed task's LocalizedMethodFault, said on the connection. */
static void
task_fault(struct vconn *c, const char *what, const struct vmoref *task, const xnode *error)
{
	const char *msg = error ? xnode_path_text(error, "localizedMessage") : NULL;
	const xnode *fault = error ? xnode_child(error, "fault") : NULL;
	const char *ft = fault ? xnode_type(fault) : "";
	const char *priv = fault ? xnode_path_text(fault, "privilegeId") : NULL;

	snprintf(c->err, sizeof(c->err), "%s %s: %s%s%s", what, task->value,
	    ft && *ft ? ft : "error", msg && *msg ? ": " : "", msg ? msg : "");
	copystr(c->fault_type, sizeof(c->fault_type), ft);
	copystr(c->fault_privilege, sizeof(c->fault_privilege), priv ? priv : "");
}

int
vim_wait_task(struct vconn *c, const struct vmoref *task, const char *what, int timeout,
    const xnode **result)
{
	static const char *const paths[] = { "info.state", "info.error", "info.result" };
	struct timespec start, now;
	int rc;

	if (result != NULL)
		*result = NULL;
	clock_gettime(CLOCK_MONOTONIC, &start);
	/* A short poll, doubling to a second: cheaper than a collector for
	 * one task, and quick for the short ones. */
	for (unsigned delay_ms = 50;; delay_ms = delay_ms < 1000 ? delay_ms * 2 : 1000) {
		struct taskread t = { NULL, NULL, NULL };
		rc = vim_retrieve_objects(c, task, 1, "Task", paths, 3, task_cb, &t);
		if (rc != 0)
			return rc;
		if (t.state && strcmp(t.state, "success") == 0) {
			if (result != NULL)
				*result = t.result;
			return 0;
		}
		if (t.state && strcmp(t.state, "error") == 0) {
			task_fault(c, what, task, t.error);
			return V_ERR_FAULT;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= timeout) {
			snprintf(c->err, sizeof(c->err), "%s %s: still %s after %d s", what,
			    task->value, t.state ? t.state : "unknown", timeout);
			c->fault_type[0] = '\0';
			return V_ERR_TIMEOUT;
		}
		vconn_reset(c);
		struct timespec ts = { delay_ms / 1000, (long)(delay_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
}

/* ---------------------------------------------------------------- */
/* a new VM                                                          */

/* One device of a new VM, written as vCenter's XML and read into the DOM
 * tree deviceChange carries: the same path as a device read from vCenter
 * (inside an element that declares the namespaces, as an answer does, so
 * the tree carries none of its own).  tmp owns the tree. */
static xsd__anyType *
device_tree(struct soap *tmp, const char *xml)
{
	xsd__anyType *d = soap_malloc(tmp, sizeof(*d));
	char *doc = soap_malloc(tmp, strlen(xml) + 160);

	if (d == NULL || doc == NULL)
		fatalx("out of memory");
	sprintf(doc, "<w xmlns=\"urn:vim25\" "
	    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">%s</w>", xml);
	tmp->is = doc;
	soap_default_xsd__anyType(tmp, d);
	if (soap_begin_recv(tmp) != SOAP_OK || soap_in_xsd__anyType(tmp, NULL, d, NULL) == NULL) {
		soap_end_recv(tmp);
		tmp->is = NULL;
		return NULL;
	}
	soap_end_recv(tmp);
	tmp->is = NULL;
	return (xsd__anyType *)xnode_first(d);
}

/* A paravirtual SCSI controller (key -100) and a thin disk on it (key
 * -101, created in the VM's folder on its datastore), members in XSD
 * order. */
static int
new_devices(struct soap *soap, struct soap *tmp, const struct vnewvm *n,
    struct vim__VirtualMachineConfigSpec *spec)
{
	char disk[1024];
	xsd__anyType *ctl = device_tree(tmp, "<device xsi:type=\"ParaVirtualSCSIController\">"
	    "<key>-100</key><busNumber>0</busNumber><sharedBus>noSharing</sharedBus></device>");

	snprintf(disk, sizeof(disk), "<device xsi:type=\"VirtualDisk\"><key>-101</key>"
	    "<backing xsi:type=\"VirtualDiskFlatVer2BackingInfo\"><fileName></fileName>"
	    "<datastore type=\"Datastore\">%s</datastore><diskMode>persistent</diskMode>"
	    "<thinProvisioned>true</thinProvisioned></backing><controllerKey>-100</controllerKey>"
	    "<unitNumber>0</unitNumber><capacityInKB>%d</capacityInKB></device>",
	    n->datastore.value, n->disk_kb);
	xsd__anyType *dsk = device_tree(tmp, disk);
	if (ctl == NULL || dsk == NULL)
		return -1;
	spec->__sizedeviceChange_ = 2;
	spec->__deviceChange = soap_malloc(soap, 2 * sizeof(*spec->__deviceChange));
	if (spec->__deviceChange == NULL)
		fatalx("out of memory");
	for (int i = 0; i < 2; i++) {
		struct vim__VirtualDeviceConfigSpec *d = soap_malloc(soap, sizeof(*d));
		if (d == NULL)
			fatalx("out of memory");
		memset(d, 0, sizeof(*d));
		d->operation = "add";
		d->fileOperation = i == 1 ? "create" : NULL;
		d->device = i == 0 ? ctl : dsk;
		spec->__deviceChange[i].__type = SOAP_TYPE_vim__VirtualDeviceConfigSpec;
		spec->__deviceChange[i].deviceChange = d;
	}
	return 0;
}

/* extraConfig: one OptionValue, its value an xsd:string. */
static void
extra_config(struct soap *soap, const struct vnewvm *n, struct vim__VirtualMachineConfigSpec *spec)
{
	struct vim__OptionValue *ov = soap_malloc(soap, sizeof(*ov));
	struct vim__OptionValueValueRef *v = soap_malloc(soap, sizeof(*v));

	spec->__extraConfig = soap_malloc(soap, sizeof(*spec->__extraConfig));
	if (ov == NULL || v == NULL || spec->__extraConfig == NULL)
		fatalx("out of memory");
	/* A string slot holds the string itself (gSOAP's void * rule). */
	v->__type = SOAP_TYPE_xsd__string;
	v->value = soap_strdup(soap, n->extra_value);
	ov->key = soap_strdup(soap, n->extra_key);
	ov->__value = v;
	spec->__sizeextraConfig_ = 1;
	spec->__extraConfig->__type = SOAP_TYPE_vim__OptionValue;
	spec->__extraConfig->extraConfig = ov;
}

int
vim_create_vm(struct vconn *c, const struct vnewvm *n, struct vmoref *task)
{
	struct vim__CreateVM_USCORETaskResponse r = { 0 };
	struct vim__VirtualMachineConfigSpec spec;
	struct vim__VirtualMachineFileInfo files;
	struct soap *tmp = vsoap_new();
	char path[300];
	int cpus = 1, rc;
	LONG64 mem = n->memory_mb;

	memset(&spec, 0, sizeof(spec));
	snprintf(path, sizeof(path), "[%s]", n->datastore_name);
	files.vmPathName = path;
	spec.name = (char *)n->name;
	spec.version = (char *)n->version;
	spec.guestId = (char *)n->guest_id;
	spec.files = &files;
	spec.numCPUs = &cpus;
	spec.memoryMB = &mem;
	if (new_devices(c->soap, tmp, n, &spec) != 0) {
		snprintf(c->err, sizeof(c->err), "CreateVM_Task: cannot build the devices");
		rc = V_ERR_PROTO;
		goto out;
	}
	if (n->extra_key != NULL)
		extra_config(c->soap, n, &spec);
	VCALL(c, 0, "CreateVM_Task", rc,
	    soap_call_vim__CreateVM_USCORETask(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &n->folder), &spec, vmoref_soap(c->soap, &n->pool),
	    n->host.value[0] ? vmoref_soap(c->soap, &n->host) : NULL, &r));
	rc = vmoref_answer(rc, r.returnval, task);
out:
	soap_destroy(tmp);
	soap_end(tmp);
	soap_free(tmp);
	return rc;
}

/* ---------------------------------------------------------------- */
/* power and removal                                                 */

int
vim_power(struct vconn *c, const struct vmoref *vm, int on, struct vmoref *task)
{
	struct vim__PowerOnVM_USCORETaskResponse ron = { 0 };
	struct vim__PowerOffVM_USCORETaskResponse roff = { 0 };
	struct vim__ManagedObjectReference *t;
	int rc;

	if (on) {
		VCALL(c, 0, "PowerOnVM_Task", rc,
		    soap_call_vim__PowerOnVM_USCORETask(c->soap, c->s->url, c->s->action,
		    vmoref_soap(c->soap, vm), NULL, &ron));
		t = ron.returnval;
	} else {
		VCALL(c, 0, "PowerOffVM_Task", rc,
		    soap_call_vim__PowerOffVM_USCORETask(c->soap, c->s->url, c->s->action,
		    vmoref_soap(c->soap, vm), &roff));
		t = roff.returnval;
	}
	rc = vmoref_answer(rc, t, task);
	return rc;
}

int
vim_destroy(struct vconn *c, const struct vmoref *obj, struct vmoref *task)
{
	struct vim__Destroy_USCORETaskResponse r = { 0 };
	int rc;

	VCALL(c, 0, "Destroy_Task", rc,
	    soap_call_vim__Destroy_USCORETask(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, obj), &r));
	rc = vmoref_answer(rc, r.returnval, task);
	return rc;
}

/* ---------------------------------------------------------------- */
/* keys                                                              */

int
vim_key_status(struct vconn *c, const struct vkey *keys, size_t n, int bitmap,
    void (*cb)(void *arg, size_t i, const xnode *status), void *arg)
{
	struct vim__QueryCryptoKeyStatusResponse r = { 0 };
	struct vim__CryptoKeyId *ids;
	int rc;

	if (c->s->mo[VMO_CRYPTO_MANAGER].value[0] == '\0') {
		snprintf(c->err, sizeof(c->err),
		    "QueryCryptoKeyStatus: this vCenter has no CryptoManagerKmip");
		return V_ERR_REFUSED;
	}
	if (n == 0)
		return 0;
	ids = soap_malloc(c->soap, n * sizeof(*ids));
	if (ids == NULL)
		fatalx("out of memory");
	for (size_t i = 0; i < n; i++) {
		ids[i].keyId = soap_strdup(c->soap, keys[i].key_id);
		ids[i].providerId = NULL;
		if (keys[i].provider[0]) {
			ids[i].providerId = soap_malloc(c->soap, sizeof(struct vim__KeyProviderId));
			if (ids[i].providerId == NULL)
				fatalx("out of memory");
			ids[i].providerId->id = soap_strdup(c->soap, keys[i].provider);
		}
	}
	VCALL(c, 0, "QueryCryptoKeyStatus", rc,
	    soap_call_vim__QueryCryptoKeyStatus(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_CRYPTO_MANAGER]), (int)n, ids, bitmap, &r));
	/* One status per key asked, in order (as the API reference says). */
	for (int i = 0; rc == 0 && i < r.__sizereturnval && (size_t)i < n; i++)
		cb(arg, (size_t)i, &r.returnval[i]);
	return rc;
}
