/*
 * webpush_payload.c - the Web Push request for a notification
 * (payload_ext.h): the toast JSON a service worker reads, encrypted for the
 * subscription (relay/ece.c), and the TTL, Urgency and Topic header values.
 * Called by the Web Push client once per attempt; the Authorization value
 * is the client's, from relay/vapid.c.
 */
#include <stdlib.h>
#include <string.h>

#include "pushrelay/error.h"
#include "jbuf.h"
#include "payload_ext.h"

/*
 * webpush_render is the toast_render_fn: the whole plaintext for this
 * text. PR_EINVAL when a string is not UTF-8, PR_ENOMEM.
 */
static int webpush_render(void *arg, const char *title, const char *body, char **out,
                          size_t *outlen)
{
    const struct pr_notif *n = arg;
    struct jbuf b = JBUF_INIT;
    jbuf_reserve(&b, strlen(title) + strlen(body) + 256);
    jbuf_open(&b, NULL);
    jbuf_str(&b, "title", title);
    jbuf_str(&b, "body", body);
    if (n->collapse_id != NULL)
        jbuf_str(&b, "tag", n->collapse_id);
    if (n->badge >= 0)
        jbuf_int(&b, "badge", n->badge);
    if (n->data != NULL)
        jbuf_json(&b, "data", n->data);
    jbuf_open(&b, "pr");
    jbuf_str(&b, "id", n->id);
    jbuf_str(&b, "event", pr_event_name(n->event));
    if (n->from != NULL)
        jbuf_str(&b, "from", n->from);
    jbuf_close(&b);
    jbuf_close(&b);
    return jbuf_finish(&b, out, outlen);
}

int webpush_payload_json(const struct pr_notif *n, char **out, size_t *outlen)
{
    *out = NULL;
    if (n->id == NULL)
        return PR_EINVAL;
    return toast_build(n, TOAST_ESC_JSON, ECE_PLAINTEXT_MAX, webpush_render, (void *)n, out,
                       outlen);
}

int webpush_payload_build(const struct pr_notif *n, const struct ece_sub *sub, int64_t now_ms,
                          struct webpush_request *out)
{
    char *json = NULL;
    size_t len = 0;
    int rc = PR_EINVAL;

    memset(out, 0, sizeof(*out));
    if (n->token == NULL || n->token[0] == '\0')
        goto out;
    if ((rc = webpush_payload_json(n, &json, &len)) != 0 ||
        (rc = ece_encrypt(sub, (const unsigned char *)json, len, &out->body,
                          &out->body_len)) != 0 ||
        (rc = vapid_topic(n->collapse_id, out->topic)) != 0)
        goto out;
    out->ttl_s = toast_ttl_left_s(n, now_ms);
    out->urgency = n->priority == PR_PRIORITY_HIGH ? "high" : "normal";
out:
    free(json);
    return rc;
}

void webpush_request_clear(struct webpush_request *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}
