/*
 * monitor.h - the monitoring endpoints on monitoring.listen (libevent
 * evhttp): /healthz (the loop answers), /readyz (Redis reachable and, for a
 * dispatcher, a provider usable), /metrics (Prometheus text format: live
 * gauges of this process and the Redis-backed counters of the cluster).
 */
#ifndef PUSHRELAY_MONITOR_H
#define PUSHRELAY_MONITOR_H

#include <event2/event.h>
#include "pushrelay/config.h"

struct monitor;
struct fed;
struct disp;
struct rconn;
struct keys;

/* What the endpoints read; any pointer may be NULL when the role is absent. */
struct monitor_sources {
    struct fed *fed;
    struct disp *disp;
    struct rconn *rc;           /* unused: the monitor keeps its own connection */
    const struct keys *keys;
};

int monitor_new(struct event_base *base, const struct cfg *cfg, const struct monitor_sources *src,
                struct monitor **out);
void monitor_reload(struct monitor *m, const struct cfg *cfg);
void monitor_free(struct monitor *m);

#endif
