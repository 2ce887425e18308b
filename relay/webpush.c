/*
 * webpush.c - the Web Push provider client (RFC 8030, 8291, 8292): one
 * notification becomes one POST of an aes128gcm body to the subscription's
 * endpoint (the token) over HTTP/2 (relay/h2c.c), with TTL, Urgency, Topic
 * and a VAPID Authorization (relay/vapid.c). The body is encrypted for the
 * subscription keys the edge sent in the MESSAGE (relay/webpush_payload.c).
 *
 * Endpoints name their push service, so connections are pooled per origin
 * ("https://host[:port]"): a pool is created when an origin is first sent
 * to, at most WEBPUSH_POOLS_MAX of them; past that the least recently used
 * idle pool is closed, and with none idle the send is refused with
 * PR_EAGAIN (the dispatcher backs off). An endpoint that is not https or
 * whose host is not in allowed_hosts is refused before a byte is sent.
 *
 * It does not classify answers (relay/webpush_errors.c does). Created by
 * relay/pclient.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>
#include <openssl/pem.h>

#include "pushrelay/clock.h"
#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "h2c.h"
#include "pclient_impl.h"
#include "payload_ext.h"
#include "provider_desc.h"

#define WEBPUSH_POOLS_MAX 64
#define WEBPUSH_DEFAULT_TIMEOUT_MS 30000
#define WEBPUSH_HOST_MAX 256

enum { CAP_RETRY_AFTER = 0 };

/* The connections to one push service origin. */
struct webpush_pool {
    char origin[VAPID_ORIGIN_MAX];
    struct h2c *h2;
    int64_t used_ms;                /* monotonic: last send, for eviction */
    int in_flight;                  /* requests sent and not yet reported back */
};

struct webpush {
    struct pclient *pc;
    EVP_PKEY *key;                  /* the app's VAPID key */
    struct vapid_cache *vapid;
    struct webpush_pool pools[WEBPUSH_POOLS_MAX];
    int n_pools;
};

struct webpush_call {
    struct webpush *w;
    struct webpush_pool *pool;
    char *endpoint;                 /* to forget its VAPID token after a 401/403 */
    pclient_done_cb cb;
    void *arg;
};

/*
 * The pool of 'origin' (host 'host', port 'port'), made on demand in a free
 * slot, else in place of the least recently used idle pool. NULL with
 * '*rv' set when none is free or the pool cannot be made. Pools never
 * move: calls in flight point at theirs.
 */
static struct webpush_pool *webpush_pool_for(struct webpush *w, const char *origin,
                                             const char *host, uint16_t port, int *rv)
{
    struct webpush_pool *lru = NULL, *p = NULL;
    *rv = 0;
    for (int i = 0; i < w->n_pools; i++) {
        struct webpush_pool *q = &w->pools[i];
        if (q->h2 == NULL) {
            if (p == NULL)
                p = q;          /* a slot whose pool could not be made */
        } else if (strcmp(q->origin, origin) == 0) {
            return q;
        } else if (q->in_flight == 0 && (lru == NULL || q->used_ms < lru->used_ms)) {
            lru = q;
        }
    }
    if (p == NULL && w->n_pools < WEBPUSH_POOLS_MAX) {
        p = &w->pools[w->n_pools++];
    } else if (p == NULL && lru != NULL) {
        h2c_free(lru->h2);
        p = lru;
    } else if (p == NULL) {
        *rv = PR_EAGAIN;
        return NULL;
    }
    memset(p, 0, sizeof(*p));
    const struct cfg_app *app = w->pc->app;
    struct h2c_options opt = {
        .host = host,
        .port = port,
        .tls = { .ca_file = app->ca_file },
        .connections = 1,
        .capture = { "retry-after", NULL },
        .log_name = "webpush",
        .egress = app->egress,
    };
    if ((*rv = h2c_new(w->pc->base, &opt, &p->h2)) < 0) {
        p->h2 = NULL;
        return NULL;
    }
    snprintf(p->origin, sizeof(p->origin), "%s", origin);
    return p;
}

