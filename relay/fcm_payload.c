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
#include "jbuf.h"
#include "payload.h"

struct fcm_ctx {
    const struct pr_notif *n;
    int64_t now_ms;
};

static int fcm_reserved_key(const char *key)
{
    return strcmp(key, "from") == 0 || strcmp(key, "notification") == 0 ||
           strcmp(key, "message_type") == 0 || strncmp(key, "google", 6) == 0 ||
           strncmp(key, "gcm", 3) == 0;
}

/*
 * The body is written with jbuf (jbuf.h), not built as a jansson tree; the
 * bytes are what json_dumps(JSON_COMPACT) gave for the tree built in this
 * order. That includes its quirk for data keys named "pr_id", "pr_event"
 * or "pr_from": our value replaced theirs where their key stood.
 */

/* fcm_data_value writes "key": and the string form of 'v'. */
static void fcm_data_value(struct jbuf *b, const char *key, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        jbuf_str(b, key, json_string_value(v));
        return;
    case JSON_TRUE:
        jbuf_str(b, key, "true");
        return;
    case JSON_FALSE:
        jbuf_str(b, key, "false");
        return;
    case JSON_NULL:
        jbuf_str(b, key, "");
        return;
    default:
        break;
    }
    /* Integers, reals, objects and arrays: jansson's own compact text, as a string. */
    struct jbuf t = JBUF_INIT;
    char *text;
    size_t len;
    jbuf_json(&t, NULL, v);
    int rc = jbuf_finish(&t, &text, &len);
    if (rc != 0) {
        jbuf_fail(b, rc);
        return;
    }
    jbuf_strn(b, key, text, len);
    free(text);
}

static void fcm_data(struct jbuf *b, const struct pr_notif *n)
{
    int have_id = 0, have_event = 0, have_from = 0;
    if (n->data != NULL) {
        const char *key;
        json_t *value;
        json_object_foreach(n->data, key, value) {
            if (fcm_reserved_key(key))
                continue;
            if (strcmp(key, "pr_id") == 0) {
                jbuf_str(b, key, n->id);
                have_id = 1;
            } else if (strcmp(key, "pr_event") == 0) {
                jbuf_str(b, key, pr_event_name(n->event));
                have_event = 1;
            } else if (strcmp(key, "pr_from") == 0 && n->from != NULL) {
                jbuf_str(b, key, n->from);
                have_from = 1;
            } else {
                fcm_data_value(b, key, value);
            }
        }
    }
    if (!have_id)
        jbuf_str(b, "pr_id", n->id);
    if (!have_event)
        jbuf_str(b, "pr_event", pr_event_name(n->event));
    if (n->from != NULL && !have_from)
        jbuf_str(b, "pr_from", n->from);
}

static void fcm_android(struct jbuf *b, const struct fcm_ctx *c)
{
    const struct pr_notif *n = c->n;
    char buf[64];
    jbuf_str(b, "priority", n->priority == PR_PRIORITY_HIGH ? "HIGH" : "NORMAL");
    if (n->expires_ms > 0) {
        /* What is left of the TTL, rounded up; FCM takes a duration in seconds. */
        int64_t left_ms = n->expires_ms - c->now_ms;
        long long left_s = left_ms > 0 ? (long long)((left_ms + 999) / 1000) : 0;
        snprintf(buf, sizeof(buf), "%llds", left_s);
        jbuf_str(b, "ttl", buf);
    }
    if (n->collapse_id != NULL)
        jbuf_str(b, "collapse_key", n->collapse_id);
    jbuf_open(b, "notification");
    if (n->sound != NULL)
        jbuf_str(b, "sound", n->sound);
    if (n->collapse_id != NULL)
        jbuf_str(b, "tag", n->collapse_id);
    /* Android channel ids: "pushrelay_missed_call", one per event. */
    snprintf(buf, sizeof(buf), "pushrelay_%s", pr_event_name(n->event));
    for (char *p = buf; *p != '\0'; p++)
        if (*p == '-')
            *p = '_';
    jbuf_str(b, "channel_id", buf);
    jbuf_close(b);
}

/*
 * fcm_render is the toast_render_fn: the whole body for this text.
 * PR_EINVAL when a string is not UTF-8, PR_ENOMEM.
 */
static int fcm_render(void *arg, const char *title, const char *body, char **out, size_t *outlen)
{
    const struct fcm_ctx *c = arg;
    struct jbuf b = JBUF_INIT;
    jbuf_reserve(&b, strlen(c->n->token) + strlen(title) + strlen(body) + 512);
    jbuf_open(&b, NULL);
    jbuf_open(&b, "message");
    jbuf_str(&b, "token", c->n->token);
    jbuf_open(&b, "notification");
    jbuf_str(&b, "title", title);
    jbuf_str(&b, "body", body);
    jbuf_close(&b);
    jbuf_open(&b, "android");
    fcm_android(&b, c);
    jbuf_close(&b);
    jbuf_open(&b, "data");
    fcm_data(&b, c->n);
    jbuf_close(&b);
    jbuf_close(&b);
    jbuf_close(&b);
    return jbuf_finish(&b, out, outlen);
}

int fcm_payload_build_at(const struct pr_notif *n, int64_t now_ms, char **out, size_t *outlen)
{
    struct fcm_ctx c = { .n = n, .now_ms = now_ms };
    *out = NULL;
    if (n->id == NULL || n->token == NULL || n->token[0] == '\0')
        return PR_EINVAL;
    /* FCM's 4096 bytes are counted over everything but the token. */
    return toast_build(n, TOAST_ESC_JSON, FCM_PAYLOAD_MAX + strlen(n->token), fcm_render, &c, out,
                       outlen);
}

int fcm_payload_build(const struct pr_notif *n, char **out, size_t *outlen)
{
    return fcm_payload_build_at(n, pr_now_ms(), out, outlen);
}
