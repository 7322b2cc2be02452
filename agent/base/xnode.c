#include "xnode.h"

#include <string.h>

#include "stdsoap2.h"

static const char *
local(const char *qname)
{
	const char *c;
	if (qname == NULL)
		return "";
	c = strrchr(qname, ':');
	return c ? c + 1 : qname;
}

const char *
xnode_name(const xnode *n)
{
	return n ? local(n->name) : "";
}

const char *
xnode_text(const xnode *n)
{
	return n && n->text ? n->text : "";
}

const char *
xnode_attr(const xnode *n, const char *name)
{
	for (const struct soap_dom_attribute *a = n ? n->atts : NULL; a; a = a->next)
		if (a->name && strcmp(local(a->name), name) == 0)
			return a->text ? a->text : "";
	return NULL;
}

const char *
xnode_type(const xnode *n)
{
	for (const struct soap_dom_attribute *a = n ? n->atts : NULL; a; a = a->next) {
		if (a->name == NULL || strcmp(local(a->name), "type") != 0)
			continue;
		/* Only the xsi:type attribute, not a moref's plain type="". */
		if ((a->nstr && strcmp(a->nstr, "http://www.w3.org/2001/XMLSchema-instance") == 0) ||
		    strncmp(a->name, "xsi:", 4) == 0)
			return local(a->text);
	}
	return "";
}

const xnode *
xnode_first(const xnode *n)
{
	return n ? n->elts : NULL;
}

const xnode *
xnode_next(const xnode *n)
{
	return n ? n->next : NULL;
}

const xnode *
xnode_child(const xnode *n, const char *name)
{
	for (const xnode *c = xnode_first(n); c; c = c->next)
		if (strcmp(xnode_name(c), name) == 0)
			return c;
	return NULL;
}

const xnode *
xnode_path(const xnode *n, const char *path)
{
	char part[128];

	while (n != NULL && *path) {
		size_t len = strcspn(path, ".");
		if (len >= sizeof(part))
			return NULL;
		memcpy(part, path, len);
		part[len] = '\0';
		n = xnode_child(n, part);
		path += len;
		if (*path == '.')
			path++;
	}
	return n;
}

const char *
xnode_path_text(const xnode *n, const char *path)
{
	const xnode *c = xnode_path(n, path);
	return c ? xnode_text(c) : NULL;
}

size_t
xnode_count(const xnode *n, const char *name)
{
	size_t k = 0;
	for (const xnode *c = xnode_first(n); c; c = c->next)
		if (name == NULL || strcmp(xnode_name(c), name) == 0)
			k++;
	return k;
}

void
xnode_rename(xnode *n, const char *name)
{
	n->name = name;
}
