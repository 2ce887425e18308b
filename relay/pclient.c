/*
 * pclient.c - the provider client handle the dispatcher drives (see
 * pclient.h): creates the implementation the app's provider descriptor
 * names (relay/apns.c, relay/fcm.c, relay/mpns.c) and gives them the helpers
 * they share (pclient_impl.h). It does no I/O itself.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "h2c.h"
#include "pclient_impl.h"
#include "provider_desc.h"

#define PCLIENT_MAX_DEFERRED 65536

struct pclient_deferred {
    TAILQ_ENTRY(pclient_deferred) link;
    pclient_done_cb cb;
    void *arg;
    struct pr_result res;
};

/* Deliver every deferred result (also on free: they are final answers already). */
static void deferred_run(struct pclient *pc)
{
    struct pclient_deferred *d;
    while ((d = TAILQ_FIRST(&pc->deferred)) != NULL) {
        TAILQ_REMOVE(&pc->deferred, d, link);
        pc->n_deferred--;
        d->cb(d->arg, &d->res);
        free(d);
    }
}

static void deferred_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    deferred_run(arg);
}

int pclient_defer(struct pclient *pc, pclient_done_cb cb, void *arg, const struct pr_result *res)
{
    if (pc->n_deferred >= PCLIENT_MAX_DEFERRED)
        return PR_EAGAIN;
    struct pclient_deferred *d = malloc(sizeof(*d));
    if (d == NULL)
        return PR_ENOMEM;
    d->cb = cb;
    d->arg = arg;
    d->res = *res;
    TAILQ_INSERT_TAIL(&pc->deferred, d, link);
    pc->n_deferred++;
    event_active(pc->defer_ev, EV_TIMEOUT, 0);
    return 0;
}

void pclient_local(struct pr_result *res, const char *reason)
{
    pr_result_init(res);
    res->status = PR_STATUS_LOCAL;
    snprintf(res->reason, sizeof(res->reason), "%s", reason);
}

int pclient_endpoint(const char *app_id, const char *url, const char *fallback, char *host,
                     size_t hostlen, uint16_t *port)
{
    const char *u = url != NULL ? url : fallback;
    struct evhttp_uri *uri = evhttp_uri_parse(u);
    int rv = PR_ECONFIG;
    if (uri == NULL || evhttp_uri_get_scheme(uri) == NULL ||
        strcmp(evhttp_uri_get_scheme(uri), "https") != 0 || evhttp_uri_get_host(uri) == NULL ||
        evhttp_uri_get_host(uri)[0] == '\0') {
        pr_log_error("pclient", "app %s: endpoint '%s' is not https://host[:port]", app_id, u);
        goto out;
    }
    const char *h = evhttp_uri_get_host(uri);
    size_t hl = strlen(h);
    /* evhttp keeps IPv6 literals in brackets; connect and verify without them. */
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= hostlen) {
        pr_log_error("pclient", "app %s: endpoint host too long", app_id);
        goto out;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    int p = evhttp_uri_get_port(uri);
    *port = p > 0 ? (uint16_t)p : 443;
    rv = 0;
out:
    if (uri != NULL)
        evhttp_uri_free(uri);
    return rv;
}

int pclient_parse_retry_after(const char *value)
{
    if (value == NULL)
        return -1;
    while (*value == ' ')
        value++;
    if (!isdigit((unsigned char)*value))
        return -1;
    long v = strtol(value, NULL, 10);
    return v > 86400 * 7 ? 86400 * 7 : (int)v;
}

int pclient_new(struct event_base *base, const struct cfg_app *app, struct pclient **out)
{
    struct pclient *pc = calloc(1, sizeof(*pc));
    if (pc == NULL)
        return PR_ENOMEM;
    pc->base = base;
    pc->app = app;
    TAILQ_INIT(&pc->deferred);
    int rv = PR_ENOMEM;
    if ((pc->defer_ev = event_new(base, -1, 0, deferred_cb, pc)) == NULL)
        goto fail;
    const struct provider_desc *d = provider_desc(app->provider);
    rv = d != NULL ? d->client_new(pc) : PR_EINVAL;
    if (rv < 0)
        goto fail;
    *out = pc;
    return 0;
fail:
    if (pc->defer_ev != NULL)
        event_free(pc->defer_ev);
    free(pc);
    return rv;
}

int pclient_send(struct pclient *c, const struct pr_notif *n, int timeout_ms,
                 pclient_done_cb cb, void *arg)
{
    return c->ops->send(c, n, timeout_ms, cb, arg);
}

void pclient_reauth(struct pclient *c)
{
    if (c->ops->reauth != NULL)
        c->ops->reauth(c);
}

int pclient_ready(const struct pclient *c)
{
    return c->ops->ready(c);
}

void pclient_get_stats(const struct pclient *c, struct pclient_stats *out)
{
    c->ops->stats(c, out);
    out->queued += c->n_deferred;
}

void pclient_share_tokens(struct pclient *c, struct ptoken *pt)
{
    c->ptoken = pt;
    if (c->ops->share != NULL)
        c->ops->share(c);
}

void pclient_free(struct pclient *c)
{
    if (c == NULL)
        return;
    c->ops->free(c);
    deferred_run(c);
    event_free(c->defer_ev);
    free(c);
}

int pclient_h2_open(const struct pclient *pc, const char *host, uint16_t port,
                    const char *log_name, const char *const *capture, struct h2c **out)
{
    const struct cfg_app *app = pc->app;
    struct h2c_options opt = {
        .host = host,
        .port = port,
        .tls = { .ca_file = app->ca_file, .cert_file = app->certificate,
                 .key_file = app->private_key },
        .connections = app->connections,
        .log_name = log_name,
        .egress = app->egress,
    };
    for (size_t i = 0; capture[i] != NULL && i + 1 < H2C_CAPTURE_MAX; i++)
        opt.capture[i] = capture[i];
    int rv = h2c_new(pc->base, &opt, out);
    return rv == PR_ETLS ? PR_ECONFIG : rv;
}

int pclient_h2_result(struct pr_result *res, const struct h2c_response *hr)
{
    pr_result_init(res);
    res->status = hr->status;
    res->rtt_us = hr->rtt_us;
    if (hr->status != 0)
        return 1;
    snprintf(res->reason, sizeof(res->reason), "%s", hr->error);
    return 0;
}
