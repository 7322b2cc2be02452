/*
 * The property collector: container views, reading objects' properties
 * (in pages, or a given list), filters and WaitForUpdatesEx.  Everything
 * the agent reads from vCenter is read here.
 */
#include "vsoap_int.h"

#include "log.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- */
/* calls                                                             */
/* ---------------------------------------------------------------- */

int
vim_current_time(struct vconn *c, char *out, size_t outlen)
{
	struct vim__CurrentTimeResponse r = { 0 };
	struct vim__ManagedObjectReference si = { "ServiceInstance", "ServiceInstance" };
	int rc;

	VCALL(c, 0, "CurrentTime", rc,
	    soap_call_vim__CurrentTime(c->soap, c->s->url, c->s->action, &si, &r));
	if (rc == 0)
		copystr(out, outlen, r.returnval);
	return rc;
}

int
vim_create_container_view(struct vconn *c, const struct vmoref *container,
    const char *type, int recursive, struct vmoref *out)
{
	struct vim__CreateContainerViewResponse r = { 0 };
	char *types[1] = { (char *)type };
	int rc;

	VCALL(c, 0, "CreateContainerView", rc,
	    soap_call_vim__CreateContainerView(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_VIEW_MANAGER]),
	    vmoref_soap(c->soap, container), 1, types,
	    recursive ? true_ : false_, &r));
	if (rc == 0) {
		if (r.returnval == NULL)
			return V_ERR_PROTO;
		vmoref_set(out, r.returnval);
	}
	return rc;
}

int
vim_destroy_view(struct vconn *c, const struct vmoref *view)
{
	struct vim__DestroyViewResponse r;
	struct saved_err saved;
	int rc;

	err_save(c, &saved);
	VCALL(c, 0, "DestroyView", rc,
	    soap_call_vim__DestroyView(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, view), &r));
	err_restore(c, &saved);
	return rc;
}

/* A PropertyFilterSpec over every object of type in a container view. */
static struct vim__PropertyFilterSpec *
view_spec(struct soap *soap, const struct vmoref *view, const char *type,
    const char *const *paths, size_t npaths)
{
	struct vim__PropertyFilterSpec *spec = soap_malloc(soap, sizeof(*spec));
	struct vim__PropertySpec *ps = soap_malloc(soap, sizeof(*ps));
	struct vim__ObjectSpec *os = soap_malloc(soap, sizeof(*os));
	struct vim__TraversalSpec *ts = soap_malloc(soap, sizeof(*ts));
	struct vim__SelectionSpecRef *sel = soap_malloc(soap, sizeof(*sel));
	enum xsd__boolean *yes = soap_malloc(soap, sizeof(*yes));

	if (!spec || !ps || !os || !ts || !sel || !yes)
		fatalx("out of memory");
	*yes = true_;
	soap_default_vim__PropertySpec(soap, ps);
	ps->type = soap_strdup(soap, type);
	ps->__sizepathSet = (int)npaths;
	ps->pathSet = (char **)paths;

	soap_default_vim__TraversalSpec(soap, ts);
	ts->name = "view";
	ts->type = "ContainerView";
	ts->path = "view";
	sel->__type = SOAP_TYPE_vim__TraversalSpec;
	sel->selectSet = ts;

	soap_default_vim__ObjectSpec(soap, os);
	os->obj = *vmoref_soap(soap, view);
	os->skip = yes;
	os->__sizeselectSet_ = 1;
	os->__selectSet = sel;

	soap_default_vim__PropertyFilterSpec(soap, spec);
	spec->__sizepropSet = 1;
	spec->propSet = ps;
	spec->__sizeobjectSet = 1;
	spec->objectSet = os;
	return spec;
}

/* NotAuthenticated can come back inside a successful response. */
static int
missing_notauth(const struct vim__MissingProperty *m, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(xnode_type(m[i].fault.fault), "NotAuthenticated") == 0)
			return 1;
	return 0;
}

/*
 * Hands each object to cb.  An answer in which any property is missing with
 * NotAuthenticated (the session ended; govmomi's recorded fixture) is
 * refused whole, before cb sees anything, so a caller can log in again and
 * ask again without seeing an object twice.
 */
