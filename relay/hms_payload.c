/*
 * hms_payload.c - the HMS Push Kit request for a notification
 * (payload_ext.h): the :path and the Android notification message body.
 * Called by the HMS client once per attempt; pure. The access token is
 * the client's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pushrelay/error.h"
#include "jbuf.h"
#include "payload_ext.h"

struct hms_ctx {
    const struct pr_notif *n;
    int64_t now_ms;
    char *data;             /* the "data" string: JSON text */
    size_t data_len;
};

/*
 * hms_collapse_key folds a collapse id into HMS's groups 0..100 (FNV-1a):
 * HMS wants an integer there. Two ids can share a group; the "tag", which
 * carries the id itself, still keeps their toasts apart on the device.
 */
static int hms_collapse_key(const char *id)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)id; *p != '\0'; p++)
        h = (h ^ *p) * 16777619u;
    return (int)(h % HMS_COLLAPSE_GROUPS);
}

/* hms_data writes the data object's text: our keys first, then n->data's other keys. */
static int hms_data(const struct pr_notif *n, char **out, size_t *outlen)
{
    struct jbuf b = JBUF_INIT;
    jbuf_open(&b, NULL);
    jbuf_str(&b, "pr_id", n->id);
    jbuf_str(&b, "pr_event", pr_event_name(n->event));
    if (n->from != NULL)
        jbuf_str(&b, "pr_from", n->from);
    if (n->data != NULL) {
        const char *key;
        json_t *value;
        json_object_foreach(n->data, key, value) {
            if (strncmp(key, "pr_", 3) != 0)
                jbuf_json(&b, key, value);
        }
    }
    jbuf_close(&b);
    return jbuf_finish(&b, out, outlen);
}

static void hms_android(struct jbuf *b, const struct hms_ctx *c, const char *title,
                        const char *body)
{
    const struct pr_notif *n = c->n;
    char ttl[32];
    if (n->collapse_id != NULL)
        jbuf_int(b, "collapse_key", hms_collapse_key(n->collapse_id));
    jbuf_str(b, "urgency", n->priority == PR_PRIORITY_HIGH ? "HIGH" : "NORMAL");
    snprintf(ttl, sizeof(ttl), "%ds", toast_ttl_left_s(n, c->now_ms));
    jbuf_str(b, "ttl", ttl);
    jbuf_open(b, "notification");
    jbuf_str(b, "title", title);
    jbuf_str(b, "body", body);
    jbuf_open(b, "click_action");
    jbuf_int(b, "type", HMS_CLICK_OPEN_APP);
    jbuf_close(b);
    if (n->collapse_id != NULL)
        jbuf_str(b, "tag", n->collapse_id);
    jbuf_close(b);
}

/*
 * hms_render is the toast_render_fn: the whole body for this text.
 * PR_EINVAL when a string is not UTF-8, PR_ENOMEM.
 */
static int hms_render(void *arg, const char *title, const char *body, char **out, size_t *outlen)
{
    const struct hms_ctx *c = arg;
    struct jbuf b = JBUF_INIT;
    jbuf_reserve(&b, c->data_len + strlen(c->n->token) + strlen(title) + strlen(body) + 256);
    jbuf_open(&b, NULL);
    jbuf_key(&b, "validate_only");
    jbuf_raw(&b, "false", 5);
    jbuf_open(&b, "message");
    jbuf_strn(&b, "data", c->data, c->data_len);
    jbuf_open(&b, "android");
    hms_android(&b, c, title, body);
    jbuf_close(&b);
    jbuf_key(&b, "token");
    jbuf_raw(&b, "[", 1);
    jbuf_str(&b, NULL, c->n->token);
    jbuf_raw(&b, "]", 1);
    jbuf_close(&b);
    jbuf_close(&b);
    return jbuf_finish(&b, out, outlen);
}

/* An app id goes into :path as is: only URL-unreserved characters may. */
static int hms_app_id_ok(const char *id)
{
    static const char unreserved[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    return id != NULL && id[0] != '\0' && strspn(id, unreserved) == strlen(id);
}

int hms_payload_build(const struct pr_notif *n, const char *hms_app_id, int64_t now_ms,
                      struct hms_request *out)
{
    struct hms_ctx c = { .n = n, .now_ms = now_ms };
    int rc = PR_EINVAL;

    memset(out, 0, sizeof(*out));
    if (n->id == NULL || n->token == NULL || n->token[0] == '\0' || !hms_app_id_ok(hms_app_id))
        goto fail;
    rc = PR_ENOMEM;
    size_t plen = strlen("/v1//messages:send") + strlen(hms_app_id) + 1;
    if ((out->path = malloc(plen)) == NULL)
        goto fail;
    snprintf(out->path, plen, "/v1/%s/messages:send", hms_app_id);
    if ((rc = hms_data(n, &c.data, &c.data_len)) != 0)
        goto fail;
    if ((rc = toast_build(n, TOAST_ESC_JSON, HMS_PAYLOAD_MAX + strlen(n->token), hms_render, &c,
                          &out->body, &out->body_len)) != 0)
        goto fail;
    free(c.data);
    return 0;
fail:
    free(c.data);
    hms_request_clear(out);
    return rc;
}

void hms_request_clear(struct hms_request *r)
{
    free(r->path);
    free(r->body);
    memset(r, 0, sizeof(*r));
}
