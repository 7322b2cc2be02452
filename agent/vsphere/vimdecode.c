/*
 * Answers decoded without a connection: the same gSOAP deserialisers and
 * the same callbacks a live call uses, fed from text.  The fuzz targets use
 * them, and so do the tests that read vCenter traffic recorded by others
 * (../shared/reference/real-vcenter): what a real vCenter sent must decode
 * here exactly as it would on the wire.
 */
#include "vsoap_int.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


void
vim_event_fields(const xnode *ev, struct vevent_fields *f)
{
	const char *k = xnode_path_text(ev, "key");
	const char *t = xnode_path_text(ev, "createdTime");
	const char *vm = xnode_path_text(ev, "vm.vm");
	const char *name = xnode_path_text(ev, "vm.name");
	const char *msg = xnode_path_text(ev, "fullFormattedMessage");
	const char *ot = xnode_path_text(ev, "objectType");

	f->type = xnode_type(ev);
	if (strcmp(f->type, "EventEx") == 0 && xnode_path_text(ev, "eventTypeId"))
		f->type = xnode_path_text(ev, "eventTypeId");
	f->key = k ? strtoll(k, NULL, 10) : -1;
	f->time = t ? t : "";
	/* An EventEx about a VM may name it only as its object. */
	if (vm == NULL && ot != NULL && strcmp(ot, "VirtualMachine") == 0)
		vm = xnode_path_text(ev, "objectId");
	f->vm = vm ? vm : "";
	f->vm_name = name ? name : "";
	if (!*f->vm_name && vm != NULL && (name = xnode_path_text(ev, "objectName")) != NULL)
		f->vm_name = name;
	f->msg = msg ? msg : "";
}

int
vim_decode(enum vim_answer kind, const char *text, vobject_cb ocb, vupdate_cb ucb,
    vevent_cb ecb, void *arg, char *err, size_t errlen)
{
	struct vconn c = { 0 };
	int rc = 0, src;

	c.soap = vsoap_new();
	c.soap->is = text;
	switch (kind) {
	case VIM_ANSWER_PROPERTIES: {
		struct vim__RetrievePropertiesExResponse r = { 0 };
		if ((src = soap_recv_vim__RetrievePropertiesEx(c.soap, &r)) == SOAP_OK)
			rc = vim_deliver_objects(&c, r.returnval, ocb, arg);
		break;
	}
	case VIM_ANSWER_UPDATES: {
		struct vim__WaitForUpdatesExResponse r = { 0 };
		if ((src = soap_recv_vim__WaitForUpdatesEx(c.soap, &r)) == SOAP_OK &&
		    r.returnval != NULL)
			rc = vim_deliver_updates(r.returnval, ucb, arg);
		break;
	}
	case VIM_ANSWER_EVENTS: {
		struct vim__ReadNextEventsResponse r = { 0 };
		if ((src = soap_recv_vim__ReadNextEvents(c.soap, &r)) == SOAP_OK)
			for (int i = 0; rc == 0 && i < r.__sizereturnval; i++)
				rc = ecb(arg, &r.returnval[i]);
		break;
	}
	default:
		src = SOAP_ERR;
		break;
	}
	if (src != SOAP_OK) {
		const char *fs = *soap_faultstring(c.soap);
		snprintf(err, errlen, "not a valid answer (gSOAP error %d%s%s)", src,
		    fs ? ": " : "", fs ? fs : "");
		rc = V_ERR_PROTO;
	} else if (rc != 0) {
		snprintf(err, errlen, "%s", c.err);
	}
	soap_destroy(c.soap);
	soap_end(c.soap);
	soap_free(c.soap);
	return rc;
}

/* ---------------------------------------------------------------- */
/* any answer the agent asks for, by method                          */

static int
objects_none(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	(void)arg; (void)obj; (void)n; (void)names; (void)vals;
	return 0;
}

static int
updates_none(void *arg, const char *kind, const struct vmoref *obj, size_t n,
    const char *const *names, const xnode *const *vals)
{
	(void)arg; (void)kind; (void)obj; (void)n; (void)names; (void)vals;
	return 0;
}

/* The three answers whose contents the agent walks: walked the same way. */
static int
dec_RetrievePropertiesEx(struct vconn *c)
{
	struct vim__RetrievePropertiesExResponse r = { 0 };
	int rc = soap_recv_vim__RetrievePropertiesEx(c->soap, &r);
	return rc != SOAP_OK ? rc : vim_deliver_objects(c, r.returnval, objects_none, NULL);
}

