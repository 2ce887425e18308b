/*
 * ctl_testpush.c - pushrelayctl test-push: plays an enterprise edge against
 * the relay, the way Test-CsMcxPushNotification does against a push
 * service, and says step by step what passed:
 *
 *   PASS|FAIL connect:   TCP to the federation listener
 *   PASS|FAIL tls:       mutual TLS (the relay's certificate verified against
 *                        --ca or federation.tls.ca_file; ours accepted)
 *   PASS|FAIL options:   SIP OPTIONS answered 200
 *   PASS|FAIL message:   the MESSAGE (design section 5) answered 202
 *   PASS|FAIL delivered: the notification's final outcome, read from Redis
 *
 * Exit 0 only when the notification was delivered; 1 when a step failed;
 * 2 for a usage or configuration error. Every FAIL line says what to check.
 *
 * This file is the command: its arguments, the steps and what each answer
 * means to the user. The edge's SIP/TLS client is relay/ctl_edge.c; the
 * MESSAGE says "trace": true, so the dispatcher records its delivery too,
 * and relay/ctl_follow.c polls that record until the outcome is final.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "pushrelay/error.h"
#include "pushrelay/notif.h"
#include "certinfo.h"
#include "ctl.h"
#include "ctl_edge.h"
#include "ctl_follow.h"
#include "provider_desc.h"

#define TP_TITLE "pushrelay test"

struct tp_args {
    const char *domain, *provider, *token, *app, *cert, *key, *ca, *host;
    const char *p256dh, *auth;      /* Web Push: the subscription's keys */
    long long port, timeout;
};

/* One test run: what the steps share. */
struct tp {
    struct ctl *ctl;
    struct tp_args a;
    enum pr_provider prov;
    const struct cfg_app *app;
    char param[300];                /* pn-param */
    char host[256];
    int port;
    struct ctl_edge *edge;
    char id[64];                    /* push id of the MESSAGE */
    int64_t sent_ms;                /* pr_mono_ms() when the MESSAGE left */
    int ttl_s;
};

static void tp_say(const char *verdict, const char *step, const char *fmt, va_list ap)
{
    printf("%s %s: ", verdict, step);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
}