static void webpush_done(void *arg, const struct h2c_response *hr)
{
    struct webpush_call *call = arg;
    struct pr_result res;
    if (pclient_h2_result(&res, hr)) {
        /* Push services explain refusals in the body, in their own words. */
        if (hr->status >= 300)
            snprintf(res.reason, sizeof(res.reason), "%s", hr->body);
        res.retry_after_s = pclient_parse_retry_after(hr->captured[CAP_RETRY_AFTER]);
    }
    if (hr->status == 401 || hr->status == 403)
        vapid_cache_forget(call->w->vapid, call->endpoint);
    /* Counted until after the callback: a send from inside it must not evict this pool. */
    call->cb(call->arg, &res);
    call->pool->in_flight--;
    free(call->endpoint);
    free(call);
}

/*
 * webpush_target checks endpoint 'url' (https, a host the app allows) and
 * fills its origin, host, port and path (malloc'd). Returns a refusal
 * reason, or NULL.
 */
static const char *webpush_target(const struct cfg_app *app, const char *url, char *origin,
                                  char *host, uint16_t *port, char **path)
{
    struct evhttp_uri *u = url != NULL ? evhttp_uri_parse(url) : NULL;
    const char *why = NULL;
    if (u == NULL || vapid_origin(url, origin, VAPID_ORIGIN_MAX) != 0) {
        why = "bad subscription endpoint";
        goto out;
    }
    const char *h = evhttp_uri_get_host(u);
    size_t hl = strlen(h);
    if (hl >= 2 && h[0] == '[') {
        h++;
        hl -= 2;
    }
    if (hl >= WEBPUSH_HOST_MAX) {
        why = "bad subscription endpoint";
        goto out;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (!provider_host_allowed(app, host)) {
        why = "host not allowed";
        goto out;
    }
    int p = evhttp_uri_get_port(u);
    *port = p > 0 ? (uint16_t)p : 443;
    const char *pa = evhttp_uri_get_path(u), *q = evhttp_uri_get_query(u);
    if (pa == NULL || pa[0] == '\0')
        pa = "/";
    size_t len = strlen(pa) + (q != NULL ? strlen(q) + 1 : 0) + 1;
    if ((*path = malloc(len)) == NULL) {
        why = "out of memory";
        goto out;
    }
    snprintf(*path, len, "%s%s%s", pa, q != NULL ? "?" : "", q != NULL ? q : "");
out:
    if (u != NULL)
        evhttp_uri_free(u);
    return why;
}

static int webpush_send(struct pclient *pc, const struct pr_notif *n, int timeout_ms,
                        pclient_done_cb cb, void *arg)
{
    struct webpush *w = pc->impl;
    struct pr_result local;
    struct webpush_request req = { 0 };
    struct ece_sub sub;
    char origin[VAPID_ORIGIN_MAX], host[WEBPUSH_HOST_MAX], ttl[16];
    char *path = NULL;
    const char *field, *auth, *refused;
    uint16_t port = 443;
    int rv;

    if ((refused = webpush_target(pc->app, n->token, origin, host, &port, &path)) != NULL)
        goto refuse;
    if (ece_sub_parse(n->wp_p256dh, n->wp_auth, &sub, &field) != 0) {
        refused = "bad subscription keys";
        goto refuse;
    }
    if ((rv = webpush_payload_build(n, &sub, pr_now_ms(), &req)) < 0) {
        refused = rv == PR_ETOOBIG ? "payload too large" : pr_strerror(rv);
        goto refuse;
    }
    if ((rv = vapid_header(w->vapid, n->token, (int64_t)time(NULL), &auth)) < 0) {
        refused = "cannot sign the VAPID token";
        goto refuse;
    }
    struct webpush_pool *pool = webpush_pool_for(w, origin, host, port, &rv);
    if (pool == NULL && rv != PR_EAGAIN) {
        /* No client for this push service now: an attempt without an answer (retried). */
        pr_result_init(&local);
        local.status = PR_STATUS_NO_ANSWER;
        snprintf(local.reason, sizeof(local.reason), "cannot open a pool: %s", pr_strerror(rv));
        free(path);
        webpush_request_clear(&req);
        return pclient_defer(pc, cb, arg, &local);
    }
    if (pool == NULL)
        goto out;
    struct webpush_call *call = calloc(1, sizeof(*call));
    if (call == NULL || (call->endpoint = strdup(n->token)) == NULL) {
        free(call);
        rv = PR_ENOMEM;
        goto out;
    }
    call->w = w;
    call->pool = pool;
    call->cb = cb;
    call->arg = arg;
    snprintf(ttl, sizeof(ttl), "%d", req.ttl_s);
    const struct h2c_header hdrs[] = {
        { "authorization", auth },
        { "ttl", ttl },
        { "urgency", req.urgency },
        { "content-encoding", WEBPUSH_CONTENT_ENCODING },
        { "content-type", WEBPUSH_CONTENT_TYPE },
        { "topic", req.topic },
    };
    struct h2c_request hreq = {
        .method = "POST", .path = path, .headers = hdrs,
        .n_headers = req.topic[0] != '\0' ? 6 : 5,
        .body = req.body, .body_len = req.body_len,
        .timeout_ms = timeout_ms > 0 ? timeout_ms : WEBPUSH_DEFAULT_TIMEOUT_MS,
    };
    if ((rv = h2c_request(pool->h2, &hreq, webpush_done, call)) < 0) {
        free(call->endpoint);
        free(call);
        goto out;
    }
    pool->in_flight++;
    pool->used_ms = pr_mono_ms();
    rv = 0;
out:
    free(path);
    webpush_request_clear(&req);
    return rv;
refuse:
    {
        char tok[48];
        pr_log_warn("webpush", "app %s: endpoint %s refused: %s", pc->app->id,
                    pr_redact(n->token, tok, sizeof(tok)), refused);
    }
    free(path);
    webpush_request_clear(&req);
    pclient_local(&local, refused);
    return pclient_defer(pc, cb, arg, &local);
}

static int webpush_ready(const struct pclient *pc)
{
    (void)pc;
    return 1;   /* pools are per push service, opened on demand */
}

static void webpush_stats(const struct pclient *pc, struct pclient_stats *out)
{
    const struct webpush *w = pc->impl;
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < w->n_pools; i++) {
        struct h2c_stats hs;
        if (w->pools[i].h2 == NULL)
            continue;
        h2c_get_stats(w->pools[i].h2, &hs);
        out->connections_open += hs.connections_open;
        out->in_flight += hs.in_flight;
        out->queued += hs.queued;
    }
}