static int
dec_WaitForUpdatesEx(struct vconn *c)
{
	struct vim__WaitForUpdatesExResponse r = { 0 };
	int rc = soap_recv_vim__WaitForUpdatesEx(c->soap, &r);
	if (rc != SOAP_OK || r.returnval == NULL)
		return rc;
	return vim_deliver_updates(r.returnval, updates_none, NULL);
}

static int
dec_ReadNextEvents(struct vconn *c)
{
	struct vim__ReadNextEventsResponse r = { 0 };
	struct vevent_fields f;
	int rc = soap_recv_vim__ReadNextEvents(c->soap, &r);
	for (int i = 0; rc == SOAP_OK && i < r.__sizereturnval; i++)
		vim_event_fields(&r.returnval[i], &f);
	return rc;
}

/* The others: decoded into their typed responses. */
#define DECODER(name, call)						\
static int								\
dec_##name(struct vconn *c)						\
{									\
	struct call##Response r;					\
	memset(&r, 0, sizeof(r));					\
	return soap_recv_##call(c->soap, &r);				\
}

DECODER(RetrieveServiceContent, vim__RetrieveServiceContent)
DECODER(Login, vim__Login)
DECODER(Logout, vim__Logout)
DECODER(CurrentTime, vim__CurrentTime)
DECODER(CreateContainerView, vim__CreateContainerView)
DECODER(DestroyView, vim__DestroyView)
DECODER(CreatePropertyCollector, vim__CreatePropertyCollector)
DECODER(DestroyPropertyCollector, vim__DestroyPropertyCollector)
DECODER(CreateFilter, vim__CreateFilter)
DECODER(DestroyPropertyFilter, vim__DestroyPropertyFilter)
DECODER(ContinueRetrievePropertiesEx, vim__ContinueRetrievePropertiesEx)
DECODER(CancelRetrievePropertiesEx, vim__CancelRetrievePropertiesEx)
DECODER(CancelWaitForUpdates, vim__CancelWaitForUpdates)
DECODER(CreateCollectorForEvents, vim__CreateCollectorForEvents)
DECODER(SetCollectorPageSize, vim__SetCollectorPageSize)
DECODER(ResetCollector, vim__ResetCollector)
DECODER(DestroyCollector, vim__DestroyCollector)
DECODER(LogUserEvent, vim__LogUserEvent)
DECODER(ReconfigVMTask, vim__ReconfigVM_USCORETask)
DECODER(ListKmipServers, vim__ListKmipServers)
DECODER(GetDefaultKmsCluster, vim__GetDefaultKmsCluster)
DECODER(IsKmsClusterActive, vim__IsKmsClusterActive)
DECODER(RetrieveKmipServersStatusTask, vim__RetrieveKmipServersStatus_USCORETask)
DECODER(GenerateKey, vim__GenerateKey)
DECODER(HasPrivilegeOnEntity, vim__HasPrivilegeOnEntity)
DECODER(AddCustomFieldDef, vim__AddCustomFieldDef)
DECODER(SetField, vim__SetField)
DECODER(RemoveCustomFieldDef, vim__RemoveCustomFieldDef)
DECODER(PbmRetrieveServiceContent, pbm__PbmRetrieveServiceContent)
DECODER(PbmQueryProfile, pbm__PbmQueryProfile)
DECODER(PbmRetrieveContent, pbm__PbmRetrieveContent)
DECODER(PbmQueryAssociatedProfile, pbm__PbmQueryAssociatedProfile)
DECODER(PbmQueryAssociatedProfiles, pbm__PbmQueryAssociatedProfiles)

