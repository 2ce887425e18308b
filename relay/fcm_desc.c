/*
 * fcm_desc.c - the FCM descriptor (see provider_desc.h): Google's default
 * endpoint, the project id as pn-param and the registration token's shape.
 * The client is relay/fcm.c, the error table relay/fcm_errors.c.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "classify.h"
#include "pclient_impl.h"
#include "provider_desc.h"

#define FCM_TOKEN_MAX 4096

/* FCM pn-param: the app's project_id. */
static int fcm_desc_match_param(const struct cfg_app *a, const char *param, size_t len)
{
    return strlen(a->project_id) == len && strncmp(a->project_id, param, len) == 0;
}

static void fcm_desc_app_param(const struct cfg_app *a, char *buf, size_t len)
{
    snprintf(buf, len, "%s", a->project_id ? a->project_id : "");
}

static int fcm_desc_same_param(const struct cfg_app *a, const struct cfg_app *b)
{
    return strcmp(a->project_id, b->project_id) == 0;
}

/* FCM registration tokens: URL-safe base64 plus ':' and '-'. */
static int fcm_desc_check_token(const struct cfg_app *app, const char *t, char *why,
                                size_t whylen)
{
    (void)app;
    size_t len = strlen(t);
    int ok = len > 0 && len <= FCM_TOKEN_MAX;
    for (const char *p = t; ok && *p; p++)
        ok = isalnum((unsigned char)*p) || strchr("_-:.", *p) != NULL;
    if (ok)
        return 0;
    snprintf(why, whylen, "pn-prid is not an FCM registration token");
    return 400;
}

/* The FCM table needs no acceptance time: no FCM answer dates a token's death. */
static enum pr_outcome fcm_desc_classify(struct pr_result *res, int64_t accepted_ms)
{
    (void)accepted_ms;
    return fcm_classify(res);
}

const struct provider_desc fcm_desc = {
    .default_endpoint = "https://fcm.googleapis.com",
    .client_new = fcm_client_new,
    .classify = fcm_desc_classify,
    .match_param = fcm_desc_match_param,
    .app_param = fcm_desc_app_param,
    .same_param = fcm_desc_same_param,
    .token_fold_case = 0, /* base64: case matters */
    .check_token = fcm_desc_check_token,
};
