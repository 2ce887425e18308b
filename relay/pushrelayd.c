/*
 * pushrelayd - the relay daemon: one libevent loop running the listener
 * role (SIP/TLS ingest into Redis), the dispatcher role (Redis to the push
 * providers), or both. Processes share nothing but Redis, so capacity grows
 * by running one process per core (SO_REUSEPORT on the SIP port, one
 * consumer group for dispatchers): --workers N makes this process a
 * supervisor of N such workers (relay/supervisor.c), each started again as
 * "pushrelayd ... --worker K" with its link to the supervisor on a socket.
 *
 *   pushrelayd -c FILE [--role listener|dispatcher|all] [--workers N|auto] [--check-config]
 *
 * Signals: SIGTERM/SIGINT stop gracefully (stop accepting, finish what is
 * in flight, hand the rest back to Redis), SIGHUP reloads the configuration
 * (a broken file is refused and the old one stays in force).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <event2/event.h>

#include "pushrelay/config.h"
#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "certinfo.h"
#include "dispatcher.h"
#include "fed_listener.h"
#include "keys.h"
#include "monitor.h"
#include "queue.h"
#include "tenant.h"
#include "rconn.h"
#include "stats.h"
#include "supervisor.h"

#define PR_STOP_GRACE_S 10

enum role { ROLE_LISTENER = 1, ROLE_DISPATCHER = 2, ROLE_ALL = 3 };

struct relay {
    struct event_base *base;
    struct cfg *cfg;
    struct cfg *old_cfgs[8];    /* reloaded configs, kept until exit (see relay_reload) */
    size_t n_old;
    enum role role;
    /* Built once whatever the role: under --role all both roles count into one buffer. */
    struct keys keys;
    struct rconn *rc_stats;     /* the stats buffer's Redis connection */
    struct stats *stats;
    struct rconn *rc;           /* the listener's Redis connection (ingest) */
    struct queue *queue;
    enum { REPAIR_DONE, REPAIR_DUE, REPAIR_RUNNING, REPAIR_RUNNING_DUE } repair;   /* tenant copies */
    struct fed *fed;
    struct disp *disp;
    struct monitor *monitor;
    struct certinfo_watch *certwatch;   /* the daily expiry warning */
    int worker;                 /* k under a supervisor (--worker K), -1 alone */
    struct sup_link *link;      /* the worker's link to its supervisor */
    struct event *sig_term, *sig_int, *sig_hup, *stop_timer;
    int stopping;
    int disp_done;
    int64_t stop_deadline_ms;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: pushrelayd -c FILE [--role listener|dispatcher|all] [--workers N|auto] [--check-config]\n"
            "  -c, --config FILE   configuration file (libconfig syntax)\n"
            "  --role ROLE         listener (SIP/TLS ingest), dispatcher (delivery) or all (default)\n"
            "  --workers N|auto    N worker processes under one supervisor (auto: one per online core;\n"
            "                      default 1: this process does the work itself)\n"
            "  --check-config      validate FILE and exit: 0 valid, 2 refused\n");
}

/* ------------------------------------------------------------------------ */
/* Roles                                                                     */
/* ------------------------------------------------------------------------ */

static void worker_probe(void *arg, struct monitor_probe *out);
static void worker_orphaned(void *arg);

/* ------------------------------------------------------------------------
 * Tenant copies: the listener makes every queue shard's copy of the tenant
 * records match them (relay/tenant.h) when it starts and on every reload,
 * once its Redis connection is up; a pass that failed somewhere runs again
 * at the next (re)connection. Until its first pass ended without a failure
 * the queue answers a shard without a copy with 503, not 403
 * (queue_copies_checked), so every listener process makes its own pass.
 * ------------------------------------------------------------------------ */

static void relay_repair_kick(struct relay *r);

static void relay_repair_done(void *arg, unsigned failed)
{
    struct relay *r = arg;
    int again = r->repair == REPAIR_RUNNING_DUE;
    if (failed == 0 && r->queue != NULL)
        queue_copies_checked(r->queue);
    r->repair = failed > 0 || again ? REPAIR_DUE : REPAIR_DONE;
    if (again && !r->stopping)
        relay_repair_kick(r);
}

/* relay_repair_kick starts a pass when one is due and Redis is reachable. */
static void relay_repair_kick(struct relay *r)
{
    if (r->repair != REPAIR_DUE || r->rc == NULL || !rconn_connected(r->rc))
        return;
    if (tenant_repair_start(r->rc, &r->keys, relay_repair_done, r) == 0)
        r->repair = REPAIR_RUNNING;
}

static void relay_listener_state(struct rconn *rc, int connected, void *arg)
{
    (void)rc;
    struct relay *r = arg;
    if (connected)
        relay_repair_kick(r);
}

