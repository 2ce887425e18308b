/*
 * ctl_stats.c - pushrelayctl stats: the Redis-backed counters and latency
 * histograms written by relay/stats.c, as a table, as JSON (--json), or
 * redrawn every second with per-second rates (--watch, until SIGINT).
 *
 * What is shown (cluster-wide unless --domain):
 *   per counter   total, per provider, last hour (the 60 per-minute buckets
 *                 up to now), last minute (a sliding estimate: this minute's
 *                 bucket plus the part of the previous one still inside the
 *                 last 60 s) and its rate per second
 *   per provider  e2e and rtt latency: count, mean, p50/p95/p99 (ms)
 * With --domain only the domain's totals exist (relay/stats.c keeps no
 * per-domain minute buckets nor histograms); the rest is left out.
 */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "pushrelay/error.h"
#include "pushrelay/notif.h"
#include "ctl.h"
#include "dnsname.h"
#include "stats.h"
#include "stats_view.h"

#define ST_WINDOW_MIN 60
#define ST_NHIST STATS_HIST_COUNT

/* One reading of every figure. */
struct st_snap {
    const char *domain;                 /* NULL: cluster-wide */
    int64_t at_ms;
    struct stats_view_counters ctr;
    struct stats_view_hist hist[PR_PROVIDER_COUNT][ST_NHIST];
    /* cluster-wide only: the queue now, summed over the S queue shards */
    long long queued[PR_PROVIDER_COUNT], retry, dead;
};

/*
 * st_read_queue adds up the queue of every shard into 's': per shard
 * k, XLEN <p>{q<k>}:in:<provider> for each provider, ZCARD <p>{q<k>}:retry
 * and XLEN <p>{q<k>}:dead. Every command goes to the Redis serving its key;
 * all are sent before any reply is read (one round trip per Redis).
 */
static int st_read_queue(struct ctl *ctl, struct st_snap *s)
{
    enum { PER_SHARD = PR_PROVIDER_COUNT + 2 };
    size_t n = (size_t)ctl->keys.shards * PER_SHARD;
    redisContext **to = calloc(n, sizeof(*to));
    char key[KEYS_MAX];
    size_t sent = 0;
    int rc = PR_EREDIS;

    if (to == NULL)
        return PR_ENOMEM;
    for (unsigned k = 0; k < ctl->keys.shards; k++)
        for (int i = 0; i < PER_SHARD; i++) {
            const char *cmd = i == PR_PROVIDER_COUNT ? "ZCARD" : "XLEN";
            if (i < PR_PROVIDER_COUNT)
                keys_q_stream(&ctl->keys, k, (enum pr_provider)i, key, sizeof(key));
            else if (i == PR_PROVIDER_COUNT)
                keys_q_retry(&ctl->keys, k, key, sizeof(key));
            else
                keys_q_dead(&ctl->keys, k, key, sizeof(key));
            const char *argv[] = { cmd, key };
            if ((to[sent] = ctl_redis_at(ctl, key)) == NULL ||
                redisAppendCommandArgv(to[sent], 2, argv, NULL) != REDIS_OK)
                goto out;
            sent++;
        }
    for (size_t j = 0; j < n; j++) {
        redisReply *r = NULL;
        if (redisGetReply(to[j], (void **)&r) != REDIS_OK || r == NULL)
            goto out;
        int ok = r->type == REDIS_REPLY_INTEGER;
        int i = (int)(j % PER_SHARD);
        long long *sum = i < PR_PROVIDER_COUNT ? &s->queued[i] : i == PR_PROVIDER_COUNT ? &s->retry : &s->dead;
        *sum += ok ? r->integer : 0;
        freeReplyObject(r);
        if (!ok)
            goto out;
    }
    rc = 0;
out:
    free(to);
    return rc;
}

/*
 * st_get sends the queued commands' replies into 'replies' (caller frees).
 * Each goes to the Redis serving its key (argvs[i][1]): under Redis
 * Cluster the stats hashes live on several primaries.
 */
static int st_pipeline(struct ctl *ctl, size_t n, const char *const (*argvs)[2], redisReply **replies)
{
    redisContext **to = calloc(n > 0 ? n : 1, sizeof(*to));
    int rc = PR_EREDIS;
    if (to == NULL)
        return PR_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if ((to[i] = ctl_redis_at(ctl, argvs[i][1])) == NULL ||
            redisAppendCommandArgv(to[i], 2, (const char **)argvs[i], NULL) != REDIS_OK)
            goto out;
    for (size_t i = 0; i < n; i++)
        if (redisGetReply(to[i], (void **)&replies[i]) != REDIS_OK)
            goto out;
    rc = 0;
out:
    free(to);
    return rc;
}

