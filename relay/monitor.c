/*
 * monitor.c - /healthz, /readyz and /metrics (see monitor.h).
 *
 * /metrics answers asynchronously: live gauges come from this process, the
 * cluster-wide counters and queue depths from one pipelined batch of Redis
 * reads on the monitor's own connection. When Redis is down the page still
 * renders, with pushrelay_redis_up 0 and no Redis-backed series.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/http.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "dispatcher.h"
#include "fed_listener.h"
#include "keys.h"
#include "monitor.h"
#include "rconn.h"
#include "stats_view.h"

struct monitor {
    struct evhttp *http;
    const struct cfg *cfg;
    struct monitor_sources src;
    struct rconn *rc;
};

/*
 * The Redis reads behind one /metrics page, in the order they are sent:
 *
 *   MQ_STREAM0 + p   XLEN <p>{q}:in:<provider>
 *   MQ_RETRY         ZCARD <p>{q}:retry
 *   MQ_DEAD          XLEN <p>{q}:dead
 *   MQ_TOTAL         HGETALL <p>stats:total
 *   MQ_HIST0 + i     HGETALL <p>stats:hist:<provider>:<kind>, i = p * MON_NKINDS + kind
 */
#define MON_NKINDS 2
static const char *const mon_kinds[MON_NKINDS] = { "e2e", "rtt" };
enum { MQ_STREAM0 = 0, MQ_RETRY = PR_PROVIDER_COUNT, MQ_DEAD, MQ_TOTAL, MQ_HIST0,
       MQ_COUNT = MQ_HIST0 + PR_PROVIDER_COUNT * MON_NKINDS };

struct metrics_req {
    struct monitor *m;
    struct evhttp_request *req;
    struct evbuffer *out;
    int waiting;
    int sent[MQ_COUNT];             /* the query of each reply, in send order */
    int n_sent, n_got;
    long long len[MQ_DEAD + 1];     /* -1: unknown */
    redisReply *total;              /* HGETALL stats:total, kept until rendering */
    struct stats_view_hist hist[PR_PROVIDER_COUNT * MON_NKINDS];
    int have_hist;
};

static void send_text(struct evhttp_request *req, int code, const char *reason, const char *text)
{
    struct evbuffer *b = evbuffer_new();
    if (b == NULL)
        return;
    evbuffer_add_printf(b, "%s\n", text);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

static void on_healthz(struct evhttp_request *req, void *arg)
{
    (void)arg;
    send_text(req, 200, "OK", "ok");
}

static void on_readyz(struct evhttp_request *req, void *arg)
{
    struct monitor *m = arg;
    char why[400] = "";
    char addr[300];
    if (!rconn_connected(m->rc))
        snprintf(why, sizeof(why), "not ready: Redis %s (%s)",
                 rconn_reason_text(rconn_reason(m->rc)), rconn_addr(m->rc, addr, sizeof(addr)));
    if (why[0] == '\0' && m->src.disp != NULL) {
        struct disp_stats ds;
        disp_get_stats(m->src.disp, &ds);
        if (ds.providers_ready == 0)
            snprintf(why, sizeof(why), "not ready: no provider connection usable");
    }
    if (why[0] != '\0')
        send_text(req, 503, "Service Unavailable", why);
    else
        send_text(req, 200, "OK", "ready");
}

static void gauge(struct evbuffer *b, const char *name, const char *help, long long v)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name, v);
}

/* Counters from stats:total: fields "<provider>:<counter>" (see relay/stats.c). */
static void render_counters(struct evbuffer *b, const redisReply *total)
{
    if (total == NULL || total->type != REDIS_REPLY_ARRAY)
        return;
    evbuffer_add_printf(b, "# HELP pushrelay_notifications_total Notifications by provider and stage "
                           "(received, queued, rejected_<status>, delivered, retried, expired, token_dead, dead_lettered).\n"
                           "# TYPE pushrelay_notifications_total counter\n");
    for (size_t i = 0; i + 1 < total->elements; i += 2) {
        const char *field = total->element[i]->str, *colon = strchr(field, ':');
        if (colon == NULL || strncmp(field, "all:", 4) == 0)
            continue;
        /* Label values come from our own writes, but escape anyway: the format forbids raw quotes. */
        evbuffer_add_printf(b, "pushrelay_notifications_total{provider=\"%.*s\",stage=\"",
                            (int)(colon - field), field);
        for (const char *p = colon + 1; *p; p++)
            evbuffer_add_printf(b, (*p == '"' || *p == '\\') ? "\\%c" : "%c", *p);
        evbuffer_add_printf(b, "\"} %s\n", total->element[i + 1]->str);
    }
}

/*
 * Latency histograms from the stats:hist hashes. relay/stats.c keeps one
 * count per bucket; Prometheus wants cumulative buckets ending in +Inf,
 * which stats_view_hist_parse computes.
 */
