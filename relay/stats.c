/*
 * stats.c - Redis-backed counters and latency histograms. Increments land in
 * small in-memory tables and are flushed once a second as one pipelined
 * batch of HINCRBY commands, so counting costs no Redis round trip on the
 * hot path. Called by the listener (received, queued, rejected_<status>) and
 * the dispatcher (delivered, retried, expired, token_dead, dead_lettered,
 * latencies). Reading the stats back is pushrelayctl's and /metrics' job.
 *
 * Redis layout written here (<p> is redis.prefix, <prov> apns|fcm|mpns):
 *
 *   <p>stats:total                         hash, no TTL
 *     +---------------------------+-------+
 *     | "<prov>:<counter>"        | count |   e.g. "apns:delivered" 9812
 *     | "all:<counter>"           | count |   e.g. "all:delivered"  10000
 *     +---------------------------+-------+
 *   <p>stats:min:<epoch minute>            hash, same fields as total,
 *                                          EXPIRE monitoring.stats_window_h
 *   <p>stats:domain:<domain>               hash, no TTL
 *     +---------------------------+-------+
 *     | "<counter>"               | count |   e.g. "delivered" 120
 *     | "<prov>:<counter>"        | count |   e.g. "fcm:delivered" 20
 *     +---------------------------+-------+
 *   <p>stats:hist:<prov>:<name>            hash, no TTL; name "e2e" | "rtt"
 *     +---------------------------+-------+
 *     | "le_<ms>"                 | count |   samples with previous bound < v <= ms
 *     | "le_inf"                  | count |   samples above the last bound
 *     | "count"                   | count |   all samples
 *     | "sum_ms"                  | total |   sum of all samples in ms
 *     +---------------------------+-------+
 *
 * Histogram buckets are NOT cumulative: each sample increments exactly one
 * "le_" field, so concurrent writers can simply HINCRBY. A reader that wants
 * Prometheus' cumulative form sums the buckets in bound order. The bounds
 * (STATS_BOUNDS below) are fixed: changing them changes the field names.
 *
 * Counters are buffered until the connection is up: a Redis outage delays
 * increments, it does not drop them. Only a flush whose connection is lost
 * before the replies arrive can lose (at most one second of) increments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "pushrelay/notif.h"
#include "stats.h"

#define STATS_MOD "stats"
#define STATS_BUCKETS 512               /* hash buckets of the counter table */
#define STATS_FLUSH_MS 1000

/* Upper bounds (ms) of the histogram buckets, roughly 1-2-5 log spaced. */
static const int64_t stats_bounds[] = {
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000, 300000
};
#define STATS_NBOUNDS (sizeof(stats_bounds) / sizeof(stats_bounds[0]))

/* One buffered counter: HINCRBY 'key' 'field' 'n'. */
struct stats_ctr {
    char *key;
    char *field;
    long long n;
    struct stats_ctr *next;
};

/*
 * One buffered call of stats_incr, before it is spread over the Redis
 * hashes it feeds: (provider, counter, domain, minute) -> increment. The
 * hot path thus costs one lookup; the six HINCRBY targets are worked out
 * once per distinct event per flush.
 */
struct stats_ev {
    enum pr_provider provider;
    long long minute;
    long long n;
    const char *domain;         /* points into counter[]: after its NUL */
    struct stats_ev *next;
    char counter[];
};

/* One buffered histogram: le buckets (+1 for "inf"), count, sum. */
struct stats_hist {
    enum pr_provider provider;
    char name[16];
    long long buckets[STATS_NBOUNDS + 1];
    long long count;
    long long sum_ms;
    int dirty;
    struct stats_hist *next;
};

struct stats {
    struct event_base *base;
    struct rconn *rc;
    struct keys keys;
    int window_s;
    struct event *timer;
    struct stats_ctr *table[STATS_BUCKETS];
    size_t n_ctrs;
    struct stats_ev *evs[STATS_BUCKETS];
    struct stats_hist *hists;
};

/* ---------------------------------------------------------------------------
 * Counter table: a chained hash of (key, field) -> pending increment.
 * ------------------------------------------------------------------------- */

static unsigned stats_hash(const char *key, const char *field)
{
    unsigned h = 2166136261u;           /* FNV-1a over key NUL field */
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    h = (h ^ 0u) * 16777619u;
    for (const char *p = field; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return h % STATS_BUCKETS;
}

static void stats_add(struct stats *s, const char *key, const char *field, long long n)
{
    unsigned h = stats_hash(key, field);
    for (struct stats_ctr *c = s->table[h]; c != NULL; c = c->next) {
        if (strcmp(c->key, key) == 0 && strcmp(c->field, field) == 0) {
            c->n += n;
            return;
        }
    }
    struct stats_ctr *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->key = strdup(key)) == NULL || (c->field = strdup(field)) == NULL) {
        if (c != NULL)
            free(c->key);
        free(c);
        pr_log_warn(STATS_MOD, "out of memory: increment of %s %s dropped", key, field);
        return;
    }
    c->n = n;
    c->next = s->table[h];
    s->table[h] = c;
    s->n_ctrs++;
}