/* st_read fills 's' from Redis (one pipelined round trip). */
static int st_read(struct ctl *ctl, const char *domain, struct st_snap *s)
{
    enum { MAXQ = 1 + ST_WINDOW_MIN + 1 + PR_PROVIDER_COUNT * ST_NHIST };
    char keys[MAXQ][KEYS_MAX];
    const char *argvs[MAXQ][2];
    redisReply *rep[MAXQ] = { 0 };
    size_t n = 0;
    int rc;

    memset(s, 0, sizeof(*s));
    s->domain = domain;
    s->at_ms = pr_now_ms();
    long long now_min = s->at_ms / 60000;
    double into = (double)(s->at_ms % 60000) / 60000.0;

    if (domain != NULL)
        keys_stats_domain(&ctl->keys, domain, keys[n], KEYS_MAX);
    else
        keys_stats_total(&ctl->keys, keys[n], KEYS_MAX);
    n++;
    if (domain == NULL) {
        /* minute buckets now_min - 60 .. now_min: 60 for the hour, one more for the slide */
        for (int m = ST_WINDOW_MIN; m >= 0; m--) {
            keys_stats_minute(&ctl->keys, now_min - m, keys[n++], KEYS_MAX);
        }
        for (int p = 0; p < PR_PROVIDER_COUNT; p++)
            for (int h = 0; h < ST_NHIST; h++) {
                keys_stats_hist(&ctl->keys, (enum pr_provider)p, stats_hist_name((enum stats_hist)h),
                                keys[n++], KEYS_MAX);
            }
    }
    for (size_t i = 0; i < n; i++) {
        argvs[i][0] = "HGETALL";
        argvs[i][1] = keys[i];
    }
    if ((rc = st_pipeline(ctl, n, (const char *const (*)[2])argvs, rep)) != 0)
        goto out;
    rc = PR_EREDIS;
    for (size_t i = 0; i < n; i++)
        if (rep[i] == NULL || rep[i]->type != REDIS_REPLY_ARRAY)
            goto out;
    stats_view_counters_add(&s->ctr, rep[0], STATS_VIEW_TOTALS, 1);
    if (domain == NULL) {
        for (int m = 0; m <= ST_WINDOW_MIN; m++) {
            const redisReply *r = rep[1 + m];           /* m = 0: oldest (now - 60) */
            if (m >= 1)
                stats_view_counters_add(&s->ctr, r, STATS_VIEW_HOUR, 1);
            if (m == ST_WINDOW_MIN)
                stats_view_counters_add(&s->ctr, r, STATS_VIEW_MINUTE, 1);
            else if (m == ST_WINDOW_MIN - 1)
                stats_view_counters_add(&s->ctr, r, STATS_VIEW_MINUTE, 1.0 - into);
        }
        size_t i = 2 + ST_WINDOW_MIN;
        for (int p = 0; p < PR_PROVIDER_COUNT; p++)
            for (int h = 0; h < ST_NHIST; h++)
                stats_view_hist_parse(rep[i++], &s->hist[p][h]);
    }
    stats_view_counters_sort(&s->ctr);
    rc = domain == NULL ? st_read_queue(ctl, s) : 0;
out:
    for (size_t i = 0; i < n; i++)
        if (rep[i] != NULL)
            freeReplyObject(rep[i]);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------------- */

static long long st_find_total(const struct st_snap *s, const char *name)
{
    for (size_t i = 0; i < s->ctr.n; i++)
        if (strcmp(s->ctr.c[i].name, name) == 0)
            return s->ctr.c[i].total;
    return 0;
}

/*
 * st_print_table prints 's'. 'prev' (may be NULL) is the reading 'dt_s'
 * seconds earlier: with it the last column is the per-second rate between
 * the two readings (--watch), else the last minute's average.
 */
static void st_print_table(const struct st_snap *s, const struct st_snap *prev, double dt_s)
{
    char when[32];
    time_t t = (time_t)(s->at_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    printf("pushrelay stats %s%s at %s\n\n", s->domain ? "for domain " : "(all domains)",
           s->domain ? s->domain : "", when);
    /* One column per provider, headed by its wire name in capitals. */
    printf("%-16s %10s", "COUNTER", "TOTAL");
    for (int p = 0; p < PR_PROVIDER_COUNT; p++) {
        char head[16];
        const char *name = pr_provider_name((enum pr_provider)p);
        size_t k = 0;
        for (; name[k] != '\0' && k + 1 < sizeof(head); k++)
            head[k] = (char)toupper((unsigned char)name[k]);
        head[k] = '\0';
        printf(" %10s", head);
    }
    if (s->domain == NULL)
        printf(" %10s %10s %9s", "LAST HOUR", "LAST MIN", prev ? "NOW/S" : "RATE/S");
    printf("\n");
    if (s->ctr.n == 0)
        printf("(no counts yet)\n");
    for (size_t i = 0; i < s->ctr.n; i++) {
        const struct stats_view_counter *c = &s->ctr.c[i];
        printf("%-16s %10lld", c->name, c->total);
        for (int p = 0; p < PR_PROVIDER_COUNT; p++)
            printf(" %10lld", c->prov[p]);
        if (s->domain == NULL) {
            double rate = prev != NULL && dt_s > 0
                              ? (double)(c->total - st_find_total(prev, c->name)) / dt_s
                              : c->minute / 60.0;
            printf(" %10lld %10.0f %9.2f", c->hour, c->minute, rate);
        }
        printf("\n");
    }
    if (s->domain != NULL) {
        printf("\n(latency histograms and per-minute figures are kept for all domains together)\n");
        return;
    }
    long long queued = 0;
    for (int p = 0; p < PR_PROVIDER_COUNT; p++)
        queued += s->queued[p];
    printf("\n%-16s %10lld", "queue now", queued);
    for (int p = 0; p < PR_PROVIDER_COUNT; p++)
        printf(" %10lld", s->queued[p]);
    printf("\n%-16s %10lld\n%-16s %10lld\n", "retry set", s->retry, "dead letters", s->dead);
    printf("\n%-16s %10s %10s %10s %10s %10s\n", "LATENCY (ms)", "COUNT", "MEAN", "P50", "P95", "P99");
    int any = 0;
    for (int p = 0; p < PR_PROVIDER_COUNT; p++)
        for (int h = 0; h < ST_NHIST; h++) {
            const struct stats_view_hist *v = &s->hist[p][h];
            if (v->count == 0)
                continue;
            char label[32];
            snprintf(label, sizeof(label), "%s %s", pr_provider_name((enum pr_provider)p),
                     stats_hist_name((enum stats_hist)h));
            printf("%-16s %10lld %10.1f %10.1f %10.1f %10.1f\n", label, v->count,
                   (double)v->sum_ms / (double)v->count, stats_view_quantile(v, 0.50),
                   stats_view_quantile(v, 0.95), stats_view_quantile(v, 0.99));
            any = 1;
        }
    if (!any)
        printf("(no samples yet)\n");
    printf("(e2e: accepted -> final outcome; rtt: provider round trip; percentiles "
           "interpolated within histogram buckets)\n");
}

static json_t *st_json(const struct st_snap *s)
{
    json_t *root = json_object(), *counters = json_object();
    json_object_set_new(root, "domain", s->domain ? json_string(s->domain) : json_null());
    json_object_set_new(root, "at_ms", json_integer(s->at_ms));
    for (size_t i = 0; i < s->ctr.n; i++) {
        const struct stats_view_counter *c = &s->ctr.c[i];
        json_t *o = json_pack("{s:I}", "total", (json_int_t)c->total);
        json_t *byp = json_object();
        for (int p = 0; p < PR_PROVIDER_COUNT; p++)
            json_object_set_new(byp, pr_provider_name((enum pr_provider)p), json_integer(c->prov[p]));
        json_object_set_new(o, "providers", byp);
        if (s->domain == NULL) {
            json_object_set_new(o, "last_hour", json_integer(c->hour));
            json_object_set_new(o, "last_minute", json_integer((json_int_t)(c->minute + 0.5)));
            json_object_set_new(o, "rate_per_s", json_real(c->minute / 60.0));
        }
        json_object_set_new(counters, c->name, o);
    }
    json_object_set_new(root, "counters", counters);
    if (s->domain == NULL) {
        json_t *lat = json_object();
        for (int p = 0; p < PR_PROVIDER_COUNT; p++) {
            json_t *byh = json_object();
            for (int h = 0; h < ST_NHIST; h++) {
                const struct stats_view_hist *v = &s->hist[p][h];
                json_t *b = json_array();
                for (size_t i = 0; i < v->n; i++)
                    json_array_append_new(b, json_pack("{s:I,s:I}", "le", (json_int_t)v->le[i],
                                                       "count", (json_int_t)v->cum[i]));
                json_array_append_new(b, json_pack("{s:s,s:I}", "le", "+Inf", "count",
                                                   (json_int_t)v->count));
                json_t *o = json_pack("{s:I,s:I,s:o}", "count", (json_int_t)v->count, "sum_ms",
                                      (json_int_t)v->sum_ms, "buckets", b);
                const char *qn[] = { "p50", "p95", "p99" };
                const double qv[] = { 0.50, 0.95, 0.99 };
                for (int q = 0; q < 3; q++) {
                    double x = stats_view_quantile(v, qv[q]);
                    json_object_set_new(o, qn[q], x < 0 ? json_null() : json_real(x));
                }
                json_object_set_new(byh, stats_hist_name((enum stats_hist)h), o);
            }
            json_object_set_new(lat, pr_provider_name((enum pr_provider)p), byh);
        }
        json_object_set_new(root, "latency_ms", lat);
        json_t *byp = json_object();
        long long queued = 0;
        for (int p = 0; p < PR_PROVIDER_COUNT; p++) {
            json_object_set_new(byp, pr_provider_name((enum pr_provider)p), json_integer(s->queued[p]));
            queued += s->queued[p];
        }
        json_object_set_new(root, "queue", json_pack("{s:I, s:o, s:I, s:I}", "total", (json_int_t)queued,
                                                     "providers", byp, "retry_set", (json_int_t)s->retry,
                                                     "dead_letters", (json_int_t)s->dead));
    }
    return root;
}

static int st_failed(struct ctl *ctl, int rc)
{
    char addr[300];
    ctl_err("stats", "cannot read the stats from Redis at %s: %s",
            ctl_redis_addr(ctl, addr, sizeof(addr)),
            ctl->redis != NULL && ctl->redis->err ? ctl->redis->errstr : pr_strerror(rc));
    return CTL_EXIT_FAIL;
}

/*
 * st_watch redraws every second until SIGINT or SIGTERM, which 'set' holds
 * and which the caller blocked (before connecting or printing anything, so
 * that a signal sent once the first frame is on screen can only end the
 * loop cleanly, never kill the program with the default action).
 */
static int st_watch(struct ctl *ctl, const char *domain, const sigset_t *set)
{
    struct st_snap *cur = malloc(sizeof(*cur)), *prev = malloc(sizeof(*prev));
    int rc = CTL_EXIT_OK, have_prev = 0;
    if (cur == NULL || prev == NULL) {
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    for (;;) {
        int err = st_read(ctl, domain, cur);
        if (err != 0) {
            rc = st_failed(ctl, err);
            goto out;
        }
        printf("\033[H\033[2J");
        st_print_table(cur, have_prev ? prev : NULL,
                       have_prev ? (double)(cur->at_ms - prev->at_ms) / 1000.0 : 0);
        printf("\n(redrawn every second; Ctrl-C to stop)\n");
        fflush(stdout);
        struct st_snap *t = prev;
        prev = cur;
        cur = t;
        have_prev = 1;
        struct timespec ts = { 1, 0 };
        if (sigtimedwait(set, NULL, &ts) > 0)
            break;
    }
out:
    free(cur);
    free(prev);
    return rc;
}

int ctl_stats(struct ctl *ctl, int argc, char **argv)
{
    const char *domain = NULL;
    int as_json = 0, watch = 0;
    char dom[256];
    const struct ctl_opt opts[] = {
        { "--domain", CTL_OPT_STR, &domain, 0, 0 },
        { "--json", CTL_OPT_FLAG, &as_json, 0, 0 },
        { "--watch", CTL_OPT_FLAG, &watch, 0, 0 },
    };
    int rc = ctl_parse_opts(ctl, argc, argv, opts, sizeof(opts) / sizeof(opts[0]), NULL, 0, NULL);
    if (rc != 0)
        return rc;
    if (as_json && watch)
        return ctl_usage_error(ctl, "--json and --watch do not go together");
    if (domain != NULL) {
        if (dnsname_lower(domain, dom, sizeof(dom)) != 0)
            return ctl_usage_error(ctl, "--domain '%s': not a valid DNS name", domain);
        domain = dom;
    }
    if (watch) {
        sigset_t set, old;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        /* Blocked signals are taken synchronously in st_watch: no handler, no global flag. */
        sigprocmask(SIG_BLOCK, &set, &old);
        /*
         * An ignored signal is discarded, not left pending: a shell starts
         * background commands with SIGINT ignored, and Ctrl-C or `kill -INT`
         * must still stop the watch. Safe while blocked: nothing is delivered.
         */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        if ((rc = ctl_redis(ctl)) == 0)
            rc = st_watch(ctl, domain, &set);
        /* a second Ctrl-C still pending would kill us with 130 once unblocked */
        struct timespec zero = { 0, 0 };
        while (sigtimedwait(&set, NULL, &zero) > 0)
            ;
        sigprocmask(SIG_SETMASK, &old, NULL);
        return rc;
    }
    if ((rc = ctl_redis(ctl)) != 0)
        return rc;

    struct st_snap *s = malloc(sizeof(*s));
    if (s == NULL)
        return CTL_EXIT_FAIL;
    if ((rc = st_read(ctl, domain, s)) != 0) {
        free(s);
        return st_failed(ctl, rc);
    }
    if (as_json) {
        json_t *j = st_json(s);
        char *text = j != NULL ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        if (text != NULL)
            printf("%s\n", text);
        free(text);
        json_decref(j);
        rc = text != NULL ? CTL_EXIT_OK : CTL_EXIT_FAIL;
    } else {
        st_print_table(s, NULL, 0);
        rc = CTL_EXIT_OK;
    }
    free(s);
    return rc;
}
