/*
 * The calls that act: event collectors, GenerateKey, ReconfigVM_Task (where
 * a reconfigure leaves for vCenter), LogUserEvent.
 */
#include "vsoap_int.h"

#include "log.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
vim_create_event_collector(struct vconn *c, const char *begin_time,
    const char *const *type_ids, size_t ntypes, int page, struct vmoref *out)
{
	return vim_create_event_collector_on(c, NULL, begin_time, type_ids, ntypes, page, out);
}

int
vim_create_event_collector_on(struct vconn *c, const struct vmoref *entity,
    const char *begin_time, const char *const *type_ids, size_t ntypes, int page,
    struct vmoref *out)
{
	struct vim__CreateCollectorForEventsResponse r = { 0 };
	struct vim__EventFilterSpecByEntity ent;
	struct vim__EventFilterSpecByTime tm = { NULL, NULL };
	struct vim__EventFilterSpec f;
	enum xsd__boolean full = false_;
	int rc;

	memset(&f, 0, sizeof(f));
	ent.entity = *vmoref_soap(c->soap, entity ? entity : &c->s->mo[VMO_ROOT_FOLDER]);
	ent.recursion = entity ? "self" : "all";
	f.entity = &ent;
	if (begin_time != NULL && *begin_time) {
		tm.beginTime = (char *)begin_time;
		f.time = &tm;
	}
	/* disableFullMessage=false: the audit trail wants the message. */
	f.disableFullMessage = &full;
	f.__sizeeventTypeId = (int)ntypes;
	f.eventTypeId = (char **)type_ids;
	f.maxCount = &page;
	VCALL(c, 0, "CreateCollectorForEvents", rc,
	    soap_call_vim__CreateCollectorForEvents(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_EVENT_MANAGER]), &f, &r));
	rc = vmoref_answer(rc, r.returnval, out);
	vconn_reset(c);
	return rc;
}

int
vim_read_next_events(struct vconn *c, const struct vmoref *coll, int max,
    vevent_cb cb, void *arg, int *count)
{
	struct vim__ReadNextEventsResponse r = { 0 };
	int rc;

	*count = 0;
	VCALL(c, 0, "ReadNextEvents", rc,
	    soap_call_vim__ReadNextEvents(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, coll), max, &r));
	for (int i = 0; rc == 0 && i < r.__sizereturnval; i++) {
		(*count)++;
		rc = cb(arg, &r.returnval[i]);
	}
	vconn_reset(c);
	return rc;
}

int
vim_destroy_collector(struct vconn *c, const struct vmoref *coll)
{
	struct vim__DestroyCollectorResponse r;
	struct saved_err saved;
	int rc;

	err_save(c, &saved);
	VCALL(c, 0, "DestroyCollector", rc,
	    soap_call_vim__DestroyCollector(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, coll), &r));
	vconn_reset(c);
	err_restore(c, &saved);
	return rc;
}

int
vim_generate_key(struct vconn *c, const char *provider, struct vkey *out)
{
	struct vim__GenerateKeyResponse r = { 0 };
	struct vim__KeyProviderId pid = { (char *)provider };
	int rc;

	memset(out, 0, sizeof(*out));
	if (c->s->mo[VMO_CRYPTO_MANAGER].value[0] == '\0') {
		snprintf(c->err, sizeof(c->err),
		    "GenerateKey: this vCenter has no CryptoManagerKmip (no key management)");
		return V_ERR_REFUSED;
	}
	VCALL(c, 0, "GenerateKey", rc,
	    soap_call_vim__GenerateKey(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_CRYPTO_MANAGER]),
	    provider ? &pid : NULL, &r));
	if (rc == 0 && r.returnval == NULL)
		rc = V_ERR_PROTO;
	if (rc == 0) {
		struct vim__CryptoKeyResult *k = r.returnval;
		if (k->success != true_ || k->keyId.keyId == NULL) {
			snprintf(c->err, sizeof(c->err), "GenerateKey: success=false%s%s%s%s",
			    k->reason ? ": " : "", k->reason ? k->reason : "",
			    k->fault ? " " : "", k->fault ? xnode_type(k->fault) : "");
			copystr(c->fault_type, sizeof(c->fault_type), "CryptoKeyResult");
			rc = V_ERR_REFUSED;
		} else {
			copystr(out->key_id, sizeof(out->key_id), k->keyId.keyId);
			if (k->keyId.providerId && k->keyId.providerId->id)
				copystr(out->provider, sizeof(out->provider), k->keyId.providerId->id);
			else if (provider)
				copystr(out->provider, sizeof(out->provider), provider);
		}
	}
	return rc;
}

/* CryptoSpecEncrypt{cryptoKeyId}, or with rekey
 * CryptoSpecShallowRecrypt{newKeyId}: the same CryptoKeyId inside. */
static struct vim__CryptoSpecRef *
crypto_spec(struct soap *soap, const struct vreconfig *rs)
{
	struct vim__CryptoSpecRef *ref = soap_malloc(soap, sizeof(*ref));
	struct vim__CryptoKeyId *id;

	if (ref == NULL)
		fatalx("out of memory");
	if (rs->rekey) {
		struct vim__CryptoSpecShallowRecrypt *re = soap_malloc(soap, sizeof(*re));
		if (re == NULL)
			fatalx("out of memory");
		ref->__type = SOAP_TYPE_vim__CryptoSpecShallowRecrypt;
		ref->crypto = re;
		id = &re->newKeyId;
	} else {
		struct vim__CryptoSpecEncrypt *enc = soap_malloc(soap, sizeof(*enc));
		if (enc == NULL)
			fatalx("out of memory");
		ref->__type = SOAP_TYPE_vim__CryptoSpecEncrypt;
		ref->crypto = enc;
		id = &enc->cryptoKeyId;
	}
	id->keyId = soap_strdup(soap, rs->key_id);
	id->providerId = NULL;
	if (rs->provider && *rs->provider) {
		id->providerId = soap_malloc(soap, sizeof(struct vim__KeyProviderId));
		if (id->providerId == NULL)
			fatalx("out of memory");
		id->providerId->id = soap_strdup(soap, rs->provider);
	}
	return ref;
}

