/*
 * notif.c - the notification record and its JSON encoding (see notif.h for
 * the layout). Used by the listener (encode), the dispatcher (decode and
 * re-encode for retries and dead letters) and pushrelayctl (dlq).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pushrelay/error.h"
#include "pushrelay/notif.h"
#include "jbuf.h"

int64_t pr_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void notif_init(struct pr_notif *n)
{
    memset(n, 0, sizeof(*n));
    n->badge = -1;
}

void notif_clear(struct pr_notif *n)
{
    char **strs[] = { &n->id, &n->domain, &n->app, &n->token, &n->from, &n->to,
                      &n->title, &n->body, &n->sound, &n->collapse_id, &n->last };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        free(*strs[i]);
    if (n->data != NULL)
        json_decref(n->data);
    notif_init(n);
}

int notif_set_str(char **field, const char *s)
{
    char *copy = NULL;
    if (s != NULL && (copy = strdup(s)) == NULL)
        return PR_ENOMEM;
    free(*field);
    *field = copy;
    return 0;
}

/* The optional string fields, by JSON key, in encoding order. */
#define NOTIF_STR_FIELDS(X, n)                                              \
    X("from", (n)->from) X("to", (n)->to) X("title", (n)->title)            \
    X("body", (n)->body) X("sound", (n)->sound) X("coll", (n)->collapse_id) \
    X("last", (n)->last)

/* ------------------------------------------------------------------------ */
/* Encoding                                                                  */
/* ------------------------------------------------------------------------ */

/*
 * The record is written directly (jbuf.h) rather than through a jansson
 * tree: it is encoded once per accepted MESSAGE, and building and dumping a
 * tree cost more than the rest of the ingest path together. Decoding still
 * uses jansson. Only 'data' (already a tree) goes through json_dumpb.
 */
int notif_encode(const struct pr_notif *n, char **out, size_t *outlen)
{
    if (n->id == NULL || n->domain == NULL || n->app == NULL || n->token == NULL ||
        (n->data != NULL && !json_is_object(n->data)))
        return PR_EINVAL;   /* data that is not an object would not decode again */
    struct jbuf b = JBUF_INIT;
    jbuf_open(&b, NULL);
    jbuf_int(&b, "v", PR_NOTIF_VERSION);
    jbuf_str(&b, "id", n->id);
    jbuf_str(&b, "dom", n->domain);
    jbuf_str(&b, "prov", pr_provider_name(n->provider));
    jbuf_str(&b, "app", n->app);
    jbuf_str(&b, "tok", n->token);
    jbuf_int(&b, "voip", n->voip);
    jbuf_str(&b, "ev", pr_event_name(n->event));
    jbuf_str(&b, "prio", pr_priority_name(n->priority));
    jbuf_int(&b, "ttl", n->ttl_s);
    jbuf_int(&b, "acc", n->accepted_ms);
    jbuf_int(&b, "exp", n->expires_ms);
    jbuf_int(&b, "att", n->attempts);
#define X(key, field) if ((field) != NULL) jbuf_str(&b, key, field);
    NOTIF_STR_FIELDS(X, n)
#undef X
    if (n->badge >= 0)
        jbuf_int(&b, "badge", n->badge);
    if (n->data != NULL)
        jbuf_json(&b, "data", n->data);
    jbuf_close(&b);
    return jbuf_finish(&b, out, outlen);
}

static int take_str(json_t *o, const char *key, char **field, int required)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL)
        return required ? PR_EINVAL : 0;
    if (!json_is_string(v))
        return PR_EINVAL;
    return notif_set_str(field, json_string_value(v));
}

int notif_decode(const char *json, size_t len, struct pr_notif *out)
{
    notif_init(out);
    json_t *o = json_loadb(json, len, 0, NULL);
    if (o == NULL || !json_is_object(o)) {
        json_decref(o);
        return PR_EINVAL;
    }
    int rc = PR_EINVAL;
    const char *prov = NULL, *ev = NULL, *prio = NULL;
    json_int_t acc = 0, exp = 0;
    int v = 0;
    if (json_unpack(o, "{s:i, s:s, s:s, s:s, s:i, s:I, s:I, s:i}", "v", &v, "prov", &prov,
                    "ev", &ev, "prio", &prio, "ttl", &out->ttl_s, "acc", &acc, "exp", &exp,
                    "att", &out->attempts) != 0 || v != PR_NOTIF_VERSION)
        goto out;
    if (pr_provider_parse(prov, &out->provider) != 0 || pr_event_parse(ev, &out->event) != 0 ||
        pr_priority_parse(prio, &out->priority) != 0)
        goto out;
    out->accepted_ms = acc;
    out->expires_ms = exp;
    json_t *voip = json_object_get(o, "voip");
    out->voip = json_is_integer(voip) && json_integer_value(voip) != 0;
    json_t *badge = json_object_get(o, "badge");
    if (badge != NULL) {
        if (!json_is_integer(badge))
            goto out;
        out->badge = (int)json_integer_value(badge);
    }
    if (take_str(o, "id", &out->id, 1) || take_str(o, "dom", &out->domain, 1) ||
        take_str(o, "app", &out->app, 1) || take_str(o, "tok", &out->token, 1))
        goto out;
#define X(key, field) if (take_str(o, key, &(field), 0) != 0) goto out;
    NOTIF_STR_FIELDS(X, out)
#undef X
    json_t *data = json_object_get(o, "data");
    if (data != NULL) {
        if (!json_is_object(data))
            goto out;
        out->data = json_incref(data);
    }
    rc = 0;
out:
    json_decref(o);
    return rc;
}
