/*
 * monitor.h - the monitoring endpoints on monitoring.listen (libevent
 * evhttp): /healthz (the loop answers), /readyz (Redis reachable and, for a
 * dispatcher, a provider usable), /metrics (Prometheus text format: live
 * gauges of this process and the Redis-backed counters of the cluster).
 *
 * Under a supervisor (pushrelayd --workers N) only the supervisor serves
 * the endpoints: it asks every worker for a monitor_probe (relay/supervisor.c
 * carries them over a socketpair), sums the per-process series, labels the
 * per-worker ones {worker="k"}, and is ready when every worker is.
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

/*
 * One process's live figures: what a worker hands its supervisor, and what
 * a lone process renders itself. Plain data of fixed size, so that it
 * crosses a socketpair between two processes of the same binary as is.
 */
struct monitor_probe {
    int has_fed, has_disp;      /* the roles this process runs */
    int connections;            /* open federation connections */
    long requests;              /* SIP requests framed since the process started */
    long in_flight;             /* notifications handed to providers, unanswered */
    long stalled;               /* also unanswered, out of the window after stall_after_ms */
    int providers_ready;        /* provider clients usable or connectable */
    int ready;                  /* 1 ready; 0 and 'why' says what is missing */
    char why[256];
    /* Filled by the supervisor, not the worker: */
    int up;                     /* 1: the worker answered this collection */
    long restarts;              /* times the supervisor restarted worker k */
};

/*
 * A supervisor's way to reach its workers: 'collect' asks each of the 'n'
 * workers for a probe and calls 'done' exactly once (possibly before it
 * returns) with n probes, probe k for worker k (up 0: no answer in time).
 */
typedef void (*monitor_collect_done)(const struct monitor_probe *probes, int n, void *arg);
struct monitor_workers {
    void (*collect)(void *ctx, monitor_collect_done done, void *arg);
    void *ctx;
};

/* What the endpoints read; any pointer may be NULL when the role is absent. */
struct monitor_sources {
    struct fed *fed;
    struct disp *disp;
    struct rconn *rc;           /* the listener's connection: read by monitor_probe_take only */
    const struct keys *keys;
    const struct monitor_workers *workers;  /* set: serve for a supervisor's workers */
};

/*
 * monitor_probe_take fills 'out' with this process's figures from 'src'
 * (fed, disp, rc); the readiness reason says why Redis is not usable and
 * where (rc's reason and address).
 */
void monitor_probe_take(const struct monitor_sources *src, struct monitor_probe *out);

int monitor_new(struct event_base *base, const struct cfg *cfg, const struct monitor_sources *src,
                struct monitor **out);
void monitor_reload(struct monitor *m, const struct cfg *cfg);
void monitor_free(struct monitor *m);

#endif
