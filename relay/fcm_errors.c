/*
 * fcm_errors.c - the FCM HTTP v1 error table (classify.h). Called through
 * pr_classify by the dispatcher with what relay/fcm.c reported.
 */
#include <string.h>

#include "classify.h"

/* FCM error codes whose meaning does not depend on the HTTP status. */
static const struct {
    const char *code;
    enum pr_outcome outcome;
} fcm_reasons[] = {
    { "UNREGISTERED", PR_OUTCOME_TOKEN_DEAD },
    { "INVALID_ARGUMENT", PR_OUTCOME_TOKEN_DEAD },
    { "SENDER_ID_MISMATCH", PR_OUTCOME_DEAD_LETTER },
    { "THIRD_PARTY_AUTH_ERROR", PR_OUTCOME_DEAD_LETTER },
    { "QUOTA_EXCEEDED", PR_OUTCOME_RETRY },
    { "UNAVAILABLE", PR_OUTCOME_RETRY },
    { "INTERNAL", PR_OUTCOME_RETRY },
};

enum pr_outcome fcm_classify(struct pr_result *res)
{
    int st = res->status;
    if (st < 0)
        return PR_OUTCOME_DEAD_LETTER;
    if (st < 100)
        return PR_OUTCOME_RETRY;
    if (st == 200)
        return PR_OUTCOME_DELIVERED;
    for (size_t i = 0; i < sizeof(fcm_reasons) / sizeof(fcm_reasons[0]); i++)
        if (strcmp(res->reason, fcm_reasons[i].code) == 0)
            return fcm_reasons[i].outcome;
    switch (st) {
    case 404: return PR_OUTCOME_TOKEN_DEAD;
    case 401: return PR_OUTCOME_REAUTH;
    case 429: return PR_OUTCOME_RETRY;
    }
    if (st >= 500 && st <= 599)
        return PR_OUTCOME_RETRY;
    return PR_OUTCOME_DEAD_LETTER;
}
