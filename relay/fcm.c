/*
 * fcm.c - the FCM HTTP v1 provider client: one notification becomes one
 * POST /v1/projects/<project_id>/messages:send through relay/h2c.c with the
 * service account's OAuth2 access token (relay/oauth.c). Notifications wait
 * in a bounded list while a token is being fetched. Google's error JSON
 * becomes res->reason (details[].errorCode, else error.status); a 401 drops
 * the token it was sent with.
 *
 * HMS Push Kit is the same client in another flavour (struct fcm_flavour):
 * POST /v1/<hms_app_id>/messages:send with hms_payload.c's body, the access
 * token from the client credentials grant, and the answer's JSON "code" as
 * res->reason.
 *
 * It does not classify answers (relay/fcm_errors.c, hms_errors.c do) nor
 * retry: the dispatcher does both. Created by relay/pclient.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <jansson.h>

#include "pushrelay/clock.h"
#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "h2c.h"
#include "oauth.h"
#include "pclient_impl.h"
#include "payload.h"
#include "payload_ext.h"
#include "provider_desc.h"

#define FCM_MAX_WAITING 16384
#define FCM_DEFAULT_TIMEOUT_MS 30000

enum { CAP_RETRY_AFTER = 0 };

struct fcm;
struct fcm_call;
TAILQ_HEAD(fcm_call_list, fcm_call);

/*
 * What differs between FCM and HMS: 'setup' sets f->path and f->oauth for
 * the app (0 or PR_E*, logged); 'build' makes the body of 'n'; 'parse'
 * reads an answer body into res->reason and res->provider_id.
 */
struct fcm_flavour {
    const char *log_name;
    int (*setup)(struct fcm *f);
    int (*build)(const struct fcm *f, const struct pr_notif *n, char **body, size_t *len);
    void (*parse)(const char *body, size_t len, struct pr_result *res);
};

struct fcm {
    struct pclient *pc;
    const struct fcm_flavour *fl;
    struct h2c *h2;
    struct oauth *oauth;
    char *path;                     /* /v1/projects/<project_id>/messages:send */
    unsigned token_gen;             /* bumped whenever a new access token arrives */
    struct fcm_call_list waiting;   /* for an access token */
    int n_waiting;
};

/* One notification: waiting for a token, then on an HTTP/2 stream. */
struct fcm_call {
    TAILQ_ENTRY(fcm_call) link;
    struct fcm *f;
    pclient_done_cb cb;
    void *arg;
    char *body;
    size_t body_len;
    int64_t deadline_ms;            /* monotonic */
    struct event *timer;            /* only while waiting */
    unsigned token_gen;
};

static void call_free(struct fcm_call *call)
{
    if (call->timer != NULL)
        event_free(call->timer);
    free(call->body);
    free(call);
}

static void call_finish_local(struct fcm_call *call, int status, const char *reason)
{
    struct pr_result res;
    pr_result_init(&res);
    res.status = status;
    snprintf(res.reason, sizeof(res.reason), "%s", reason);
    call->cb(call->arg, &res);
    call_free(call);
}

/*
 * Google's error body:
 *   {"error":{"code":404,"message":"…","status":"NOT_FOUND",
 *             "details":[{"@type":"…FcmError","errorCode":"UNREGISTERED"}]}}
 * and on success {"name":"projects/<p>/messages/<id>"}.
 */
static void fcm_parse_body(const char *body, size_t len, struct pr_result *res)
{
    json_t *root = len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
    if (root == NULL)
        return;
    const char *name = json_string_value(json_object_get(root, "name"));
    if (name != NULL)
        snprintf(res->provider_id, sizeof(res->provider_id), "%s", name);
    json_t *err = json_object_get(root, "error");
    const char *reason = NULL;
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(err, "details"), i, d) {
        reason = json_string_value(json_object_get(d, "errorCode"));
        if (reason != NULL)
            break;
    }
    if (reason == NULL)
        reason = json_string_value(json_object_get(err, "status"));
    if (reason != NULL)
        snprintf(res->reason, sizeof(res->reason), "%s", reason);
    json_decref(root);
}

static void fcm_done(void *arg, const struct h2c_response *hr)
{
    struct fcm_call *call = arg;
    struct fcm *f = call->f;
    struct pr_result res;
    if (pclient_h2_result(&res, hr)) {
        f->fl->parse(hr->body, hr->body_len, &res);
        res.retry_after_s = pclient_parse_retry_after(hr->captured[CAP_RETRY_AFTER]);
    }
    /* Only the token this request carried is dropped: a newer one may be in use. */
    if (hr->status == 401 && call->token_gen == f->token_gen && f->oauth != NULL)
        oauth_invalidate(f->oauth);
    call->cb(call->arg, &res);
    call_free(call);
}

