/*
 * fed_request.c - validation of one SIP request into a notification (see
 * fed_request.h). Order of checks follows design section 5: method, hop
 * count, content type, push parameters, app, token shape, body. Each
 * refusal names its culprit in the Warning text.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "pushrelay/error.h"
#include "fed_body.h"
#include "fed_request.h"
#include "provider_desc.h"

#define FED_ID_MAX PR_NOTIF_ID_MAX
#define FED_URI_MAX 512
#define FED_TITLE_MAX 1024
#define FED_BODY_MAX 8192
#define FED_SOUND_MAX 128
#define FED_COLLAPSE_MAX 64     /* APNs refuses longer apns-collapse-id */
/* The Request-URI's push parameters, decoded: room for a 2048-byte channel
 * URI and the rest; longer is refused with 413. */
#define FED_PN_MAX 2560

static void verdict(struct fed_verdict *v, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void verdict(struct fed_verdict *v, int status, const char *fmt, ...)
{
    v->action = FED_RESPOND;
    v->status = status;
    v->why[0] = '\0';
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(v->why, sizeof(v->why), fmt, ap);
        va_end(ap);
    }
}

/* ------------------------------------------------------------------------ */
/* JSON body                                                                 */
/* ------------------------------------------------------------------------ */

/* body_str copies optional string 'key' (at most 'max' bytes) into '*field'. */
/*
 * strs_put points '*field' at a copy of the 'len' bytes at 's' (and a NUL)
 * in 'a', or at a malloc'd copy when 'a' is full. 0 or PR_ENOMEM.
 */
static int strs_put(struct fed_strs *a, char **field, const char *s, size_t len)
{
    char *copy;
    if (len < sizeof(a->buf) - a->used) {
        copy = a->buf + a->used;
        a->used += len + 1;
    } else if ((copy = malloc(len + 1)) == NULL) {
        return PR_ENOMEM;
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    *field = copy;
    return 0;
}

void fed_request_release(struct pr_notif *n, const struct fed_strs *strs)
{
    /* The fields fed_request_check sets; what else 'n' holds (data, Web Push keys) is owned. */
    char **mine[] = { &n->id, &n->domain, &n->app, &n->token, &n->from, &n->to,
                      &n->title, &n->body, &n->sound, &n->collapse_id };
    uintptr_t lo = (uintptr_t)strs->buf, hi = lo + sizeof(strs->buf);
    for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++)
        if ((uintptr_t)*mine[i] >= lo && (uintptr_t)*mine[i] < hi)
            *mine[i] = NULL;
    notif_clear(n);
}

static int body_str(const struct fed_body *body, struct fed_strs *strs, const char *key,
                    size_t max, char **field, struct fed_verdict *v)
{
    struct fed_jv j = fed_body_get(body, key);
    if (j.type == FED_JV_ABSENT || j.type == FED_JV_NULL)
        return 0;
    if (j.type != FED_JV_STR) {
        verdict(v, 400, "body field \"%s\" must be a string", key);
        return -1;
    }
    if (j.len > max) {
        verdict(v, 400, "body field \"%s\" longer than %zu bytes", key, max);
        return -1;
    }
    /* A \u0000 inside ends the text, as it always did (a C string). */
    if (strs_put(strs, field, j.s, strnlen(j.s, j.len)) != 0) {
        verdict(v, 500, NULL);
        return -1;
    }
    return 0;
}

/* body_int reads optional integer 'key' within [lo, hi] into '*out'. */
static int body_int(const struct fed_body *body, const char *key, long long lo, long long hi,
                    int *out, struct fed_verdict *v)
{
    struct fed_jv j = fed_body_get(body, key);
    if (j.type == FED_JV_ABSENT || j.type == FED_JV_NULL)
        return 0;
    if (j.type != FED_JV_INT || j.i < lo || j.i > hi) {
        verdict(v, 400, "body field \"%s\" must be an integer from %lld to %lld", key, lo, hi);
        return -1;
    }
    *out = (int)j.i;
    return 0;
}

/* body_bool reads optional boolean 'key' into '*out': 1 for true, else 0. */
static int body_bool(const struct fed_body *body, const char *key, int *out,
                     struct fed_verdict *v)
{
    struct fed_jv j = fed_body_get(body, key);
    if (j.type != FED_JV_ABSENT && j.type != FED_JV_NULL && j.type != FED_JV_BOOL) {
        verdict(v, 400, "body field \"%s\" must be true or false", key);
        return -1;
    }
    *out = j.type == FED_JV_BOOL && j.i;    /* false when absent or null too */
    return 0;
}

