/*
 * monitor.c - /healthz, /readyz and /metrics (see monitor.h).
 *
 * /metrics answers asynchronously: live gauges come from this process, the
 * cluster-wide counters and queue depths from one pipelined batch of Redis
 * reads on the monitor's own connection. When Redis is down the page still
 * renders, with pushrelay_redis_up 0 and no Redis-backed series.
 *
 * The live per-process figures go through a struct monitor_probe, so that
 * a lone process and a supervisor summing its workers render them with the
 * same code (section "Process figures").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/http.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "certinfo.h"
#include "dispatcher.h"
#include "fed_listener.h"
#include "keys.h"
#include "monitor.h"
#include "rconn.h"
#include "stats.h"
#include "stats_view.h"

struct monitor {
    struct evhttp *http;
    const struct cfg *cfg;
    struct monitor_sources src;
    struct rconn *rc;
    struct certinfo certs;      /* read at start and reload: what the process holds */
};

/*
 * The Redis reads behind one /metrics page, in the order they are sent
 * (one pipeline: S queue shards cost S round trips' worth of bytes, not
 * S round trips):
 *
 *   for each queue shard k = 0 .. S-1, summed over the shards:
 *     MQ_STREAM0 + p   XLEN <p>{q<k>}:in:<provider>
 *     MQ_RETRY         ZCARD <p>{q<k>}:retry
 *     MQ_DEAD          XLEN <p>{q<k>}:dead
 *   MQ_TOTAL         HGETALL <p>stats:total
 *   MQ_HIST0 + i     HGETALL <p>stats:hist:<provider>:<kind>, i = p * MON_NKINDS + kind
 */
#define MON_NKINDS STATS_HIST_COUNT
enum { MQ_STREAM0 = 0, MQ_RETRY = PR_PROVIDER_COUNT, MQ_DEAD, MQ_TOTAL, MQ_HIST0,
       MQ_COUNT = MQ_HIST0 + PR_PROVIDER_COUNT * MON_NKINDS };

struct metrics_req {
    struct monitor *m;
    struct evhttp_request *req;
    struct evbuffer *out;
    int waiting;
    int *sent;                      /* the query of each reply, in send order */
    int n_sent, n_got;
    long long len[MQ_DEAD + 1];     /* summed over the shards */
    int len_read;                   /* depth replies read; all S * (MQ_DEAD + 1) or none shown */
    redisReply *total;              /* HGETALL stats:total, kept until rendering */
    struct stats_view_hist hist[PR_PROVIDER_COUNT * MON_NKINDS];
    int have_hist;
    struct monitor_probe *probes;   /* this process's, or one per worker */
    int n_probes;
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

/*
 * ready_why leaves 'why' empty when ready, else says what is missing: with
 * 'rc' (the listener's connection) why Redis is not usable and where.
 */
static void ready_why(int redis_up, const struct rconn *rc, struct disp *disp, char *why, size_t len)
{
    why[0] = '\0';
    if (!redis_up && rc != NULL && !rconn_connected(rc)) {
        char addr[300];
        snprintf(why, len, "not ready: Redis %s (%s)", rconn_reason_text(rconn_reason(rc)),
                 rconn_addr(rc, addr, sizeof(addr)));
    } else if (!redis_up) {
        snprintf(why, len, "not ready: Redis unreachable");
    }
    if (why[0] == '\0' && disp != NULL) {
        struct disp_stats ds;
        disp_get_stats(disp, &ds);
        if (ds.providers_ready == 0)
            snprintf(why, len, "not ready: no provider connection usable");
    }
}

static void on_readyz_workers(struct evhttp_request *req, struct monitor *m);
static int probes_why(const struct monitor_probe *p, int n, int labelled, char *why, size_t len);

static void on_readyz(struct evhttp_request *req, void *arg)
{
    struct monitor *m = arg;
    if (m->src.workers != NULL) {
        on_readyz_workers(req, m);
        return;
    }
    struct monitor_probe self;
    char why[256];
    monitor_probe_take(&m->src, &self);
    if (!probes_why(&self, 1, 0, why, sizeof(why)))
        send_text(req, 503, "Service Unavailable", why);
    else
        send_text(req, 200, "OK", "ready");
}

static void gauge(struct evbuffer *b, const char *name, const char *help, long long v)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name, v);
}