static void tp_pass(const char *step, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tp_fail(const char *step, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void tp_pass(const char *step, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tp_say("PASS", step, fmt, ap);
    va_end(ap);
}

static void tp_fail(const char *step, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tp_say("FAIL", step, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------------------
 * Setup: app, pn-param, address
 * ------------------------------------------------------------------------- */

/* tp_pick_app finds the app (--app or the first of the provider) and its pn-param. */
static int tp_pick_app(struct tp *t)
{
    const struct cfg *cfg = t->ctl->cfg;
    int rc = ctl_provider_arg(t->ctl, t->a.provider, &t->prov);
    if (rc != 0)
        return rc;
    /* A Web Push subscription is its endpoint (--token) and its keys: the relay needs all three. */
    if (t->prov == PR_PROVIDER_WEBPUSH && (t->a.p256dh == NULL || t->a.auth == NULL))
        return ctl_usage_error(t->ctl, "--provider webpush needs the subscription's --p256dh and --auth");
    if (t->prov != PR_PROVIDER_WEBPUSH && (t->a.p256dh != NULL || t->a.auth != NULL))
        return ctl_usage_error(t->ctl, "--p256dh and --auth are for --provider webpush only");
    if (t->a.app != NULL) {
        t->app = cfg_app_by_id(cfg, t->a.app);
        if (t->app == NULL) {
            ctl_err(t->ctl->cmd->name, "--app '%s': no such app in %s (apps)", t->a.app, cfg->path);
            return CTL_EXIT_USAGE;
        }
        if (t->app->provider != t->prov) {
            ctl_err(t->ctl->cmd->name, "--app '%s' is a %s app, not %s", t->a.app,
                    pr_provider_name(t->app->provider), t->a.provider);
            return CTL_EXIT_USAGE;
        }
    } else {
        for (size_t i = 0; i < cfg->n_apps && t->app == NULL; i++)
            if (cfg->apps[i].provider == t->prov)
                t->app = &cfg->apps[i];
        if (t->app == NULL) {
            ctl_err(t->ctl->cmd->name, "no %s app configured in %s (apps)", t->a.provider, cfg->path);
            return CTL_EXIT_USAGE;
        }
    }
    provider_desc(t->prov)->app_param(t->app, t->param, sizeof(t->param));
    return 0;
}

static void tp_pick_addr(struct tp *t)
{
    const struct cfg_federation *f = &t->ctl->cfg->federation;
    const char *host = t->a.host;
    if (host == NULL && f->n_listen > 0) {
        host = f->listen[0].host;
        /* A wildcard listen address is reached on the loopback of its family. */
        if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0')
            host = "127.0.0.1";
        else if (strcmp(host, "::") == 0)
            host = "::1";
    }
    snprintf(t->host, sizeof(t->host), "%s", host != NULL ? host : "127.0.0.1");
    t->port = t->a.port > 0 ? (int)t->a.port : (f->n_listen > 0 ? f->listen[0].port : 5061);
}

/* ---------------------------------------------------------------------------
 * The MESSAGE and what its refusal means
 * ------------------------------------------------------------------------- */

/* tp_hint names what to do about a refused MESSAGE. */
static const char *tp_hint(const struct tp *t, const struct ctl_edge_resp *r, char *buf, size_t len)
{
    buf[0] = '\0';
    switch (r->status) {
    case 403:
        if (strstr(r->warning, "not enabled") != NULL)
            snprintf(buf, len, "the domain is not enabled: pushrelayctl enable-push --domain %s "
                               "--edge-fqdn <edge>", t->a.domain);
        else if (strstr(r->warning, "disabled for") != NULL)
            snprintf(buf, len, "the provider is disabled for the domain: pushrelayctl enable-push "
                               "--domain %s --edge-fqdn <edge> --%s", t->a.domain, t->a.provider);
        else if (strstr(r->warning, "edge") != NULL)
            snprintf(buf, len, "no DNS name of --cert is a registered edge of %s: pushrelayctl "
                               "enable-push --domain %s --edge-fqdn <the certificate's DNS name>",
                     t->a.domain, t->a.domain);
        break;
    case 404:
        snprintf(buf, len, "the relay serves no %s app for pn-param %s: check apps in %s",
                 t->a.provider, t->param, t->ctl->cfg->path);
        break;
    case 410:
        snprintf(buf, len, "the device token is recorded dead: pushrelayctl tokens show %s; "
                           "tokens forget it once the app registered again", t->a.token);
        break;
    case 503:
        snprintf(buf, len, "the relay cannot queue now (Redis, queue high water or rate limit)");
        break;
    default:
        break;
    }
    return buf;
}

/* tp_message_body builds the JSON body of design section 5 (malloc'd). */
static char *tp_message_body(struct tp *t)
{
    char when[64], text[160];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    snprintf(text, sizeof(text), "Test notification sent by pushrelayctl at %s", when);
    char from[300], to[300];
    snprintf(from, sizeof(from), "sip:test-push@%s", t->a.domain);
    snprintf(to, sizeof(to), "sip:test-push@%s", t->a.domain);
    /* "trace": the dispatcher records the delivery too, which is what the last step reads. */
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:b}", "id", t->id, "event", "im",
                          "from", from, "to", to, "title", TP_TITLE, "body", text, "ttl", t->ttl_s,
                          "priority", "high", "trace", 1);
    if (o != NULL && t->prov == PR_PROVIDER_WEBPUSH &&
        json_object_set_new(o, "webpush", json_pack("{s:s, s:s}", "p256dh", t->a.p256dh, "auth",
                                                     t->a.auth)) != 0) {
        json_decref(o);
        return NULL;
    }
    if (o == NULL)
        return NULL;
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* ---------------------------------------------------------------------------
 * Outcome: what the record says, in the user's words
 * ------------------------------------------------------------------------- */

/* tp_describe says what outcome record 'oi' means. */
static void tp_describe(const struct outcome_info *oi, char *buf, size_t len)
{
    switch (oi->outcome) {
    case PR_OUTCOME_DELIVERED:
        snprintf(buf, len, "the provider accepted it (attempt %d)", oi->attempts);
        break;
    case PR_OUTCOME_EXPIRED:
        snprintf(buf, len, "expired before delivery (last answer: %s)", oi->last[0] ? oi->last : "none");
        break;
    case PR_OUTCOME_TOKEN_DEAD:
        snprintf(buf, len, "the provider reports the device token dead (%s); later pushes to it "
                 "are refused with 410", oi->reason);
        break;
    case PR_OUTCOME_DEAD_LETTER:
        snprintf(buf, len, "dead letter: %s (last status %d); see pushrelayctl dlq list", oi->reason,
                 oi->last_status);
        break;
    default:        /* RETRY, REAUTH: another attempt comes */
        snprintf(buf, len, "retrying after %d attempt(s); the provider's last answer: %s",
                 oi->attempts, oi->last[0] ? oi->last : oi->reason);
        break;
    }
}

static void tp_on_step(const struct outcome_info *step, void *arg)
{
    char what[1024];
    (void)arg;
    tp_describe(step, what, sizeof(what));
    printf("INFO delivered: %s\n", what);
    fflush(stdout);
}

/* tp_wait follows the notification until its outcome is final or --timeout passes. */
static int tp_wait(struct tp *t)
{
    struct outcome_info oi;
    char what[1024];
    int seen = 0;
    char key[KEYS_MAX];
    redisContext *c;
    /* The outcome record lives in the notification's queue shard, on the
     * Redis serving it: the same shard the listener queued it in. */
    unsigned shard = keys_shard_of(&t->ctl->keys, t->prov, t->a.token, strlen(t->a.token));
    if (ctl_redis(t->ctl) != 0 ||
        keys_q_outcome(&t->ctl->keys, shard, t->a.domain, t->id, key, sizeof(key)) < 0 ||
        (c = ctl_redis_at(t->ctl, key)) == NULL) {
        tp_fail("delivered", "cannot read the outcome: Redis unreachable");
        return CTL_EXIT_FAIL;
    }
    int rc = ctl_follow_wait(c, &t->ctl->keys, shard, t->a.domain, t->id,
                             pr_mono_ms() + t->a.timeout * 1000, tp_on_step, t, &oi, &seen);
    if (rc == PR_ETIMEDOUT && !seen) {
        tp_fail("delivered", "not delivered within %llds: still in the %s stream (queued or being "
                "delivered) (is a dispatcher running? pushrelayd --role dispatcher or all)",
                t->a.timeout, t->a.provider);
        return CTL_EXIT_FAIL;
    }
    if (rc != 0 && rc != PR_ETIMEDOUT) {
        tp_fail("delivered", "cannot read the outcome from Redis: %s", pr_strerror(rc));
        return CTL_EXIT_FAIL;
    }
    tp_describe(&oi, what, sizeof(what));
    if (rc == PR_ETIMEDOUT) {
        tp_fail("delivered", "not delivered within %llds: %s", t->a.timeout, what);
        return CTL_EXIT_FAIL;
    }
    switch (oi.outcome) {
    case PR_OUTCOME_DELIVERED:
        tp_pass("delivered", "%s in %lld ms", what, (long long)(pr_mono_ms() - t->sent_ms));
        return CTL_EXIT_OK;
    case PR_OUTCOME_TOKEN_DEAD:
        tp_fail("delivered", "token dead: %s", what);
        return CTL_EXIT_FAIL;
    default:
        tp_fail("delivered", "%s", what);
        return CTL_EXIT_FAIL;
    }
}

/* ---------------------------------------------------------------------------
 * The command
 * ------------------------------------------------------------------------- */

/* tp_exchange sends one request and reads its answer; the send error wins, else the read's. */
static int tp_exchange(struct tp *t, const char *method, const char *ruri, int cseq,
                       const char *body, struct ctl_edge_resp *r, int *read_rc, char *why,
                       size_t whylen)
{
    char *req = NULL;
    size_t reqlen;
    why[0] = '\0';
    int rc = ctl_edge_request(method, ruri, t->a.domain, t->ctl->cfg->federation.domain, cseq, body,
                              &req, &reqlen);
    if (rc != 0) {
        snprintf(why, whylen, "%s", pr_strerror(rc));
        *read_rc = rc;
        return rc;
    }
    rc = ctl_edge_send(t->edge, req, reqlen);
    free(req);
    /* A failed write still leaves the relay's alert to read, when it came first. */
    *read_rc = ctl_edge_read_resp(t->edge, r, why, whylen);
    return rc != 0 ? rc : *read_rc;
}

/* tp_tls_refused: FAIL tls for a certificate the relay refused. */
static int tp_tls_refused(const char *why)
{
    tp_fail("tls", "the relay refused our certificate: is it signed by the CA in "
            "federation.tls.ca_file? (%s)", why[0] ? why : "connection closed after the handshake");
    return CTL_EXIT_FAIL;
}

static int tp_run(struct tp *t)
{
    char why[1024], hint[2048], addr[300];
    struct ctl_edge_resp r;
    int rc, rrc;
    const char *relay = t->ctl->cfg->federation.domain;

    snprintf(addr, sizeof(addr), strchr(t->host, ':') ? "[%s]:%d" : "%s:%d", t->host, t->port);
    if (ctl_edge_connect(t->edge, t->host, t->port, why, sizeof(why)) != 0) {
        tp_fail("connect", "cannot reach the federation listener at %s: %s (is pushrelayd running "
                "with the listener role? see federation.listen)", addr, why);
        return CTL_EXIT_FAIL;
    }
    tp_pass("connect", "TCP connection to %s", addr);

    rc = ctl_edge_handshake(t->edge, relay, why, sizeof(why));
    if (rc == PR_ECRYPTO) {
        tp_fail("tls", "the relay's certificate did not verify (%s) against %s for %s", why,
                t->a.ca != NULL ? t->a.ca : t->ctl->cfg->federation.tls.ca_file, relay);
        return CTL_EXIT_FAIL;
    }
    if (rc != 0)
        return tp_tls_refused(why);

    /* With TLS 1.3 a refused client certificate shows on the first read. */
    char ruri[1024];
    snprintf(ruri, sizeof(ruri), "sip:%s", relay);
    rc = tp_exchange(t, "OPTIONS", ruri, 1, NULL, &r, &rrc, why, sizeof(why));
    /*
     * The relay checks our certificate after our side of the handshake is
     * done: a TLS alert, or the connection dropped before its first answer,
     * is the relay refusing it.
     */
    if (rc == PR_ETLS || rrc == PR_ETLS || (rc == PR_EIO && rrc != 0))
        return tp_tls_refused(why);
    tp_pass("tls", "%s, relay certificate verified for %s, our certificate %s accepted",
            ctl_edge_tls_version(t->edge), relay, t->a.cert);
    if (rc != 0) {
        tp_fail("options", "%s", why);
        return CTL_EXIT_FAIL;
    }
    if (r.status != 200) {
        tp_fail("options", "answered %d %s%s%s", r.status, r.reason, r.warning[0] ? ": " : "", r.warning);
        return CTL_EXIT_FAIL;
    }
    tp_pass("options", "200 %s", r.reason);

    char prid[4096], *body = tp_message_body(t), *uri = NULL;
    if (body == NULL || ctl_edge_pct_encode(t->a.token, prid, sizeof(prid)) != 0) {
        free(body);
        tp_fail("message", "--token too long");
        return CTL_EXIT_FAIL;
    }
    if (asprintf(&uri, "sip:push@%s;pn-provider=%s;pn-prid=%s;pn-param=%s", relay,
                 pr_provider_name(t->prov), prid, t->param) < 0) {
        free(body);
        return CTL_EXIT_FAIL;
    }
    t->sent_ms = pr_mono_ms();
    rc = tp_exchange(t, "MESSAGE", uri, 2, body, &r, &rrc, why, sizeof(why));
    free(uri);
    free(body);
    if (rc != 0) {
        tp_fail("message", "%s", why);
        return CTL_EXIT_FAIL;
    }
    if (r.status != 202) {
        tp_hint(t, &r, hint, sizeof(hint));
        tp_fail("message", "answered %d %s%s%s%s%s", r.status, r.reason,
                r.warning[0] ? ": " : "", r.warning, hint[0] ? ": " : "", hint);
        return CTL_EXIT_FAIL;
    }
    tp_pass("message", "202 %s, Push-Id %s (app %s, pn-param %s)", r.reason,
            r.push_id[0] ? r.push_id : t->id, t->app->id, t->param);
    return tp_wait(t);
}

/* tp_edge_new loads --cert, --key and the CA; a file it cannot use is a usage error naming its flag. */
static int tp_edge_new(struct tp *t)
{
    char why[512];
    enum ctl_edge_file bad = CTL_EDGE_CERT;
    const char *ca = t->a.ca != NULL ? t->a.ca : t->ctl->cfg->federation.tls.ca_file;
    int rc = ctl_edge_new(t->a.cert, t->a.key, ca, &t->edge, &bad, why, sizeof(why));
    if (rc == 0)
        return 0;
    if (rc != PR_ECRYPTO)
        ctl_err(t->ctl->cmd->name, "%s", pr_strerror(rc));
    else if (bad == CTL_EDGE_CERT)
        ctl_err(t->ctl->cmd->name, "--cert %s: cannot load the certificate: %s", t->a.cert, why);
    else if (bad == CTL_EDGE_KEY)
        ctl_err(t->ctl->cmd->name, "--key %s: cannot load the key for --cert %s: %s", t->a.key,
                t->a.cert, why);
    else
        ctl_err(t->ctl->cmd->name, "%s %s: cannot load the CA: %s",
                t->a.ca != NULL ? "--ca" : "federation.tls.ca_file", ca, why);
    return rc == PR_ECRYPTO ? CTL_EXIT_USAGE : CTL_EXIT_FAIL;
}

int ctl_test_push(struct ctl *ctl, int argc, char **argv)
{
    struct tp t = { .ctl = ctl, .a = { .timeout = 30 } };
    signal(SIGPIPE, SIG_IGN);       /* a refused connection must fail a write, not kill us */
    const struct ctl_opt opts[] = {
        { "--domain", CTL_OPT_STR, &t.a.domain, 0, 0 },
        { "--provider", CTL_OPT_STR, &t.a.provider, 0, 0 },
        { "--token", CTL_OPT_STR, &t.a.token, 0, 0 },
        { "--app", CTL_OPT_STR, &t.a.app, 0, 0 },
        { "--cert", CTL_OPT_STR, &t.a.cert, 0, 0 },
        { "--key", CTL_OPT_STR, &t.a.key, 0, 0 },
        { "--ca", CTL_OPT_STR, &t.a.ca, 0, 0 },
        { "--host", CTL_OPT_STR, &t.a.host, 0, 0 },
        { "--port", CTL_OPT_INT, &t.a.port, 1, 65535 },
        { "--timeout", CTL_OPT_INT, &t.a.timeout, 1, 3600 },
        { "--p256dh", CTL_OPT_STR, &t.a.p256dh, 0, 0 },
        { "--auth", CTL_OPT_STR, &t.a.auth, 0, 0 },
    };
    int rc = ctl_parse_opts(ctl, argc, argv, opts, sizeof(opts) / sizeof(opts[0]), NULL, 0, NULL);
    if (rc != 0)
        return rc;
    const char *missing = t.a.domain == NULL ? "--domain" : t.a.provider == NULL ? "--provider"
                        : t.a.token == NULL ? "--token" : t.a.cert == NULL ? "--cert"
                        : t.a.key == NULL ? "--key" : NULL;
    if (missing != NULL)
        return ctl_usage_error(ctl, "%s is required", missing);
    if ((rc = ctl_config(ctl)) != 0 || (rc = tp_pick_app(&t)) != 0)
        return rc;
    certinfo_print_warnings(ctl->cfg, time(NULL), stderr);
    tp_pick_addr(&t);
    /* A TTL well past --timeout: "expired" then means the relay is stuck, not slow. */
    t.ttl_s = (int)(t.a.timeout * 2 > 300 ? t.a.timeout * 2 : 300);
    ctl_edge_rand_hex(t.id, 12);
    if ((rc = tp_edge_new(&t)) == 0)
        rc = tp_run(&t);
    ctl_edge_free(t.edge);
    return rc;
}
