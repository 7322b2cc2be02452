/*
 * The steps of a guide command and how they are printed (steps.h).  The
 * words and layouts are the ones `kms setup`, `policy ensure` and `setup`
 * printed before they shared this: scripts and tests read them.
 */
#include "steps.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <string.h>

static const char *const result_words[] = {
	"unchanged", "done", "would", "failed", "info"
};

const char *
step_result_name(enum step_result r)
{
	return result_words[r];
}

struct step *
steps_add(struct steps *s, const char *name, enum step_result r, const char *fmt, ...)
{
	struct step *st = s->n < STEPS_MAX ? &s->list[s->n++] : &s->spare;
	va_list ap;

	memset(st, 0, sizeof(*st));
	st->name = name;
	st->result = r;
	va_start(ap, fmt);
	vsnprintf(st->detail, sizeof(st->detail), fmt, ap);
	va_end(ap);
	return st;
}

int
steps_fail(struct steps *s, struct step *st, int code, const char *fmt, ...)
{
	va_list ap;

	st->result = STEP_FAILED;
	va_start(ap, fmt);
	vsnprintf(st->fix, sizeof(st->fix), fmt, ap);
	va_end(ap);
	s->exit_code = code;
	return -1;
}

void
step_next(struct step *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->fix, sizeof(st->fix), fmt, ap);
	va_end(ap);
}

size_t
steps_changed(const struct steps *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		n += s->list[i].result == STEP_DONE || s->list[i].result == STEP_WOULD;
	return n;
}

const struct step *
steps_failed(const struct steps *s, size_t *index)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->list[i].result == STEP_FAILED) {
			if (index != NULL)
				*index = i;
			return &s->list[i];
		}
	return NULL;
}

void
steps_print_table(const struct steps *s, FILE *f)
{
	static const char *const tag[] = { "OK   ", "DONE ", "WOULD", "FAIL ", "     " };

	for (size_t i = 0; i < s->n; i++) {
		const struct step *st = &s->list[i];
		fprintf(f, "  %s %-19s %s\n", tag[st->result], st->name, st->detail);
		if (st->fix[0])
			fprintf(f, "        %-19s %s: %s\n", "", st->result == STEP_FAILED ?
			    "fix" : "next", st->fix);
	}
}

void
steps_print_numbered(const struct steps *s, size_t index, FILE *f)
{
	const struct step *st = &s->list[index];

	fprintf(f, "\n== %zu. %s: %s\n", index + 1, st->name, st->detail);
}

void
step_print_line(const struct step *st, const char *who, const char *word, FILE *f)
{
	fprintf(f, "%s: %s: %s\n", who, word ? word : step_result_name(st->result),
	    st->detail);
	if (st->fix[0])
		fprintf(f, "  fix: %s\n", st->fix);
}

void
step_json_add(json_object *o, const struct step *st, const char *word)
{
	json_object_object_add(o, "result", json_object_new_string(word ? word :
	    step_result_name(st->result)));
	json_object_object_add(o, "detail", json_object_new_string(st->detail));
	if (st->fix[0])
		json_object_object_add(o, "fix", json_object_new_string(st->fix));
}

json_object *
steps_json(const struct steps *s)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; i < s->n; i++) {
		json_object *j = json_object_new_object();
		json_object_object_add(j, "step", json_object_new_string(s->list[i].name));
		step_json_add(j, &s->list[i], NULL);
		json_object_array_add(a, j);
	}
	return a;
}
