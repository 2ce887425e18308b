/*
 * wns_errors.c - the WNS error table (classify_ext.h). Called by the
 * dispatcher with what the WNS client reported: the HTTP status and the
 * X-WNS-Status, X-WNS-DeviceConnectionStatus and X-WNS-Error-Description
 * response headers joined by '/'.
 */
#include <string.h>
#include <strings.h>

#include "classify_ext.h"

/* Statuses whose meaning is fixed; 200 and 5xx are decided around them. */
static const struct {
    int status;
    enum pr_outcome outcome;
} wns_statuses[] = {
    { 404, PR_OUTCOME_TOKEN_DEAD },
    { 410, PR_OUTCOME_TOKEN_DEAD },
    { 401, PR_OUTCOME_REAUTH },
    { 406, PR_OUTCOME_RETRY },          /* throttled: the dispatcher backs off */
    { 429, PR_OUTCOME_RETRY },
};

/* What X-WNS-Status says of a 200; statuses not listed are delivered. */
static const struct {
    const char *status;
    enum pr_outcome outcome;
} wns_notification_statuses[] = {
    { "received", PR_OUTCOME_DELIVERED },
    { "channelthrottled", PR_OUTCOME_RETRY },
    { "dropped", PR_OUTCOME_DEAD_LETTER },
};

enum pr_outcome wns_classify(struct pr_result *res)
{
    int st = res->status;
    if (st < 0)
        return PR_OUTCOME_DEAD_LETTER;
    if (st < 100)
        return PR_OUTCOME_RETRY;
    if (st == 200) {
        /* X-WNS-Status is the first part of the reason. */
        size_t len = strcspn(res->reason, "/");
        for (size_t i = 0; i < sizeof(wns_notification_statuses) /
                                   sizeof(wns_notification_statuses[0]); i++) {
            const char *name = wns_notification_statuses[i].status;
            if (strlen(name) == len && strncasecmp(res->reason, name, len) == 0)
                return wns_notification_statuses[i].outcome;
        }
        return PR_OUTCOME_DELIVERED;
    }
    for (size_t i = 0; i < sizeof(wns_statuses) / sizeof(wns_statuses[0]); i++)
        if (wns_statuses[i].status == st)
            return wns_statuses[i].outcome;
    if (st >= 500 && st <= 599)
        return PR_OUTCOME_RETRY;
    return PR_OUTCOME_DEAD_LETTER;
}
