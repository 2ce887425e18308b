/*
 * webpush_desc.c - the Web Push descriptor (see provider_desc.h): the token
 * is the subscription's endpoint URL, https and on a host of the app's
 * allowed_hosts (required: push services are many); the app id is the
 * pn-param; the MESSAGE body must carry the subscription's keys,
 * "webpush": {"p256dh": …, "auth": …}, checked here with ece.c's rules so a
 * bad key is a 400 at ingest rather than a dead letter. The client is
 * relay/webpush.c, the error table relay/webpush_errors.c.
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "pushrelay/error.h"
#include "classify_ext.h"
#include "ece.h"
#include "pclient_impl.h"
#include "provider_desc.h"

static int webpush_desc_take_body(const struct json_t *body, struct pr_notif *n, char *why,
                                  size_t whylen)
{
    json_t *wp = json_object_get(body, "webpush");
    struct ece_sub sub;
    const char *field = NULL;
    if (!json_is_object(wp)) {
        snprintf(why, whylen, "body field \"webpush\" is required: {\"p256dh\":…,\"auth\":…}");
        return 400;
    }
    const char *p256dh = json_string_value(json_object_get(wp, "p256dh"));
    const char *auth = json_string_value(json_object_get(wp, "auth"));
    if (ece_sub_parse(p256dh, auth, &sub, &field) != 0) {
        snprintf(why, whylen, "body field \"webpush.%s\" is missing or not a valid %s", field,
                 strcmp(field, "auth") == 0 ? "16-byte base64url secret"
                                            : "base64url P-256 public key");
        return 400;
    }
    if (notif_set_str(&n->wp_p256dh, p256dh) != 0 || notif_set_str(&n->wp_auth, auth) != 0)
        return PR_ENOMEM;
    return 0;
}

static enum pr_outcome webpush_desc_classify(struct pr_result *res, int64_t accepted_ms)
{
    (void)accepted_ms;
    return webpush_classify(res);
}

const struct provider_desc webpush_desc = {
    .client_new = webpush_client_new,
    .classify = webpush_desc_classify,
    .check_app = provider_needs_allowed_hosts,
    .match_param = provider_match_app_id,
    .app_param = provider_app_id_param,
    .check_token = provider_check_channel,
    .take_body = webpush_desc_take_body,
};
