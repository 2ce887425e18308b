/*
 * stats_view.h - reading back what relay/stats.c writes: a latency
 * histogram hash turned into sorted cumulative buckets with quantiles.
 * Used by /metrics (relay/monitor.c) and `pushrelayctl stats`
 * (relay/ctl_stats.c); writing stays stats.c's alone.
 *
 * Buckets are the bounds stats.c writes today plus any other "le_<ms>"
 * field found in the hash, so a reader shows a stable set of buckets and
 * never hides one the writer uses.
 */
#ifndef PUSHRELAY_STATS_VIEW_H
#define PUSHRELAY_STATS_VIEW_H

#include <stddef.h>
#include <stdint.h>
#include <hiredis/hiredis.h>

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
 * stats_view_counter_rank orders counter names for display: the stages of
 * a notification's life first (received, queued, rejected_*, delivered,
 * retried, expired, token_dead, dead_lettered, replayed), others after.
 */
int stats_view_counter_rank(const char *name);

#endif
