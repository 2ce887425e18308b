/*
 * supervisor.c - pushrelayd --workers N (see supervisor.h): forks and
 * watches the workers, relays signals to them, and answers the monitoring
 * port from their probes. It does no relay work and holds no relay state:
 * everything that must survive lives in Redis, so a worker can die at any
 * moment and its replacement (same index k, same consumer name) carries on.
 *
 * Called by pushrelayd's main; the worker's end of the link (sup_link_*)
 * is called by the worker's main.
 *
 * Life of worker k:
 *
 *   spawn ──▶ RUNNING ──exit/kill──▶ BACKOFF ──timer──▶ spawn
 *                │                   (100 ms, doubling to 30 s while it
 *                │                    keeps dying within 10 s of its start)
 *                └──SIGTERM to all──▶ stopping: EXITED once reaped
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>
#include <event2/event.h>
#include <event2/util.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "pushrelay/notif.h"
#include "keys.h"
#include "monitor.h"
#include "supervisor.h"

#define SUP_MOD "supervisor"
#define SUP_BACKOFF_MIN_MS 100
#define SUP_BACKOFF_MAX_MS 30000
#define SUP_STABLE_MS 10000         /* a worker that lived this long restarts at the minimum backoff */
/* A worker's own stop grace is 10 s (pushrelayd.c); past this, SIGKILL. */
#define SUP_STOP_GRACE_S 20
#define SUP_PROBE_TIMEOUT_MS 1000   /* a worker silent this long counts as not answering */
#define SUP_KEEP_CFGS 8

/*
 * The link protocol, one SOCK_SEQPACKET message each way (both ends are
 * this binary, so the struct crosses as is):
 *
 *   supervisor ──▶ worker   uint32_t seq                 "probe, please"
 *   worker ──▶ supervisor   struct sup_reply {seq, probe} answers that seq
 *
 * A late answer to an earlier collection carries an old seq and is dropped.
 */
struct sup_reply {
    uint32_t seq;
    struct monitor_probe probe;
};

/* ------------------------------------------------------------------------ */
/* Supervisor state                                                          */
/* ------------------------------------------------------------------------ */

enum sup_worker_state { SW_RUNNING, SW_BACKOFF, SW_EXITED };

struct sup;

struct sup_worker {
    struct sup *s;
    int k;
    enum sup_worker_state state;
    pid_t pid;
    int fd;                     /* supervisor's end of the link; -1 when none */
    struct event *link_ev;
    struct event *restart_timer;
    int64_t started_ms;
    int backoff_ms;
    long restarts;
    uint32_t asked;             /* the collection this worker owes an answer; 0: none */
};

struct sup_waiter {
    monitor_collect_done done;
    void *arg;
    struct sup_waiter *next;
};

struct sup {
    struct event_base *base;
    struct cfg *cfg;
    struct cfg *old_cfgs[SUP_KEEP_CFGS];   /* the monitor's readyz text may point into them */
    size_t n_old;
    const char *role;
    int n;
    struct sup_worker *w;
    struct keys keys;
    struct monitor *monitor;
    struct monitor_workers mw;
    struct event *sig_term, *sig_int, *sig_hup, *sig_chld, *stop_timer, *probe_timer;
    int stopping;
    int killed;                 /* workers had to be SIGKILLed at the stop */
    /* The collection in progress (one at a time; later askers wait for it). */
    uint32_t seq;
    int collecting, pending;
    struct sup_waiter *waiters;
    struct monitor_probe *probes;
};

/* ------------------------------------------------------------------------ */
/* Probe collection                                                          */
/* ------------------------------------------------------------------------ */

static void sup_collect_finish(struct sup *s)
{
    s->collecting = 0;
    evtimer_del(s->probe_timer);
    struct sup_waiter *list = s->waiters;
    s->waiters = NULL;
    while (list != NULL) {
        struct sup_waiter *next = list->next;
        list->done(s->probes, s->n, list->arg);
        free(list);
        list = next;
    }
}

static void sup_on_probe_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sup *s = arg;
    for (int k = 0; k < s->n; k++)
        s->w[k].asked = 0;
    s->pending = 0;
    sup_collect_finish(s);
}

