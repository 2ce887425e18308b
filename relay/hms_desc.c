/*
 * hms_desc.c - the HMS Push Kit descriptor (see provider_desc.h): Huawei's
 * default push and token endpoints, the HMS app id as pn-param, and the
 * HMS token's shape. The client is relay/fcm.c's HMS flavour, the error
 * table relay/hms_errors.c.
 */
#include <stdio.h>
#include <string.h>

#include "classify_ext.h"
#include "pclient_impl.h"
#include "provider_desc.h"

#define HMS_TOKEN_MAX 512

/* HMS pn-param: the HMS app id. */
static int hms_desc_match_param(const struct cfg_app *a, const char *param, size_t len)
{
    return strlen(a->hms_app_id) == len && strncmp(a->hms_app_id, param, len) == 0;
}

static void hms_desc_app_param(const struct cfg_app *a, char *buf, size_t len)
{
    snprintf(buf, len, "%s", a->hms_app_id ? a->hms_app_id : "");
}

static int hms_desc_same_param(const struct cfg_app *a, const struct cfg_app *b)
{
    return strcmp(a->hms_app_id, b->hms_app_id) == 0;
}

/* HMS tokens are opaque printable text (no spaces: it travels in JSON and logs). */
static int hms_desc_check_token(const struct cfg_app *app, const char *t, char *why, size_t whylen)
{
    (void)app;
    size_t len = strlen(t);
    int ok = len > 0 && len <= HMS_TOKEN_MAX;
    for (const char *p = t; ok && *p; p++)
        ok = *p > ' ' && *p < 0x7f && *p != '"' && *p != '\\';
    if (ok)
        return 0;
    snprintf(why, whylen, "pn-prid is not an HMS token (1 to %d printable characters)",
             HMS_TOKEN_MAX);
    return 400;
}

static enum pr_outcome hms_desc_classify(struct pr_result *res, int64_t accepted_ms)
{
    (void)accepted_ms;
    return hms_classify(res);
}

const struct provider_desc hms_desc = {
    .default_endpoint = "https://push-api.cloud.huawei.com",
    .default_token_endpoint = "https://oauth-login.cloud.huawei.com/oauth2/v3/token",
    .client_new = hms_client_new,
    .classify = hms_desc_classify,
    .match_param = hms_desc_match_param,
    .app_param = hms_desc_app_param,
    .same_param = hms_desc_same_param,
    .check_token = hms_desc_check_token,
};
