/*
 * apns_errors.c - the APNs error table (classify.h). Called through
 * pr_classify with what relay/apns.c reported; it does no I/O and never
 * touches the token store itself.
 */
#include <string.h>

#include "classify.h"

static int reason_is(const struct pr_result *res, const char *name)
{
    return strcmp(res->reason, name) == 0;
}

enum pr_outcome apns_classify(struct pr_result *res, int64_t accepted_ms)
{
    int st = res->status;
    if (st < 0)
        return PR_OUTCOME_DEAD_LETTER;
    if (st < 100)
        return PR_OUTCOME_RETRY;
    switch (st) {
    case 200:
        return PR_OUTCOME_DELIVERED;
    case 410:
        /* Apple's timestamp is when it last knew the token valid; a
         * registration newer than that is a fresh token we must not kill. */
        if (res->provider_ts_ms != 0 && accepted_ms > res->provider_ts_ms)
            return PR_OUTCOME_DEAD_LETTER;
        return PR_OUTCOME_TOKEN_DEAD;
    case 400:
        if (reason_is(res, "BadDeviceToken") || reason_is(res, "DeviceTokenNotForTopic"))
            return PR_OUTCOME_TOKEN_DEAD;
        return PR_OUTCOME_DEAD_LETTER;
    case 403:
        if (reason_is(res, "ExpiredProviderToken") || reason_is(res, "InvalidProviderToken"))
            return PR_OUTCOME_REAUTH;
        return PR_OUTCOME_DEAD_LETTER;
    case 429:
        return PR_OUTCOME_RETRY;
    }
    if (st >= 500 && st <= 599)
        return PR_OUTCOME_RETRY;
    return PR_OUTCOME_DEAD_LETTER;
}