int
vim_deliver_objects(struct vconn *c, const struct vim__RetrieveResult *res,
    vobject_cb cb, void *arg)
{
	const char *names[64];
	const xnode *vals[64];
	struct vmoref obj;

	for (int i = 0; res && i < res->__sizeobjects; i++) {
		const struct vim__ObjectContent *oc = &res->objects[i];
		if (missing_notauth(oc->missingSet, oc->__sizemissingSet)) {
			snprintf(c->err, sizeof(c->err),
			    "RetrievePropertiesEx: NotAuthenticated for %s",
			    oc->obj.__item ? oc->obj.__item : "?");
			log_redact(c->err);
			copystr(c->fault_type, sizeof(c->fault_type), "NotAuthenticated");
			return V_ERR_FAULT;
		}
	}
	for (int i = 0; res && i < res->__sizeobjects; i++) {
		const struct vim__ObjectContent *oc = &res->objects[i];
		size_t n = 0;
		vmoref_set(&obj, &oc->obj);
		for (int j = 0; j < oc->__sizepropSet && n < 64; j++) {
			/* name is required; an answer without it is not trusted
			 * for that property (found by fuzz_soap). */
			if (oc->propSet[j].name == NULL)
				continue;
			names[n] = oc->propSet[j].name;
			vals[n] = oc->propSet[j].val;
			n++;
		}
		int r = cb(arg, &obj, n, names, vals);
		if (r != 0)
			return r;
	}
	return 0;
}

int
vim_retrieve_view(struct vconn *c, const struct vmoref *view, const char *type,
    const char *const *paths, size_t npaths, int page, vobject_cb cb, void *arg)
{
	struct vim__RetrievePropertiesExResponse r = { 0 };
	struct vim__RetrieveOptions opt = { &page };
	char token[256];
	int rc;

	VCALL(c, 0, "RetrievePropertiesEx", rc,
	    soap_call_vim__RetrievePropertiesEx(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_PROPERTY_COLLECTOR]), 1,
	    view_spec(c->soap, view, type, paths, npaths), &opt, &r));
	while (rc == 0) {
		rc = vim_deliver_objects(c, r.returnval, cb, arg);
		if (rc == V_ERR_FAULT &&
		    strcmp(c->fault_type, "NotAuthenticated") == 0) {
			/* The view died with the old session: log in again and
			 * fail this retrieval; the caller sees the generation
			 * change and recreates its view. */
			char msg[sizeof(c->err)];
			memcpy(msg, c->err, sizeof(msg));
			vsession_login(c);
			memcpy(c->err, msg, sizeof(msg));
			snprintf(c->fault_type, sizeof(c->fault_type), "NotAuthenticated");
			break;
		}
		if (rc != 0 || r.returnval == NULL || r.returnval->token == NULL)
			break;
		copystr(token, sizeof(token), r.returnval->token);
		vconn_reset(c);
		struct vim__ContinueRetrievePropertiesExResponse cr = { 0 };
		VCALL(c, 0, "ContinueRetrievePropertiesEx", rc,
		    soap_call_vim__ContinueRetrievePropertiesEx(c->soap, c->s->url,
		    c->s->action, vmoref_soap(c->soap, &c->s->mo[VMO_PROPERTY_COLLECTOR]),
		    token, &cr));
		r.returnval = cr.returnval;
	}
	vconn_reset(c);
	return rc;
}

int
vim_create_property_collector(struct vconn *c, struct vmoref *out)
{
	struct vim__CreatePropertyCollectorResponse r = { 0 };
	int rc;

	VCALL(c, 0, "CreatePropertyCollector", rc,
	    soap_call_vim__CreatePropertyCollector(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_PROPERTY_COLLECTOR]), &r));
	if (rc == 0) {
		if (r.returnval == NULL)
			return V_ERR_PROTO;
		vmoref_set(out, r.returnval);
	}
	return rc;
}

int
vim_destroy_property_collector(struct vconn *c, const struct vmoref *pc)
{
	struct vim__DestroyPropertyCollectorResponse r;
	struct saved_err saved;
	int rc;

	err_save(c, &saved);
	VCALL(c, 0, "DestroyPropertyCollector", rc,
	    soap_call_vim__DestroyPropertyCollector(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, pc), &r));
	err_restore(c, &saved);
	return rc;
}