/* The VirtualMachineConfigSpec of one reconfigure, in soap's memory. */
static void
reconfig_spec(struct soap *soap, const struct vreconfig *rs,
    struct vim__VirtualMachineConfigSpec *specp)
{
	struct vim__VirtualMachineConfigSpec spec;
	struct vim__VirtualMachineDefinedProfileSpec *prof = NULL;

	memset(&spec, 0, sizeof(spec));
	spec.changeVersion = (char *)rs->change_version;
	if (rs->profile_id != NULL) {
		prof = soap_malloc(soap, sizeof(*prof));
		if (prof == NULL)
			fatalx("out of memory");
		prof->profileId = soap_strdup(soap, rs->profile_id);
	}
	if (rs->home_profile && prof != NULL) {
		spec.__sizevmProfile_ = 1;
		spec.__vmProfile = soap_malloc(soap, sizeof(*spec.__vmProfile));
		if (spec.__vmProfile == NULL)
			fatalx("out of memory");
		spec.__vmProfile->__type = SOAP_TYPE_vim__VirtualMachineDefinedProfileSpec;
		spec.__vmProfile->vmProfile = prof;
	}
	if (rs->crypto_vm)
		spec.__crypto = crypto_spec(soap, rs);
	if (rs->ndisks > 0) {
		spec.__sizedeviceChange_ = (int)rs->ndisks;
		spec.__deviceChange = soap_malloc(soap, rs->ndisks * sizeof(*spec.__deviceChange));
		if (spec.__deviceChange == NULL)
			fatalx("out of memory");
		for (size_t i = 0; i < rs->ndisks; i++) {
			struct vim__VirtualDeviceConfigSpec *d = soap_malloc(soap, sizeof(*d));
			if (d == NULL)
				fatalx("out of memory");
			memset(d, 0, sizeof(*d));
			spec.__deviceChange[i].__type = SOAP_TYPE_vim__VirtualDeviceConfigSpec;
			spec.__deviceChange[i].deviceChange = d;
			d->operation = "edit";
			d->device = (xnode *)rs->disks[i];
			xnode_rename(d->device, "device");
			if (rs->disk_profile && prof != NULL) {
				d->__sizeprofile_ = 1;
				d->__profile = soap_malloc(soap, sizeof(*d->__profile));
				if (d->__profile == NULL)
					fatalx("out of memory");
				d->__profile->__type = SOAP_TYPE_vim__VirtualMachineDefinedProfileSpec;
				d->__profile->profile = prof;
			}
			if (rs->disk_crypto) {
				d->backing = soap_malloc(soap, sizeof(*d->backing));
				if (d->backing == NULL)
					fatalx("out of memory");
				d->backing->__crypto = crypto_spec(soap, rs);
			}
		}
	}
	spec.migrateEncryption = (char *)rs->migrate;
	spec.ftEncryptionMode = (char *)rs->ft;
	*specp = spec;
}

int
vim_reconfigure(struct vconn *c, const struct vmoref *vm, const struct vreconfig *rs,
    struct vmoref *task)
{
	struct vim__ReconfigVM_USCORETaskResponse r = { 0 };
	struct vim__VirtualMachineConfigSpec spec;
	int rc;

	reconfig_spec(c->soap, rs, &spec);
	VCALL(c, 0, "ReconfigVM_Task", rc,
	    soap_call_vim__ReconfigVM_USCORETask(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, vm), &spec, &r));
	rc = vmoref_answer(rc, r.returnval, task);
	return rc;
}

char *
vim_reconfigure_xml(const struct vmoref *vm, const struct vreconfig *rs)
{
	struct soap *soap = vsoap_new();
	struct vim__ReconfigVM_USCORETask req;
	struct vim__VirtualMachineConfigSpec spec;
	char *out = NULL, *copy;

	reconfig_spec(soap, rs, &spec);
	req._USCOREthis = vmoref_soap(soap, vm);
	req.spec = &spec;
	soap->os = (const char **)&out;
	soap_begin_send(soap);
	soap_set_version(soap, 1);
	soap->encodingStyle = NULL;
	soap_serializeheader(soap);
	soap_serialize_vim__ReconfigVM_USCORETask(soap, &req);
	if (soap_envelope_begin_out(soap) || soap_putheader(soap) ||
	    soap_body_begin_out(soap) ||
	    soap_put_vim__ReconfigVM_USCORETask(soap, &req, "vim:ReconfigVM_Task", "") ||
	    soap_body_end_out(soap) || soap_envelope_end_out(soap))
		out = NULL;
	soap_end_send(soap);
	soap->os = NULL;
	copy = out ? xstrdup(out) : NULL;
	soap_destroy(soap);
	soap_end(soap);
	soap_free(soap);
	return copy;
}

int
vim_log_user_event(struct vconn *c, const struct vmoref *entity, const char *msg)
{
	struct vim__LogUserEventResponse r;
	int rc;

	VCALL(c, 0, "LogUserEvent", rc,
	    soap_call_vim__LogUserEvent(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_EVENT_MANAGER]),
	    vmoref_soap(c->soap, entity), (char *)msg, &r));
	vconn_reset(c);
	return rc;
}