/* sup_answered takes worker 'w' off the collection it owed. */
static void sup_answered(struct sup_worker *w)
{
    struct sup *s = w->s;
    if (!s->collecting || w->asked != s->seq)
        return;
    w->asked = 0;
    if (--s->pending == 0)
        sup_collect_finish(s);
}

static void sup_collect(void *ctx, monitor_collect_done done, void *arg)
{
    struct sup *s = ctx;
    struct sup_waiter *wt = calloc(1, sizeof(*wt));
    if (wt == NULL) {
        /* No room to wait: answer with what is known, every worker unanswered. */
        memset(s->probes, 0, (size_t)s->n * sizeof(*s->probes));
        done(s->probes, s->n, arg);
        return;
    }
    wt->done = done;
    wt->arg = arg;
    wt->next = s->waiters;
    s->waiters = wt;
    if (s->collecting)
        return;
    s->collecting = 1;
    if (++s->seq == 0)
        s->seq = 1;
    s->pending = 0;
    for (int k = 0; k < s->n; k++) {
        struct sup_worker *w = &s->w[k];
        memset(&s->probes[k], 0, sizeof(s->probes[k]));
        s->probes[k].restarts = w->restarts;
        w->asked = 0;
        if (w->state != SW_RUNNING || w->fd < 0)
            continue;
        if (send(w->fd, &s->seq, sizeof(s->seq), MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof(s->seq)) {
            w->asked = s->seq;
            s->pending++;
        }
    }
    if (s->pending == 0) {
        sup_collect_finish(s);
        return;
    }
    struct timeval tv = { SUP_PROBE_TIMEOUT_MS / 1000, (SUP_PROBE_TIMEOUT_MS % 1000) * 1000 };
    evtimer_add(s->probe_timer, &tv);
}

static void sup_link_close(struct sup_worker *w)
{
    if (w->link_ev != NULL) {
        event_free(w->link_ev);
        w->link_ev = NULL;
    }
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    sup_answered(w);
}

static void sup_on_link(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct sup_worker *w = arg;
    struct sup *s = w->s;
    struct sup_reply r;
    ssize_t got = recv(fd, &r, sizeof(r), MSG_DONTWAIT);
    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (got <= 0) {
        /* The worker is gone; SIGCHLD tells how and restarts it. */
        sup_link_close(w);
        return;
    }
    if (got != (ssize_t)sizeof(r) || !s->collecting || r.seq != s->seq || w->asked != r.seq)
        return;
    s->probes[w->k] = r.probe;
    s->probes[w->k].up = 1;
    s->probes[w->k].restarts = w->restarts;
    sup_answered(w);
}

/* ------------------------------------------------------------------------ */
/* Workers: spawn, reap, restart                                             */
/* ------------------------------------------------------------------------ */

/*
 * sup_spawn forks worker 'w' and executes this binary again as
 * "pushrelayd -c FILE --role R --worker K" with its link on SUP_LINK_FD.
 * A fresh exec rather than a bare fork: the worker builds its own event
 * base, TLS contexts and Redis connections instead of sharing the
 * supervisor's. Signals stay blocked across fork so that none lands in the
 * child while it still runs the supervisor's handlers. PR_EIO.
 */
static int sup_spawn(struct sup_worker *w)
{
    struct sup *s = w->s;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        pr_log_error(SUP_MOD, "worker %d: socketpair: %s", w->k, strerror(errno));
        return PR_EIO;
    }
    char kbuf[16];
    snprintf(kbuf, sizeof(kbuf), "%d", w->k);
    char *argv[] = { "pushrelayd", "-c", s->cfg->path, "--role", (char *)s->role, "--worker", kbuf, NULL };
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) {
        /* The child: async-signal-safe calls only until execv. */
        static const int handled[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };
        struct sigaction dfl;
        memset(&dfl, 0, sizeof(dfl));
        dfl.sa_handler = SIG_DFL;
        for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
            sigaction(handled[i], &dfl, NULL);
        /* Its own process group: a terminal's ^C reaches the supervisor only, which forwards it. */
        setpgid(0, 0);
        if (sv[1] == SUP_LINK_FD)
            fcntl(SUP_LINK_FD, F_SETFD, 0);
        else if (dup2(sv[1], SUP_LINK_FD) < 0)
            _exit(127);
        close_range(SUP_LINK_FD + 1, ~0U, 0);
        sigprocmask(SIG_SETMASK, &old, NULL);
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    int fork_errno = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        pr_log_error(SUP_MOD, "worker %d: fork: %s", w->k, strerror(fork_errno));
        return PR_EIO;
    }
    w->pid = pid;
    w->fd = sv[0];
    w->state = SW_RUNNING;
    w->started_ms = pr_now_ms();
    evutil_make_socket_nonblocking(w->fd);
    w->link_ev = event_new(s->base, w->fd, EV_READ | EV_PERSIST, sup_on_link, w);
    if (w->link_ev == NULL || event_add(w->link_ev, NULL) != 0) {
        /* Without its link the worker cannot be probed; it still works. */
        pr_log_warn(SUP_MOD, "worker %d: cannot watch its link", w->k);
        sup_link_close(w);
    }
    pr_log_info(SUP_MOD, "worker %d started (pid %d, role %s)", w->k, (int)pid, s->role);
    return 0;
}

