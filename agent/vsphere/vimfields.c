/*
 * vim25 calls on custom fields (CustomFieldsManager): the definitions
 * (custom attributes, read for exclusions by attribute) and what the
 * leader lease is made of (lease.c).  Part of the SOAP module.
 */
#include "vsoap_int.h"

#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
no_fields_manager(struct vconn *c, const char *op)
{
	if (c->s->mo[VMO_CUSTOM_FIELDS_MANAGER].value[0] != '\0')
		return 0;
	snprintf(c->err, sizeof(c->err), "%s: this endpoint has no CustomFieldsManager", op);
	return 1;
}

int
vim_field_add(struct vconn *c, const char *name, const char *motype, int *key)
{
	struct vim__AddCustomFieldDefResponse r = { 0 };
	int rc;

	if (no_fields_manager(c, "AddCustomFieldDef"))
		return V_ERR_REFUSED;
	VCALL(c, 0, "AddCustomFieldDef", rc,
	    soap_call_vim__AddCustomFieldDef(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_CUSTOM_FIELDS_MANAGER]), (char *)name,
	    (char *)motype, &r));
	if (rc == 0 && r.returnval == NULL) {
		snprintf(c->err, sizeof(c->err), "AddCustomFieldDef: no field in the answer");
		rc = V_ERR_PROTO;
	}
	if (rc == 0)
		*key = r.returnval->key;
	vconn_reset(c);
	return rc;
}

int
vim_field_remove(struct vconn *c, int key)
{
	struct vim__RemoveCustomFieldDefResponse r = { 0 };
	int rc;

	if (no_fields_manager(c, "RemoveCustomFieldDef"))
		return V_ERR_REFUSED;
	VCALL(c, 0, "RemoveCustomFieldDef", rc,
	    soap_call_vim__RemoveCustomFieldDef(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_CUSTOM_FIELDS_MANAGER]), key, &r));
	vconn_reset(c);
	return rc;
}

int
vim_field_set(struct vconn *c, const struct vmoref *entity, int key, const char *value)
{
	struct vim__SetFieldResponse r = { 0 };
	int rc;

	if (no_fields_manager(c, "SetField"))
		return V_ERR_REFUSED;
	VCALL(c, 0, "SetField", rc,
	    soap_call_vim__SetField(c->soap, c->s->url, c->s->action,
	    vmoref_soap(c->soap, &c->s->mo[VMO_CUSTOM_FIELDS_MANAGER]),
	    vmoref_soap(c->soap, entity), key, (char *)value, &r));
	vconn_reset(c);
	return rc;
}

static int
fields_cb(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct custom_fields *f = arg;
	(void)obj;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], "field") != 0)
			continue;
		for (const xnode *d = xnode_first(vals[i]); d; d = xnode_next(d)) {
			const char *k = xnode_path_text(d, "key");
			const char *nm = xnode_path_text(d, "name");
			if (k == NULL || nm == NULL)
				continue;
			f->keys = xreallocarray(f->keys, f->n + 1, sizeof(int));
			f->names = xreallocarray(f->names, f->n + 1, sizeof(char *));
			f->keys[f->n] = atoi(k);
			f->names[f->n++] = xstrdup(nm);
		}
	}
	return 0;
}

int
custom_fields_read(struct vconn *c, struct custom_fields *f)
{
	static const char *const paths[] = { "field" };
	const struct vmoref *cfm = vsession_mo(vconn_session(c), VMO_CUSTOM_FIELDS_MANAGER);
	int rc = 0;

	memset(f, 0, sizeof(*f));
	if (cfm->value[0] != '\0')
		rc = vim_retrieve_objects(c, cfm, 1, "CustomFieldsManager", paths, 1,
		    fields_cb, f);
	/* No reset: callers may still hold trees read on c. */
	if (rc != 0)
		custom_fields_free(f);
	return rc;
}

void
custom_fields_free(struct custom_fields *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->names[i]);
	free(f->names);
	free(f->keys);
	memset(f, 0, sizeof(*f));
}
