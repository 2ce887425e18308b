/*
 * webpush_errors.c - the Web Push error table (classify_ext.h). Called by
 * the dispatcher with what the Web Push client reported: the push
 * service's HTTP status, Retry-After and what it kept of the body.
 */
#include <stdio.h>

#include "classify_ext.h"

#define WEBPUSH_TOO_LARGE 413

/* Statuses whose meaning is fixed; 5xx and the rest are decided after. */
static const struct {
    int status;
    enum pr_outcome outcome;
} webpush_statuses[] = {
    { 200, PR_OUTCOME_DELIVERED },
    { 201, PR_OUTCOME_DELIVERED },      /* RFC 8030 section 5: Created */
    { 202, PR_OUTCOME_DELIVERED },      /* accepted with a receipt request */
    { 404, PR_OUTCOME_TOKEN_DEAD },
    { 410, PR_OUTCOME_TOKEN_DEAD },
    { 401, PR_OUTCOME_REAUTH },
    { WEBPUSH_TOO_LARGE, PR_OUTCOME_DEAD_LETTER },
    { 429, PR_OUTCOME_RETRY },
};

enum pr_outcome webpush_classify(struct pr_result *res)
{
    int st = res->status;
    if (st < 0)
        return PR_OUTCOME_DEAD_LETTER;
    if (st < 100)
        return PR_OUTCOME_RETRY;
    /* A dead letter says why; most push services send no body with a 413. */
    if (st == WEBPUSH_TOO_LARGE && res->reason[0] == '\0')
        snprintf(res->reason, sizeof(res->reason), "PayloadTooLarge");
    for (size_t i = 0; i < sizeof(webpush_statuses) / sizeof(webpush_statuses[0]); i++)
        if (webpush_statuses[i].status == st)
            return webpush_statuses[i].outcome;
    if (st >= 500 && st <= 599)
        return PR_OUTCOME_RETRY;
    return PR_OUTCOME_DEAD_LETTER;
}
