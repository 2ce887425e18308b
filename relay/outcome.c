/*
 * outcome.c - names of delivery outcomes and the blank provider result
 * (outcome.h). Used by the provider clients, the dispatcher and stats.
 */
#include <string.h>

#include "pushrelay/outcome.h"

static const char *const outcome_names[PR_OUTCOME_COUNT] = {
    [PR_OUTCOME_DELIVERED] = "delivered",
    [PR_OUTCOME_RETRY] = "retry",
    [PR_OUTCOME_EXPIRED] = "expired",
    [PR_OUTCOME_TOKEN_DEAD] = "token_dead",
    [PR_OUTCOME_DEAD_LETTER] = "dead_letter",
    [PR_OUTCOME_REAUTH] = "reauth",
};

const char *pr_outcome_name(enum pr_outcome o)
{
    return (unsigned)o < PR_OUTCOME_COUNT ? outcome_names[o] : "?";
}

void pr_result_init(struct pr_result *r)
{
    memset(r, 0, sizeof(*r));
    r->retry_after_s = -1;
}
