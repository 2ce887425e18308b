/*
 * apns_desc.c - the APNs descriptor (see provider_desc.h): Apple's default
 * endpoint, the two ways an app authenticates, the "<team_id>.<topic>[.voip]"
 * pn-param and the hex device token. The client is relay/apns.c, the error
 * table relay/apns_errors.c.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "classify.h"
#include "pclient_impl.h"
#include "provider_desc.h"

/* Apple allows device tokens up to 100 bytes; they are sent as hex. */
#define APNS_TOKEN_HEX_MIN 64
#define APNS_TOKEN_HEX_MAX 200

/*
 * Token auth (key_id, key_file, team_id: one ES256 key signs a provider
 * token) or certificate auth (certificate, private_key: the TLS client
 * certificate authenticates every request), exactly one of them.
 */
static int apns_desc_check_app(const struct cfg_app *app, struct provider_app_err *err)
{
    int token = app->key_id != NULL || app->key_file != NULL;
    err->key = NULL;
    if (token && app->certificate != NULL) {
        err->msg = "use token auth (key_id, key_file, team_id) or "
                   "certificate auth (certificate, private_key), not both";
        return -1;
    }
    if (!token && app->certificate == NULL) {
        err->msg = "apns needs token auth (key_id, key_file, team_id) or "
                   "certificate auth (certificate, private_key)";
        return -1;
    }
    if (token) {
        err->key = app->key_id == NULL     ? "key_id"
                   : app->key_file == NULL ? "key_file"
                   : app->team_id == NULL  ? "team_id"
                                           : NULL;
        if (err->key != NULL) {
            err->msg = "required key is missing (apns token auth needs key_id, key_file and "
                       "team_id)";
            return -1;
        }
    }
    return 0;
}

/*
 * APNs pn-param: "<team_id>.<topic>" (".voip" is the descriptor's suffix).
 * An app without team_id (certificate auth) matches any single-label team
 * prefix.
 */
static int apns_desc_match_param(const struct cfg_app *a, const char *param, size_t len)
{
    size_t tlen = strlen(a->topic);
    if (len < tlen + 2 || param[len - tlen - 1] != '.' ||
        strncmp(param + len - tlen, a->topic, tlen) != 0)
        return 0;
    size_t team_len = len - tlen - 1;
    if (a->team_id != NULL)
        return team_len == strlen(a->team_id) && strncmp(param, a->team_id, team_len) == 0;
    return memchr(param, '.', team_len) == NULL;
}

/* A certificate-auth app names no team: ".<topic>", which the edge completes. */
static void apns_desc_app_param(const struct cfg_app *a, char *buf, size_t len)
{
    snprintf(buf, len, "%s.%s", a->team_id ? a->team_id : "", a->topic ? a->topic : "");
}

/* Only token-auth apps name their team; certificate apps cannot be told apart. */
static int apns_desc_same_param(const struct cfg_app *a, const struct cfg_app *b)
{
    return a->team_id != NULL && b->team_id != NULL && strcmp(a->team_id, b->team_id) == 0 &&
           strcmp(a->topic, b->topic) == 0;
}

static int apns_desc_check_token(const struct cfg_app *app, const char *t, char *why,
                                 size_t whylen)
{
    (void)app;
    size_t len = strlen(t);
    int ok = len >= APNS_TOKEN_HEX_MIN && len <= APNS_TOKEN_HEX_MAX && len % 2 == 0;
    for (const char *p = t; ok && *p; p++)
        ok = isxdigit((unsigned char)*p);
    if (ok)
        return 0;
    snprintf(why, whylen, "pn-prid is not an APNs device token (%d to %d hex digits)",
             APNS_TOKEN_HEX_MIN, APNS_TOKEN_HEX_MAX);
    return 400;
}

const struct provider_desc apns_desc = {
    .default_endpoint = "https://api.push.apple.com",
    .client_new = apns_client_new,
    .classify = apns_classify,
    .check_app = apns_desc_check_app,
    .voip_suffix = ".voip",
    .match_param = apns_desc_match_param,
    .app_param = apns_desc_app_param,
    .same_param = apns_desc_same_param,
    .token_fold_case = 1,
    .check_token = apns_desc_check_token,
};
