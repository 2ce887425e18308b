/*
 * classify.c - pr_classify, the per-provider dispatch to the error tables
 * of classify.h (relay/apns_errors.c, fcm_errors.c, mpns_errors.c), found
 * through the provider's descriptor. Called by the dispatcher; it holds no
 * table of its own, so a provider's rows stay in that provider's file.
 */
#include "classify.h"
#include "provider_desc.h"

enum pr_outcome pr_classify(enum pr_provider p, struct pr_result *res, int64_t accepted_ms)
{
    const struct provider_desc *d = provider_desc(p);
    return d != NULL ? d->classify(res, accepted_ms) : PR_OUTCOME_DEAD_LETTER;
}
