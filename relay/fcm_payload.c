/*
 * fcm_payload.c - the FCM HTTP v1 request body for a notification
 * (payload.h). Called by the FCM client (relay/fcm.c) once per attempt;
 * pure apart from reading the clock in fcm_payload_build.
 *
 *   {"message":{"token":TOKEN,
 *     "notification":{"title":T,"body":B},
 *     "android":{"priority":"HIGH"|"NORMAL","ttl":"<seconds left>s",
 *                "collapse_key":C,
 *                "notification":{"sound":S,"tag":C,"channel_id":"pushrelay_<event>"}},
 *     "data":{<n->data as strings>,"pr_id":ID,"pr_event":"im","pr_from":F}}}
 *
 * collapse_key/tag, sound, ttl and pr_from appear only when known. FCM data
 * values must be strings: numbers become decimal text, booleans
 * "true"/"false", null "", objects and arrays compact JSON. Keys FCM
 * reserves ("from", "notification", "message_type", "google…", "gcm…") are
 * dropped: FCM would refuse the whole message with INVALID_ARGUMENT, which
 * reads as a dead token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pushrelay/error.h"
#include "payload.h"

struct fcm_ctx {
    const struct pr_notif *n;
    int64_t now_ms;
};

static int fcm_set_str(json_t *o, const char *key, const char *s)
{
    json_t *v = json_string(s);
    if (v == NULL)
        return PR_EINVAL;   /* not UTF-8 */
    return json_object_set_new(o, key, v) == 0 ? 0 : PR_ENOMEM;
}

static int fcm_reserved_key(const char *key)
{
    return strcmp(key, "from") == 0 || strcmp(key, "notification") == 0 ||
           strcmp(key, "message_type") == 0 || strncmp(key, "google", 6) == 0 ||
           strncmp(key, "gcm", 3) == 0;
}

/* fcm_data_value sets data[key] to the string form of 'v'. */
static int fcm_data_value(json_t *data, const char *key, json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return fcm_set_str(data, key, json_string_value(v));
    case JSON_TRUE:
        return fcm_set_str(data, key, "true");
    case JSON_FALSE:
        return fcm_set_str(data, key, "false");
    case JSON_NULL:
        return fcm_set_str(data, key, "");
    default: {
        /* Integers, reals, objects and arrays: jansson's own compact text. */
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (text == NULL)
            return PR_ENOMEM;
        int rc = fcm_set_str(data, key, text);
        free(text);
        return rc;
    }
    }
}

static int fcm_data(const struct pr_notif *n, json_t *data)
{
    int rc;
    if (n->data != NULL) {
        const char *key;
        json_t *value;
        json_object_foreach(n->data, key, value) {
            if (!fcm_reserved_key(key) && (rc = fcm_data_value(data, key, value)) != 0)
                return rc;
        }
    }
    if ((rc = fcm_set_str(data, "pr_id", n->id)) != 0 ||
        (rc = fcm_set_str(data, "pr_event", pr_event_name(n->event))) != 0)
        return rc;
    if (n->from != NULL && (rc = fcm_set_str(data, "pr_from", n->from)) != 0)
        return rc;
    return 0;
}

static int fcm_android(const struct fcm_ctx *c, json_t *android)
{
    const struct pr_notif *n = c->n;
    char buf[64];
    int rc;
    json_t *an = json_object();
    if (an == NULL || json_object_set_new(android, "priority",
                                          json_string(n->priority == PR_PRIORITY_HIGH ? "HIGH"
                                                                                      : "NORMAL")) != 0) {
        json_decref(an);
        return PR_ENOMEM;
    }
    if (n->expires_ms > 0) {
        /* What is left of the TTL, rounded up; FCM takes a duration in seconds. */
        int64_t left_ms = n->expires_ms - c->now_ms;
        long long left_s = left_ms > 0 ? (long long)((left_ms + 999) / 1000) : 0;
        snprintf(buf, sizeof(buf), "%llds", left_s);
        if ((rc = fcm_set_str(android, "ttl", buf)) != 0)
            goto fail;
    }
    if (n->collapse_id != NULL && (rc = fcm_set_str(android, "collapse_key", n->collapse_id)) != 0)
        goto fail;
    if (n->sound != NULL && (rc = fcm_set_str(an, "sound", n->sound)) != 0)
        goto fail;
    if (n->collapse_id != NULL && (rc = fcm_set_str(an, "tag", n->collapse_id)) != 0)
        goto fail;
    /* Android channel ids: "pushrelay_missed_call", one per event. */
    snprintf(buf, sizeof(buf), "pushrelay_%s", pr_event_name(n->event));
    for (char *p = buf; *p != '\0'; p++)
        if (*p == '-')
            *p = '_';
    if ((rc = fcm_set_str(an, "channel_id", buf)) != 0)
        goto fail;
    return json_object_set_new(android, "notification", an) == 0 ? 0 : PR_ENOMEM;
fail:
    json_decref(an);
    return rc;
}

/* fcm_render is the toast_render_fn: the whole body for this text. */
static int fcm_render(void *arg, const char *title, const char *body, char **out, size_t *outlen)
{
    const struct fcm_ctx *c = arg;
    json_t *root = json_object(), *msg = json_object(), *notif = json_object();
    json_t *android = json_object(), *data = json_object();
    int rc = PR_ENOMEM;
    if (root == NULL || msg == NULL || notif == NULL || android == NULL || data == NULL)
        goto out;
    if ((rc = fcm_set_str(msg, "token", c->n->token)) != 0 ||
        (rc = fcm_set_str(notif, "title", title)) != 0 ||
        (rc = fcm_set_str(notif, "body", body)) != 0 ||
        (rc = fcm_android(c, android)) != 0 || (rc = fcm_data(c->n, data)) != 0)
        goto out;
    rc = PR_ENOMEM;
    if (json_object_set(msg, "notification", notif) != 0 ||
        json_object_set(msg, "android", android) != 0 || json_object_set(msg, "data", data) != 0 ||
        json_object_set(root, "message", msg) != 0 ||
        (*out = json_dumps(root, JSON_COMPACT)) == NULL)
        goto out;
    *outlen = strlen(*out);
    rc = 0;
out:
    json_decref(data);
    json_decref(android);
    json_decref(notif);
    json_decref(msg);
    json_decref(root);
    return rc;
}

int fcm_payload_build_at(const struct pr_notif *n, int64_t now_ms, char **out, size_t *outlen)
{
    struct toast text;
    struct fcm_ctx c = { .n = n, .now_ms = now_ms };
    *out = NULL;
    if (n->id == NULL || n->token == NULL || n->token[0] == '\0')
        return PR_EINVAL;
    toast_text(n, &text);
    /* FCM's 4096 bytes are counted over everything but the token. */
    return toast_fit(text.title, text.body, TOAST_ESC_JSON, FCM_PAYLOAD_MAX + strlen(n->token),
                     fcm_render, &c, out, outlen);
}

int fcm_payload_build(const struct pr_notif *n, char **out, size_t *outlen)
{
    return fcm_payload_build_at(n, pr_now_ms(), out, outlen);
}