static void stats_ctr_free(struct stats_ctr *c)
{
    free(c->key);
    free(c->field);
    free(c);
}

/* ---------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------- */

static void stats_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    stats_flush(arg);
}

int stats_new(struct event_base *base, struct rconn *rc, const struct keys *keys, int window_h,
              struct stats **out)
{
    struct stats *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return PR_ENOMEM;
    s->base = base;
    s->rc = rc;
    s->keys = *keys;
    s->window_s = (window_h > 0 ? window_h : 48) * 3600;
    s->timer = event_new(base, -1, EV_PERSIST, stats_on_timer, s);
    if (s->timer == NULL) {
        free(s);
        return PR_ENOMEM;
    }
    struct timeval tv = { STATS_FLUSH_MS / 1000, (STATS_FLUSH_MS % 1000) * 1000 };
    event_add(s->timer, &tv);
    *out = s;
    return 0;
}

/* stats_spread adds event 'e' to the counters of every hash it feeds. */
static void stats_spread(struct stats *s, const struct stats_ev *e)
{
    char key[KEYS_MAX], scope[KEYS_MAX], pfield[128], afield[128];
    snprintf(pfield, sizeof(pfield), "%s:%s", pr_provider_name(e->provider), e->counter);
    snprintf(afield, sizeof(afield), "all:%s", e->counter);

    if (keys_stats(&s->keys, "total", key, sizeof(key)) >= 0) {
        stats_add(s, key, pfield, e->n);
        stats_add(s, key, afield, e->n);
    }
    snprintf(scope, sizeof(scope), "min:%lld", e->minute);
    if (keys_stats(&s->keys, scope, key, sizeof(key)) >= 0) {
        stats_add(s, key, pfield, e->n);
        stats_add(s, key, afield, e->n);
    }
    if (e->domain[0] != '\0') {
        snprintf(scope, sizeof(scope), "domain:%s", e->domain);
        if (keys_stats(&s->keys, scope, key, sizeof(key)) >= 0) {
            stats_add(s, key, e->counter, e->n);
            stats_add(s, key, pfield, e->n);
        }
    }
}

/* stats_spread_all turns every buffered event into counters. */
static void stats_spread_all(struct stats *s)
{
    for (size_t b = 0; b < STATS_BUCKETS; b++) {
        while (s->evs[b] != NULL) {
            struct stats_ev *e = s->evs[b];
            s->evs[b] = e->next;
            stats_spread(s, e);
            free(e);
        }
    }
}

void stats_incr(struct stats *s, enum pr_provider p, const char *domain, const char *counter, long n)
{
    if (s == NULL || counter == NULL || n == 0)
        return;
    if (domain == NULL)
        domain = "";
    long long minute = pr_now_ms() / 60000;
    unsigned h = (stats_hash(counter, domain) + (unsigned)p + (unsigned)minute) % STATS_BUCKETS;
    for (struct stats_ev *e = s->evs[h]; e != NULL; e = e->next) {
        if (e->provider == p && e->minute == minute && strcmp(e->counter, counter) == 0 &&
            strcmp(e->domain, domain) == 0) {
            e->n += n;
            return;
        }
    }
    size_t cl = strlen(counter) + 1, dl = strlen(domain) + 1;
    struct stats_ev *e = malloc(sizeof(*e) + cl + dl);
    if (e == NULL) {
        pr_log_warn(STATS_MOD, "out of memory: increment of %s dropped", counter);
        return;
    }
    e->provider = p;
    e->minute = minute;
    e->n = n;
    memcpy(e->counter, counter, cl);
    e->domain = memcpy(e->counter + cl, domain, dl);
    e->next = s->evs[h];
    s->evs[h] = e;
}

void stats_observe(struct stats *s, enum pr_provider p, const char *hist, int64_t ms)
{
    if (s == NULL || hist == NULL)
        return;
    struct stats_hist *h;
    for (h = s->hists; h != NULL; h = h->next)
        if (h->provider == p && strcmp(h->name, hist) == 0)
            break;
    if (h == NULL) {
        if (strlen(hist) >= sizeof(h->name) || (h = calloc(1, sizeof(*h))) == NULL)
            return;
        h->provider = p;
        strcpy(h->name, hist);
        h->next = s->hists;
        s->hists = h;
    }
    if (ms < 0)
        ms = 0;
    size_t i = 0;
    while (i < STATS_NBOUNDS && ms > stats_bounds[i])
        i++;
    h->buckets[i]++;
    h->count++;
    h->sum_ms += ms;
    h->dirty = 1;
}

