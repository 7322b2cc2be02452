/* libFuzzer target: an evidence log of any bytes (agent/base/evidence.c),
 * split in two files at the input's first byte.  `evidence verify` and
 * the agent's open must neither crash nor read past a line; and whatever
 * open accepts it continues so that the whole log verifies after one more
 * record, unless the log was already broken before the file open reads
 * (open checks only the last file; verify checks every one).  Run with
 * `make fuzz`. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evidence.h"

static char dir[256];

static void
put(unsigned num, const uint8_t *d, size_t n)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/evidence-%06u.jsonl", dir, num);
	FILE *f = fopen(p, "wb");
	if (f == NULL)
		abort();
	if (n > 0 && fwrite(d, 1, n, f) != n)
		abort();
	fclose(f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[2048], note[512], bad[512];
	long line;

	if (dir[0] == '\0') {
		char tpl[] = "/tmp/fuzz-evidence-XXXXXX";
		if (mkdtemp(tpl) == NULL)
			abort();
		snprintf(dir, sizeof(dir), "%s", tpl);
	}
	size_t cut = size > 0 ? data[0] : 0;
	if (size > 0) {
		data++;
		size--;
	}
	if (cut > size)
		cut = size;
	char p[512];
	snprintf(p, sizeof(p), "%s/evidence-000002.jsonl", dir);
	unlink(p);
	put(1, data, cut);
	if (size > cut)
		put(2, data + cut, size - cut);

	int before = evidence_verify(dir, NULL, NULL, bad, sizeof(bad), &line, NULL, NULL, err,
	    sizeof(err));
	int torn_only = before != 0 && strstr(err, "has no end") != NULL;
	struct evidence *ev = evidence_open(dir, "fuzz", "vc-1", "https://vc/sdk", 4096, note,
	    sizeof(note), err, sizeof(err));
	if (ev == NULL)
		return 0;
	const struct evrec r = { .kind = "state", .vm = "vm-1", .new_ = "compliant" };
	evidence_append(ev, &r);
	if (evidence_flush(ev, err, sizeof(err)) != 0)
		abort();
	evidence_close(ev);
	if ((before == 0 || torn_only) && size <= cut &&
	    evidence_verify(dir, NULL, NULL, bad, sizeof(bad), &line, NULL, NULL, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "opened, appended, and now broken: %s\n", err);
		abort();
	}
	return 0;
}