static int id_ok(const char *id)
{
    if (*id == '\0')
        return 0;
    for (const char *p = id; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return 0;
    return 1;
}

/* Priority when the body gives none: calls and messages wake the phone. */
static enum pr_priority event_priority(enum pr_event e)
{
    return (e == PR_EVENT_MISSED_CALL || e == PR_EVENT_VOICEMAIL) ? PR_PRIORITY_NORMAL
                                                                  : PR_PRIORITY_HIGH;
}

static int body_parse(const struct sip_msg *msg, int64_t now_ms, struct fed_strs *strs,
                      struct pr_notif *n, struct fed_verdict *v)
{
    /* Members only one provider reads (Web Push's subscription keys) need jansson's tree. */
    const struct provider_desc *d = provider_desc(n->provider);
    struct fed_body b, *body = &b;
    char why[200];
    int rc = -1;
    int lr = fed_body_load(body, msg->body.p, msg->body.len, d != NULL && d->take_body != NULL,
                           why, sizeof(why));
    if (lr != 0) {
        if (lr == -1)
            verdict(v, 400, "%s", why);
        else
            verdict(v, 500, NULL);
        goto out;
    }
    struct fed_jv ev = fed_body_get(body, "event");
    if (ev.type != FED_JV_STR) {
        verdict(v, 400, "body field \"event\" is required (im, call, missed-call, voicemail, conference)");
        goto out;
    }
    if (pr_event_parse(ev.s, &n->event) != 0) {
        verdict(v, 400, "body field \"event\" has unknown value \"%.32s\"", ev.s);
        goto out;
    }
    n->priority = event_priority(n->event);
    n->ttl_s = FED_TTL_DEFAULT_S;
    if (body_str(body, strs, "id", FED_ID_MAX, &n->id, v) ||
        body_str(body, strs, "from", FED_URI_MAX, &n->from, v) ||
        body_str(body, strs, "to", FED_URI_MAX, &n->to, v) ||
        body_str(body, strs, "title", FED_TITLE_MAX, &n->title, v) ||
        body_str(body, strs, "body", FED_BODY_MAX, &n->body, v) ||
        body_str(body, strs, "sound", FED_SOUND_MAX, &n->sound, v) ||
        body_str(body, strs, "collapse_id", FED_COLLAPSE_MAX, &n->collapse_id, v) ||
        body_int(body, "badge", 0, 1000000, &n->badge, v) ||
        body_int(body, "ttl", 1, FED_TTL_MAX_S, &n->ttl_s, v) ||
        /* every MESSAGE here comes from an authenticated edge, so any edge may ask */
        body_bool(body, "trace", &n->trace, v))
        goto out;
    if (n->id != NULL && !id_ok(n->id)) {
        verdict(v, 400, "body field \"id\" must be printable ASCII without spaces");
        goto out;
    }
    struct fed_jv prio = fed_body_get(body, "priority");
    if (prio.type != FED_JV_ABSENT && prio.type != FED_JV_NULL &&
        (prio.type != FED_JV_STR || pr_priority_parse(prio.s, &n->priority) != 0)) {
        verdict(v, 400, "body field \"priority\" must be \"high\" or \"normal\"");
        goto out;
    }
    struct fed_jv data = fed_body_get(body, "data");
    if (data.type != FED_JV_ABSENT && data.type != FED_JV_NULL) {
        if (data.type != FED_JV_OBJECT) {
            verdict(v, 400, "body field \"data\" must be a JSON object");
            goto out;
        }
        n->data = json_incref(data.obj);
    }
    if (d != NULL && d->take_body != NULL) {
        int st = d->take_body(fed_body_tree(body), n, why, sizeof(why));
        if (st == PR_ENOMEM) {
            verdict(v, 500, NULL);
            goto out;
        }
        if (st != 0) {
            verdict(v, st, "%s", why);
            goto out;
        }
    }
    n->accepted_ms = now_ms;
    n->expires_ms = now_ms + (int64_t)n->ttl_s * 1000;
    rc = 0;
out:
    fed_body_clear(body);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The request                                                               */
/* ------------------------------------------------------------------------ */

static int content_type_json(const struct sip_msg *msg)
{
    return sip_str_eq(msg->content_type, "application/json");
}

/* from_domain lower-cases the From host into 'out'; 0 if it is not a DNS name. */
static int from_domain(const struct sip_msg *msg, char *out, size_t outlen)
{
    if (msg->from_host.len == 0 || msg->from_host.len >= outlen)
        return 0;
    for (size_t i = 0; i < msg->from_host.len; i++) {
        char c = (char)tolower((unsigned char)msg->from_host.p[i]);
        if (!isalnum((unsigned char)c) && c != '-' && c != '.')
            return 0;
        out[i] = c;
    }
    out[msg->from_host.len] = '\0';
    return 1;
}

static int push_target(const struct cfg *cfg, const struct sip_msg *msg, struct fed_strs *strs,
                       struct pr_notif *n, struct fed_verdict *v)
{
    char scratch[FED_PN_MAX];
    struct sip_pn pn;
    const char *why = NULL;
    int rc = sip_uri_pn(msg->ruri, scratch, sizeof(scratch), &pn, &why);
    if (rc == PR_ETOOBIG) {
        verdict(v, 413, "Request-URI push parameters too long");
        return -1;
    }
    if (rc != 0) {
        verdict(v, 400, "Request-URI: %s", why != NULL ? why : "malformed");
        return -1;
    }
    if (pn.provider == NULL || pn.prid == NULL || pn.param == NULL) {
        verdict(v, 400, "Request-URI lacks %s", pn.provider == NULL ? "pn-provider"
                                                : pn.prid == NULL   ? "pn-prid"
                                                                    : "pn-param");
        return -1;
    }
    if (pr_provider_parse(pn.provider, &n->provider) != 0) {
        verdict(v, 400, "pn-provider \"%.16s\" is not supported (%s)", pn.provider,
                pr_provider_list());
        return -1;
    }
    const struct provider_desc *d = provider_desc(n->provider);
    const struct cfg_app *app = cfg_find_app(cfg, n->provider, pn.param, &n->voip);
    if (app == NULL) {
        verdict(v, 404, "no %s app is configured for pn-param \"%.64s\"", pn.provider, pn.param);
        return -1;
    }
    int status = d->check_token(app, pn.prid, v->why, sizeof(v->why));
    if (status != 0) {
        v->action = FED_RESPOND;
        v->status = status;
        return -1;
    }
    if (strs_put(strs, &n->app, app->id, strlen(app->id)) != 0 ||
        strs_put(strs, &n->token, pn.prid, strlen(pn.prid)) != 0) {
        verdict(v, 500, NULL);
        return -1;
    }
    if (d->token_fold_case) /* one spelling per token for dedup and dead lists */
        for (char *p = n->token; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    return 0;
}

int fed_request_check(const struct cfg *cfg, const struct sip_msg *msg, int64_t now_ms,
                      struct fed_strs *strs, struct pr_notif *out, struct fed_verdict *v)
{
    char domain[256];
    notif_init(out);
    strs->used = 0;
    v->action = FED_QUEUE;
    v->status = 0;
    v->why[0] = '\0';

    if (sip_str_eq(msg->method, "ACK")) {
        v->action = FED_IGNORE;
        return 0;
    }
    if (sip_str_eq(msg->method, "OPTIONS")) {
        verdict(v, 200, NULL);
        return 0;
    }
    if (!sip_str_eq(msg->method, "MESSAGE")) {
        verdict(v, 405, "only MESSAGE and OPTIONS are served");
        return 0;
    }
    if (msg->max_forwards == 0) {
        verdict(v, 483, NULL);
        return 0;
    }
    if (!content_type_json(msg)) {
        verdict(v, 415, "Content-Type must be application/json");
        return 0;
    }
    if (!from_domain(msg, domain, sizeof(domain))) {
        verdict(v, 400, "From URI has no domain");
        return 0;
    }
    if (push_target(cfg, msg, strs, out, v) != 0 || body_parse(msg, now_ms, strs, out, v) != 0)
        goto refused;
    if (strs_put(strs, &out->domain, domain, strlen(domain)) != 0)
        goto nomem;
    if (out->id == NULL) {
        /* RFC 3261: Call-ID + CSeq identify a request; a retransmission repeats both. */
        char id[FED_ID_MAX + 1];
        int il = snprintf(id, sizeof(id), "%.*s:%u",
                          (int)(msg->call_id.len > 100 ? 100 : msg->call_id.len), msg->call_id.p,
                          msg->cseq_num);
        if (strs_put(strs, &out->id, id, (size_t)il) != 0)
            goto nomem;
    }
    return 0;
nomem:
    verdict(v, 500, NULL);
    fed_request_release(out, strs);
    return PR_ENOMEM;
refused:
    fed_request_release(out, strs);
    return 0;
}
