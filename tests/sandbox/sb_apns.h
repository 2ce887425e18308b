/*
 * sb_apns.h - the sandbox's APNs provider API (POST /3/device/<token>).
 */
#ifndef PUSHRELAY_SANDBOX_SB_APNS_H
#define PUSHRELAY_SANDBOX_SB_APNS_H

#include "sb.h"

/*
 * sb_apns_new prepares the handler; with 'opts->apns_key' set, requests
 * need a provider token signed by that key (team and key id from 'opts',
 * which must outlive the handler). PR_ECONFIG (logged) for an unreadable
 * key or a missing team/key id, PR_ENOMEM.
 */
int sb_apns_new(const struct sb_opts *opts, struct sb_apns **out);
void sb_apns_free(struct sb_apns *a);

/* sb_apns_handle answers one APNs request into 'resp' (never fails). */
void sb_apns_handle(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp);

#endif
