/*
 * fed_request.h - what the listener decides about one parsed SIP request
 * before anything touches Redis: the method, the RFC 8599 push parameters,
 * the app, the device token's shape and the JSON body. Pure: no I/O, so
 * every rule is unit-tested (tests/unit/test_fed_request.c).
 *
 * Called by fed_conn.c for each framed request. Checks that need Redis
 * (tenant, edge, dead token, rate, dedup) are the queue's (relay/queue.c).
 */
#ifndef PUSHRELAY_FED_REQUEST_H
#define PUSHRELAY_FED_REQUEST_H

#include "pushrelay/config.h"
#include "pushrelay/notif.h"
#include "sip_parse.h"

#define FED_ALLOW "MESSAGE, OPTIONS"
#define FED_ACCEPT "application/json"
#define FED_TTL_DEFAULT_S 3600
#define FED_TTL_MAX_S 2419200   /* 28 days, the longest any provider keeps a push */

enum fed_action {
    FED_QUEUE,      /* 'out' holds a valid notification: run the ingest */
    FED_RESPOND,    /* answer 'status' now (with 'why' as Warning when set) */
    FED_IGNORE,     /* ACK and the like: no response */
};

struct fed_verdict {
    enum fed_action action;
    int status;
    char why[200];
};

/*
 * The notification's strings, packed one after another: a MESSAGE is
 * checked once and encoded once, so its ten or so strings are copied here
 * rather than malloc'd one each. Room for every field at its limit; a
 * string that still does not fit (a long app id from the configuration) is
 * malloc'd. Only 'used' needs setting before use (fed_request_check does).
 */
#define FED_STRS_MAX 16384

struct fed_strs {
    size_t used;
    char buf[FED_STRS_MAX];
};

/*
 * fed_request_check validates 'msg' against 'cfg'. On FED_QUEUE, 'out' is
 * filled with accepted_ms = now; its strings live in 'strs' (the caller's,
 * which must outlive 'out'), and the caller releases it with
 * fed_request_release(out, strs), never notif_clear. Otherwise 'out' is
 * left cleared and 'v' says what to answer.
 * Returns 0, or PR_ENOMEM (answer 500).
 */
int fed_request_check(const struct cfg *cfg, const struct sip_msg *msg, int64_t now_ms,
                      struct fed_strs *strs, struct pr_notif *out, struct fed_verdict *v);

/* fed_request_release frees what 'n' owns outside 'strs' and re-initialises it. */
void fed_request_release(struct pr_notif *n, const struct fed_strs *strs);

#endif
