/* libFuzzer target: what vCenter answers, decoded with the same gSOAP stubs
 * and limits as a live connection, then read the way the agent reads it:
 * the first byte picks RetrievePropertiesEx (VM properties into a vm_info),
 * WaitForUpdatesEx (property changes) or ReadNextEvents (event fields and
 * times).  Run with `make fuzz`. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inventory.h"
#include "kms.h"
#include "vim.h"
#include "xnode.h"

static int
on_objects(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct vm_info vm;

	(void)arg;
	memset(&vm, 0, sizeof(vm));
	snprintf(vm.moref, sizeof(vm.moref), "%s", obj->value);
	for (size_t i = 0; i < n; i++)
		vm_info_set_prop(&vm, names[i], vals[i]);
	vm_info_clear(&vm);
	return 0;
}

static int
on_updates(void *arg, const char *kind, const struct vmoref *obj, size_t n,
    const char *const *names, const xnode *const *vals)
{
	size_t *sum = arg;

	*sum += strlen(kind) + strlen(obj->type);
	for (size_t i = 0; i < n; i++) {
		*sum += strlen(names[i]) + strlen(xnode_text(vals[i])) + strlen(xnode_type(vals[i]));
		const char *st = xnode_path_text(vals[i], "state");
		if (st != NULL)
			*sum += strlen(st);
	}
	return 0;
}

static int
on_event(void *arg, const xnode *ev)
{
	struct vevent_fields f;
	size_t *sum = arg;

	vim_event_fields(ev, &f);
	*sum += strlen(f.type) + strlen(f.vm) + strlen(f.msg) + (size_t)(f.key & 1);
	*sum += (size_t)(kms_parse_time(f.time) & 1);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum vim_answer kinds[] = { VIM_ANSWER_PROPERTIES, VIM_ANSWER_UPDATES,
	    VIM_ANSWER_EVENTS };
	char err[256], *text;
	size_t sum = 0;

	if (size < 1)
		return 0;
	text = malloc(size);
	if (text == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	(void)vim_decode(kinds[data[0] % 3], text, on_objects, on_updates, on_event, &sum,
	    err, sizeof(err));
	free(text);
	return 0;
}
