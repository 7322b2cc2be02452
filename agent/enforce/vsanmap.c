#include "vsanmap.h"
#include "inventory.h"
#include "log.h"
#include "vim.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
vsanmap_add(struct vsanmap *m, const char *ds)
{
	m->ds = xreallocarray(m->ds, m->n + 1, sizeof(*m->ds));
	snprintf(m->ds[m->n++], sizeof(*m->ds), "%s", ds);
}

static int
ds_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

void
vsanmap_sort(struct vsanmap *m)
{
	if (m->n > 0)
		qsort(m->ds, m->n, sizeof(*m->ds), ds_cmp);
}

int
vsanmap_covers(const struct vsanmap *m, const struct vm_info *vm)
{
	if (m == NULL || m->n == 0 || vm->ndatastores == 0)
		return 0;
	for (size_t i = 0; i < vm->ndatastores; i++)
		if (bsearch(vm->datastores[i], m->ds, m->n, sizeof(*m->ds), ds_cmp) == NULL)
			return 0;
	return 1;
}

void
vsanmap_free(struct vsanmap *m)
{
	free(m->ds);
	m->ds = NULL;
	m->n = 0;
}

/* A vSAN datastore and the cluster it belongs to (found by its host). */
struct vsands {
	char	ds[96];
	char	host[96];
	char	cluster[96];
};

struct vsanread {
	struct vsands	*v;
	size_t		 n;
};

static int
ds_cb(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct vsanread *r = arg;
	const char *type = NULL, *host = NULL;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], "summary.type") == 0)
			type = xnode_text(vals[i]);
		else if (strcmp(names[i], "host") == 0 && xnode_first(vals[i]) != NULL)
			host = xnode_path_text(xnode_first(vals[i]), "key");
	}
	if (type == NULL || strcmp(type, "vsan") != 0 || host == NULL)
		return 0;
	r->v = xreallocarray(r->v, r->n + 1, sizeof(*r->v));
	struct vsands *d = &r->v[r->n++];
	memset(d, 0, sizeof(*d));
	snprintf(d->ds, sizeof(d->ds), "%s", obj->value);
	snprintf(d->host, sizeof(d->host), "%s", host);
	return 0;
}

static int
host_cb(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct vsanread *r = arg;

	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], "parent") == 0)
			for (size_t j = 0; j < r->n; j++)
				if (strcmp(r->v[j].host, obj->value) == 0)
					snprintf(r->v[j].cluster, sizeof(r->v[j].cluster), "%s",
					    xnode_text(vals[i]));
	return 0;
}

/* Each vSAN datastore's cluster: its first host's parent. */
static int
read_clusters(struct vconn *c, struct vsanread *r)
{
	static const char *const paths[] = { "parent" };
	struct vmoref *hosts = xcalloc(r->n, sizeof(*hosts));

	for (size_t i = 0; i < r->n; i++) {
		snprintf(hosts[i].type, sizeof(hosts[i].type), "HostSystem");
		snprintf(hosts[i].value, sizeof(hosts[i].value), "%s", r->v[i].host);
	}
	int rc = vim_retrieve_present(c, hosts, r->n, "HostSystem", paths, 1, host_cb, r);
	free(hosts);
	return rc;
}

int
vsanmap_read(struct vconn *c, struct vsanmap *m)
{
	static const char *const paths[] = { "summary.type", "host" };
	struct vsanread r = { NULL, 0 };
	struct vmoref view = { "", "" };
	int rc;

	memset(m, 0, sizeof(*m));
	rc = vim_create_container_view(c, vsession_mo(vconn_session(c), VMO_ROOT_FOLDER),
	    "Datastore", 1, &view);
	if (rc == 0)
		rc = vim_retrieve_view(c, &view, "Datastore", paths, 2, 1000, ds_cb, &r);
	if (view.value[0])
		vim_destroy_view(c, &view);
	if (rc == 0 && r.n > 0)
		rc = read_clusters(c, &r);
	for (size_t i = 0; rc == 0 && i < r.n; i++) {
		int enc = 0;
		struct vmoref cl = { "ClusterComputeResource", "" };
		if (r.v[i].cluster[0] == '\0')
			continue;
		snprintf(cl.value, sizeof(cl.value), "%s", r.v[i].cluster);
		if (vim_vsan_encryption(c, &cl, &enc) != 0) {
			log_warnx("vSAN datastore %s: cannot read cluster %s's encryption: %s; "
			    "taken as not encrypting", r.v[i].ds, cl.value, vconn_error(c));
			vconn_reset(c);
		}
		if (enc)
			vsanmap_add(m, r.v[i].ds);
	}
	free(r.v);
	if (rc != 0) {
		vsanmap_free(m);
		return rc;
	}
	vsanmap_sort(m);
	return 0;
}
