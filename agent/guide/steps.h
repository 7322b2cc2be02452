/*
 * The report of a guide command (`kms setup`, `policy ensure`, `setup`):
 * the steps it took, in order, each with its result, what it found or
 * did, and the fix when it failed; the exit code the command ends with.
 * The steps are filled by the guide and printed by the command, as text
 * or as JSON, with the words and keys each command has always used.
 */
#ifndef VMCRYPT_STEPS_H
#define VMCRYPT_STEPS_H

#include <stddef.h>
#include <stdio.h>

#define STEPS_MAX	16

enum step_result { STEP_UNCHANGED, STEP_DONE, STEP_WOULD, STEP_FAILED, STEP_INFO };

struct step {
	const char		*name;		/* static: "key-provider" */
	enum step_result	 result;
	char			 detail[1024];
	char			 fix[512];	/* a failure's fix, or what to do next */
};

struct steps {
	struct step	 list[STEPS_MAX];
	size_t		 n;
	struct step	 spare;		/* where a step past STEPS_MAX goes, unprinted */
	int		 exit_code;	/* EXIT_OK, or the failed step's code */
};

/* A step taken, after those already there (zero *s to start a list).
 * Returns it to add a fix to; never NULL. */
struct step	*steps_add(struct steps *s, const char *name, enum step_result,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* The step failed: its fix, and the exit code the command ends with.
 * Returns -1, for `return steps_fail(...)`. */
int		 steps_fail(struct steps *s, struct step *, int code, const char *fmt, ...)
		    __attribute__((format(printf, 4, 5)));
/* What to do next after a step that did not fail (its fix). */
void		 step_next(struct step *, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));

/* How many steps changed something, or would have (done, would). */
size_t		 steps_changed(const struct steps *);
/* The step that failed, or NULL; *index its place (0 first) if index. */
const struct step *steps_failed(const struct steps *, size_t *index);
/* "unchanged", "done", "would", "failed", "info". */
const char	*step_result_name(enum step_result);

/*
 * Text.  The list as a table, a line a step, its fix beneath it:
 *   "  DONE  key-provider        ovh-kms: registered server kms-1 ..."
 * One step numbered as setup shows it as it starts ("== 2. NAME: DETAIL").
 * One step on its own line, as "WHO: WORD: DETAIL" and "  fix: FIX"
 * (word NULL: step_result_name).
 */
void		 steps_print_table(const struct steps *, FILE *);
void		 steps_print_numbered(const struct steps *, size_t index, FILE *);
void		 step_print_line(const struct step *, const char *who, const char *word,
		    FILE *);

/* JSON: the list as an array of {"step", "result", "detail", "fix"}
 * (fix only when there is one), new; or one step's "result", "detail"
 * and "fix" added to obj (word NULL: step_result_name). */
struct json_object;
struct json_object *steps_json(const struct steps *);
void		 step_json_add(struct json_object *obj, const struct step *,
		    const char *word);

#endif