/* A label value in the text format: backslash, quote and newline escaped. */
static void label_value(struct evbuffer *b, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\n')
            evbuffer_add(b, "\\n", 2);
        else if (*p == '"' || *p == '\\')
            evbuffer_add_printf(b, "\\%c", *p);
        else
            evbuffer_add(b, p, 1);
    }
}

/* One series per certificate held (relay/certinfo.h says which, and the labels). */
static void render_certs(struct evbuffer *b, const struct certinfo *ci)
{
    if (ci->n == 0)
        return;
    evbuffer_add_printf(b, "# HELP pushrelay_certificate_expiry_timestamp_seconds notAfter of each certificate "
                           "this process holds, Unix seconds.\n"
                           "# TYPE pushrelay_certificate_expiry_timestamp_seconds gauge\n");
    for (size_t i = 0; i < ci->n; i++) {
        const struct certinfo_cert *c = &ci->certs[i];
        evbuffer_add_printf(b, "pushrelay_certificate_expiry_timestamp_seconds{app=\"");
        label_value(b, c->app);
        evbuffer_add_printf(b, "\",file=\"");
        label_value(b, c->file);
        evbuffer_add_printf(b, "\",subject=\"");
        label_value(b, c->subject);
        evbuffer_add_printf(b, "\"} %lld\n", (long long)c->not_after);
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
            const char *prov = pr_provider_name((enum pr_provider)p), *kind = stats_hist_name((enum stats_hist)k);
            for (size_t i = 0; i < h->n; i++)
                evbuffer_add_printf(b, "pushrelay_latency_ms_bucket{provider=\"%s\",kind=\"%s\",le=\"%lld\"} %lld\n",
                                    prov, kind, (long long)h->le[i], h->cum[i]);
            evbuffer_add_printf(b, "pushrelay_latency_ms_bucket{provider=\"%s\",kind=\"%s\",le=\"+Inf\"} %lld\n"
                                   "pushrelay_latency_ms_sum{provider=\"%s\",kind=\"%s\"} %lld\n"
                                   "pushrelay_latency_ms_count{provider=\"%s\",kind=\"%s\"} %lld\n",
                                prov, kind, h->count, prov, kind, h->sum_ms, prov, kind, h->count);
        }
}

/* ------------------------------------------------------------------------ */
/* Process figures: one process, or a supervisor's workers                   */
/* ------------------------------------------------------------------------ */

void monitor_probe_take(const struct monitor_sources *src, struct monitor_probe *out)
{
    memset(out, 0, sizeof(*out));
    int redis_up = 1;
    if (src->fed != NULL) {
        struct fed_stats fs;
        fed_get_stats(src->fed, &fs);
        out->has_fed = 1;
        out->connections = fs.connections;
        out->requests = fs.requests;
        redis_up = src->rc == NULL || rconn_connected(src->rc);
    }
    if (src->disp != NULL) {
        struct disp_stats ds;
        disp_get_stats(src->disp, &ds);
        out->has_disp = 1;
        out->in_flight = ds.in_flight;
        out->stalled = ds.stalled;
        out->providers_ready = ds.providers_ready;
        redis_up = redis_up && ds.redis_connected;
    }
    ready_why(redis_up, src->rc, src->disp, out->why, sizeof(out->why));
    out->ready = out->why[0] == '\0';
    out->up = 1;
}