/* relay_repair_due asks for a pass (start, SIGHUP). */
static void relay_repair_due(struct relay *r)
{
    if (!(r->role & ROLE_LISTENER))
        return;
    if (r->repair == REPAIR_RUNNING || r->repair == REPAIR_RUNNING_DUE) {
        r->repair = REPAIR_RUNNING_DUE;
        return;
    }
    r->repair = REPAIR_DUE;
    relay_repair_kick(r);
}

/*
 * relay_start wires the roles: the keys, the stats buffer and its Redis
 * connection are built here once and handed to each role, which adds the
 * connections of its own (listener: one for ingest; dispatcher: one for
 * XREADGROUP, one for writes).
 */
static int relay_start(struct relay *r)
{
    int rc;
    if ((rc = keys_init(&r->keys, r->cfg->redis.prefix)) != 0 ||
        (rc = keys_set_shards(&r->keys, r->cfg->redis.shards)) != 0 ||
        (rc = rconn_new(r->base, &r->cfg->redis, "pushrelay-stats", NULL, NULL, &r->rc_stats)) != 0 ||
        (rc = stats_new(r->base, r->rc_stats, &r->keys, r->cfg->monitoring.stats_window_h,
                        &r->stats)) != 0)
        return rc;
    if (r->role & ROLE_LISTENER) {
        relay_repair_due(r);    /* runs once the connection is up */
        if ((rc = rconn_new(r->base, &r->cfg->redis, "pushrelay-listener", relay_listener_state, r,
                            &r->rc)) != 0 ||
            (rc = queue_new(r->base, r->rc, &r->keys, r->cfg->federation.queue_high_water,
                            r->cfg->federation.dedup_window_s, &r->queue)) != 0 ||
            (rc = fed_new(r->base, r->cfg, r->queue, r->stats, &r->fed)) != 0)
            return rc;
    }
    if (r->role & ROLE_DISPATCHER) {
        if ((rc = disp_new(r->base, r->cfg, &r->keys, r->stats, &r->disp)) != 0)
            return rc;
        if (r->worker >= 0) {
            char consumer[160];
            snprintf(consumer, sizeof(consumer), "%s-%d", r->cfg->node_id ? r->cfg->node_id : "relay",
                     r->worker);
            if ((rc = disp_set_consumer(r->disp, consumer)) != 0)
                return rc;
        }
    }
    /* Under a supervisor, it serves the monitoring port; this worker answers its probes. */
    if (r->worker >= 0 &&
        (rc = sup_link_new(r->base, SUP_LINK_FD, worker_probe, worker_orphaned, r, &r->link)) != 0)
        return rc;
    if (r->cfg->monitoring.listen.port != 0 && r->worker < 0) {
        struct monitor_sources src = { r->fed, r->disp, r->rc, &r->keys, NULL };
        if ((rc = monitor_new(r->base, r->cfg, &src, &r->monitor)) != 0)
            return rc;
    }
    if (r->worker > 0)
        return 0;       /* worker 0 alone logs the daily expiry warning for the host */
    return certinfo_watch_new(r->base, r->cfg, &r->certwatch);
}

static void relay_free(struct relay *r)
{
    sup_link_free(r->link);
    monitor_free(r->monitor);
    certinfo_watch_free(r->certwatch);
    if (r->fed != NULL)
        fed_free(r->fed);
    if (r->disp != NULL)
        disp_free(r->disp);
    if (r->stats != NULL)
        stats_free(r->stats);
    if (r->queue != NULL)
        queue_free(r->queue);
    r->queue = NULL;            /* a copy pass ended by rconn_free must not reach it */
    rconn_free(r->rc);
    rconn_free(r->rc_stats);
}

/* ------------------------------------------------------------------------ */
/* Signals                                                                   */
/* ------------------------------------------------------------------------ */

static void disp_stopped(void *arg)
{
    struct relay *r = arg;
    r->disp_done = 1;
}

static void stats_synced(void *arg)
{
    struct relay *r = arg;
    event_base_loopexit(r->base, NULL);
}

/* Exit once the dispatcher handed back its work and no ingest is pending. */
static void stop_check_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct relay *r = arg;
    int ingest_pending = r->rc != NULL && rconn_connected(r->rc) && rconn_pending(r->rc) > 0;
    if ((r->disp == NULL || r->disp_done) && !ingest_pending) {
        /* Last, the counters of both roles: exit once Redis has them. */
        if (r->stats != NULL)
            stats_sync(r->stats, stats_synced, r);
        else
            event_base_loopexit(r->base, NULL);
        return;
    }
    if (pr_now_ms() >= r->stop_deadline_ms) {
        pr_log_warn("pushrelayd", "stop: grace period of %d s over; unfinished work stays in Redis",
                    PR_STOP_GRACE_S);
        event_base_loopexit(r->base, NULL);
        return;
    }
    struct timeval tv = { 0, 50000 };
    evtimer_add(r->stop_timer, &tv);
}

