/*
 * sb_stats.c - the sandbox's counters as the /_sandbox/stats JSON document:
 *
 *   {"delivered":{"apns":N,"fcm":N,"mpns":N,"webpush":N,"wns":N,"hms":N},"requests":N,
 *    "by_status":{"200":N,"410":N,...},"resets":N,"tokens_issued":N,
 *    "apns_provider_tokens":N}
 *
 * apns_provider_tokens: distinct valid APNs provider tokens (JWTs) seen, so
 * a test can tell how many tokens the relay's processes used between them.
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
                           ",\"apns_provider_tokens\":%" PRIu64 "}",
                           st->resets, st->tokens_issued, st->apns_provider_tokens);
    return rc;
}