int
vim_create_view_filter(struct vconn *c, const struct vmoref *pc,
    const struct vmoref *view, const char *type, const char *const *paths,
    size_t npaths, struct vmoref *filter)
{
	struct vim__CreateFilterResponse r = { 0 };
	int rc;

	VCALL(c, 0, "CreateFilter", rc,
	    soap_call_vim__CreateFilter(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, pc), view_spec(c->soap, view, type, paths, npaths),
	    false_, &r));
	if (rc == 0) {
		if (r.returnval == NULL)
			return V_ERR_PROTO;
		vmoref_set(filter, r.returnval);
	}
	return rc;
}

int
vim_deliver_updates(const struct vim__UpdateSet *us, vupdate_cb cb, void *arg)
{
	const char *names[64];
	const xnode *vals[64];
	struct vmoref obj;
	int rc = 0;

	for (int f = 0; f < us->__sizefilterSet && rc == 0; f++) {
		struct vim__PropertyFilterUpdate *fu = &us->filterSet[f];
		for (int i = 0; i < fu->__sizeobjectSet && rc == 0; i++) {
			struct vim__ObjectUpdate *ou = &fu->objectSet[i];
			size_t n = 0;
			vmoref_set(&obj, &ou->obj);
			for (int j = 0; j < ou->__sizechangeSet && n < 64; j++) {
				if (ou->changeSet[j].name == NULL)
					continue;
				names[n] = ou->changeSet[j].name;
				vals[n] = ou->changeSet[j].val;
				n++;
			}
			rc = cb(arg, ou->kind ? ou->kind : "", &obj, n, names, vals);
		}
	}
	return rc;
}

int
vim_wait_for_updates(struct vconn *c, const struct vmoref *pc, char *version,
    size_t versionlen, int max_wait, vupdate_cb cb, void *arg)
{
	struct vim__WaitOptions opt = { &max_wait, NULL };
	int rc;

	for (;;) {
		struct vim__WaitForUpdatesExResponse r = { 0 };
		VCALL(c, 0, "WaitForUpdatesEx", rc,
		    soap_call_vim__WaitForUpdatesEx(c->soap, c->s->url, c->s->action,
		    vmoref_soap(c->soap, pc), version[0] ? version : NULL, &opt, &r));
		if (rc != 0 || r.returnval == NULL)
			break;		/* error, or timed out with no change */
		struct vim__UpdateSet *us = r.returnval;
		rc = vim_deliver_updates(us, cb, arg);
		copystr(version, versionlen, us->version);
		int truncated = us->truncated && *us->truncated == true_;
		vconn_reset(c);
		if (rc != 0 || !truncated)
			break;
	}
	vconn_reset(c);
	return rc;
}

int
vim_cancel_wait(struct vconn *c, const struct vmoref *pc)
{
	struct vim__CancelWaitForUpdatesResponse r;
	int rc;

	VCALL(c, 0, "CancelWaitForUpdates", rc,
	    soap_call_vim__CancelWaitForUpdates(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, pc), &r));
	return rc;
}

/* ---------------------------------------------------------------- */
/* single objects, events, tasks, keys, reconfiguration             */
/* ---------------------------------------------------------------- */

/* A PropertyFilterSpec over a list of objects of one type. */
static struct vim__PropertyFilterSpec *
objects_spec(struct soap *soap, const struct vmoref *objs, size_t nobjs,
    const char *type, const char *const *paths, size_t npaths)
{
	struct vim__PropertyFilterSpec *spec = soap_malloc(soap, sizeof(*spec));
	struct vim__PropertySpec *ps = soap_malloc(soap, sizeof(*ps));
	struct vim__ObjectSpec *os = soap_malloc(soap, (nobjs ? nobjs : 1) * sizeof(*os));

	if (!spec || !ps || !os)
		fatalx("out of memory");
	soap_default_vim__PropertySpec(soap, ps);
	ps->type = soap_strdup(soap, type);
	ps->__sizepathSet = (int)npaths;
	ps->pathSet = (char **)paths;
	for (size_t i = 0; i < nobjs; i++) {
		soap_default_vim__ObjectSpec(soap, &os[i]);
		os[i].obj = *vmoref_soap(soap, &objs[i]);
	}
	soap_default_vim__PropertyFilterSpec(soap, spec);
	spec->__sizepropSet = 1;
	spec->propSet = ps;
	spec->__sizeobjectSet = (int)nobjs;
	spec->objectSet = os;
	return spec;
}