/* relay_stop starts the graceful stop: no new work, finish what is in flight. */
static void relay_stop(struct relay *r)
{
    r->stopping = 1;
    r->stop_deadline_ms = pr_now_ms() + PR_STOP_GRACE_S * 1000;
    if (r->fed != NULL)
        fed_stop(r->fed);
    if (r->disp != NULL)
        disp_stop(r->disp, disp_stopped, r);
    stop_check_cb(-1, 0, r);
}

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct relay *r = arg;
    if (r->stopping) {
        pr_log_warn("pushrelayd", "signal %d again: exiting now", (int)sig);
        event_base_loopexit(r->base, NULL);
        return;
    }
    pr_log_info("pushrelayd", "signal %d: stopping (finishing in-flight work)", (int)sig);
    relay_stop(r);
}

/* ------------------------------------------------------------------------ */
/* Under a supervisor                                                        */
/* ------------------------------------------------------------------------ */

static void worker_probe(void *arg, struct monitor_probe *out)
{
    struct relay *r = arg;
    struct monitor_sources src = { r->fed, r->disp, r->rc, &r->keys, NULL };
    monitor_probe_take(&src, out);
}

/* The supervisor died (its end of the link closed): nobody would restart or stop us, so drain and exit. */
static void worker_orphaned(void *arg)
{
    struct relay *r = arg;
    if (r->stopping)
        return;
    pr_log_warn("pushrelayd", "worker %d: supervisor gone; stopping (finishing in-flight work)", r->worker);
    relay_stop(r);
}

/* parse_workers reads --workers: a count, or "auto" for the online cores. 0 when invalid. */
static int parse_workers(const char *arg)
{
    if (strcmp(arg, "auto") == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n < 1 ? 1 : n > SUP_MAX_WORKERS ? SUP_MAX_WORKERS : (int)n;
    }
    char *end;
    long n = strtol(arg, &end, 10);
    return *arg == '\0' || *end != '\0' || n < 1 || n > SUP_MAX_WORKERS ? 0 : (int)n;
}

/*
 * SIGHUP: load the file again; on success every module switches to the new
 * configuration. The previous one is kept alive (bounded) because requests
 * in flight may still point into it.
 */
static void on_reload(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct relay *r = arg;
    char err[512];
    struct cfg *next = NULL;
    if (cfg_load(r->cfg->path, &next, err, sizeof(err)) != 0) {
        pr_log_error("pushrelayd", "reload refused, keeping the running configuration: %s", err);
        return;
    }
    if (r->fed != NULL && fed_reload(r->fed, next) != 0) {
        pr_log_error("pushrelayd", "reload refused: federation TLS files unusable; keeping the running configuration");
        cfg_free(next);
        return;
    }
    if (r->disp != NULL && disp_reload(r->disp, next) != 0) {
        pr_log_error("pushrelayd", "reload refused: provider credentials unusable; keeping the running configuration");
        if (r->fed != NULL)
            fed_reload(r->fed, r->cfg); /* the running files loaded before, they load again */
        cfg_free(next);
        return;
    }
    if (r->n_old == sizeof(r->old_cfgs) / sizeof(r->old_cfgs[0])) {
        cfg_free(r->old_cfgs[0]);
        memmove(r->old_cfgs, r->old_cfgs + 1, sizeof(r->old_cfgs) - sizeof(r->old_cfgs[0]));
        r->n_old--;
    }
    r->old_cfgs[r->n_old++] = r->cfg;
    r->cfg = next;
    pr_log_set_level(next->log_level);
    if (r->queue != NULL)
        queue_set_limits(r->queue, next->federation.queue_high_water,
                         next->federation.dedup_window_s);
    monitor_reload(r->monitor, next);
    certinfo_watch_reload(r->certwatch, next);
    relay_repair_due(r);
    if (r->worker >= 0)
        pr_log_info("pushrelayd", "configuration reloaded from %s (worker %d)", next->path, r->worker);
    else
        pr_log_info("pushrelayd", "configuration reloaded from %s", next->path);
}

