/*
 * stats.h - Redis-backed counters and latency histograms (design section 7,
 * pr:stats:*). Increments are buffered in memory and flushed once a second
 * as one pipelined batch, so counting never adds a Redis round trip to the
 * hot path. Lost increments on a crash are bounded to the last second.
 *
 * The counters and histograms are the lists below: the enums, their names,
 * the display order, the /metrics help text, the README's counter table
 * (checked by tests/unit/test_stats_names.c) all come from them.
 */
#ifndef PUSHRELAY_STATS_H
#define PUSHRELAY_STATS_H

#include <stdint.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include "pushrelay/outcome.h"
#include "pushrelay/provider.h"
#include "keys.h"
#include "rconn.h"

/*
 * Every counter, in the order of a notification's life (the order
 * `pushrelayctl stats` shows them in):
 *
 *   XX(ID, name, per_status, outcome)
 *
 * 'per_status' counters are one field per SIP status: "<name>_<status>"
 * (rejected_403). 'outcome' is the delivery outcome the dispatcher counts
 * under this counter (PR_OUTCOME_COUNT: none). Names are an interface
 * (Redis fields, stats output, the /metrics "stage" label): keep them.
 * What each one counts is documented once, in README.md's counter table.
 */
#define STATS_COUNTER_MAP(XX)                                   \
    XX(RECEIVED, "received", 0, PR_OUTCOME_COUNT)               \
    XX(QUEUED, "queued", 0, PR_OUTCOME_COUNT)                   \
    XX(DUPLICATE, "duplicate", 0, PR_OUTCOME_COUNT)             \
    XX(REJECTED, "rejected", 1, PR_OUTCOME_COUNT)               \
    XX(DELIVERED, "delivered", 0, PR_OUTCOME_DELIVERED)         \
    XX(RETRIED, "retried", 0, PR_OUTCOME_RETRY)                 \
    XX(EXPIRED, "expired", 0, PR_OUTCOME_EXPIRED)               \
    XX(TOKEN_DEAD, "token_dead", 0, PR_OUTCOME_TOKEN_DEAD)      \
    XX(DEAD_LETTERED, "dead_lettered", 0, PR_OUTCOME_DEAD_LETTER) \
    XX(REPLAYED, "replayed", 0, PR_OUTCOME_COUNT)

enum stats_counter {
#define STATS__ENUM(id, name, per_status, outcome) STATS_##id,
    STATS_COUNTER_MAP(STATS__ENUM)
#undef STATS__ENUM
    STATS_COUNTER_COUNT
};

/* Latency histograms in milliseconds, XX(ID, name): e2e is 202 to final outcome, rtt the provider round trip. */
#define STATS_HIST_MAP(XX) \
    XX(E2E, "e2e")         \
    XX(RTT, "rtt")

enum stats_hist {
#define STATS__ENUM(id, name) STATS_HIST_##id,
    STATS_HIST_MAP(STATS__ENUM)
#undef STATS__ENUM
    STATS_HIST_COUNT
};

/* stats_counter_name: "received", ...; for a per-status counter its stem ("rejected"); "?" if out of range. */
const char *stats_counter_name(enum stats_counter c);

/* stats_counter_per_status: 1 when 'c' is written as "<name>_<status>" fields. */
int stats_counter_per_status(enum stats_counter c);

/*
 * stats_counter_field writes the field name of counter 'c' ('status' is
 * used only by per-status counters) into 'buf'. Returns its length, or
 * PR_ETOOBIG / PR_EINVAL.
 */
int stats_counter_field(enum stats_counter c, int status, char *buf, size_t buflen);

/*
 * stats_counter_parse finds the counter a field name ("delivered",
 * "rejected_403") belongs to; 0, or PR_ENOTFOUND for a name not in the list.
 */
int stats_counter_parse(const char *name, enum stats_counter *out);

/* stats_counter_of_outcome: the counter outcome 'o' lands in; STATS_COUNTER_COUNT for none (REAUTH). */
enum stats_counter stats_counter_of_outcome(enum pr_outcome o);

/* stats_hist_name: "e2e", "rtt"; "?" if out of range. */
const char *stats_hist_name(enum stats_hist h);

/* stats_hist_bounds: the upper bounds (ms, ascending, '*n' of them) of the "le_<ms>" buckets written. */
const int64_t *stats_hist_bounds(size_t *n);

/* ---------------------------------------------------------------------------
 * Where one increment lands (the layout drawn in stats.c). The daemon's
 * buffer and pushrelayctl's direct writes both go through this.
 * ------------------------------------------------------------------------- */

#define STATS_TARGETS_MAX 6
#define STATS_KEY_MAX (KEYS_PREFIX_MAX + 300)   /* "stats:domain:" + a DNS name */
#define STATS_FIELD_MAX 64

struct stats_target {
    char key[STATS_KEY_MAX];
    char field[STATS_FIELD_MAX];
    int expire;                 /* 1: a per-minute bucket, give the key its TTL */
};

/*
 * stats_targets fills 'out' with the HINCRBY targets of one increment of
 * field 'counter' (from stats_counter_field) by provider 'p' for 'domain'
 * (NULL or "": none) in epoch minute 'minute'. Returns how many; a target
 * whose key or field does not fit is left out (only an overlong domain
 * can do that), so the totals are still counted.
 */
int stats_targets(const struct keys *k, enum pr_provider p, const char *domain, const char *counter,
                  long long minute, struct stats_target out[STATS_TARGETS_MAX]);

/* stats_window_s: the per-minute buckets' TTL in seconds for monitoring.stats_window_h 'window_h'. */
int stats_window_s(int window_h);

/*
 * stats_append_incr appends (redisAppendCommandArgv, no reply read) the
 * commands that add 'n' to counter 'c' now: for pushrelayctl, which writes
 * inside its own MULTI/EXEC. Returns how many commands it appended (the
 * caller reads that many replies), or PR_EINVAL for a per-status counter,
 * PR_ETOOBIG, PR_EREDIS.
 */
int stats_append_incr(redisContext *redis, const struct keys *k, int window_h, enum pr_provider p,
                      const char *domain, enum stats_counter c, long n);

/* ---------------------------------------------------------------------------
 * The daemon's buffer
 * ------------------------------------------------------------------------- */

struct stats;

/* stats_new flushes through 'rc' (not owned) every second; 'window_h' bounds per-minute buckets. */
int stats_new(struct event_base *base, struct rconn *rc, const struct keys *keys, int window_h,
              struct stats **out);

/* stats_incr adds 'n' to counter 'c' (not a per-status one) for the provider, for 'domain' (may be NULL) and in total. */
void stats_incr(struct stats *s, enum pr_provider p, const char *domain, enum stats_counter c, long n);

/* stats_incr_status is stats_incr for a per-status counter: adds to "<name>_<status>". */
void stats_incr_status(struct stats *s, enum pr_provider p, const char *domain, enum stats_counter c,
                       int status, long n);

/* stats_observe records one latency sample in histogram 'h'. */
void stats_observe(struct stats *s, enum pr_provider p, enum stats_hist h, int64_t ms);

/* stats_flush sends what is buffered now (also done by the timer). */
void stats_flush(struct stats *s);

/*
 * stats_sync flushes what is buffered now and calls 'done' once Redis has
 * answered every increment sent so far (or at once, from the loop, when
 * Redis is unreachable): a clean stop calls it before freeing the Redis
 * connection, which would drop commands still unsent.
 */
void stats_sync(struct stats *s, void (*done)(void *arg), void *arg);

/* stats_free flushes what is buffered, then frees. */
void stats_free(struct stats *s);

#endif
