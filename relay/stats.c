/*
 * stats.c - Redis-backed counters and latency histograms. Increments land in
 * small in-memory tables and are flushed once a second as one pipelined
 * batch of HINCRBY commands, so counting costs no Redis round trip on the
 * hot path. Called by the listener and the dispatcher; pushrelayctl's
 * dlq replay writes through stats_append_incr (same layout, no buffer).
 * The counters themselves are STATS_COUNTER_MAP in stats.h. Reading the
 * stats back is relay/stats_view.c's job.
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
 *   <p>stats:hist:<prov>:<name>            hash, no TTL; name from STATS_HIST_MAP
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
 * (stats_bounds below, read by stats_view.c through stats_hist_bounds) are
 * fixed: changing them changes the field names.
 *
 * Counters are buffered until the connection is up: a Redis outage delays
 * increments, it does not drop them. An increment Redis refuses (OOM once
 * maxmemory is reached, a read-only replica, an ACL) was not applied, so its
 * reply puts it back in the buffer for the next flush. Only a flush whose
 * connection is lost before the replies arrive can lose (at most one second
 * of) increments: whether those landed is unknown, and counting them again
 * could count them twice.
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

/* ---------------------------------------------------------------------------
 * The counter and histogram lists (STATS_COUNTER_MAP, STATS_HIST_MAP)
 * ------------------------------------------------------------------------- */

struct stats_counter_def {
    const char *name;
    int per_status;
    enum pr_outcome outcome;
};

static const struct stats_counter_def stats_counters[STATS_COUNTER_COUNT] = {
#define STATS__DEF(id, name, per_status, outcome) [STATS_##id] = { name, per_status, outcome },
    STATS_COUNTER_MAP(STATS__DEF)
#undef STATS__DEF
};

static const char *const stats_hists[STATS_HIST_COUNT] = {
#define STATS__DEF(id, name) [STATS_HIST_##id] = name,
    STATS_HIST_MAP(STATS__DEF)
#undef STATS__DEF
};

const char *stats_counter_name(enum stats_counter c)
{
    return (unsigned)c < STATS_COUNTER_COUNT ? stats_counters[c].name : "?";
}

int stats_counter_per_status(enum stats_counter c)
{
    return (unsigned)c < STATS_COUNTER_COUNT && stats_counters[c].per_status;
}

int stats_counter_field(enum stats_counter c, int status, char *buf, size_t buflen)
{
    if ((unsigned)c >= STATS_COUNTER_COUNT)
        return PR_EINVAL;
    int n = stats_counters[c].per_status ? snprintf(buf, buflen, "%s_%d", stats_counters[c].name, status)
                                         : snprintf(buf, buflen, "%s", stats_counters[c].name);
    return n < 0 || (size_t)n >= buflen ? PR_ETOOBIG : n;
}

int stats_counter_parse(const char *name, enum stats_counter *out)
{
    for (int c = 0; c < STATS_COUNTER_COUNT; c++) {
        const char *stem = stats_counters[c].name;
        size_t n = strlen(stem);
        if (strncmp(name, stem, n) != 0)
            continue;
        /* per-status: "<stem>_" and digits; else the whole name */
        if (stats_counters[c].per_status ? (name[n] == '_' && name[n + 1] >= '0' && name[n + 1] <= '9' &&
                                            strspn(name + n + 1, "0123456789") == strlen(name + n + 1))
                                         : name[n] == '\0') {
            *out = (enum stats_counter)c;
            return 0;
        }
    }
    return PR_ENOTFOUND;
}

enum stats_counter stats_counter_of_outcome(enum pr_outcome o)
{
    for (int c = 0; c < STATS_COUNTER_COUNT; c++)
        if (stats_counters[c].outcome == o && o != PR_OUTCOME_COUNT)
            return (enum stats_counter)c;
    return STATS_COUNTER_COUNT;
}

const char *stats_hist_name(enum stats_hist h)
{
    return (unsigned)h < STATS_HIST_COUNT ? stats_hists[h] : "?";
}

/* ---------------------------------------------------------------------------
 * Where an increment lands
 * ------------------------------------------------------------------------- */

