/* period.c: nearest-rank percentiles, and compliance per day from VM
 * timelines (day edges, VMs not seen yet, the cap on days). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "period.h"

#define DAY	86400
#define T0	1796083200	/* 2026-12-01T00:00:00Z */

static void
test_percentiles(void **st)
{
	double one[] = { 7 };
	double v[100];
	struct exp_stats s;

	(void)st;
	assert_true(period_percentile(NULL, 0, 50) == 0);
	period_stats(v, 0, &s);
	assert_int_equal(s.count, 0);
	assert_true(s.max == 0);
	assert_true(period_percentile(one, 1, 50) == 7 && period_percentile(one, 1, 99) == 7);
	/* 100 values 100..1 (unsorted): p50 is the 50th smallest, p99 the 99th. */
	for (int i = 0; i < 100; i++)
		v[i] = 100 - i;
	period_stats(v, 100, &s);
	assert_int_equal(s.count, 100);
	assert_true(s.p50 == 50 && s.p99 == 99 && s.max == 100);
	/* Four values: p50 the 2nd, p99 the 4th (always a value measured). */
	double w[] = { 4.5, 1.25, 3, 2 };
	period_stats(w, 4, &s);
	assert_true(s.p50 == 2 && s.p99 == 4.5 && s.max == 4.5);
}

static void
test_days(void **st)
{
	struct history h = { 0 };
	size_t *c;
	time_t day0;

	(void)st;
	/* a: pending day 0, compliant exactly at the start of day 1. */
	history_add(&h, "vm-1", "a", T0 + 3600, 1, "NOKEY", "no key");
	history_add(&h, "vm-1", "a", T0 + DAY, 0, NULL, NULL);
	/* b: first seen on day 2. */
	history_add(&h, "vm-2", "b", T0 + 2 * DAY + 5, 3, "X", "blocked");
	size_t n = history_days(&h, T0 + 100, T0 + 2 * DAY + 7, 4, 100, &day0, &c);
	assert_int_equal(n, 3);
	assert_int_equal(day0, T0);
	/* day 0: a pending; day 1: a compliant; day 2: a compliant, b blocked */
	size_t want[3][4] = { { 0, 1, 0, 0 }, { 1, 0, 0, 0 }, { 1, 0, 0, 1 } };
	for (size_t d = 0; d < 3; d++)
		for (size_t s = 0; s < 4; s++)
			assert_int_equal(c[d * 4 + s], want[d][s]);
	free(c);
	assert_int_equal(history_state_at(&h.vms[0], T0), -1);
	assert_int_equal(history_state_at(&h.vms[0], T0 + DAY), 0);
	/* The cap keeps the last days. */
	n = history_days(&h, T0, T0 + 2 * DAY, 4, 2, &day0, &c);
	assert_int_equal(n, 2);
	assert_int_equal(day0, T0 + DAY);
	free(c);
	/* An empty or backwards period: nothing. */
	assert_int_equal(history_days(&h, T0 + DAY, T0, 4, 10, &day0, &c), 0);
	assert_null(c);
	assert_int_equal(period_day(T0 + DAY - 1), T0);
	assert_string_equal(h.vms[0].ch[0].code, "NOKEY");
	assert_null(h.vms[0].ch[1].reason);
	history_free(&h);
	history_free(&h);		/* safe twice */
}

static void
test_many_vms(void **st)
{
	struct history h = { 0 };
	char vm[32];
	size_t *c;
	time_t day0;

	(void)st;
	for (int i = 0; i < 10000; i++) {
		snprintf(vm, sizeof(vm), "vm-%d", i);
		history_add(&h, vm, vm, T0 + i, i % 2, NULL, NULL);
	}
	history_add(&h, "vm-7", NULL, T0 + DAY + 1, 0, NULL, NULL);
	assert_int_equal(h.n, 10000);
	assert_string_equal(h.vms[7].name, "vm-7");	/* a NULL name keeps the old */
	assert_int_equal(history_days(&h, T0, T0 + DAY, 2, 10, &day0, &c), 2);
	assert_int_equal(c[0] + c[1], 10000);
	assert_int_equal(c[2], 5001);			/* vm-7 compliant on day 1 */
	free(c);
	history_free(&h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_percentiles),
		cmocka_unit_test(test_days),
		cmocka_unit_test(test_many_vms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
