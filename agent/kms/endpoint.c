/*
 * OVHcloud's KMS endpoint, watched for drift (endpoint.h).
 */
#include "endpoint.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <json-c/json.h>

void
endpoint_compare(struct endpoint_drift *d)
{
	d->nmissing = 0;
	for (size_t i = 0; i < d->nresolved; i++) {
		int found = 0;
		for (size_t j = 0; j < d->nregistered && !found; j++)
			found = strcmp(d->resolved[i], d->registered[j]) == 0;
		if (!found && d->nmissing < ENDPOINT_MAX_ADDRS)
			snprintf(d->missing[d->nmissing++], sizeof(d->missing[0]), "%s",
			    d->resolved[i]);
	}
}

/* The state file's endpoint host and registered addresses.  0, or -1. */
static int
read_state(const char *path, struct endpoint_drift *d)
{
	json_object *o = json_object_from_file(path), *v;

	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		snprintf(d->err, sizeof(d->err), "%s: not the JSON `kms setup --okms` writes",
		    path);
		json_object_put(o);
		return -1;
	}
	const char *ep = json_object_object_get_ex(o, "kmip_endpoint", &v) ?
	    json_object_get_string(v) : NULL;
	if (ep != NULL && ep[0]) {
		snprintf(d->host, sizeof(d->host), "%.*s", (int)strcspn(ep, ":"), ep);
		d->known = d->host[0] != '\0';
	}
	if (json_object_object_get_ex(o, "id", &v))
		snprintf(d->okms_id, sizeof(d->okms_id), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(o, "service", &v))
		snprintf(d->service, sizeof(d->service), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(o, "addresses", &v) &&
	    json_object_is_type(v, json_type_array))
		for (size_t i = 0; i < json_object_array_length(v) &&
		    d->nregistered < ENDPOINT_MAX_ADDRS; i++)
			snprintf(d->registered[d->nregistered++], sizeof(d->registered[0]), "%s",
			    json_object_get_string(json_object_array_get_idx(v, i)));
	json_object_put(o);
	return 0;
}

int
endpoint_drift(const char *state_dir, const char *cluster, struct endpoint_drift *d)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;
	char path[1024];
	FILE *f;

	memset(d, 0, sizeof(*d));
	snprintf(path, sizeof(path), "%s/okms-%s.json", state_dir, cluster);
	if ((f = fopen(path, "r")) == NULL)
		return 0;		/* not set up by kms setup --okms here */
	fclose(f);
	if (read_state(path, d) != 0 || !d->known)
		return d->known ? -1 : 0;
	int e = getaddrinfo(d->host, NULL, &hints, &ai);
	if (e != 0) {
		snprintf(d->err, sizeof(d->err), "%s: %s", d->host, gai_strerror(e));
		return -1;
	}
	for (struct addrinfo *p = ai; p && d->nresolved < ENDPOINT_MAX_ADDRS; p = p->ai_next) {
		char ip[16];
		inet_ntop(AF_INET, &((struct sockaddr_in *)p->ai_addr)->sin_addr, ip, sizeof(ip));
		int dup = 0;
		for (size_t i = 0; i < d->nresolved; i++)
			dup |= strcmp(d->resolved[i], ip) == 0;
		if (!dup)
			snprintf(d->resolved[d->nresolved++], sizeof(d->resolved[0]), "%s", ip);
	}
	freeaddrinfo(ai);
	endpoint_compare(d);
	return 0;
}
