/*
 * stats_view.h - reading back what relay/stats.c writes: counter hashes
 * summed per counter name (the rows of `pushrelayctl stats`) and rendered
 * as /metrics series; a latency histogram hash turned into sorted
 * cumulative buckets with quantiles. Used by /metrics (relay/monitor.c)
 * and `pushrelayctl stats` (relay/ctl_stats.c); writing stays stats.c's alone.
 *
 * Buckets are the bounds stats.c writes today plus any other "le_<ms>"
 * field found in the hash, so a reader shows a stable set of buckets and
 * never hides one the writer uses.
 */
#ifndef PUSHRELAY_STATS_VIEW_H
#define PUSHRELAY_STATS_VIEW_H

#include <stddef.h>
#include <stdint.h>
#include <event2/buffer.h>
#include <hiredis/hiredis.h>
#include "pushrelay/provider.h"

#define STATS_VIEW_MAX_BUCKETS 64

struct stats_view_hist {
    size_t n;                                   /* finite buckets, ascending bound */
    int64_t le[STATS_VIEW_MAX_BUCKETS];         /* upper bound (ms) */
    long long cum[STATS_VIEW_MAX_BUCKETS];      /* cumulative count, bound included */
    long long count;                            /* every sample (the +Inf bucket) */
    long long sum_ms;
};

/*
 * stats_view_hist_parse reads an HGETALL reply of <p>stats:hist:<prov>:<name>
 * into 'h' (an empty reply gives every known bucket at 0). Unknown fields
 * are ignored. "count" is taken as written when
 * present; the +Inf bucket is then max(count, sum of buckets) so that the
 * buckets stay monotonic even when a writer's flush was cut half way.
 * Returns 0, or PR_EINVAL when 'r' is not a field/value array.
 */
int stats_view_hist_parse(const redisReply *r, struct stats_view_hist *h);

/*
 * stats_view_quantile estimates quantile 'q' (0..1) in ms by linear
 * interpolation inside the bucket that holds it (the Prometheus
 * histogram_quantile rule). Samples above the last finite bound give that
 * bound. Returns -1 when there are no samples.
 */
double stats_view_quantile(const struct stats_view_hist *h, double q);

/*
 * stats_view_counter_rank orders counter names for display: the counters
 * of STATS_COUNTER_MAP (relay/stats.h) in its order (every status of a
 * per-status counter shares one rank), names not in the list after them.
 */
int stats_view_counter_rank(const char *name);

/* ---------------------------------------------------------------------------
 * Counter rows
 * ------------------------------------------------------------------------- */

#define STATS_VIEW_MAX_COUNTERS 64

/* One counter summed over the hashes read. */
struct stats_view_counter {
    char name[64];
    long long total;
    long long prov[PR_PROVIDER_COUNT];
    long long hour;             /* sum of the last hour's minute buckets */
    double minute;              /* sliding last-minute estimate */
};

struct stats_view_counters {
    size_t n;
    struct stats_view_counter c[STATS_VIEW_MAX_COUNTERS];
};

enum stats_view_into {
    STATS_VIEW_TOTALS,          /* stats:total or stats:domain:<d>: total and per provider */
    STATS_VIEW_HOUR,            /* a minute bucket of the last hour: "all:" fields */
    STATS_VIEW_MINUTE           /* a minute bucket in the last-minute estimate, weighted */
};

/*
 * stats_view_counters_add adds the fields of one stats hash (an HGETALL
 * reply; fields "<prov>:<counter>", "all:<counter>" or, in a domain hash,
 * "<counter>") to the rows of 'v', creating a row per new counter name.
 * 'weight' scales STATS_VIEW_MINUTE values. Fields of unknown providers
 * and anything that is not a field/value array are skipped.
 */
void stats_view_counters_add(struct stats_view_counters *v, const redisReply *r, enum stats_view_into into,
                             double weight);

/* stats_view_counters_sort orders the rows by stats_view_counter_rank, then name. */
void stats_view_counters_sort(struct stats_view_counters *v);

/*
 * stats_view_metrics_counters appends the Prometheus series
 * pushrelay_notifications_total{provider,stage} of an HGETALL reply of
 * <p>stats:total to 'b' (nothing when 'total' is NULL or not an array).
 */
void stats_view_metrics_counters(struct evbuffer *b, const redisReply *total);

#endif