/* Put 'call' on a stream with 'token'. On failure 'call' is untouched. */
static int fcm_submit(struct fcm *f, struct fcm_call *call, const char *token)
{
    int64_t left = call->deadline_ms - pr_mono_ms();
    size_t alen = strlen(token) + 8;
    char *auth = malloc(alen);
    if (auth == NULL)
        return PR_ENOMEM;
    snprintf(auth, alen, "Bearer %s", token);
    const struct h2c_header hdrs[] = {
        { "authorization", auth },
        { "content-type", "application/json; charset=UTF-8" },
    };
    struct h2c_request req = {
        .method = "POST", .path = f->path, .headers = hdrs, .n_headers = 2,
        .body = call->body, .body_len = call->body_len,
        .timeout_ms = left > 0 ? (int)left : 1,
    };
    call->token_gen = f->token_gen;
    int rv = h2c_request(f->h2, &req, fcm_done, call);
    free(auth);
    return rv;
}

static void fcm_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct fcm_call *call = arg;
    (void)fd;
    (void)what;
    TAILQ_REMOVE(&call->f->waiting, call, link);
    call->f->n_waiting--;
    call_finish_local(call, PR_STATUS_NO_ANSWER, "timeout");
}

/* oauth's callback: a token arrived (send everyone waiting) or the fetch failed (keep waiting). */
static void fcm_token_ready(void *arg, int err)
{
    struct fcm *f = arg;
    if (err < 0)
        return;
    f->token_gen++;
    struct fcm_call *call;
    while ((call = TAILQ_FIRST(&f->waiting)) != NULL) {
        const char *token = oauth_token(f->oauth);
        if (token == NULL)
            break;
        TAILQ_REMOVE(&f->waiting, call, link);
        f->n_waiting--;
        event_free(call->timer);
        call->timer = NULL;
        if (fcm_submit(f, call, token) < 0)
            call_finish_local(call, PR_STATUS_NO_ANSWER, "queue full");
    }
}

static int fcm_send(struct pclient *pc, const struct pr_notif *n, int timeout_ms,
                    pclient_done_cb cb, void *arg)
{
    struct fcm *f = pc->impl;
    struct pr_result local;
    char *body = NULL;
    size_t len = 0;
    int rv = f->fl->build(f, n, &body, &len);
    if (rv < 0) {
        pclient_local(&local, rv == PR_ETOOBIG ? "payload too large" : pr_strerror(rv));
        return pclient_defer(pc, cb, arg, &local);
    }
    struct fcm_call *call = calloc(1, sizeof(*call));
    if (call == NULL) {
        free(body);
        return PR_ENOMEM;
    }
    call->f = f;
    call->cb = cb;
    call->arg = arg;
    call->body = body;
    call->body_len = len;
    if (timeout_ms <= 0)
        timeout_ms = FCM_DEFAULT_TIMEOUT_MS;
    call->deadline_ms = pr_mono_ms() + timeout_ms;

    const char *token = oauth_token(f->oauth);
    if (token != NULL) {
        if ((rv = fcm_submit(f, call, token)) < 0)
            call_free(call);
        return rv;
    }
    if (f->n_waiting >= FCM_MAX_WAITING) {
        call_free(call);
        return PR_EAGAIN;
    }
    if ((call->timer = evtimer_new(pc->base, fcm_wait_timeout, call)) == NULL) {
        call_free(call);
        return PR_ENOMEM;
    }
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    evtimer_add(call->timer, &tv);
    TAILQ_INSERT_TAIL(&f->waiting, call, link);
    f->n_waiting++;
    return 0;
}

static void fcm_reauth(struct pclient *pc)
{
    struct fcm *f = pc->impl;
    oauth_invalidate(f->oauth);
}

static int fcm_ready(const struct pclient *pc)
{
    const struct fcm *f = pc->impl;
    return h2c_ready(f->h2) && oauth_ready(f->oauth);
}

static void fcm_stats(const struct pclient *pc, struct pclient_stats *out)
{
    const struct fcm *f = pc->impl;
    struct h2c_stats hs;
    h2c_get_stats(f->h2, &hs);
    out->connections_open = hs.connections_open;
    out->in_flight = hs.in_flight;
    out->queued = hs.queued + f->n_waiting;
}

static void fcm_free(struct pclient *pc)
{
    struct fcm *f = pc->impl;
    if (f == NULL)
        return;
    struct fcm_call *call;
    while ((call = TAILQ_FIRST(&f->waiting)) != NULL) {
        TAILQ_REMOVE(&f->waiting, call, link);
        f->n_waiting--;
        call_finish_local(call, PR_STATUS_NO_ANSWER, "shutdown");
    }
    oauth_free(f->oauth);
    h2c_free(f->h2);
    free(f->path);
    free(f);
    pc->impl = NULL;
}

