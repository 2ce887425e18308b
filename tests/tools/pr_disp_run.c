/*
 * pr_disp_run.c - test tool: runs the dispatcher alone (what
 * `pushrelayd --role dispatcher` does, without the listener or /metrics)
 * so dispatcher tests depend on nothing but the config, Redis and the
 * provider endpoints. Not installed.
 *
 * It wires the dispatcher as pushrelayd does (keys, the stats buffer and
 * its connection built here, handed to disp_new).
 *
 *   pr_disp_run -c FILE
 *
 * SIGTERM or SIGINT: disp_stop, then exit once it calls done (in-flight work
 * finished or left pending for reclaim). SIGHUP: load the file again and
 * disp_reload it (a refused file keeps the running config). Exit 0 after a clean stop, 1 when
 * the dispatcher could not start, 2 on usage or config errors.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "dispatcher.h"
#include "keys.h"
#include "pushrelay/config.h"
#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "rconn.h"
#include "stats.h"

struct run {
    struct event_base *base;
    struct keys keys;
    struct rconn *rc_stats;     /* wired as pushrelayd wires its roles */
    struct stats *stats;
    struct disp *disp;
    struct cfg *cfg;
    const char *path;
    int stopping;
};

static void run_on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct run *r = arg;
    char err[512];
    struct cfg *cfg = NULL;
    if (cfg_load(r->path, &cfg, err, sizeof(err)) != 0) {
        pr_log_error("pr_disp_run", "reload refused: %s", err);
        return;
    }
    int rc = disp_reload(r->disp, cfg);
    if (rc != 0) {
        pr_log_error("pr_disp_run", "reload refused: %s", pr_strerror(rc));
        cfg_free(cfg);
        return;
    }
    cfg_free(r->cfg);
    r->cfg = cfg;
    pr_log_set_level(cfg->log_level);
}

static void run_on_done(void *arg)
{
    struct run *r = arg;
    event_base_loopexit(r->base, NULL);
}

static void run_on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct run *r = arg;
    if (r->stopping)
        return;
    r->stopping = 1;
    pr_log_info("pr_disp_run", "signal %d: stopping", (int)sig);
    disp_stop(r->disp, run_on_done, r);
}

int main(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "-c") != 0) {
        fprintf(stderr, "usage: pr_disp_run -c FILE\n");
        return 2;
    }
    char err[512];
    struct run r = { .path = argv[2] };
    if (cfg_load(r.path, &r.cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    pr_log_set_level(r.cfg->log_level);
    signal(SIGPIPE, SIG_IGN);

    int rc = 1;
    struct event *sigterm = NULL, *sigint = NULL, *sighup = NULL;
    if ((r.base = event_base_new()) == NULL)
        goto out;
    int err_code;
    if ((err_code = keys_init(&r.keys, r.cfg->redis.prefix)) != 0 ||
        (err_code = keys_set_shards(&r.keys, r.cfg->redis.shards)) != 0 ||
        (err_code = rconn_new(r.base, &r.cfg->redis, "pushrelay-stats", NULL, NULL, &r.rc_stats)) != 0 ||
        (err_code = stats_new(r.base, r.rc_stats, &r.keys, r.cfg->monitoring.stats_window_h,
                              &r.stats)) != 0 ||
        (err_code = disp_new(r.base, r.cfg, &r.keys, r.stats, &r.disp)) != 0) {
        fprintf(stderr, "pr_disp_run: dispatcher: %s\n", pr_strerror(err_code));
        rc = err_code == PR_ECONFIG ? 2 : 1;
        goto out;
    }
    sigterm = evsignal_new(r.base, SIGTERM, run_on_signal, &r);
    sigint = evsignal_new(r.base, SIGINT, run_on_signal, &r);
    sighup = evsignal_new(r.base, SIGHUP, run_on_hup, &r);
    if (sigterm == NULL || sigint == NULL || sighup == NULL || event_add(sigterm, NULL) ||
        event_add(sigint, NULL) || event_add(sighup, NULL))
        goto out;
    event_base_dispatch(r.base);
    rc = 0;
out:
    disp_free(r.disp);
    stats_free(r.stats);
    rconn_free(r.rc_stats);
    if (sigterm != NULL)
        event_free(sigterm);
    if (sigint != NULL)
        event_free(sigint);
    if (sighup != NULL)
        event_free(sighup);
    if (r.base != NULL)
        event_base_free(r.base);
    cfg_free(r.cfg);
    return rc;
}