/* stats__target sets 'out' to (key, field); 0, or -1 when either does not fit. */
static int stats__target(struct stats_target *out, int key_len, const char *field, int expire)
{
    if (key_len < 0 || strlen(field) >= sizeof(out->field))
        return -1;
    strcpy(out->field, field);
    out->expire = expire;
    return 0;
}

int stats_targets(const struct keys *k, enum pr_provider p, const char *domain, const char *counter,
                  long long minute, struct stats_target out[STATS_TARGETS_MAX])
{
    char pfield[STATS_FIELD_MAX + 16], afield[STATS_FIELD_MAX + 16];
    int n = 0;
    snprintf(pfield, sizeof(pfield), "%s:%s", pr_provider_name(p), counter);
    snprintf(afield, sizeof(afield), "all:%s", counter);

    int kl = keys_stats_total(k, out[n].key, sizeof(out[n].key));
    n += stats__target(&out[n], kl, pfield, 0) == 0;
    kl = keys_stats_total(k, out[n].key, sizeof(out[n].key));
    n += stats__target(&out[n], kl, afield, 0) == 0;
    kl = keys_stats_minute(k, minute, out[n].key, sizeof(out[n].key));
    n += stats__target(&out[n], kl, pfield, 0) == 0;
    /* The TTL rides on the "all:" field: every increment writes it once. */
    kl = keys_stats_minute(k, minute, out[n].key, sizeof(out[n].key));
    n += stats__target(&out[n], kl, afield, 1) == 0;
    if (domain != NULL && domain[0] != '\0') {
        kl = keys_stats_domain(k, domain, out[n].key, sizeof(out[n].key));
        n += stats__target(&out[n], kl, counter, 0) == 0;
        kl = keys_stats_domain(k, domain, out[n].key, sizeof(out[n].key));
        n += stats__target(&out[n], kl, pfield, 0) == 0;
    }
    return n;
}

int stats_window_s(int window_h)
{
    return (window_h > 0 ? window_h : 48) * 3600;
}

int stats_append_incr(redisContext *redis, const struct keys *k, int window_h, enum pr_provider p,
                      const char *domain, enum stats_counter c, long n)
{
    char field[STATS_FIELD_MAX], num[24], ttl[16];
    struct stats_target t[STATS_TARGETS_MAX];
    if (stats_counter_per_status(c))
        return PR_EINVAL;
    int rc = stats_counter_field(c, 0, field, sizeof(field));
    if (rc < 0)
        return rc;
    snprintf(num, sizeof(num), "%ld", n);
    snprintf(ttl, sizeof(ttl), "%d", stats_window_s(window_h));
    int nt = stats_targets(k, p, domain, field, pr_now_ms() / 60000, t), sent = 0;
    for (int i = 0; i < nt; i++) {
        const char *hincr[] = { "HINCRBY", t[i].key, t[i].field, num };
        if (redisAppendCommandArgv(redis, 4, hincr, NULL) != REDIS_OK)
            return PR_EREDIS;
        sent++;
        if (t[i].expire) {
            const char *expire[] = { "EXPIRE", t[i].key, ttl };
            if (redisAppendCommandArgv(redis, 3, expire, NULL) != REDIS_OK)
                return PR_EREDIS;
            sent++;
        }
    }
    return sent;
}

/* ---------------------------------------------------------------------------
 * The daemon's buffer
 * ------------------------------------------------------------------------- */

/* Upper bounds (ms) of the histogram buckets, roughly 1-2-5 log spaced. */
static const int64_t stats_bounds[] = {
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000, 300000
};
#define STATS_NBOUNDS (sizeof(stats_bounds) / sizeof(stats_bounds[0]))

const int64_t *stats_hist_bounds(size_t *n)
{
    *n = STATS_NBOUNDS;
    return stats_bounds;
}

