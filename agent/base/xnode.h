/* Read-only access to values vCenter sends typed only by xsi:type (property
 * values, events, task info, faults).  They arrive as DOM trees, so an
 * unknown type is just a tree: nothing here can fail a response. */
#ifndef VMCRYPT_XNODE_H
#define VMCRYPT_XNODE_H

#include <stddef.h>

struct soap_dom_element;
typedef struct soap_dom_element xnode;

const char	*xnode_name(const xnode *);		/* local name */
const char	*xnode_text(const xnode *);		/* "" if none */
const char	*xnode_type(const xnode *);		/* xsi:type, local part, or "" */
const char	*xnode_attr(const xnode *, const char *name);
const xnode	*xnode_first(const xnode *);		/* first child element */
const xnode	*xnode_next(const xnode *);		/* next sibling element */
const xnode	*xnode_child(const xnode *, const char *name);
/* Follows a dotted path of child names ("backing.keyId.keyId"). */
const xnode	*xnode_path(const xnode *, const char *path);
/* Text at a dotted path, or NULL if the path is absent. */
const char	*xnode_path_text(const xnode *, const char *path);
/* Number of child elements named name (all children if name is NULL). */
size_t		 xnode_count(const xnode *, const char *name);
/* Renames an element (used to send a device back as <device>). */
void		 xnode_rename(xnode *, const char *name);

#endif
