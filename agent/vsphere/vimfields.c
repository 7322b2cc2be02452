/*
 * vim25 calls on custom fields (CustomFieldsManager): what the leader
 * lease is made of (lease.c).  Part of the SOAP module.
 */
#include "vsoap_int.h"

#include <stdio.h>
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
