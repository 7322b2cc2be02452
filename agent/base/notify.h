/*
 * systemd's notification protocol (sd_notify(3)), written out: one
 * datagram to $NOTIFY_SOCKET per state.  Nothing happens when the agent is
 * not started by systemd with Type=notify.
 */
#ifndef VMCRYPT_NOTIFY_H
#define VMCRYPT_NOTIFY_H

#include <stdint.h>

/* Reads NOTIFY_SOCKET / WATCHDOG_USEC / WATCHDOG_PID once. */
void	notify_init(void);
/* Sends "READY=1", "STATUS=...", "STOPPING=1", ... (lines joined by \n).
 * Returns 0 (also when there is no socket), -1 if the send failed. */
int	notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* RELOADING=1 with MONOTONIC_USEC (systemd 253+ wants it; older ignore it). */
int	notify_reloading(void);
/* The watchdog period in microseconds for this process, or 0. */
uint64_t notify_watchdog_usec(void);

#endif