static void sup_schedule_restart(struct sup_worker *w)
{
    w->state = SW_BACKOFF;
    struct timeval tv = { w->backoff_ms / 1000, (w->backoff_ms % 1000) * 1000 };
    evtimer_add(w->restart_timer, &tv);
}

static void sup_on_restart_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sup_worker *w = arg;
    if (w->s->stopping)
        return;
    w->restarts++;
    if (sup_spawn(w) != 0) {
        w->backoff_ms = w->backoff_ms * 2 > SUP_BACKOFF_MAX_MS ? SUP_BACKOFF_MAX_MS : w->backoff_ms * 2;
        sup_schedule_restart(w);
    }
}

static int sup_all_exited(const struct sup *s)
{
    for (int k = 0; k < s->n; k++)
        if (s->w[k].state != SW_EXITED)
            return 0;
    return 1;
}

/* sup_reaped logs how worker 'w' ended ('status' from waitpid) and restarts it unless stopping. */
static void sup_reaped(struct sup_worker *w, int status)
{
    struct sup *s = w->s;
    char how[96];
    if (WIFEXITED(status))
        snprintf(how, sizeof(how), "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(how, sizeof(how), "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(how, sizeof(how), "ended (wait status %#x)", (unsigned)status);
    pid_t pid = w->pid;
    sup_link_close(w);
    w->pid = 0;
    if (s->stopping) {
        w->state = SW_EXITED;
        pr_log_info(SUP_MOD, "worker %d %s", w->k, how);
        if (sup_all_exited(s))
            event_base_loopexit(s->base, NULL);
        return;
    }
    int64_t lived = pr_now_ms() - w->started_ms;
    if (lived >= SUP_STABLE_MS || w->backoff_ms == 0)
        w->backoff_ms = SUP_BACKOFF_MIN_MS;
    else
        w->backoff_ms = w->backoff_ms * 2 > SUP_BACKOFF_MAX_MS ? SUP_BACKOFF_MAX_MS : w->backoff_ms * 2;
    pr_log_warn(SUP_MOD, "worker %d (pid %d) %s after %lld ms; restarting it in %d ms", w->k,
                (int)pid, how, (long long)lived, w->backoff_ms);
    sup_schedule_restart(w);
}

static void sup_on_sigchld(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct sup *s = arg;
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int k = 0; k < s->n; k++) {
            if (s->w[k].state == SW_RUNNING && s->w[k].pid == pid) {
                sup_reaped(&s->w[k], status);
                break;
            }
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Signals: reload, stop                                                     */
/* ------------------------------------------------------------------------ */

/*
 * SIGHUP: the file is loaded once here. A file that does not load is
 * refused for everyone (no worker is signalled, so none is left half
 * reloaded); one that loads is forwarded to every running worker, which
 * loads it again and checks what only it can (TLS files, credentials).
 */
static void sup_on_reload(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    struct sup *s = arg;
    char err[512];
    struct cfg *next = NULL;
    if (cfg_load(s->cfg->path, &next, err, sizeof(err)) != 0) {
        pr_log_error(SUP_MOD, "reload refused, no worker reloads: %s", err);
        return;
    }
    if (s->n_old == SUP_KEEP_CFGS) {
        cfg_free(s->old_cfgs[0]);
        memmove(s->old_cfgs, s->old_cfgs + 1, sizeof(s->old_cfgs) - sizeof(s->old_cfgs[0]));
        s->n_old--;
    }
    s->old_cfgs[s->n_old++] = s->cfg;
    s->cfg = next;
    pr_log_set_level(next->log_level);
    monitor_reload(s->monitor, next);
    int n = 0;
    for (int k = 0; k < s->n; k++)
        if (s->w[k].state == SW_RUNNING && kill(s->w[k].pid, SIGHUP) == 0)
            n++;
    pr_log_info(SUP_MOD, "configuration %s is valid: SIGHUP forwarded to %d workers", next->path, n);
}

static void sup_kill_all(struct sup *s, int sig)
{
    for (int k = 0; k < s->n; k++)
        if (s->w[k].state == SW_RUNNING)
            kill(s->w[k].pid, sig);
}

static void sup_on_stop_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sup *s = arg;
    pr_log_warn(SUP_MOD, "stop: workers still running after %d s; killing them", SUP_STOP_GRACE_S);
    s->killed = 1;
    sup_kill_all(s, SIGKILL);
}

static void sup_on_stop(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct sup *s = arg;
    if (s->stopping) {
        pr_log_warn(SUP_MOD, "signal %d again: killing the workers now", (int)sig);
        s->killed = 1;
        sup_kill_all(s, SIGKILL);
        return;
    }
    s->stopping = 1;
    pr_log_info(SUP_MOD, "signal %d: stopping the workers (each drains first)", (int)sig);
    for (int k = 0; k < s->n; k++) {
        if (s->w[k].state == SW_BACKOFF) {
            evtimer_del(s->w[k].restart_timer);
            s->w[k].state = SW_EXITED;
        }
    }
    sup_kill_all(s, SIGTERM);
    if (sup_all_exited(s)) {
        event_base_loopexit(s->base, NULL);
        return;
    }
    struct timeval tv = { SUP_STOP_GRACE_S, 0 };
    evtimer_add(s->stop_timer, &tv);
}

/* ------------------------------------------------------------------------ */
/* sup_run                                                                   */
/* ------------------------------------------------------------------------ */

static void sup_free(struct sup *s)
{
    for (int k = 0; s->w != NULL && k < s->n; k++) {
        sup_link_close(&s->w[k]);
        if (s->w[k].restart_timer != NULL)
            event_free(s->w[k].restart_timer);
    }
    /* A scrape in flight at exit is answered while its HTTP request still exists. */
    if (s->probes != NULL && s->waiters != NULL)
        sup_on_probe_timeout(-1, 0, s);
    monitor_free(s->monitor);
    struct event *evs[] = { s->sig_term, s->sig_int, s->sig_hup, s->sig_chld, s->stop_timer, s->probe_timer };
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i] != NULL)
            event_free(evs[i]);
    if (s->base != NULL)
        event_base_free(s->base);
    free(s->w);
    free(s->probes);
    for (size_t i = 0; i < s->n_old; i++)
        cfg_free(s->old_cfgs[i]);
    cfg_free(s->cfg);
}

