/*
 * apns.c - the APNs provider client: one notification becomes one HTTP/2
 * POST /3/device/<token> through relay/h2c.c, authenticated by a cached
 * ES256 provider token (JWT) or by the TLS client certificate; Apple's
 * answer becomes a struct pr_result (status, "reason", apns-id,
 * Retry-After, the 410 "timestamp").
 *
 * It does not classify answers (relay/apns_errors.c does) nor retry: the
 * dispatcher does both. Created by relay/pclient.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "h2c.h"
#include "jbuf.h"
#include "jwt.h"
#include "pclient_impl.h"
#include "payload.h"
#include "provider_desc.h"
#include "ptoken.h"

#define APNS_HOST_MAX 256
#define APNS_BEARER "bearer "

/* Response headers h2c keeps for us, by index. */
enum { CAP_APNS_ID = 0, CAP_RETRY_AFTER };

struct apns {
    struct pclient *pc;
    struct h2c *h2;
    EVP_PKEY *key;              /* token auth; NULL with certificate auth */
    struct jwt_cache jwt;
};

struct apns_call {
    pclient_done_cb cb;
    void *arg;
};

/* apns_copy copies 's' into 'out' ('size' bytes), cut to fit: snprintf's "%s" without its cost. */
static void apns_copy(char *out, size_t size, const char *s)
{
    size_t n = strnlen(s, size - 1);
    memcpy(out, s, n);
    out[n] = '\0';
}

/*
 * Apple's error body: {"reason":"Unregistered","timestamp":1732480000000}
 * ('timestamp' only with 410). A body that is not JSON leaves the reason empty.
 */
static void apns_parse_body(const char *body, size_t len, struct pr_result *res)
{
    if (len == 0)
        return;
    json_t *root = json_loadb(body, len, 0, NULL);
    if (root == NULL)
        return;
    const char *reason = json_string_value(json_object_get(root, "reason"));
    if (reason != NULL)
        apns_copy(res->reason, sizeof(res->reason), reason);
    json_t *ts = json_object_get(root, "timestamp");
    if (json_is_integer(ts))
        res->provider_ts_ms = (int64_t)json_integer_value(ts);
    else if (json_is_real(ts))
        res->provider_ts_ms = (int64_t)json_real_value(ts);
    json_decref(root);
}

static void apns_done(void *arg, const struct h2c_response *hr)
{
    struct apns_call *call = arg;
    struct pr_result res;
    if (pclient_h2_result(&res, hr)) {
        apns_parse_body(hr->body, hr->body_len, &res);
        if (hr->captured[CAP_APNS_ID] != NULL)
            apns_copy(res.provider_id, sizeof(res.provider_id), hr->captured[CAP_APNS_ID]);
        res.retry_after_s = pclient_parse_retry_after(hr->captured[CAP_RETRY_AFTER]);
    }
    call->cb(call->arg, &res);
    free(call);
}

static int apns_send(struct pclient *pc, const struct pr_notif *n, int timeout_ms,
                     pclient_done_cb cb, void *arg)
{
    struct apns *a = pc->impl;
    struct apns_request ar;
    struct pr_result local;
    char prio[JBUF_DEC_MAX], expiration[JBUF_DEC_MAX], auth[1024];
    int rv;

    memset(&ar, 0, sizeof(ar));
    if ((rv = apns_payload_build(n, pc->app, &ar)) < 0) {
        pclient_local(&local, rv == PR_ETOOBIG ? "PayloadTooLarge" : pr_strerror(rv));
        rv = pclient_defer(pc, cb, arg, &local);
        goto out;
    }
    jbuf_dec(prio, ar.priority);
    jbuf_dec(expiration, ar.expiration_s);
    struct h2c_header hdrs[8];
    size_t nh = 0;
    hdrs[nh++] = (struct h2c_header){ "apns-push-type", ar.push_type };
    hdrs[nh++] = (struct h2c_header){ "apns-topic", ar.topic };
    hdrs[nh++] = (struct h2c_header){ "apns-priority", prio };
    hdrs[nh++] = (struct h2c_header){ "apns-expiration", expiration };
    if (ar.collapse_id != NULL)
        hdrs[nh++] = (struct h2c_header){ "apns-collapse-id", ar.collapse_id };
    unsigned unique = H2C_UNIQUE_PATH;
    if (ar.apns_id[0] != '\0') {
        unique |= 1u << nh;
        hdrs[nh++] = (struct h2c_header){ "apns-id", ar.apns_id };
    }
    if (a->key != NULL) {
        const char *token;
        /* The token every dispatcher process shares when the dispatcher gave us one. */
        if (pc->ptoken != NULL)
            rv = ptoken_apns(pc->ptoken, a->key, pc->app->team_id, pc->app->key_id,
                             (int64_t)time(NULL), &token);
        else
            rv = jwt_apns_token(&a->jwt, a->key, pc->app->team_id, pc->app->key_id,
                                (int64_t)time(NULL), &token);
        size_t tl = rv < 0 ? 0 : strlen(token);
        if (rv >= 0 && tl >= sizeof(auth) - strlen(APNS_BEARER))
            rv = PR_ETOOBIG;    /* an ES256 token is about 200 bytes */
        if (rv < 0) {
            pr_log_error("apns", "app %s: cannot sign the provider token: %s", pc->app->id,
                         pr_strerror(rv));
            pclient_local(&local, "provider token");
            rv = pclient_defer(pc, cb, arg, &local);
            goto out;
        }
        memcpy(auth, APNS_BEARER, strlen(APNS_BEARER));
        memcpy(auth + strlen(APNS_BEARER), token, tl + 1);
        hdrs[nh++] = (struct h2c_header){ "authorization", auth };
    }
    hdrs[nh++] = (struct h2c_header){ "content-type", "application/json" };

    struct apns_call *call = malloc(sizeof(*call));
    if (call == NULL) {
        rv = PR_ENOMEM;
        goto out;
    }
    call->cb = cb;
    call->arg = arg;
    struct h2c_request req = {
        .method = "POST", .path = ar.path, .unique = unique, .headers = hdrs, .n_headers = nh,
        .body = ar.payload, .body_len = ar.payload_len, .timeout_ms = timeout_ms,
    };
    if ((rv = h2c_request(a->h2, &req, apns_done, call)) < 0)
        free(call);
out:
    apns_request_clear(&ar);
    return rv;
}

