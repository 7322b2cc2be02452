#include "provmap.h"
#include "kmsinfo.h"
#include "vim.h"
#include "xmalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
provmap_add(struct provmap *m, const char *host, const char *provider, int rank)
{
	m->e = xreallocarray(m->e, m->n + 1, sizeof(*m->e));
	struct provmap_entry *x = &m->e[m->n++];
	snprintf(x->host, sizeof(x->host), "%s", host);
	snprintf(x->provider, sizeof(x->provider), "%s", provider);
	x->rank = rank;
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct provmap_entry *x = a, *y = b;
	int c = strcmp(x->host, y->host);
	return c ? c : x->rank - y->rank;
}

/* Sorted by host, one entry each: the nearest entity's provider. */
void
provmap_sort(struct provmap *m)
{
	size_t k = 0;

	if (m->n == 0)
		return;
	qsort(m->e, m->n, sizeof(*m->e), entry_cmp);
	for (size_t i = 0; i < m->n; i++)
		if (k == 0 || strcmp(m->e[k - 1].host, m->e[i].host) != 0)
			m->e[k++] = m->e[i];
	m->n = k;
}

static int
host_cmp(const void *key, const void *elt)
{
	return strcmp(key, ((const struct provmap_entry *)elt)->host);
}

const char *
provmap_lookup(const struct provmap *m, const char *host)
{
	if (m == NULL || m->n == 0 || host == NULL || *host == '\0')
		return NULL;
	const struct provmap_entry *x = bsearch(host, m->e, m->n, sizeof(*m->e), host_cmp);
	return x ? x->provider : NULL;
}

void
provmap_free(struct provmap *m)
{
	free(m->e);
	m->e = NULL;
	m->n = 0;
}

struct hosts_arg {
	struct provmap	*m;
	const char	*provider;
	int		 rank;
};

static int
host_cb(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct hosts_arg *h = arg;
	(void)n;
	(void)names;
	(void)vals;
	provmap_add(h->m, obj->value, h->provider, h->rank);
	return 0;
}

/* The hosts under one entity (a cluster or a host folder), recursively. */
static int
read_entity(struct vconn *c, const struct kms_entity *en, struct hosts_arg *h)
{
	static const char *const paths[] = { "name" };
	struct vmoref root, view = { "", "" };

	snprintf(root.type, sizeof(root.type), "%s", en->type);
	snprintf(root.value, sizeof(root.value), "%s", en->value);
	int rc = vim_create_container_view(c, &root, "HostSystem", 1, &view);
	if (rc == 0)
		rc = vim_retrieve_view(c, &view, "HostSystem", paths, 1, 1000, host_cb, h);
	if (view.value[0])
		vim_destroy_view(c, &view);
	return rc;
}

int
provmap_read(struct vconn *c, struct provmap *m)
{
	struct kms_cluster *cl = NULL;
	size_t n = 0;
	int rc;

	memset(m, 0, sizeof(*m));
	if ((rc = vim_kms_list(c, &cl, &n)) == V_ERR_REFUSED) {
		vconn_reset(c);		/* no key management here: no defaults */
		return 0;
	}
	for (size_t i = 0; rc == 0 && i < n; i++)
		for (size_t j = 0; rc == 0 && j < cl[i].nentities; j++) {
			const struct kms_entity *en = &cl[i].entities[j];
			struct hosts_arg h = { m, cl[i].id,
			    strcmp(en->type, "ClusterComputeResource") == 0 ? 0 : 1 };
			rc = read_entity(c, en, &h);
			/* A default on an entity since removed: nothing under it. */
			if (rc == V_ERR_FAULT &&
			    strcmp(vconn_fault_type(c), "ManagedObjectNotFound") == 0) {
				vconn_reset(c);
				rc = 0;
			}
		}
	kms_clusters_free(cl, n);
	if (rc != 0) {
		provmap_free(m);
		return rc;
	}
	provmap_sort(m);
	return 0;
}