/*
 * A gauge or counter of the process figures. Alone ('n' 1, unlabelled) the
 * process's value. Of workers: the sum over the workers that answered, or
 * with 'per_worker' one series {worker="k"} each, for values whose spread
 * matters (one worker stuck at max_in_flight hides in a sum) and for
 * counters (each worker's restarts from 0; rate() handles that per series).
 */
static void render_probe_series(struct evbuffer *b, const char *name, const char *type, const char *help,
                                const struct monitor_probe *p, int n, int labelled, int per_worker,
                                long (*value)(const struct monitor_probe *))
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    long sum = 0;
    for (int k = 0; k < n; k++) {
        if (!p[k].up)
            continue;
        if (labelled && per_worker)
            evbuffer_add_printf(b, "%s{worker=\"%d\"} %ld\n", name, k, value(&p[k]));
        sum += value(&p[k]);
    }
    if (!(labelled && per_worker))
        evbuffer_add_printf(b, "%s %ld\n", name, sum);
}

static long pv_connections(const struct monitor_probe *p) { return p->connections; }
static long pv_requests(const struct monitor_probe *p) { return p->requests; }
static long pv_in_flight(const struct monitor_probe *p) { return p->in_flight; }
static long pv_stalled(const struct monitor_probe *p) { return p->stalled; }
static long pv_providers_ready(const struct monitor_probe *p) { return p->providers_ready; }
static long pv_up(const struct monitor_probe *p) { return p->up; }
static long pv_restarts(const struct monitor_probe *p) { return p->restarts; }

static void render_process(struct evbuffer *b, const struct monitor_probe *p, int n, int labelled)
{
    int has_fed = 0, has_disp = 0;
    for (int k = 0; k < n; k++) {
        has_fed |= p[k].has_fed;
        has_disp |= p[k].has_disp;
    }
    if (labelled) {
        gauge(b, "pushrelay_workers", "Worker processes this supervisor runs (--workers).", n);
        /* Every worker has a series here, answering or not: render them unfiltered. */
        evbuffer_add_printf(b, "# HELP pushrelay_worker_up 1 when worker k answered this scrape.\n"
                               "# TYPE pushrelay_worker_up gauge\n");
        for (int k = 0; k < n; k++)
            evbuffer_add_printf(b, "pushrelay_worker_up{worker=\"%d\"} %ld\n", k, pv_up(&p[k]));
        evbuffer_add_printf(b, "# HELP pushrelay_worker_restarts_total Times the supervisor restarted worker k.\n"
                               "# TYPE pushrelay_worker_restarts_total counter\n");
        for (int k = 0; k < n; k++)
            evbuffer_add_printf(b, "pushrelay_worker_restarts_total{worker=\"%d\"} %ld\n", k,
                                pv_restarts(&p[k]));
    }
    if (has_fed) {
        render_probe_series(b, "pushrelay_federation_connections", "gauge",
                            "Open federation (SIP/TLS) connections.", p, n, labelled, 0, pv_connections);
        /* Per worker: a restarted worker's counter starts from 0, which a sum would hide as a drop. */
        render_probe_series(b, "pushrelay_federation_requests_total", "counter",
                            labelled ? "SIP requests framed by worker k since it started."
                                     : "SIP requests framed by this process.",
                            p, n, labelled, 1, pv_requests);
    }
    if (has_disp) {
        render_probe_series(b, "pushrelay_dispatch_in_flight", "gauge",
                            "Notifications handed to providers and not answered yet, inside the max_in_flight "
                            "window.", p, n, labelled, 1,
                            pv_in_flight);
        render_probe_series(b, "pushrelay_dispatch_stalled", "gauge",
                            "Requests unanswered past dispatcher.stall_after_ms: out of the "
                            "max_in_flight window, at most dispatcher.max_stalled.",
                            p, n, labelled, 1, pv_stalled);
        render_probe_series(b, "pushrelay_provider_clients_ready", "gauge",
                            "Provider clients usable or connectable.", p, n, labelled, 1, pv_providers_ready);
    }
}