static void render_histograms(struct evbuffer *b, const struct metrics_req *mr)
{
    if (!mr->have_hist)
        return;
    evbuffer_add_printf(b, "# HELP pushrelay_latency_ms Notification latency in milliseconds: "
                           "e2e (accepted to final outcome) and rtt (provider round trip).\n"
                           "# TYPE pushrelay_latency_ms histogram\n");
    for (int p = 0; p < PR_PROVIDER_COUNT; p++)
        for (int k = 0; k < MON_NKINDS; k++) {
            const struct stats_view_hist *h = &mr->hist[p * MON_NKINDS + k];
            const char *prov = pr_provider_name((enum pr_provider)p);
            for (size_t i = 0; i < h->n; i++)
                evbuffer_add_printf(b, "pushrelay_latency_ms_bucket{provider=\"%s\",kind=\"%s\",le=\"%lld\"} %lld\n",
                                    prov, mon_kinds[k], (long long)h->le[i], h->cum[i]);
            evbuffer_add_printf(b, "pushrelay_latency_ms_bucket{provider=\"%s\",kind=\"%s\",le=\"+Inf\"} %lld\n"
                                   "pushrelay_latency_ms_sum{provider=\"%s\",kind=\"%s\"} %lld\n"
                                   "pushrelay_latency_ms_count{provider=\"%s\",kind=\"%s\"} %lld\n",
                                prov, mon_kinds[k], h->count, prov, mon_kinds[k], h->sum_ms, prov,
                                mon_kinds[k], h->count);
        }
}

