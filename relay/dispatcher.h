/*
 * dispatcher.h - the delivery side of pushrelayd: reads each provider
 * stream through the consumer group, hands notifications to the provider
 * clients, and turns each answer into exactly one final outcome (delivered,
 * expired, token dead, dead letter) or a retry. Called by pushrelayd's main.
 */
#ifndef PUSHRELAY_DISPATCHER_H
#define PUSHRELAY_DISPATCHER_H

#include <event2/event.h>
#include "pushrelay/config.h"
#include "keys.h"
#include "stats.h"

struct disp;

/*
 * disp_new builds the dispatcher for 'cfg' (which must outlive it, until
 * disp_reload swaps it) and starts reading as soon as Redis is reachable.
 * 'keys' (copied) names the Redis keys; outcomes are counted in 'stats',
 * the process's one stats buffer, which the caller owns and frees after
 * disp_free. Fails with PR_ECONFIG when an app's credentials cannot be
 * loaded.
 */
int disp_new(struct event_base *base, const struct cfg *cfg, const struct keys *keys,
             struct stats *stats, struct disp **out);

/*
 * disp_stop stops reading new work; in-flight notifications finish (or are
 * handed back by leaving them pending for reclaim) and 'done' runs once
 * nothing is in flight and the stats counted so far have landed in Redis.
 */
void disp_stop(struct disp *d, void (*done)(void *arg), void *arg);

/*
 * disp_set_consumer names this dispatcher's consumer 'name' instead of the
 * default "<node_id>-<pid>". Call it right after disp_new, before the loop
 * runs: a worker of a supervisor passes "<node_id>-<k>" so that a restarted
 * worker is the same consumer and its pending entries are its own again.
 * PR_EINVAL when 'name' does not fit.
 */
int disp_set_consumer(struct disp *d, const char *name);

/*
 * disp_reload switches to 'cfg' (apps, credentials, limits): new requests go
 * to new provider clients, requests already sent finish on the clients that
 * sent them (nothing is sent twice because of a reload), and those clients
 * are freed once drained. They never read the previous configuration again,
 * so the caller may free it when this returns 0. PR_ECONFIG (the running
 * configuration stays) when an app's credentials cannot be loaded.
 */
int disp_reload(struct disp *d, const struct cfg *cfg);

/* Gauges for /metrics and /readyz. */
struct disp_stats {
    long in_flight;
    long stalled;           /* past stall_after_ms, out of the window (disp_stall.c) */
    int redis_connected;
    int providers_ready;    /* clients usable or connectable */
};
void disp_get_stats(const struct disp *d, struct disp_stats *out);

void disp_free(struct disp *d);

#endif