/*
 * probes_why: 1 when each of the 'n' probes is up and ready; else 0 with
 * 'why' naming the first that is not (prefixed "worker k" when 'labelled').
 * /readyz and pushrelay_ready both ask this, so they always agree.
 */
static int probes_why(const struct monitor_probe *p, int n, int labelled, char *why, size_t len)
{
    why[0] = '\0';
    if (n == 0)
        snprintf(why, len, "not ready: no worker answered");
    for (int k = 0; k < n && why[0] == '\0'; k++) {
        if (!p[k].up)
            snprintf(why, len, "not ready: worker %d not running or not answering", k);
        else if (!p[k].ready && labelled)
            snprintf(why, len, "worker %d %s", k, p[k].why);
        else if (!p[k].ready)
            snprintf(why, len, "%s", p[k].why);
    }
    return why[0] == '\0';
}

/* /readyz of a supervisor: ready when every worker answered and is ready. */
static void readyz_collected(const struct monitor_probe *p, int n, void *arg)
{
    struct evhttp_request *req = arg;
    char why[256];
    if (!probes_why(p, n, 1, why, sizeof(why)))
        send_text(req, 503, "Service Unavailable", why);
    else
        send_text(req, 200, "OK", "ready");
}

static void on_readyz_workers(struct evhttp_request *req, struct monitor *m)
{
    m->src.workers->collect(m->src.workers->ctx, readyz_collected, req);
}

/* ------------------------------------------------------------------------ */
/* /metrics                                                                  */
/* ------------------------------------------------------------------------ */