/* ------------------------------------------------------------------------ */
/* main                                                                      */
/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'c' },
        { "role", required_argument, NULL, 'r' },
        { "check-config", no_argument, NULL, 'k' },
        { "workers", required_argument, NULL, 'w' },
        { "worker", required_argument, NULL, 'W' },    /* internal: how the supervisor starts worker K */
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *path = NULL;
    int check_only = 0, opt, workers = 1;
    const char *role_name = "all";
    struct relay r = { .role = ROLE_ALL, .worker = -1 };

    while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 'k': check_only = 1; break;
        case 'h': usage(stdout); return 0;
        case 'w':
            if ((workers = parse_workers(optarg)) == 0) {
                fprintf(stderr, "pushrelayd: --workers: \"%s\" is not a count from 1 to %d or auto\n", optarg,
                        SUP_MAX_WORKERS);
                return 2;
            }
            break;
        case 'W': {
            char *end;
            long k = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || k < 0 || k >= SUP_MAX_WORKERS) {
                fprintf(stderr, "pushrelayd: --worker: bad index \"%s\"\n", optarg);
                return 2;
            }
            r.worker = (int)k;
            break;
        }
        case 'r':
            role_name = optarg;
            if (strcmp(optarg, "listener") == 0) r.role = ROLE_LISTENER;
            else if (strcmp(optarg, "dispatcher") == 0) r.role = ROLE_DISPATCHER;
            else if (strcmp(optarg, "all") == 0) r.role = ROLE_ALL;
            else {
                fprintf(stderr, "pushrelayd: --role: unknown role \"%s\" (listener, dispatcher, all)\n", optarg);
                return 2;
            }
            break;
        default: usage(stderr); return 2;
        }
    }
    if (path == NULL || optind != argc) {
        fprintf(stderr, path == NULL ? "pushrelayd: -c FILE is required\n"
                                     : "pushrelayd: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    char err[512];
    if (cfg_load(path, &r.cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "pushrelayd: %s\n", err);
        return 2;
    }
    if (check_only) {
        printf("%s: configuration is valid\n", path);
        cfg_free(r.cfg);
        return 0;
    }
    pr_log_set_level(r.cfg->log_level);
    signal(SIGPIPE, SIG_IGN);
    if (workers > 1 && r.worker < 0) {
        int sup_rc = sup_run(r.cfg, role_name, workers);
        if (sup_rc != 0 && sup_rc != PR_ETIMEDOUT)
            pr_log_error("pushrelayd", "supervisor: %s", pr_strerror(sup_rc));
        return sup_rc == 0 ? 0 : sup_rc == PR_ECONFIG ? 2 : 1;
    }

    int rc = 1;
    /*
     * With the changelist, an event added and removed again within one
     * loop turn (a write interest that a write satisfied at once) costs no
     * epoll_ctl. pushrelayd never dup()s a watched descriptor, the one
     * case the changelist gets wrong.
     */
    struct event_config *ecfg = event_config_new();
    if (ecfg == NULL)
        goto out;
    event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    r.base = event_base_new_with_config(ecfg);
    event_config_free(ecfg);
    if (r.base == NULL)
        goto out;
    r.sig_term = evsignal_new(r.base, SIGTERM, on_stop, &r);
    r.sig_int = evsignal_new(r.base, SIGINT, on_stop, &r);
    r.sig_hup = evsignal_new(r.base, SIGHUP, on_reload, &r);
    r.stop_timer = evtimer_new(r.base, stop_check_cb, &r);
    if (!r.sig_term || !r.sig_int || !r.sig_hup || !r.stop_timer)
        goto out;
    evsignal_add(r.sig_term, NULL);
    evsignal_add(r.sig_int, NULL);
    evsignal_add(r.sig_hup, NULL);

    int err_rc = relay_start(&r);
    if (err_rc != 0) {
        pr_log_error("pushrelayd", "cannot start: %s", pr_strerror(err_rc));
        rc = err_rc == PR_ECONFIG ? 2 : 1;
        goto out;
    }
    if (r.worker >= 0)
        pr_log_info("pushrelayd", "%s worker %d started (role %s, pid %d)", r.cfg->node_id, r.worker,
                    role_name, (int)getpid());
    else
        pr_log_info("pushrelayd", "%s started (role %s, pid %d)", r.cfg->node_id, role_name, (int)getpid());
    event_base_dispatch(r.base);
    pr_log_info("pushrelayd", "stopped");
    rc = 0;
out:
    relay_free(&r);
    if (r.base != NULL) /* let libevent finish closing what the modules just released */
        event_base_loop(r.base, EVLOOP_NONBLOCK);
    if (r.sig_term) event_free(r.sig_term);
    if (r.sig_int) event_free(r.sig_int);
    if (r.sig_hup) event_free(r.sig_hup);
    if (r.stop_timer) event_free(r.stop_timer);
    if (r.base) event_base_free(r.base);
    for (size_t i = 0; i < r.n_old; i++)
        cfg_free(r.old_cfgs[i]);
    cfg_free(r.cfg);
    return rc;
}
