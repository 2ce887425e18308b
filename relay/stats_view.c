/*
 * stats_view.c - read side of the stats hashes (see stats_view.h and the
 * layout drawn at the top of relay/stats.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pushrelay/error.h"
#include "stats.h"
#include "stats_view.h"

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
    /*
     * Every bound relay/stats.c writes, each at 0 until its first sample:
     * Prometheus expects a histogram's buckets to stay the same over time.
     * A bound found in the hash but not written today is shown too.
     */
    size_t nb;
    const int64_t *bounds = stats_hist_bounds(&nb);
    for (size_t i = 0; i < nb; i++)
        stats_view__slot(h, raw, bounds[i]);
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

/* ---------------------------------------------------------------------------
 * Counters
 * ------------------------------------------------------------------------- */

int stats_view_counter_rank(const char *name)
{
    enum stats_counter c;
    return stats_counter_parse(name, &c) == 0 ? (int)c : STATS_COUNTER_COUNT;
}

static struct stats_view_counter *stats_view__row(struct stats_view_counters *v, const char *name)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->c[i].name, name) == 0)
            return &v->c[i];
    if (v->n >= STATS_VIEW_MAX_COUNTERS || strlen(name) >= sizeof(v->c[0].name))
        return NULL;
    struct stats_view_counter *c = &v->c[v->n++];
    memset(c, 0, sizeof(*c));
    strcpy(c->name, name);
    return c;
}

void stats_view_counters_add(struct stats_view_counters *v, const redisReply *r, enum stats_view_into into,
                             double weight)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *f = r->element[i]->str;
        if (f == NULL || r->element[i + 1]->str == NULL)
            continue;
        long long n = strtoll(r->element[i + 1]->str, NULL, 10);
        const char *colon = strchr(f, ':');
        enum pr_provider p = PR_PROVIDER_COUNT;
        const char *name = f;
        if (colon != NULL) {
            char pn[16];
            snprintf(pn, sizeof(pn), "%.*s", (int)(colon - f), f);
            name = colon + 1;
            int all = strcmp(pn, "all") == 0;
            if (!all && pr_provider_parse(pn, &p) != 0)
                continue;
            if (!all && into != STATS_VIEW_TOTALS)
                continue;       /* windows are shown for all providers together */
        }
        struct stats_view_counter *c = stats_view__row(v, name);
        if (c == NULL)
            continue;
        if (into == STATS_VIEW_TOTALS && p < PR_PROVIDER_COUNT)
            c->prov[p] += n;
        else if (into == STATS_VIEW_TOTALS)
            c->total += n;
        else if (into == STATS_VIEW_HOUR)
            c->hour += n;
        else
            c->minute += weight * (double)n;
    }
}

static int stats_view__cmp(const void *a, const void *b)
{
    const struct stats_view_counter *x = a, *y = b;
    int rx = stats_view_counter_rank(x->name), ry = stats_view_counter_rank(y->name);
    return rx != ry ? rx - ry : strcmp(x->name, y->name);
}

void stats_view_counters_sort(struct stats_view_counters *v)
{
    qsort(v->c, v->n, sizeof(v->c[0]), stats_view__cmp);
}

/* stats_view__stages appends the counter list as the HELP text names it: "received, ..., rejected_<status>, ...". */
static void stats_view__stages(struct evbuffer *b)
{
    for (int c = 0; c < STATS_COUNTER_COUNT; c++)
        evbuffer_add_printf(b, "%s%s%s", c > 0 ? ", " : "", stats_counter_name((enum stats_counter)c),
                            stats_counter_per_status((enum stats_counter)c) ? "_<status>" : "");
}

void stats_view_metrics_counters(struct evbuffer *b, const redisReply *total)
{
    if (total == NULL || total->type != REDIS_REPLY_ARRAY)
        return;
    evbuffer_add_printf(b, "# HELP pushrelay_notifications_total Notifications by provider and stage (");
    stats_view__stages(b);
    evbuffer_add_printf(b, ").\n# TYPE pushrelay_notifications_total counter\n");
    for (size_t i = 0; i + 1 < total->elements; i += 2) {
        const char *field = total->element[i]->str, *colon = field != NULL ? strchr(field, ':') : NULL;
        if (colon == NULL || strncmp(field, "all:", 4) == 0 || total->element[i + 1]->str == NULL)
            continue;
        /* Label values come from our own writes, but escape anyway: the format forbids raw quotes. */
        evbuffer_add_printf(b, "pushrelay_notifications_total{provider=\"%.*s\",stage=\"",
                            (int)(colon - field), field);
        for (const char *p = colon + 1; *p; p++)
            evbuffer_add_printf(b, (*p == '"' || *p == '\\') ? "\\%c" : "%c", *p);
        evbuffer_add_printf(b, "\"} %s\n", total->element[i + 1]->str);
    }
}