static const struct {
	const char	*method;
	int		(*decode)(struct vconn *);
} decoders[] = {
	{ "RetrievePropertiesEx", dec_RetrievePropertiesEx },
	{ "WaitForUpdatesEx", dec_WaitForUpdatesEx },
	{ "ReadNextEvents", dec_ReadNextEvents },
	{ "RetrieveServiceContent", dec_RetrieveServiceContent },
	{ "Login", dec_Login },
	{ "Logout", dec_Logout },
	{ "CurrentTime", dec_CurrentTime },
	{ "CreateContainerView", dec_CreateContainerView },
	{ "DestroyView", dec_DestroyView },
	{ "CreatePropertyCollector", dec_CreatePropertyCollector },
	{ "DestroyPropertyCollector", dec_DestroyPropertyCollector },
	{ "CreateFilter", dec_CreateFilter },
	{ "DestroyPropertyFilter", dec_DestroyPropertyFilter },
	{ "ContinueRetrievePropertiesEx", dec_ContinueRetrievePropertiesEx },
	{ "CancelRetrievePropertiesEx", dec_CancelRetrievePropertiesEx },
	{ "CancelWaitForUpdates", dec_CancelWaitForUpdates },
	{ "CreateCollectorForEvents", dec_CreateCollectorForEvents },
	{ "SetCollectorPageSize", dec_SetCollectorPageSize },
	{ "ResetCollector", dec_ResetCollector },
	{ "DestroyCollector", dec_DestroyCollector },
	{ "LogUserEvent", dec_LogUserEvent },
	{ "ReconfigVM_Task", dec_ReconfigVMTask },
	{ "ListKmipServers", dec_ListKmipServers },
	{ "GetDefaultKmsCluster", dec_GetDefaultKmsCluster },
	{ "IsKmsClusterActive", dec_IsKmsClusterActive },
	{ "RetrieveKmipServersStatus_Task", dec_RetrieveKmipServersStatusTask },
	{ "GenerateKey", dec_GenerateKey },
	{ "HasPrivilegeOnEntity", dec_HasPrivilegeOnEntity },
	{ "AddCustomFieldDef", dec_AddCustomFieldDef },
	{ "SetField", dec_SetField },
	{ "RemoveCustomFieldDef", dec_RemoveCustomFieldDef },
	{ "PbmRetrieveServiceContent", dec_PbmRetrieveServiceContent },
	{ "PbmQueryProfile", dec_PbmQueryProfile },
	{ "PbmRetrieveContent", dec_PbmRetrieveContent },
	{ "PbmQueryAssociatedProfile", dec_PbmQueryAssociatedProfile },
	{ "PbmQueryAssociatedProfiles", dec_PbmQueryAssociatedProfiles },
};

int
vim_decode_known(const char *method)
{
	for (size_t i = 0; i < sizeof(decoders) / sizeof(decoders[0]); i++)
		if (strcmp(decoders[i].method, method) == 0)
			return 1;
	return 0;
}

int
vim_decode_answer(const char *method, const char *text, char *fault, size_t faultlen,
    char *err, size_t errlen)
{
	static struct vsession recorded = { .base = "the recorded answer",
	    .url = "the recorded answer" };
	struct vconn c = { 0 };
	int rc = V_ERR_PROTO;

	snprintf(fault, faultlen, "%s", "");
	snprintf(err, errlen, "no decoder for %s", method);
	for (size_t i = 0; i < sizeof(decoders) / sizeof(decoders[0]); i++) {
		if (strcmp(decoders[i].method, method) != 0)
			continue;
		c.s = &recorded;
		c.soap = vsoap_new();
		c.soap->is = text;
		int src = decoders[i].decode(&c);
		if (src >= 0) {
			/* A gSOAP code: classified as a live call would be.
			 * attempt 1: a NotAuthenticated fault is not retried. */
			rc = vconn_finish(&c, src, method, 1);
		} else {
			rc = src;		/* a V_ERR_* from walking the answer */
		}
		snprintf(fault, faultlen, "%s", c.fault_type);
		snprintf(err, errlen, "%s", rc == 0 ? "" : c.err);
		soap_destroy(c.soap);
		soap_end(c.soap);
		soap_free(c.soap);
		break;
	}
	return rc;
}

int
vim_versions_text(const char *text, char *best, size_t len)
{
	struct soap *p = soap_new1(SOAP_C_UTFSTRING);
	struct soap_dom_element dom;
	int rc = -1;

	best[0] = '\0';
	p->is = text;
	p->recv_maxlength = 1 << 20;
	soap_default_xsd__anyType(p, &dom);
	if (soap_begin_recv(p) == SOAP_OK && soap_in_xsd__anyType(p, NULL, &dom, NULL) != NULL) {
		vim_versions_pick(&dom, best, len);
		rc = 0;
	}
	soap_end_recv(p);
	soap_destroy(p);
	soap_end(p);
	soap_free(p);
	return rc;
}

int
pbm_decode_profiles(const char *text, void (*cb)(void *, const xnode *), void *arg,
    char *err, size_t errlen)
{
	struct vconn c = { 0 };
	struct pbm__PbmRetrieveContentResponse r = { 0 };
	int rc = 0;

	c.soap = vsoap_new();
	c.soap->is = text;
	if (soap_recv_pbm__PbmRetrieveContent(c.soap, &r) != SOAP_OK) {
		const char *fs = *soap_faultstring(c.soap);
		snprintf(err, errlen, "not a PbmRetrieveContent answer (gSOAP error %d%s%s)",
		    c.soap->error, fs ? ": " : "", fs ? fs : "");
		rc = V_ERR_PROTO;
	}
	for (int i = 0; rc == 0 && i < r.__sizereturnval; i++)
		cb(arg, &r.returnval[i]);
	soap_destroy(c.soap);
	soap_end(c.soap);
	soap_free(c.soap);
	return rc;
}
