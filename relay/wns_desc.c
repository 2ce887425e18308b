/*
 * wns_desc.c - the WNS descriptor (see provider_desc.h): like MPNS, the
 * token is a channel URI that names its host, checked against the app's
 * allowed_hosts (by default Microsoft's *.notify.windows.com) so the relay
 * never POSTs to an address an operator did not allow; the app id is the
 * pn-param. The access token comes from login.live.com unless the app names
 * another token_endpoint. The client is relay/mpns.c's WNS flavour, the
 * error table relay/wns_errors.c.
 */
#include <stdio.h>
#include <string.h>

#include "classify_ext.h"
#include "pclient_impl.h"
#include "provider_desc.h"

#define WNS_URI_MAX 2048

/* WNS pn-param: the app id itself. */
static int wns_desc_match_param(const struct cfg_app *a, const char *param, size_t len)
{
    return strlen(a->id) == len && strncmp(a->id, param, len) == 0;
}

static void wns_desc_app_param(const struct cfg_app *a, char *buf, size_t len)
{
    snprintf(buf, len, "%s", a->id);
}

static int wns_desc_check_token(const struct cfg_app *app, const char *uri, char *why,
                                size_t whylen)
{
    return provider_check_channel(app, uri, WNS_URI_MAX, why, whylen);
}

static enum pr_outcome wns_desc_classify(struct pr_result *res, int64_t accepted_ms)
{
    (void)accepted_ms;
    return wns_classify(res);
}

const struct provider_desc wns_desc = {
    .default_token_endpoint = "https://login.live.com/accesstoken.srf",
    .client_new = wns_client_new,
    .classify = wns_desc_classify,
    .match_param = wns_desc_match_param,
    .app_param = wns_desc_app_param,
    .default_allowed_host = "*.notify.windows.com",
    .check_token = wns_desc_check_token,
};
