/*
 * The one DOM helper of the unit tests: XML text parsed into the xnode
 * tree the SOAP layer hands the agent's decoders (as received from
 * vCenter, xsi:type and all).  Every tree lives until dom_close().
 */
#ifndef VMCRYPT_DOMTEST_H
#define VMCRYPT_DOMTEST_H

#include "xnode.h"

/* A gSOAP context for the trees to come; 0, or -1 if out of memory.  The
 * signature fits cmocka's group setup and teardown. */
int		 dom_open(void **state);
int		 dom_close(void **state);
/* xml parsed (a test assertion fails on malformed XML); owned by the
 * context. */
const xnode	*dom_parse(const char *xml);

#endif