static void apns_reauth(struct pclient *pc)
{
    struct apns *a = pc->impl;
    jwt_cache_clear(&a->jwt);
    if (pc->ptoken != NULL && a->key != NULL)
        ptoken_reject(pc->ptoken, pc->app->team_id, pc->app->key_id);
}

static void apns_share(struct pclient *pc)
{
    struct apns *a = pc->impl;
    if (pc->ptoken != NULL && a->key != NULL)
        ptoken_watch(pc->ptoken, a->key, pc->app->team_id, pc->app->key_id);
}

static int apns_ready(const struct pclient *pc)
{
    const struct apns *a = pc->impl;
    return h2c_ready(a->h2);
}

static void apns_stats(const struct pclient *pc, struct pclient_stats *out)
{
    const struct apns *a = pc->impl;
    struct h2c_stats hs;
    h2c_get_stats(a->h2, &hs);
    out->connections_open = hs.connections_open;
    out->in_flight = hs.in_flight;
    out->queued = hs.queued;
}

static void apns_free(struct pclient *pc)
{
    struct apns *a = pc->impl;
    if (a == NULL)
        return;
    h2c_free(a->h2);
    jwt_cache_clear(&a->jwt);
    EVP_PKEY_free(a->key);
    free(a);
    pc->impl = NULL;
}

static const struct pclient_ops apns_ops = { PCLIENT_OPS(apns), .share = apns_share };

/*
 * Token auth (key_file, team_id, key_id) or certificate auth, as the APNs
 * descriptor (relay/apns_desc.c) has it; with certificate auth the TLS client
 * certificate authenticates every request.
 */
int apns_client_new(struct pclient *pc)
{
    const struct cfg_app *app = pc->app;
    char host[APNS_HOST_MAX], err[256];
    uint16_t port;
    int rv;
    struct apns *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return PR_ENOMEM;
    a->pc = pc;
    pc->impl = a;
    pc->ops = &apns_ops;
    if ((rv = pclient_endpoint(app->id, app->endpoint, apns_desc.default_endpoint, host,
                               sizeof(host), &port)) < 0)
        goto fail;
    /* The loader checked a configured app; an app built by hand is checked alike. */
    struct provider_app_err e;
    if (apns_desc.check_app(app, &e) != 0) {
        pr_log_error("apns", "app %s: %s%s%s", app->id, e.key != NULL ? e.key : "",
                     e.key != NULL ? ": " : "", e.msg);
        rv = PR_ECONFIG;
        goto fail;
    }
    if (app->key_file != NULL && (a->key = jwt_load_key(app->key_file, err, sizeof(err))) == NULL) {
        pr_log_error("apns", "app %s: %s", app->id, err);
        rv = PR_ECRYPTO;
        goto fail;
    }
    static const char *const capture[] = { "apns-id", "retry-after", NULL };
    if ((rv = pclient_h2_open(pc, host, port, "apns", capture, &a->h2)) < 0)
        goto fail;
    return 0;
fail:
    apns_free(pc);
    return rv;
}
