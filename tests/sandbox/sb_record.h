/*
 * sb_record.h - the delivery record: one JSON line per successful delivery,
 * appended to the --record file for tests to read while the sandbox runs.
 *
 *   {"provider":"apns","token":"<token>","path":"/3/device/<token>",
 *    "ts_ms":1764000000000,"headers":{"apns-topic":"...",
 *    "authorization":"<redacted>",...},"body":"<exact request body>"}
 *
 * Header names are lower case (HTTP/2 pseudo-headers are left out: the path
 * has its own field). Lines are flushed within SB_RECORD_FLUSH_MS.
 */
#ifndef PUSHRELAY_SANDBOX_SB_RECORD_H
#define PUSHRELAY_SANDBOX_SB_RECORD_H

#include <event2/event.h>
#include "pushrelay/provider.h"
#include "sb.h"

#define SB_RECORD_FLUSH_MS 10

struct sb_record;

/* sb_record_open appends to 'path' (created if missing); PR_EIO, PR_ENOMEM. */
int sb_record_open(struct event_base *base, const char *path, struct sb_record **out);
/* sb_record_close flushes and closes; NULL is fine. */
void sb_record_close(struct sb_record *r);

/*
 * sb_record_delivery appends the line for 'req' delivered to 'token' of
 * provider 'p'. Errors are logged, not returned: a failing record must not
 * turn a delivery into an error answer.
 */
void sb_record_delivery(struct sb_record *r, enum pr_provider p, const char *token,
                        const struct sb_req *req);

/*
 * sb_delivered counts a delivery in 'ctx' stats and records it when
 * --record is on.
 */
void sb_delivered(struct sb_ctx *ctx, enum pr_provider p, const char *token,
                  const struct sb_req *req);

/*
 * sb_deliver is what handlers call on success: sb_delivered() now, or, when
 * 'resp' is delayed or the hold gate is closed (sb_hold.h; the act becomes
 * SB_ACT_HOLD), marks it so that the transport calls sb_delivered() as it
 * sends the answer (a connection lost meanwhile records nothing).
 */
void sb_deliver(struct sb_ctx *ctx, struct sb_resp *resp, enum pr_provider p, const char *token,
                const struct sb_req *req);

#endif
