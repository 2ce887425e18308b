/*
 * mpns_desc.c - the MPNS descriptor (see provider_desc.h): no default
 * endpoint (the token is a channel URI that names its host), the app id as
 * pn-param, and the channel URI checked against the app's allowed_hosts so
 * the relay never POSTs to an address an operator did not allow. The client
 * is relay/mpns.c, the error table relay/mpns_errors.c.
 */
#include <stdio.h>
#include <string.h>

#include "classify.h"
#include "pclient_impl.h"
#include "provider_desc.h"

#define MPNS_URI_MAX 2048

/* MPNS pn-param: the app id itself. */
static int mpns_desc_match_param(const struct cfg_app *a, const char *param, size_t len)
{
    return strlen(a->id) == len && strncmp(a->id, param, len) == 0;
}

static void mpns_desc_app_param(const struct cfg_app *a, char *buf, size_t len)
{
    snprintf(buf, len, "%s", a->id);
}

/* MPNS channel URIs: https only, host in the app's allow-list. */
static int mpns_desc_check_token(const struct cfg_app *app, const char *uri, char *why,
                                 size_t whylen)
{
    return provider_check_channel(app, uri, MPNS_URI_MAX, why, whylen);
}

static enum pr_outcome mpns_desc_classify(struct pr_result *res, int64_t accepted_ms)
{
    (void)accepted_ms;
    return mpns_classify(res);
}

const struct provider_desc mpns_desc = {
    .client_new = mpns_client_new,
    .classify = mpns_desc_classify,
    .check_app = provider_needs_allowed_hosts,
    .match_param = mpns_desc_match_param,
    .app_param = mpns_desc_app_param,
    .check_token = mpns_desc_check_token,
};
