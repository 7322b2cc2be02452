/* The metrics listener's request parser and the metrics page. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "metrics.h"

static int
parse(const char *req, char *m, char *p)
{
	return httpd_parse(req, strlen(req), m, 16, p, 256);
}

static void
test_parse(void **st)
{
	char m[16], p[256];
	(void)st;
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", m, p), 0);
	assert_string_equal(m, "GET");
	assert_string_equal(p, "/metrics");
	assert_int_equal(parse("HEAD /healthz?verbose=1 HTTP/1.0\n\n", m, p), 0);
	assert_string_equal(m, "HEAD");
	assert_string_equal(p, "/healthz");
	/* Incomplete: more bytes wanted. */
	assert_int_equal(parse("", m, p), 1);
	assert_int_equal(parse("GET /met", m, p), 1);
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n", m, p), 1);
	/* Refused. */
	assert_int_equal(parse("POST /metrics HTTP/1.1\r\n\r\n", m, p), 405);
	assert_int_equal(parse("GET /metrics HTTP/2.0\r\n\r\n", m, p), 505);
	assert_int_equal(parse("GET metrics HTTP/1.1\r\n\r\n", m, p), 400);
	assert_int_equal(parse("GET /a b HTTP/1.1\r\n\r\n", m, p), 400);
	assert_int_equal(parse("GET  /metrics HTTP/1.1\r\n\r\n", m, p), 400);
	assert_int_equal(parse("\r\n\r\n", m, p), 400);
	assert_int_equal(parse("\x16\x03\x01 TLS hello", m, p), 400);
	assert_int_equal(parse("GET /\x01 HTTP/1.1\r\n\r\n", m, p), 400);
	assert_int_equal(parse("VERYLONGMETHODNAMEXX / HTTP/1.1\r\n\r\n", m, p), 400);
	assert_int_equal(parse("GET / HTTP/1.1", m, p), 1);

	char *big = malloc(HTTPD_MAX_REQUEST + 16);
	memset(big, 'a', HTTPD_MAX_REQUEST + 15);
	memcpy(big, "GET /", 5);
	big[HTTPD_MAX_REQUEST + 15] = '\0';
	assert_int_equal(httpd_parse(big, HTTPD_MAX_REQUEST, m, 16, p, 256), 414);
	memcpy(big, "GET /x HTTP/1.1\r\nX: ", 20);
	assert_int_equal(httpd_parse(big, HTTPD_MAX_REQUEST, m, 16, p, 256), 431);
	free(big);
	char longpath[400] = "GET /";
	memset(longpath + 5, 'p', 300);
	strcpy(longpath + 305, " HTTP/1.1\r\n\r\n");
	assert_int_equal(parse(longpath, m, p), 414);
}

static void
test_metrics_page(void **st)
{
	struct metrics m;
	struct gauges g;
	size_t len;
	(void)st;
	memset(&m, 0, sizeof(m));
	memset(&g, 0, sizeof(g));
	metrics_observe_latency(&m, 0.05);
	metrics_observe_latency(&m, 1.5);
	metrics_observe_latency(&m, 7200);
	metrics_task_failed(&m, "InvalidPowerState");
	metrics_task_failed(&m, "InvalidPowerState");
	metrics_task_failed(&m, "");
	for (int i = 0; i < 40; i++) {
		char f[16];
		snprintf(f, sizeof(f), "Fault%d", i);
		metrics_task_failed(&m, f);
	}
	g.vms[VS_COMPLIANT] = 5;
	g.vms[VS_HW_TOO_OLD] = 2;
	g.kms_provider = "ovh \"kms\"\n1";
	g.kms_usable = 1;
	g.version = "0.1.0";
	g.event_lag = -1;
	char *page = metrics_render(&m, &g, &len);
	assert_int_equal(strlen(page), len);
	assert_non_null(strstr(page, "vmcrypt_vms{state=\"compliant\"} 5\n"));
	assert_non_null(strstr(page, "vmcrypt_vms{state=\"hw-too-old\"} 2\n"));
	assert_non_null(strstr(page, "vmcrypt_vms{state=\"pending\"} 0\n"));
	assert_non_null(strstr(page, "_bucket{le=\"0.1\"} 1\n"));
	assert_non_null(strstr(page, "_bucket{le=\"2\"} 2\n"));
	assert_non_null(strstr(page, "_bucket{le=\"3600\"} 2\n"));
	assert_non_null(strstr(page, "_bucket{le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(page, "vmcrypt_event_to_compliant_seconds_count 3\n"));
	assert_non_null(strstr(page, "{fault=\"InvalidPowerState\"} 2\n"));
	assert_non_null(strstr(page, "{fault=\"unknown\"} 1\n"));
	/* Bounded: 32 names, the rest counted as "other". */
	assert_non_null(strstr(page, "{fault=\"other\"} 10\n"));
	assert_non_null(strstr(page, "vmcrypt_remediations_total{result=\"error\"} 43\n"));
	assert_non_null(strstr(page, "vmcrypt_kms_healthy{cluster=\"ovh \\\"kms\\\"\\n1\"} 1\n"));
	assert_non_null(strstr(page, "vmcrypt_event_lag_seconds -1.000\n"));
	free(page);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_metrics_page),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