int sup_run(struct cfg *cfg, const char *role, int n)
{
    struct sup s;
    memset(&s, 0, sizeof(s));
    s.cfg = cfg;
    s.role = role;
    s.n = n;
    int rc = PR_ENOMEM;
    if ((s.base = event_base_new()) == NULL ||
        (s.w = calloc((size_t)n, sizeof(*s.w))) == NULL ||
        (s.probes = calloc((size_t)n, sizeof(*s.probes))) == NULL)
        goto out;
    for (int k = 0; k < n; k++) {
        s.w[k].s = &s;
        s.w[k].k = k;
        s.w[k].fd = -1;
        s.w[k].state = SW_EXITED;
        if ((s.w[k].restart_timer = evtimer_new(s.base, sup_on_restart_timer, &s.w[k])) == NULL)
            goto out;
    }
    s.sig_term = evsignal_new(s.base, SIGTERM, sup_on_stop, &s);
    s.sig_int = evsignal_new(s.base, SIGINT, sup_on_stop, &s);
    s.sig_hup = evsignal_new(s.base, SIGHUP, sup_on_reload, &s);
    s.sig_chld = evsignal_new(s.base, SIGCHLD, sup_on_sigchld, &s);
    s.stop_timer = evtimer_new(s.base, sup_on_stop_timer, &s);
    s.probe_timer = evtimer_new(s.base, sup_on_probe_timeout, &s);
    if (!s.sig_term || !s.sig_int || !s.sig_hup || !s.sig_chld || !s.stop_timer || !s.probe_timer)
        goto out;
    evsignal_add(s.sig_term, NULL);
    evsignal_add(s.sig_int, NULL);
    evsignal_add(s.sig_hup, NULL);
    evsignal_add(s.sig_chld, NULL);
    if ((rc = keys_init(&s.keys, cfg->redis.prefix)) != 0 ||
        (rc = keys_set_shards(&s.keys, cfg->redis.shards)) != 0)
        goto out;
    s.mw.collect = sup_collect;
    s.mw.ctx = &s;
    if (cfg->monitoring.listen.port != 0) {
        struct monitor_sources src = { NULL, NULL, NULL, &s.keys, &s.mw };
        if ((rc = monitor_new(s.base, cfg, &src, &s.monitor)) != 0)
            goto out;
    }
    for (int k = 0; k < n; k++) {
        if (sup_spawn(&s.w[k]) != 0) {
            s.w[k].backoff_ms = SUP_BACKOFF_MIN_MS;
            sup_schedule_restart(&s.w[k]);
        }
    }
    pr_log_info(SUP_MOD, "%s supervising %d workers (role %s, pid %d)", cfg->node_id, n, role, (int)getpid());
    event_base_dispatch(s.base);
    pr_log_info(SUP_MOD, "stopped: every worker exited%s", s.killed ? " (some killed at the deadline)" : "");
    rc = s.killed ? PR_ETIMEDOUT : 0;
out:
    if (rc != 0 && !s.stopping && s.w != NULL) {
        /* Failed at start: take any worker already started down with us. */
        sup_kill_all(&s, SIGTERM);
    }
    sup_free(&s);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The worker's end                                                          */
/* ------------------------------------------------------------------------ */

struct sup_link {
    int fd;
    struct event *ev;
    void (*probe)(void *arg, struct monitor_probe *out);
    void (*gone)(void *arg);
    void *arg;
};

static void sup_link_on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct sup_link *l = arg;
    uint32_t seq;
    ssize_t got = recv(fd, &seq, sizeof(seq), MSG_DONTWAIT);
    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (got <= 0) {
        event_del(l->ev);
        l->gone(l->arg);
        return;
    }
    if (got != (ssize_t)sizeof(seq))
        return;
    struct sup_reply r;
    memset(&r, 0, sizeof(r));
    r.seq = seq;
    l->probe(l->arg, &r.probe);
    /* A full socket buffer means the supervisor stopped reading: it asks again. */
    (void)send(fd, &r, sizeof(r), MSG_DONTWAIT | MSG_NOSIGNAL);
}

int sup_link_new(struct event_base *base, int fd, void (*probe)(void *arg, struct monitor_probe *out),
                 void (*gone)(void *arg), void *arg, struct sup_link **out)
{
    struct sup_link *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return PR_ENOMEM;
    l->fd = fd;
    l->probe = probe;
    l->gone = gone;
    l->arg = arg;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || evutil_make_socket_nonblocking(fd) != 0) {
        free(l);
        return PR_EIO;
    }
    if ((l->ev = event_new(base, fd, EV_READ | EV_PERSIST, sup_link_on_read, l)) == NULL ||
        event_add(l->ev, NULL) != 0) {
        sup_link_free(l);
        return PR_ENOMEM;
    }
    *out = l;
    return 0;
}

void sup_link_free(struct sup_link *l)
{
    if (l == NULL)
        return;
    if (l->ev != NULL)
        event_free(l->ev);
    close(l->fd);
    free(l);
}
