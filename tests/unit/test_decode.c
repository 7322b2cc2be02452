/* vim_decode: answers vCenter sent (the seeds of the soap fuzz target,
 * captured from vcsim with govc -debug) decode into what the agent reads;
 * broken ones are refused with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inventory.h"
#include "vim.h"

static char *
seed(const char *name, int *kind)
{
	char path[256];
	snprintf(path, sizeof(path), "tests/fuzz/corpus/soap/%s", name);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *buf = calloc(1, 1 << 20);
	size_t n = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	assert_true(n > 1);
	*kind = buf[0];
	memmove(buf, buf + 1, n);
	return buf;
}

struct seen { int n; int kms; int vmcreated; char vm[64]; };

static int
on_event(void *arg, const xnode *ev)
{
	struct seen *s = arg;
	struct vevent_fields f;
	vim_event_fields(ev, &f);
	s->n++;
	if (strcmp(f.type, "com.vmware.vc.kms.crypto.Unreachable") == 0)
		s->kms = 1;
	if (strcmp(f.type, "VmCreatedEvent") == 0 && f.vm[0] && f.key > 0) {
		s->vmcreated++;
		snprintf(s->vm, sizeof(s->vm), "%s", f.vm);
	}
	return 0;
}

static int
on_objects(void *arg, const struct vmoref *obj, size_t n, const char *const *names,
    const xnode *const *vals)
{
	struct vm_info *vm = arg;
	snprintf(vm->moref, sizeof(vm->moref), "%s", obj->value);
	for (size_t i = 0; i < n; i++)
		vm_info_set_prop(vm, names[i], vals[i]);
	return 0;
}

static void
test_events(void **st)
{
	(void)st;
	int kind;
	char err[256], *text = seed("events", &kind);
	struct seen s = { 0 };
	assert_int_equal(kind, VIM_ANSWER_EVENTS);
	assert_int_equal(vim_decode(VIM_ANSWER_EVENTS, text, NULL, NULL, on_event, &s, err,
	    sizeof(err)), 0);
	assert_int_equal(s.n, 21);
	assert_int_equal(s.kms, 1);
	assert_true(s.vmcreated >= 1);
	assert_int_equal(strncmp(s.vm, "vm-", 3), 0);
	/* Cut in half: refused, with a reason. */
	text[strlen(text) / 2] = '\0';
	memset(&s, 0, sizeof(s));
	assert_int_not_equal(vim_decode(VIM_ANSWER_EVENTS, text, NULL, NULL, on_event, &s,
	    err, sizeof(err)), 0);
	assert_non_null(strstr(err, "not a valid answer"));
	free(text);
}

static void
test_properties(void **st)
{
	(void)st;
	int kind;
	char err[256], *text = seed("props-vm", &kind);
	struct vm_info vm;
	memset(&vm, 0, sizeof(vm));
	assert_int_equal(vim_decode(VIM_ANSWER_PROPERTIES, text, on_objects, NULL, NULL, &vm,
	    err, sizeof(err)), 0);
	assert_string_equal(vm.name, "DC0_H0_VM0");
	assert_true(vm.has_config);
	assert_true(vm.ndisks >= 1);
	vm_info_clear(&vm);
	free(text);
}

/* vCenter's crypto events about a VM: the VM by its event argument
 * (vm.vm, vm.name), or only as the EventEx's object. */
static int
on_crypto_event(void *arg, const xnode *ev)
{
	struct vevent_fields *out = arg;
	struct vevent_fields f;
	vim_event_fields(ev, &f);
	/* The strings live in the answer's tree: copied for the test. */
	static char type[2][128], vm[2][32], name[2][32];
	int i = out[0].type == NULL ? 0 : 1;
	snprintf(type[i], sizeof(type[i]), "%s", f.type);
	snprintf(vm[i], sizeof(vm[i]), "%s", f.vm);
	snprintf(name[i], sizeof(name[i]), "%s", f.vm_name);
	out[i].type = type[i];
	out[i].vm = vm[i];
	out[i].vm_name = name[i];
	return 0;
}

static void
test_crypto_events(void **st)
{
	(void)st;
	static const char text[] =
	    "<?xml version=\"1.0\"?><soapenv:Envelope "
	    "xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
	    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>"
	    "<ReadNextEventsResponse xmlns=\"urn:vim25\">"
	    "<returnval xsi:type=\"EventEx\"><key>7</key><chainId>7</chainId>"
	    "<createdTime>2026-12-07T19:00:00Z</createdTime><userName>vpxd</userName>"
	    "<vm><name>app-01</name><vm type=\"VirtualMachine\">vm-42</vm></vm>"
	    "<fullFormattedMessage>locked</fullFormattedMessage>"
	    "<eventTypeId>com.vmware.vc.vm.Crypto.VMLocked.KeyMissingOnKMS</eventTypeId>"
	    "<objectId>vm-42</objectId><objectType>VirtualMachine</objectType></returnval>"
	    "<returnval xsi:type=\"EventEx\"><key>8</key><chainId>8</chainId>"
	    "<createdTime>2026-12-07T19:00:01Z</createdTime><userName>vpxd</userName>"
	    "<eventTypeId>com.vmware.vc.vm.crypto.RekeyFail</eventTypeId>"
	    "<objectId>vm-43</objectId><objectType>VirtualMachine</objectType>"
	    "<objectName>db-01</objectName></returnval>"
	    "</ReadNextEventsResponse></soapenv:Body></soapenv:Envelope>";
	struct vevent_fields f[2];
	char err[256];

	memset(f, 0, sizeof(f));
	assert_int_equal(vim_decode(VIM_ANSWER_EVENTS, text, NULL, NULL, on_crypto_event, f,
	    err, sizeof(err)), 0);
	assert_string_equal(f[0].type, "com.vmware.vc.vm.Crypto.VMLocked.KeyMissingOnKMS");
	assert_string_equal(f[0].vm, "vm-42");
	assert_string_equal(f[0].vm_name, "app-01");
	assert_string_equal(f[1].type, "com.vmware.vc.vm.crypto.RekeyFail");
	assert_string_equal(f[1].vm, "vm-43");
	assert_string_equal(f[1].vm_name, "db-01");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_properties),
		cmocka_unit_test(test_crypto_events),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
