/*
 * wns_desc.c - the WNS descriptor (see provider_desc.h): like MPNS, the
 * token is a channel URI that names its host, checked against the app's
 * allowed_hosts (by default Microsoft's *.notify.windows.com) so the relay
 * never POSTs to an address an operator did not allow; the app id is the
 * pn-param. The access token comes from login.live.com unless the app names
 * another token_endpoint. The client is relay/mpns.c's WNS flavour, the
 * error table relay/wns_errors.c.
 */
#include "classify_ext.h"
#include "pclient_impl.h"
#include "provider_desc.h"

static enum pr_outcome wns_desc_classify(struct pr_result *res, int64_t accepted_ms)
{
    (void)accepted_ms;
    return wns_classify(res);
}

const struct provider_desc wns_desc = {
    .default_token_endpoint = "https://login.live.com/accesstoken.srf",
    .client_new = wns_client_new,
    .classify = wns_desc_classify,
    .match_param = provider_match_app_id,
    .app_param = provider_app_id_param,
    .default_allowed_host = "*.notify.windows.com",
    .check_token = provider_check_channel,
};
