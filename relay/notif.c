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
 * The record is written directly rather than through a jansson tree: it is
 * encoded once per accepted MESSAGE, and building and dumping a tree cost
 * more than the rest of the ingest path together. Decoding still uses
 * jansson. Only 'data' (already a tree) goes through json_dumpb.
 */
struct jbuf {
    char *p;
    size_t len, cap;
    int err;
};

static void jb_reserve(struct jbuf *b, size_t more)
{
    if (b->err || b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 512;
    while (cap < b->len + more)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->err = PR_ENOMEM;
        return;
    }
    b->p = p;
    b->cap = cap;
}

static void jb_raw(struct jbuf *b, const char *s, size_t len)
{
    jb_reserve(b, len);
    if (!b->err) {
        memcpy(b->p + b->len, s, len);
        b->len += len;
    }
}

/* utf8_seq_len returns the length of the valid UTF-8 sequence at 's', or 0. */
static size_t utf8_seq_len(const unsigned char *s)
{
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, min = 0x10000;
    else
        return 0;
    unsigned cp = c & (0x3f >> (n - 1));
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* jb_str appends "key":"escaped value" (with a leading comma); PR_EINVAL for non-UTF-8. */
static void jb_str(struct jbuf *b, const char *key, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    jb_raw(b, ",\"", 2);
    jb_raw(b, key, strlen(key));
    jb_raw(b, "\":\"", 3);
    const unsigned char *u = (const unsigned char *)s, *run = u;
    while (*u != '\0' && !b->err) {
        if (*u >= 0x20 && *u < 0x80 && *u != '"' && *u != '\\') {
            u++;    /* plain ASCII: copied in runs */
            continue;
        }
        jb_raw(b, (const char *)run, (size_t)(u - run));
        size_t n = utf8_seq_len(u);
        if (n == 0) {
            b->err = PR_EINVAL;
            return;
        }
        if (*u == '"' || *u == '\\') {
            char esc[2] = { '\\', (char)*u };
            jb_raw(b, esc, 2);
        } else if (*u < 0x20) {
            char esc[6] = { '\\', 'u', '0', '0', hex[*u >> 4], hex[*u & 15] };
            jb_raw(b, esc, 6);
        } else {
            jb_raw(b, (const char *)u, n);
        }
        u += n;
        run = u;
    }
    jb_raw(b, (const char *)run, (size_t)(u - run));
    jb_raw(b, "\"", 1);
}

static void jb_int(struct jbuf *b, const char *key, long long v)
{
    char num[24], *p = num + sizeof(num);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--p = '-';
    jb_raw(b, ",\"", 2);
    jb_raw(b, key, strlen(key));
    jb_raw(b, "\":", 2);
    jb_raw(b, p, (size_t)(num + sizeof(num) - p));
}

int notif_encode(const struct pr_notif *n, char **out, size_t *outlen)
{
    if (n->id == NULL || n->domain == NULL || n->app == NULL || n->token == NULL ||
        (n->data != NULL && !json_is_object(n->data)))
        return PR_EINVAL;   /* data that is not an object would not decode again */
    struct jbuf b = { 0 };
    char head[16];
    jb_raw(&b, head, (size_t)snprintf(head, sizeof(head), "{\"v\":%d", PR_NOTIF_VERSION));
    jb_str(&b, "id", n->id);
    jb_str(&b, "dom", n->domain);
    jb_str(&b, "prov", pr_provider_name(n->provider));
    jb_str(&b, "app", n->app);
    jb_str(&b, "tok", n->token);
    jb_int(&b, "voip", n->voip);
    jb_str(&b, "ev", pr_event_name(n->event));
    jb_str(&b, "prio", pr_priority_name(n->priority));
    jb_int(&b, "ttl", n->ttl_s);
    jb_int(&b, "acc", n->accepted_ms);
    jb_int(&b, "exp", n->expires_ms);
    jb_int(&b, "att", n->attempts);
#define X(key, field) if ((field) != NULL) jb_str(&b, key, field);
    NOTIF_STR_FIELDS(X, n)
#undef X
    if (n->badge >= 0)
        jb_int(&b, "badge", n->badge);
    if (n->data != NULL) {
        size_t need = json_dumpb(n->data, NULL, 0, JSON_COMPACT);
        jb_raw(&b, ",\"data\":", 8);
        jb_reserve(&b, need + 2);
        if (!b.err && (need == 0 || json_dumpb(n->data, b.p + b.len, need, JSON_COMPACT) != need))
            b.err = PR_EINVAL;   /* jansson refuses strings that are not UTF-8 */
        else if (!b.err)
            b.len += need;
    }
    jb_raw(&b, "}", 2);   /* with the NUL */
    if (b.err) {
        free(b.p);
        return b.err;
    }
    *out = b.p;
    *outlen = b.len - 1;
    return 0;
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
