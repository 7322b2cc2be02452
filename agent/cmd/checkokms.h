/*
 * check's OKMS item: the endpoint's addresses against the Hosted Private
 * Cloud's firewall (checkokms.c).
 */
#ifndef VMCRYPT_CHECKOKMS_H
#define VMCRYPT_CHECKOKMS_H

struct config;
struct chk_report;

/* Adds the item "okms-firewall" to r when cfg names an OKMS. */
void	check_okms_firewall(const struct config *cfg, struct chk_report *r);

#endif
