/*
 * sb_stats.c - the sandbox's counters as the /_sandbox/stats JSON document:
 *
 *   {"delivered":{"apns":N,"fcm":N,"mpns":N,"webpush":N,"wns":N,"hms":N},"requests":N,
 *    "by_status":{"200":N,"410":N,...},"resets":N,"tokens_issued":N,
 *    "apns_provider_tokens":N,"held":N,"delayed":N}
 *
 * apns_provider_tokens: distinct valid APNs provider tokens (JWTs) seen, so
 * a test can tell how many tokens the relay's processes used between them.
 * "held" is how many answers the hold gate keeps back right now (sb_hold.h),
 * so that a test waits for "the fault point is reached" instead of sleeping.
 * "delayed" is how many answers wait on a d<MMMM> timer right now: once it is
 * 0, a delayed answer was either sent (and recorded) or dropped with its
 * stream, and a test can check which without sleeping past the delay.
 * "by_status" counts answers as the router decides them, held ones included.
 *
 * The counters themselves live in struct sb_ctx and are bumped by the router
 * (requests, by_status, resets), sb_delivered() and the token endpoint.
 */
#include <inttypes.h>

#include "pushrelay/error.h"
#include "sb.h"
#include "sb_stats.h"

int sb_stats_json(const struct sb_stats *st, struct sb_buf *out)
{
    int rc = sb_buf_printf(out, "{\"delivered\":{");
    const char *sep = "";
    for (int p = 0; p < SB_PROVIDER_COUNT && rc == 0; p++) {
        rc = sb_buf_printf(out, "%s\"%s\":%" PRIu64, sep, sb_provider_name((enum pr_provider)p),
                           st->delivered[p]);
        sep = ",";
    }
    if (rc == 0)
        rc = sb_buf_printf(out, "},\"requests\":%" PRIu64 ",\"by_status\":{", st->requests);
    sep = "";
    for (int s = 0; s < 600 && rc == 0; s++) {
        if (st->by_status[s] == 0)
            continue;
        rc = sb_buf_printf(out, "%s\"%d\":%" PRIu64, sep, s, st->by_status[s]);
        sep = ",";
    }
    if (rc == 0)
        rc = sb_buf_printf(out, "},\"resets\":%" PRIu64 ",\"tokens_issued\":%" PRIu64
                           ",\"apns_provider_tokens\":%" PRIu64 ",\"held\":%" PRIu64
                           ",\"delayed\":%" PRIu64 "}",
                           st->resets, st->tokens_issued, st->apns_provider_tokens, st->held, st->delayed);
    return rc;
}