static void metrics_render(struct metrics_req *mr)
{
    struct monitor *m = mr->m;
    struct evbuffer *b = mr->out;
    gauge(b, "pushrelay_up", "1 while the process runs.", 1);
    gauge(b, "pushrelay_redis_up", "1 when this process reaches Redis.", rconn_connected(m->rc));
    if (m->src.fed != NULL) {
        struct fed_stats fs;
        fed_get_stats(m->src.fed, &fs);
        gauge(b, "pushrelay_federation_connections", "Open federation (SIP/TLS) connections.",
              fs.connections);
        evbuffer_add_printf(b, "# HELP pushrelay_federation_requests_total SIP requests framed by this process.\n"
                               "# TYPE pushrelay_federation_requests_total counter\n"
                               "pushrelay_federation_requests_total %ld\n", fs.requests);
    }
    if (m->src.disp != NULL) {
        struct disp_stats ds;
        disp_get_stats(m->src.disp, &ds);
        gauge(b, "pushrelay_dispatch_in_flight", "Notifications handed to providers and not answered yet.",
              ds.in_flight);
        gauge(b, "pushrelay_provider_clients_ready", "Provider clients usable or connectable.",
              ds.providers_ready);
    }
    if (mr->len[MQ_STREAM0] >= 0) {
        evbuffer_add_printf(b, "# HELP pushrelay_queue_length Entries in a provider stream (queued or in delivery).\n"
                               "# TYPE pushrelay_queue_length gauge\n");
        for (int p = 0; p < PR_PROVIDER_COUNT; p++)
            evbuffer_add_printf(b, "pushrelay_queue_length{provider=\"%s\"} %lld\n",
                                pr_provider_name((enum pr_provider)p), mr->len[MQ_STREAM0 + p]);
        gauge(b, "pushrelay_retry_set_size", "Notifications waiting for their next attempt.", mr->len[MQ_RETRY]);
        gauge(b, "pushrelay_dead_letters", "Entries in the dead-letter stream.", mr->len[MQ_DEAD]);
    }
    render_counters(b, mr->total);
    render_histograms(b, mr);
    evhttp_add_header(evhttp_request_get_output_headers(mr->req), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_send_reply(mr->req, 200, "OK", b);
    evbuffer_free(b);
    if (mr->total != NULL)
        freeReplyObject(mr->total);
    free(mr);
}

static redisReply *reply_copy_hash(const redisReply *r)
{
    /* hiredis frees replies after the callback: keep the strings we need. */
    redisReply *copy = calloc(1, sizeof(*copy));
    if (copy == NULL)
        return NULL;
    copy->type = REDIS_REPLY_ARRAY;
    copy->element = calloc(r->elements ? r->elements : 1, sizeof(*copy->element));
    if (copy->element == NULL) {
        free(copy);
        return NULL;
    }
    for (size_t i = 0; i < r->elements; i++) {
        redisReply *e = calloc(1, sizeof(*e));
        if (e == NULL || (e->str = strdup(r->element[i]->str ? r->element[i]->str : "")) == NULL) {
            free(e);
            break;
        }
        e->type = REDIS_REPLY_STRING;
        copy->element[copy->elements++] = e;
    }
    return copy;
}

static void metrics_reply_cb(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct metrics_req *mr = arg;
    /* Replies come in send order on the monitor's one connection. */
    int q = mr->n_got < mr->n_sent ? mr->sent[mr->n_got] : -1;
    mr->n_got++;
    mr->waiting--;
    if (q >= MQ_STREAM0 && q <= MQ_DEAD) {
        if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
            mr->len[q] = reply->integer;
    } else if (q == MQ_TOTAL) {
        if (reply != NULL && reply->type == REDIS_REPLY_ARRAY)
            mr->total = reply_copy_hash(reply);
    } else if (q >= MQ_HIST0 && q < MQ_COUNT) {
        if (reply != NULL && stats_view_hist_parse(reply, &mr->hist[q - MQ_HIST0]) == 0)
            mr->have_hist = 1;
    }
    if (mr->waiting == 0) {
        /* Queue depths are shown only when every one of them was read. */
        for (int i = 0; i <= MQ_DEAD; i++)
            if (mr->len[i] < 0)
                mr->len[MQ_STREAM0] = -1;
        metrics_render(mr);
    }
}

static void on_metrics(struct evhttp_request *req, void *arg)
{
    struct monitor *m = arg;
    struct metrics_req *mr = calloc(1, sizeof(*mr));
    if (mr == NULL || (mr->out = evbuffer_new()) == NULL) {
        free(mr);
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    mr->m = m;
    mr->req = req;
    for (int i = 0; i <= MQ_DEAD; i++)
        mr->len[i] = -1;
    if (rconn_connected(m->rc)) {
        char key[KEYS_MAX], scope[64];
        for (int i = 0; i < MQ_COUNT; i++) {
            const char *argv[2];
            if (i < PR_PROVIDER_COUNT) {
                keys_stream(m->src.keys, (enum pr_provider)i, key, sizeof(key));
                argv[0] = "XLEN";
            } else if (i == MQ_RETRY) {
                keys_retry(m->src.keys, key, sizeof(key));
                argv[0] = "ZCARD";
            } else if (i == MQ_DEAD) {
                keys_dead(m->src.keys, key, sizeof(key));
                argv[0] = "XLEN";
            } else if (i == MQ_TOTAL) {
                keys_stats(m->src.keys, "total", key, sizeof(key));
                argv[0] = "HGETALL";
            } else {
                int h = i - MQ_HIST0;
                snprintf(scope, sizeof(scope), "hist:%s:%s",
                         pr_provider_name((enum pr_provider)(h / MON_NKINDS)), mon_kinds[h % MON_NKINDS]);
                keys_stats(m->src.keys, scope, key, sizeof(key));
                argv[0] = "HGETALL";
            }
            argv[1] = key;
            /* Record the slot first: a reply may in principle arrive before we return. */
            mr->sent[mr->n_sent++] = i;
            mr->waiting++;
            if (rconn_cmd(m->rc, metrics_reply_cb, mr, 2, argv, NULL) != 0) {
                mr->n_sent--;
                mr->waiting--;
            }
        }
    }
    if (mr->waiting == 0) {
        for (int i = 0; i <= MQ_DEAD; i++)
            mr->len[i] = -1;
        metrics_render(mr);
    }
}

int monitor_new(struct event_base *base, const struct cfg *cfg, const struct monitor_sources *src,
                struct monitor **out)
{
    struct monitor *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return PR_ENOMEM;
    m->cfg = cfg;
    m->src = *src;
    int rc = PR_ENOMEM;
    if ((m->http = evhttp_new(base)) == NULL)
        goto fail;
    evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_cb(m->http, "/healthz", on_healthz, m);
    evhttp_set_cb(m->http, "/readyz", on_readyz, m);
    evhttp_set_cb(m->http, "/metrics", on_metrics, m);
    if (evhttp_bind_socket(m->http, cfg->monitoring.listen.host, cfg->monitoring.listen.port) != 0) {
        pr_log_error("monitor", "cannot listen on monitoring.listen %s:%u", cfg->monitoring.listen.host,
                     cfg->monitoring.listen.port);
        rc = PR_EIO;
        goto fail;
    }
    if ((rc = rconn_new(base, &cfg->redis, "pushrelay-monitor", NULL, NULL, &m->rc)) != 0)
        goto fail;
    pr_log_info("monitor", "serving /metrics, /healthz, /readyz on %s:%u", cfg->monitoring.listen.host,
                cfg->monitoring.listen.port);
    *out = m;
    return 0;
fail:
    monitor_free(m);
    return rc;
}

void monitor_reload(struct monitor *m, const struct cfg *cfg)
{
    if (m != NULL)
        m->cfg = cfg;
}

void monitor_free(struct monitor *m)
{
    if (m == NULL)
        return;
    if (m->http != NULL)
        evhttp_free(m->http);
    rconn_free(m->rc);
    free(m);
}
