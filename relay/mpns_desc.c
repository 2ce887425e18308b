/*
 * mpns_desc.c - the MPNS descriptor (see provider_desc.h): no default
 * endpoint (the token is a channel URI that names its host), the app id as
 * pn-param, and the channel URI checked against the app's allowed_hosts so
 * the relay never POSTs to an address an operator did not allow. The client
 * is relay/mpns.c, the error table relay/mpns_errors.c.
 */
#include "classify.h"
#include "pclient_impl.h"
#include "provider_desc.h"

static enum pr_outcome mpns_desc_classify(struct pr_result *res, int64_t accepted_ms)
{
    (void)accepted_ms;
    return mpns_classify(res);
}

const struct provider_desc mpns_desc = {
    .client_new = mpns_client_new,
    .classify = mpns_desc_classify,
    .check_app = provider_needs_allowed_hosts,
    .match_param = provider_match_app_id,
    .app_param = provider_app_id_param,
    .check_token = provider_check_channel,
};