/* stats_send_hincr sends HINCRBY 'key' 'field' 'n'; 0 or PR_EREDIS. */
static int stats_send_hincr(struct stats *s, const char *key, const char *field, long long n)
{
    char num[32];
    snprintf(num, sizeof(num), "%lld", n);
    const char *argv[] = { "HINCRBY", key, field, num };
    return rconn_cmd(s->rc, NULL, NULL, 4, argv, NULL);
}

static int stats_is_minute_key(const struct stats *s, const char *key)
{
    size_t pl = strlen(s->keys.prefix);
    return strncmp(key, s->keys.prefix, pl) == 0 && strncmp(key + pl, "stats:min:", 10) == 0;
}

/*
 * stats_flush_ctrs sends every buffered counter and forgets it once sent.
 * A per-minute key gets its EXPIRE right after its first HINCRBY of this
 * flush (EXPIRE re-sets the TTL: harmless and keeps the window sliding).
 */
static void stats_flush_ctrs(struct stats *s)
{
    for (size_t b = 0; b < STATS_BUCKETS; b++) {
        struct stats_ctr **pc = &s->table[b];
        while (*pc != NULL) {
            struct stats_ctr *c = *pc;
            if (c->n != 0 && stats_send_hincr(s, c->key, c->field, c->n) != 0)
                return;         /* connection went down: keep the rest */
            if (stats_is_minute_key(s, c->key) && strstr(c->field, "all:") == c->field) {
                char ttl[16];
                snprintf(ttl, sizeof(ttl), "%d", s->window_s);
                const char *argv[] = { "EXPIRE", c->key, ttl };
                rconn_cmd(s->rc, NULL, NULL, 3, argv, NULL);
            }
            *pc = c->next;
            stats_ctr_free(c);
            s->n_ctrs--;
        }
    }
}

static void stats_flush_hists(struct stats *s)
{
    char key[KEYS_MAX], scope[64], field[32];
    for (struct stats_hist *h = s->hists; h != NULL; h = h->next) {
        if (!h->dirty)
            continue;
        snprintf(scope, sizeof(scope), "hist:%s:%s", pr_provider_name(h->provider), h->name);
        if (keys_stats(&s->keys, scope, key, sizeof(key)) < 0)
            continue;
        for (size_t i = 0; i <= STATS_NBOUNDS; i++) {
            if (h->buckets[i] == 0)
                continue;
            if (i < STATS_NBOUNDS)
                snprintf(field, sizeof(field), "le_%lld", (long long)stats_bounds[i]);
            else
                snprintf(field, sizeof(field), "le_inf");
            if (stats_send_hincr(s, key, field, h->buckets[i]) != 0)
                return;
            h->buckets[i] = 0;
        }
        if (stats_send_hincr(s, key, "count", h->count) != 0)
            return;
        h->count = 0;
        if (stats_send_hincr(s, key, "sum_ms", h->sum_ms) != 0)
            return;
        h->sum_ms = 0;
        h->dirty = 0;
    }
}

void stats_flush(struct stats *s)
{
    if (s == NULL || !rconn_connected(s->rc))
        return;
    stats_spread_all(s);
    stats_flush_ctrs(s);
    stats_flush_hists(s);
}

struct stats_sync_wait {
    void (*done)(void *arg);
    void *arg;
};

static void stats_on_synced(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    (void)reply;
    struct stats_sync_wait *w = arg;
    w->done(w->arg);
    free(w);
}

static void stats_on_sync_now(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    stats_on_synced(NULL, NULL, arg);
}

void stats_sync(struct stats *s, void (*done)(void *arg), void *arg)
{
    struct stats_sync_wait *w = malloc(sizeof(*w));
    if (w == NULL) {
        done(arg);
        return;
    }
    w->done = done;
    w->arg = arg;
    stats_flush(s);
    /* Replies come in order: PING's answer means everything before it landed. */
    const char *argv[] = { "PING" };
    if (rconn_cmd(s->rc, stats_on_synced, w, 1, argv, NULL) == 0)
        return;
    struct timeval now = { 0, 0 };
    if (event_base_once(s->base, -1, EV_TIMEOUT, stats_on_sync_now, w, &now) != 0) {
        free(w);
        done(arg);
    }
}

void stats_free(struct stats *s)
{
    if (s == NULL)
        return;
    stats_flush(s);
    stats_spread_all(s);
    if (s->n_ctrs > 0)
        pr_log_warn(STATS_MOD, "%zu counters not flushed (Redis unreachable)", s->n_ctrs);
    event_free(s->timer);
    for (size_t b = 0; b < STATS_BUCKETS; b++) {
        while (s->table[b] != NULL) {
            struct stats_ctr *c = s->table[b];
            s->table[b] = c->next;
            stats_ctr_free(c);
        }
    }
    while (s->hists != NULL) {
        struct stats_hist *h = s->hists;
        s->hists = h->next;
        free(h);
    }
    free(s);
}