static void webpush_free(struct pclient *pc)
{
    struct webpush *w = pc->impl;
    if (w == NULL)
        return;
    for (int i = 0; i < w->n_pools; i++)
        if (w->pools[i].h2 != NULL)
            h2c_free(w->pools[i].h2);
    vapid_cache_del(w->vapid);
    EVP_PKEY_free(w->key);
    free(w);
    pc->impl = NULL;
}

static const struct pclient_ops webpush_ops = {
    .send = webpush_send,
    .reauth = NULL,             /* a refused VAPID token is forgotten per origin (webpush_done) */
    .ready = webpush_ready,
    .stats = webpush_stats,
    .free = webpush_free,
};

int webpush_client_new(struct pclient *pc)
{
    const struct cfg_app *app = pc->app;
    int rv = PR_ECONFIG;
    struct webpush *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return PR_ENOMEM;
    w->pc = pc;
    pc->impl = w;
    pc->ops = &webpush_ops;
    FILE *f = app->vapid_key_file != NULL ? fopen(app->vapid_key_file, "r") : NULL;
    if (f != NULL) {
        w->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (w->key == NULL) {
        pr_log_error("webpush", "app %s: vapid_key_file %s is not a readable PEM key", app->id,
                     app->vapid_key_file ? app->vapid_key_file : "(not set)");
        goto fail;
    }
    if ((rv = vapid_cache_new(w->key, app->vapid_subject, &w->vapid)) < 0) {
        pr_log_error("webpush", "app %s: VAPID: %s (a P-256 key and a mailto: or https: subject)",
                     app->id, pr_strerror(rv));
        rv = PR_ECONFIG;
        goto fail;
    }
    return 0;
fail:
    webpush_free(pc);
    return rv;
}