static void metrics_render(struct metrics_req *mr)
{
    struct monitor *m = mr->m;
    struct evbuffer *b = mr->out;
    gauge(b, "pushrelay_up", "1 while the process runs.", 1);
    gauge(b, "pushrelay_redis_up", "1 when this process reaches Redis.", rconn_connected(m->rc));
    struct monitor_probe self;
    const struct monitor_probe *probes = mr->probes;
    int n = mr->n_probes, labelled = m->src.workers != NULL;
    if (!labelled) {
        monitor_probe_take(&m->src, &self);
        probes = &self;
        n = 1;
    }
    char why[256];
    gauge(b, "pushrelay_ready", "1 when /readyz answers 200 (Redis reached; a dispatcher has a usable provider; "
                                "under a supervisor, every worker).", probes_why(probes, n, labelled, why, sizeof(why)));
    render_process(b, probes, n, labelled);
    if (mr->len_read == (int)m->src.keys->shards * (MQ_DEAD + 1)) {
        evbuffer_add_printf(b, "# HELP pushrelay_queue_length Entries in a provider's streams of every queue shard (queued or in delivery).\n"
                               "# TYPE pushrelay_queue_length gauge\n");
        for (int p = 0; p < PR_PROVIDER_COUNT; p++)
            evbuffer_add_printf(b, "pushrelay_queue_length{provider=\"%s\"} %lld\n",
                                pr_provider_name((enum pr_provider)p), mr->len[MQ_STREAM0 + p]);
        gauge(b, "pushrelay_retry_set_size", "Notifications waiting for their next attempt (every queue shard).", mr->len[MQ_RETRY]);
        gauge(b, "pushrelay_dead_letters", "Entries in the dead-letter streams (every queue shard).", mr->len[MQ_DEAD]);
    }
    render_certs(b, &m->certs);
    stats_view_metrics_counters(b, mr->total);
    render_histograms(b, mr);
    evhttp_add_header(evhttp_request_get_output_headers(mr->req), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_send_reply(mr->req, 200, "OK", b);
    evbuffer_free(b);
    if (mr->total != NULL)
        freeReplyObject(mr->total);
    free(mr->probes);
    free(mr->sent);
    free(mr);
}

/* metrics_done renders once the last Redis reply and the workers' probes are in. */
static void metrics_done(struct metrics_req *mr)
{
    if (mr->waiting > 0)
        return;
    metrics_render(mr);
}

static void metrics_collected(const struct monitor_probe *p, int n, void *arg)
{
    struct metrics_req *mr = arg;
    if (n > 0 && (mr->probes = malloc((size_t)n * sizeof(*p))) != NULL) {
        memcpy(mr->probes, p, (size_t)n * sizeof(*p));
        mr->n_probes = n;
    }
    mr->waiting--;
    metrics_done(mr);
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
        if (reply != NULL && reply->type == REDIS_REPLY_INTEGER) {
            mr->len[q] += reply->integer;
            mr->len_read++;
        }
    } else if (q == MQ_TOTAL) {
        if (reply != NULL && reply->type == REDIS_REPLY_ARRAY)
            mr->total = reply_copy_hash(reply);
    } else if (q >= MQ_HIST0 && q < MQ_COUNT) {
        if (reply != NULL && stats_view_hist_parse(reply, &mr->hist[q - MQ_HIST0]) == 0)
            mr->have_hist = 1;
    }
    metrics_done(mr);
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
    unsigned shards = m->src.keys->shards;
    int n_queries = (int)shards * (MQ_DEAD + 1) + (MQ_COUNT - MQ_TOTAL);
    if ((mr->sent = calloc((size_t)n_queries, sizeof(*mr->sent))) == NULL) {
        evbuffer_free(mr->out);
        free(mr);
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    /* Held until the workers answered; the Redis replies may all be in before. */
    mr->waiting++;
    if (rconn_connected(m->rc)) {
        char key[KEYS_MAX];
        for (int j = 0; j < n_queries; j++) {
            const char *argv[2];
            /* the first S * (MQ_DEAD + 1) are the depths, shard by shard */
            int depth = j < (int)shards * (MQ_DEAD + 1);
            unsigned shard = depth ? (unsigned)j / (MQ_DEAD + 1) : 0;
            int i = depth ? j % (MQ_DEAD + 1) : MQ_TOTAL + j - (int)shards * (MQ_DEAD + 1);
            if (i < PR_PROVIDER_COUNT) {
                keys_q_stream(m->src.keys, shard, (enum pr_provider)i, key, sizeof(key));
                argv[0] = "XLEN";
            } else if (i == MQ_RETRY) {
                keys_q_retry(m->src.keys, shard, key, sizeof(key));
                argv[0] = "ZCARD";
            } else if (i == MQ_DEAD) {
                keys_q_dead(m->src.keys, shard, key, sizeof(key));
                argv[0] = "XLEN";
            } else if (i == MQ_TOTAL) {
                keys_stats_total(m->src.keys, key, sizeof(key));
                argv[0] = "HGETALL";
            } else {
                int h = i - MQ_HIST0;
                keys_stats_hist(m->src.keys, (enum pr_provider)(h / MON_NKINDS),
                                stats_hist_name((enum stats_hist)(h % MON_NKINDS)), key, sizeof(key));
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
    if (m->src.workers != NULL)
        m->src.workers->collect(m->src.workers->ctx, metrics_collected, mr);
    else
        metrics_collected(NULL, 0, mr);
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
    /* cfg_load opened these files a moment ago; failing now leaves the gauge out, not the monitor. */
    if (certinfo_load(cfg, &m->certs) != 0)
        pr_log_warn("monitor", "cannot read the certificates %s names: no expiry gauge", cfg->path);
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
    if (m == NULL)
        return;
    m->cfg = cfg;
    struct certinfo next;
    if (certinfo_load(cfg, &next) == 0) {
        certinfo_clear(&m->certs);
        m->certs = next;
    }
}

void monitor_free(struct monitor *m)
{
    if (m == NULL)
        return;
    if (m->http != NULL)
        evhttp_free(m->http);
    rconn_free(m->rc);
    certinfo_clear(&m->certs);
    free(m);
}
