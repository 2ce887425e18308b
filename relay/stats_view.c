/*
 * stats_view.c - read side of the stats hashes (see stats_view.h and the
 * layout drawn at the top of relay/stats.c).
 */
#include <stdlib.h>
#include <string.h>

#include "pushrelay/error.h"
#include "stats_view.h"

/*
 * The bounds relay/stats.c writes today. Listing them here lets a page
 * show every bucket (at 0) before its first sample, as Prometheus expects
 * a histogram's buckets to stay the same over time; a bound found in the
 * hash but not here is shown too, so a change in stats.c is never hidden.
 */
static const int64_t stats_view_bounds[] = {
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000, 300000
};

/* stats_view__slot returns the index of bound 'le' in 'h', inserting it (count 0) when new. */
static int stats_view__slot(struct stats_view_hist *h, long long *raw, int64_t le)
{
    size_t j = 0;
    while (j < h->n && h->le[j] < le)
        j++;
    if (j < h->n && h->le[j] == le)
        return (int)j;
    if (h->n >= STATS_VIEW_MAX_BUCKETS)
        return -1;
    memmove(&h->le[j + 1], &h->le[j], (h->n - j) * sizeof(h->le[0]));
    memmove(&raw[j + 1], &raw[j], (h->n - j) * sizeof(raw[0]));
    h->le[j] = le;
    raw[j] = 0;
    h->n++;
    return (int)j;
}

static long long stats_view__num(const redisReply *r)
{
    return (r != NULL && r->type == REDIS_REPLY_STRING) ? strtoll(r->str, NULL, 10) : 0;
}

int stats_view_hist_parse(const redisReply *r, struct stats_view_hist *h)
{
    long long raw[STATS_VIEW_MAX_BUCKETS], inf = 0, count = -1;
    memset(h, 0, sizeof(*h));
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return PR_EINVAL;
    for (size_t i = 0; i < sizeof(stats_view_bounds) / sizeof(stats_view_bounds[0]); i++)
        stats_view__slot(h, raw, stats_view_bounds[i]);
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i];
        if (f->type != REDIS_REPLY_STRING)
            continue;
        long long v = stats_view__num(r->element[i + 1]);
        if (strcmp(f->str, "count") == 0) {
            count = v;
        } else if (strcmp(f->str, "sum_ms") == 0) {
            h->sum_ms = v;
        } else if (strcmp(f->str, "le_inf") == 0) {
            inf += v;
        } else if (strncmp(f->str, "le_", 3) == 0) {
            char *end;
            long long le = strtoll(f->str + 3, &end, 10);
            if (*end != '\0' || end == f->str + 3)
                continue;
            int j = stats_view__slot(h, raw, le);
            if (j >= 0)
                raw[j] += v;
        }
    }
    long long run = 0;
    for (size_t i = 0; i < h->n; i++) {
        run += raw[i];
        h->cum[i] = run;
    }
    run += inf;
    h->count = count > run ? count : run;
    return 0;
}

double stats_view_quantile(const struct stats_view_hist *h, double q)
{
    if (h->count <= 0)
        return -1;
    double rank = q * (double)h->count;
    long long below = 0;
    double lower = 0;
    for (size_t i = 0; i < h->n; i++) {
        if ((double)h->cum[i] >= rank) {
            long long in = h->cum[i] - below;
            double upper = (double)h->le[i];
            if (in <= 0)
                return upper;
            return lower + (upper - lower) * ((rank - (double)below) / (double)in);
        }
        below = h->cum[i];
        lower = (double)h->le[i];
    }
    return h->n > 0 ? (double)h->le[h->n - 1] : -1;
}

int stats_view_counter_rank(const char *name)
{
    static const char *const order[] = { "received", "queued", "rejected_", "delivered", "retried",
                                         "expired", "token_dead", "dead_lettered", "replayed" };
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        size_t n = strlen(order[i]);
        if (order[i][n - 1] == '_' ? strncmp(name, order[i], n) == 0 : strcmp(name, order[i]) == 0)
            return (int)i;
    }
    return 100;
}
