/*
 * hms_errors.c - the HMS Push Kit error table (classify_ext.h). Called by
 * the dispatcher with what the HMS client reported: the HTTP status and
 * the JSON "code" of the answer.
 */
#include <string.h>

#include "classify_ext.h"

/* HMS result codes; they decide before the HTTP status. */
static const struct {
    const char *code;
    enum pr_outcome outcome;
} hms_codes[] = {
    { "80000000", PR_OUTCOME_DELIVERED },
    { "80100000", PR_OUTCOME_TOKEN_DEAD },  /* some tokens invalid: ours, as we send one */
    { "80300007", PR_OUTCOME_TOKEN_DEAD },  /* all tokens invalid */
    { "80200003", PR_OUTCOME_REAUTH },      /* OAuth access token expired */
    { "80300008", PR_OUTCOME_DEAD_LETTER }, /* body over 4 KB: sending it again fails again */
    { "81000001", PR_OUTCOME_RETRY },       /* HMS internal error */
};

/* Statuses that decide when the code did not; any other code stays in 'reason'. */
static const struct {
    int status;
    enum pr_outcome outcome;
} hms_statuses[] = {
    { 401, PR_OUTCOME_REAUTH },
    { 429, PR_OUTCOME_RETRY },
};

enum pr_outcome hms_classify(struct pr_result *res)
{
    int st = res->status;
    if (st < 0)
        return PR_OUTCOME_DEAD_LETTER;
    if (st < 100)
        return PR_OUTCOME_RETRY;
    for (size_t i = 0; i < sizeof(hms_codes) / sizeof(hms_codes[0]); i++)
        if (strcmp(res->reason, hms_codes[i].code) == 0)
            return hms_codes[i].outcome;
    for (size_t i = 0; i < sizeof(hms_statuses) / sizeof(hms_statuses[0]); i++)
        if (hms_statuses[i].status == st)
            return hms_statuses[i].outcome;
    if (st >= 500 && st <= 599)
        return PR_OUTCOME_RETRY;
    return PR_OUTCOME_DEAD_LETTER;
}
