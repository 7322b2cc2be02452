/*
 * What the running agent says about itself: /metrics and /healthz (served
 * on the loop by httpd.c; a scrape reads the engine's parts with no lock,
 * on the loop thread), and the event lag.
 */
#ifndef VMCRYPT_STATUS_H
#define VMCRYPT_STATUS_H

struct httpd_resp;

/* The httpd handler; arg is the struct engine. */
void	status_http(void *arg, const char *path, struct httpd_resp *r);
/* An event's lag: receipt time minus its createdTime
 * ("2026-11-26T12:00:00.123Z"), in seconds: 0, or -1 if that is not a
 * time. */
int	status_event_lag(const char *created, double *lag);

#endif
