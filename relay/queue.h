/*
 * queue.h - the listener's side of the durable queue: an atomic Redis
 * script that, for each MESSAGE, checks the tenant, the edge, the token,
 * the rate limit, the queue depth and the idempotency window, and appends
 * the notification to its provider stream in its queue shard (relay/keys.h).
 * The caller answers the SIP request from the verdict only after Redis
 * replied, so a 202 always means "stored".
 */
#ifndef PUSHRELAY_QUEUE_H
#define PUSHRELAY_QUEUE_H

#include <stddef.h>
#include "pushrelay/notif.h"
#include "keys.h"
#include "rconn.h"

struct queue;

/* What the ingest script decided. 'status' is the SIP status to answer. */
struct queue_verdict {
    int status;             /* 202, 403, 410, 503 (or 503 when Redis failed) */
    int duplicate;          /* 202 for a repeat inside the dedup window */
    int retry_after_s;      /* for 503 */
    char why[128];          /* Warning text for non-2xx */
};

typedef void (*queue_done_cb)(void *arg, const struct queue_verdict *v);

/*
 * queue_new binds the queue to 'rc' and 'keys' (not owned; keys->shards is
 * the S that notifications are spread over) with the listener's limits.
 * Requests made during one turn of 'base' are sent to Redis together at the
 * end of that turn, one script call per queue shard, and counted against
 * that turn's second for the rate limit (each shard admits ceil(limit / S)).
 * A pipelined burst that finds two script calls unanswered waits for one
 * of them and leaves with what arrived meanwhile.
 */
int queue_new(struct event_base *base, struct rconn *rc, const struct keys *keys,
              long long high_water, int dedup_window_s, struct queue **out);

/*
 * queue_ingest runs the ingest script for 'n' (encoded now; the caller may
 * free 'n' on return), presented by a TLS peer whose certificate carries
 * the DNS names 'sans[0..n_sans)'. Returns 0 and later calls 'cb' exactly
 * once, never before returning; or PR_EREDIS when Redis is not connected,
 * PR_ETOOBIG or PR_ENOMEM (no callback). Requests in one shard are answered
 * in the order they were made; requests in different shards in any order.
 */
int queue_ingest(struct queue *q, const struct pr_notif *n, const char *const *sans,
                 size_t n_sans, queue_done_cb cb, void *arg);

/*
 * queue_set_limits changes the high water mark and the dedup window
 * (federation.queue_high_water, dedup_window_s) for script calls sent from
 * now on: a configuration reload.
 */
void queue_set_limits(struct queue *q, long long high_water, int dedup_window_s);

/*
 * queue_copies_checked tells 'q' that every shard's copy of every tenant
 * record has been checked (relay/tenant.h, tenant_repair_start): from then
 * on a shard without a copy of a domain's record answers 403, not enabled.
 * Before, it answers 503 + Retry-After: 1, since the copy may not be
 * written yet.
 */
void queue_copies_checked(struct queue *q);

/* queue_free answers requests not yet sent with 503 and frees 'q' (NULL is fine). */
void queue_free(struct queue *q);

#endif