/* One buffered counter: HINCRBY 'key' 'field' 'n'. */
struct stats_ctr {
    char *key;
    char *field;
    long long n;
    int expire;                 /* a per-minute bucket: EXPIRE after the HINCRBY */
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
struct stats_hbuf {
    enum pr_provider provider;
    enum stats_hist hist;
    long long buckets[STATS_NBOUNDS + 1];
    long long count;
    long long sum_ms;
    int dirty;
    struct stats_hbuf *next;
};

/*
 * What an HINCRBY awaiting its reply knows of the stats that sent it:
 * stats_free cuts the link (s = NULL) and the last reply frees it.
 */
struct stats_link {
    struct stats *s;
    size_t refs;                /* the stats, and each HINCRBY in flight */
};

/* One HINCRBY in flight: what goes back into the buffer if Redis refuses it. */
struct stats_sent {
    struct stats_link *link;
    long long n;
    int expire;
    const char *field;          /* points into key[]: after its NUL */
    char key[];
};

struct stats {
    struct event_base *base;
    struct rconn *rc;
    struct stats_link *link;
    unsigned long refused;      /* increments refused since Redis last took one */
    struct keys keys;
    int window_s;
    struct event *timer;
    struct stats_ctr *table[STATS_BUCKETS];
    size_t n_ctrs;
    struct stats_ev *evs[STATS_BUCKETS];
    struct stats_hbuf *hists;
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

static void stats_add(struct stats *s, const char *key, const char *field, int expire, long long n)
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
    c->expire = expire;
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
    s->window_s = stats_window_s(window_h);
    s->timer = event_new(base, -1, EV_PERSIST, stats_on_timer, s);
    s->link = malloc(sizeof(*s->link));
    if (s->timer == NULL || s->link == NULL) {
        if (s->timer != NULL)
            event_free(s->timer);
        free(s->link);
        free(s);
        return PR_ENOMEM;
    }
    *s->link = (struct stats_link){ s, 1 };
    struct timeval tv = { STATS_FLUSH_MS / 1000, (STATS_FLUSH_MS % 1000) * 1000 };
    event_add(s->timer, &tv);
    *out = s;
    return 0;
}

/* stats_spread adds event 'e' to the counters of every hash it feeds. */
static void stats_spread(struct stats *s, const struct stats_ev *e)
{
    struct stats_target t[STATS_TARGETS_MAX];
    int n = stats_targets(&s->keys, e->provider, e->domain, e->counter, e->minute, t);
    for (int i = 0; i < n; i++)
        stats_add(s, t[i].key, t[i].field, t[i].expire, e->n);
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

/* stats__incr buffers 'n' more of field 'counter' (a full name: "rejected_403"). */
static void stats__incr(struct stats *s, enum pr_provider p, const char *domain, const char *counter, long n)
{
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

void stats_incr(struct stats *s, enum pr_provider p, const char *domain, enum stats_counter c, long n)
{
    /* The field is the counter's name: no copy (this runs for every MESSAGE). */
    if (s == NULL || n == 0 || (unsigned)c >= STATS_COUNTER_COUNT || stats_counters[c].per_status)
        return;
    stats__incr(s, p, domain, stats_counters[c].name, n);
}

void stats_incr_status(struct stats *s, enum pr_provider p, const char *domain, enum stats_counter c,
                       int status, long n)
{
    char field[STATS_FIELD_MAX];
    if (s == NULL || n == 0 || !stats_counter_per_status(c) ||
        stats_counter_field(c, status, field, sizeof(field)) < 0)
        return;
    stats__incr(s, p, domain, field, n);
}

void stats_observe(struct stats *s, enum pr_provider p, enum stats_hist hist, int64_t ms)
{
    if (s == NULL || (unsigned)hist >= STATS_HIST_COUNT)
        return;
    struct stats_hbuf *h;
    for (h = s->hists; h != NULL; h = h->next)
        if (h->provider == p && h->hist == hist)
            break;
    if (h == NULL) {
        if ((h = calloc(1, sizeof(*h))) == NULL)
            return;
        h->provider = p;
        h->hist = hist;
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

static void stats_link_put(struct stats_link *l)
{
    if (--l->refs == 0)
        free(l);
}

/*
 * stats_on_hincr: an increment Redis refused goes back into the buffer;
 * the first refusal and the first increment taken after some are logged,
 * not every flush in between.
 */
static void stats_on_hincr(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct stats_sent *x = arg;
    struct stats *s = x->link->s;
    if (s != NULL && reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        stats_add(s, x->key, x->field, x->expire, x->n);
        if (s->refused++ == 0)
            pr_log_warn(STATS_MOD, "Redis refuses stats writes (%s): increments are kept and sent again "
                                   "each second", reply->str != NULL ? reply->str : "error");
    } else if (s != NULL && reply != NULL && s->refused > 0) {
        pr_log_info(STATS_MOD, "Redis takes stats writes again (%lu refused increments were kept and "
                               "sent again)", s->refused);
        s->refused = 0;
    }
    stats_link_put(x->link);
    free(x);
}

/*
 * stats_send_hincr sends HINCRBY 'key' 'field' 'n' (a per-minute key when
 * 'expire'); 0 or PR_EREDIS (not sent: the caller keeps the increment).
 */
static int stats_send_hincr(struct stats *s, const char *key, const char *field, int expire, long long n)
{
    char num[32];
    snprintf(num, sizeof(num), "%lld", n);
    const char *argv[] = { "HINCRBY", key, field, num };
    size_t kl = strlen(key) + 1, fl = strlen(field) + 1;
    struct stats_sent *x = malloc(sizeof(*x) + kl + fl);
    if (x == NULL)      /* sent without a reply to wait for, as before */
        return rconn_cmd(s->rc, NULL, NULL, 4, argv, NULL);
    *x = (struct stats_sent){ .link = s->link, .n = n, .expire = expire };
    memcpy(x->key, key, kl);
    x->field = memcpy(x->key + kl, field, fl);
    if (rconn_cmd(s->rc, stats_on_hincr, x, 4, argv, NULL) != 0) {
        free(x);
        return PR_EREDIS;
    }
    s->link->refs++;
    return 0;
}

/*
 * stats_flush_ctrs sends every buffered counter and forgets it once sent.
 * A per-minute key gets its EXPIRE right after its "all:" HINCRBY of this
 * flush (EXPIRE re-sets the TTL: harmless and keeps the window sliding).
 */
static void stats_flush_ctrs(struct stats *s)
{
    for (size_t b = 0; b < STATS_BUCKETS; b++) {
        struct stats_ctr **pc = &s->table[b];
        while (*pc != NULL) {
            struct stats_ctr *c = *pc;
            if (c->n != 0 && stats_send_hincr(s, c->key, c->field, c->expire, c->n) != 0)
                return;         /* connection went down: keep the rest */
            if (c->expire) {
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
    char key[STATS_KEY_MAX], field[32];
    for (struct stats_hbuf *h = s->hists; h != NULL; h = h->next) {
        if (!h->dirty)
            continue;
        if (keys_stats_hist(&s->keys, h->provider, stats_hist_name(h->hist), key, sizeof(key)) < 0)
            continue;
        for (size_t i = 0; i <= STATS_NBOUNDS; i++) {
            if (h->buckets[i] == 0)
                continue;
            if (i < STATS_NBOUNDS)
                snprintf(field, sizeof(field), "le_%lld", (long long)stats_bounds[i]);
            else
                snprintf(field, sizeof(field), "le_inf");
            if (stats_send_hincr(s, key, field, 0, h->buckets[i]) != 0)
                return;
            h->buckets[i] = 0;
        }
        if (stats_send_hincr(s, key, "count", 0, h->count) != 0)
            return;
        h->count = 0;
        if (stats_send_hincr(s, key, "sum_ms", 0, h->sum_ms) != 0)
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
    s->link->s = NULL;          /* replies still on their way find no stats */
    stats_link_put(s->link);
    for (size_t b = 0; b < STATS_BUCKETS; b++) {
        while (s->table[b] != NULL) {
            struct stats_ctr *c = s->table[b];
            s->table[b] = c->next;
            stats_ctr_free(c);
        }
    }
    while (s->hists != NULL) {
        struct stats_hbuf *h = s->hists;
        s->hists = h->next;
        free(h);
    }
    free(s);
}