/* An object reported only as missing (reportMissingObjectsInResults):
 * no property, and ManagedObjectNotFound in its missingSet. */
static int
object_missing(const struct vim__ObjectContent *oc)
{
	if (oc->__sizepropSet > 0)
		return 0;
	for (int i = 0; i < oc->__sizemissingSet; i++)
		if (strcmp(xnode_type(oc->missingSet[i].fault.fault),
		    "ManagedObjectNotFound") == 0)
			return 1;
	return 0;
}

static int
retrieve_objects(struct vconn *c, const struct vmoref *objs, size_t nobjs,
    const char *type, const char *const *paths, size_t npaths, int present,
    vobject_cb cb, void *arg)
{
	struct vim__RetrievePropertiesExResponse r = { 0 };
	struct vim__RetrieveOptions opt = { NULL };
	struct vim__PropertyFilterSpec *spec;
	int rc;

	if (nobjs == 0)
		return 0;
	spec = objects_spec(c->soap, objs, nobjs, type, paths, npaths);
	if (present) {
		enum xsd__boolean *yes = soap_malloc(c->soap, sizeof(*yes));
		if (yes == NULL)
			fatalx("out of memory");
		*yes = true_;
		spec->reportMissingObjectsInResults = yes;
	}
	for (int attempt = 0;; attempt++) {
		VCALL(c, 0, "RetrievePropertiesEx", rc,
		    soap_call_vim__RetrievePropertiesEx(c->soap, c->s->url, c->s->action,
		    vmoref_soap(c->soap, &c->s->mo[VMO_PROPERTY_COLLECTOR]), 1, spec, &opt,
		    &r));
		if (rc == 0 && present && r.returnval != NULL) {
			/* Left out, as vcsim leaves them out. */
			int k = 0;
			for (int i = 0; i < r.returnval->__sizeobjects; i++)
				if (!object_missing(&r.returnval->objects[i]))
					r.returnval->objects[k++] = r.returnval->objects[i];
			r.returnval->__sizeobjects = k;
		}
		if (rc == 0)
			rc = vim_deliver_objects(c, r.returnval, cb, arg);
		/* NotAuthenticated inside the answer: these objects are not
		 * tied to the session, so log in again and ask once more. */
		if (rc == V_ERR_FAULT && attempt == 0 && c->s->has_password &&
		    strcmp(c->fault_type, "NotAuthenticated") == 0) {
			log_info("RetrievePropertiesEx: session no longer valid, logging in again");
			if (vsession_login(c) == 0)
				continue;
		}
		return rc;
	}
}

int
vim_retrieve_present(struct vconn *c, const struct vmoref *objs, size_t nobjs,
    const char *type, const char *const *paths, size_t npaths, vobject_cb cb,
    void *arg)
{
	return retrieve_objects(c, objs, nobjs, type, paths, npaths, 1, cb, arg);
}

int
vim_retrieve_objects(struct vconn *c, const struct vmoref *objs, size_t nobjs,
    const char *type, const char *const *paths, size_t npaths, vobject_cb cb,
    void *arg)
{
	int rc = retrieve_objects(c, objs, nobjs, type, paths, npaths, 0, cb, arg);
	/* Not reset: callers may keep using the returned trees (a device sent
	 * back in a reconfigure) until they call vconn_reset. */
	return rc;
}

int
vim_create_object_filter(struct vconn *c, const struct vmoref *pc,
    const struct vmoref *obj, const char *type, const char *const *paths,
    size_t npaths, struct vmoref *filter)
{
	struct vim__CreateFilterResponse r = { 0 };
	int rc;

	VCALL(c, 0, "CreateFilter", rc,
	    soap_call_vim__CreateFilter(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, pc), objects_spec(c->soap, obj, 1, type, paths, npaths),
	    false_, &r));
	rc = vmoref_answer(rc, r.returnval, filter);
	vconn_reset(c);
	return rc;
}

int
vim_destroy_filter(struct vconn *c, const struct vmoref *filter)
{
	struct vim__DestroyPropertyFilterResponse r;
	struct saved_err saved;
	int rc;

	err_save(c, &saved);
	VCALL(c, 0, "DestroyPropertyFilter", rc,
	    soap_call_vim__DestroyPropertyFilter(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, filter), &r));
	vconn_reset(c);
	err_restore(c, &saved);
	return rc;
}
