/* The unit tests' DOM helper (domtest.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "domtest.h"
#include "soapH.h"

extern struct Namespace namespaces[];

static struct soap *soap;

int
dom_open(void **state)
{
	(void)state;
	if ((soap = soap_new1(SOAP_C_UTFSTRING)) == NULL)
		return -1;
	soap_set_namespaces(soap, namespaces);
	return 0;
}

int
dom_close(void **state)
{
	(void)state;
	if (soap != NULL) {
		soap_destroy(soap);
		soap_end(soap);
		soap_free(soap);
		soap = NULL;
	}
	return 0;
}

const xnode *
dom_parse(const char *xml)
{
	struct soap_dom_element *d;

	assert_non_null(soap);
	d = soap_malloc(soap, sizeof(*d));
	assert_non_null(d);
	soap->is = xml;
	soap_default_xsd__anyType(soap, d);
	assert_int_equal(soap_begin_recv(soap), SOAP_OK);
	assert_non_null(soap_in_xsd__anyType(soap, NULL, d, NULL));
	soap_end_recv(soap);
	return d;
}
