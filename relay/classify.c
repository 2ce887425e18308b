/*
 * classify.c - pr_classify, the per-provider dispatch to the error tables
 * of classify.h (relay/apns_errors.c, fcm_errors.c, mpns_errors.c). Called
 * by the dispatcher; it holds no table of its own, so a provider's rows
 * stay in that provider's file.
 */
#include "classify.h"

enum pr_outcome pr_classify(enum pr_provider p, struct pr_result *res, int64_t accepted_ms)
{
    switch (p) {
    case PR_PROVIDER_APNS: return apns_classify(res, accepted_ms);
    case PR_PROVIDER_FCM: return fcm_classify(res);
    case PR_PROVIDER_MPNS: return mpns_classify(res);
    default: return PR_OUTCOME_DEAD_LETTER;
    }
}