static const struct pclient_ops fcm_ops = { PCLIENT_OPS(fcm) };

/* h2push_client_new makes the client of 'pc' in flavour 'fl'. */
static int h2push_client_new(struct pclient *pc, const struct fcm_flavour *fl)
{
    const struct cfg_app *app = pc->app;
    char host[256];
    uint16_t port;
    int rv;
    struct fcm *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return PR_ENOMEM;
    f->pc = pc;
    f->fl = fl;
    TAILQ_INIT(&f->waiting);
    pc->impl = f;
    pc->ops = &fcm_ops;
    if ((rv = pclient_endpoint(app->id, app->endpoint, provider_desc(app->provider)->default_endpoint,
                               host, sizeof(host), &port)) < 0)
        goto fail;
    if ((rv = fl->setup(f)) < 0)
        goto fail;
    static const char *const capture[] = { "retry-after", NULL };
    if ((rv = pclient_h2_open(pc, host, port, fl->log_name, capture, &f->h2)) < 0)
        goto fail;
    return 0;
fail:
    fcm_free(pc);
    return rv;
}

/* ------------------------------------------------------------------------
 * Flavours
 * ------------------------------------------------------------------------ */

static int fcm_setup(struct fcm *f)
{
    const struct cfg_app *app = f->pc->app;
    if (app->project_id == NULL) {
        pr_log_error("fcm", "app %s: project_id is required", app->id);
        return PR_ECONFIG;
    }
    size_t plen = strlen(app->project_id) + 40;
    if ((f->path = malloc(plen)) == NULL)
        return PR_ENOMEM;
    snprintf(f->path, plen, "/v1/projects/%s/messages:send", app->project_id);
    return oauth_new(f->pc->base, app->id, app->service_account, app->ca_file, app->egress,
                     fcm_token_ready, f, &f->oauth);
}

static int fcm_build(const struct fcm *f, const struct pr_notif *n, char **body, size_t *len)
{
    (void)f;
    return fcm_payload_build(n, body, len);
}

static const struct fcm_flavour fcm_flavour = {
    .log_name = "fcm", .setup = fcm_setup, .build = fcm_build, .parse = fcm_parse_body,
};

int fcm_client_new(struct pclient *pc)
{
    return h2push_client_new(pc, &fcm_flavour);
}

/* HMS: the path is the app's (hms_payload.c builds it; one per app, made once). */
static int hms_setup(struct fcm *f)
{
    const struct cfg_app *app = f->pc->app;
    struct pr_notif probe = { .id = "x", .token = "x" };
    struct hms_request r;
    int rv = hms_payload_build(&probe, app->hms_app_id, pr_now_ms(), &r);
    if (rv < 0) {
        pr_log_error("hms", "app %s: hms_app_id unusable: %s", app->id, pr_strerror(rv));
        hms_request_clear(&r);
        return PR_ECONFIG;
    }
    f->path = r.path;
    r.path = NULL;
    hms_request_clear(&r);
    const struct oauth_client_credentials cc = {
        .token_endpoint = app->token_endpoint,
        .client_id = app->hms_app_id,
        .client_secret_file = app->client_secret_file,
    };
    return oauth_new_client_credentials(f->pc->base, app->id, &cc, app->ca_file, app->egress,
                                        fcm_token_ready, f, &f->oauth);
}

static int hms_build(const struct fcm *f, const struct pr_notif *n, char **body, size_t *len)
{
    struct hms_request r;
    int rv = hms_payload_build(n, f->pc->app->hms_app_id, pr_now_ms(), &r);
    if (rv < 0) {
        hms_request_clear(&r);
        return rv;
    }
    *body = r.body;
    *len = r.body_len;
    r.body = NULL;
    hms_request_clear(&r);
    return 0;
}

/* HMS answers {"code":"80000000","msg":"Success","requestId":"…"}; the code decides (hms_classify). */
static void hms_parse_body(const char *body, size_t len, struct pr_result *res)
{
    json_t *root = len > 0 ? json_loadb(body, len, 0, NULL) : NULL;
    if (root == NULL)
        return;
    const char *code = json_string_value(json_object_get(root, "code"));
    const char *rid = json_string_value(json_object_get(root, "requestId"));
    if (code != NULL)
        snprintf(res->reason, sizeof(res->reason), "%s", code);
    if (rid != NULL)
        snprintf(res->provider_id, sizeof(res->provider_id), "%s", rid);
    json_decref(root);
}

static const struct fcm_flavour hms_flavour = {
    .log_name = "hms", .setup = hms_setup, .build = hms_build, .parse = hms_parse_body,
};

int hms_client_new(struct pclient *pc)
{
    return h2push_client_new(pc, &hms_flavour);
}
