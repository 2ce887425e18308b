/*
 * pr_rcluster.c - test tool: drives relay/rconn.c in cluster mode against a
 * real Redis Cluster, the way the relay's roles do (one rconn, commands
 * routed by key, pipelined), and reports what it saw. Not installed.
 *
 *   pr_rcluster --seed HOST:PORT [--seed ...] [--password P] [--per-slot K]
 *               [--rounds N] [--wait N] [--prefix P]
 *
 * Keys: K per slot for every one of the 16384 slots ("<prefix>{<tag>}:<j>",
 * a tag found for each slot), so every primary holds some. Each round:
 *
 *     SET every key "<round>:<key index>"  --> WAIT N (with --wait)
 *       --> GET every key and check it     --> MULTI INCR {t}:a INCR {t}:b EXEC, EVAL on 16 tags
 *       --> one line on stdout:
 *
 *   round R set_ok= set_err= get_ok= get_err= missing= corrupt= stale= tx_ok= tx_err=
 *           wait= moved= ask= maps= primaries= connected= err="first error"
 *
 * missing: a key written before reads nil; corrupt: a value never written
 * to that key; stale: an older value than the last acknowledged write.
 * "ready" is printed once the first round is clean. Runs until SIGTERM or
 * N rounds. A round with errors is followed by the next after 100 ms, not at
 * once, so that a cluster in failover is not spun on. Exit 0, 1 on a
 * setup failure, 2 usage. PR_RCLUSTER_DEBUG=1 in the environment logs at
 * debug level.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>

#include "pushrelay/config.h"
#include "pushrelay/log.h"
#include "rcluster.h"
#include "rconn.h"

#define WINDOW 1000     /* commands in flight */
#define TX_TAGS 16

enum phase { PH_SET, PH_WAIT, PH_GET, PH_TX, PH_IDLE };

struct key_state {
    int last_ok;        /* round of the last SET answered OK, 0: none */
    int uncertain;      /* a later SET's answer was lost: it may have run */
};

struct tool {
    struct event_base *base;
    struct rconn *rc;
    char prefix[64];
    char (*tags)[16];   /* tag of slot s */
    int per_slot;
    size_t n_keys;
    struct key_state *keys;
    int wait_n;
    int rounds, round;
    enum phase phase;
    size_t cursor, inflight;
    int ready_said;
    int stopping;       /* replies now are the frees' NULLs: send nothing more */
    struct event *next_ev;
    /* this round */
    unsigned long set_ok, set_err, get_ok, get_err, missing, corrupt, stale, tx_ok, tx_err;
    long long wait_acked;
    char first_err[200];
};

struct op {
    struct tool *t;
    size_t key;
    int round;
};

static void phase_step(struct tool *t);

static void key_name(const struct tool *t, size_t i, char *buf, size_t len)
{
    snprintf(buf, len, "%s{%s}:%zu", t->prefix, t->tags[i / (size_t)t->per_slot],
             i % (size_t)t->per_slot);
}

static void note_err(struct tool *t, const char *what)
{
    if (t->first_err[0] == '\0')
        snprintf(t->first_err, sizeof(t->first_err), "%s", what);
}

static void op_done(struct tool *t)
{
    t->inflight--;
    phase_step(t);
}

static void on_set(struct rconn *rc, redisReply *r, void *arg)
{
    (void)rc;
    struct op *op = arg;
    struct tool *t = op->t;
    struct key_state *k = &t->keys[op->key];
    if (r != NULL && r->type == REDIS_REPLY_STATUS) {
        k->last_ok = op->round;
        k->uncertain = 0;
        t->set_ok++;
    } else {
        if (r == NULL)
            k->uncertain = 1;
        t->set_err++;
        note_err(t, r == NULL ? "SET: connection lost" : r->type == REDIS_REPLY_ERROR ? r->str
                                                                                     : "SET: odd reply");
    }
    free(op);
    op_done(t);
}

static void on_get(struct rconn *rc, redisReply *r, void *arg)
{
    (void)rc;
    struct op *op = arg;
    struct tool *t = op->t;
    const struct key_state *k = &t->keys[op->key];
    int round;
    size_t idx;
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        t->get_err++;
        note_err(t, r == NULL ? "GET: connection lost" : r->str);
    } else if (r->type == REDIS_REPLY_NIL) {
        if (k->last_ok > 0)
            t->missing++;
        else
            t->get_ok++;    /* never written: nil is right */
    } else if (r->type != REDIS_REPLY_STRING || sscanf(r->str, "%d:%zu", &round, &idx) != 2 ||
               idx != op->key || (round > k->last_ok && !k->uncertain) || round > t->round) {
        t->corrupt++;
    } else {
        t->get_ok++;
        if (round < k->last_ok)
            t->stale++;
    }
    free(op);
    op_done(t);
}

static void on_wait(struct rconn *rc, redisReply *r, void *arg)
{
    (void)rc;
    struct tool *t = arg;
    if (r != NULL && r->type == REDIS_REPLY_INTEGER) {
        t->wait_acked = r->integer;
    } else {
        t->wait_acked = -1;
        note_err(t, r == NULL ? "WAIT: connection lost" : r->type == REDIS_REPLY_ERROR ? r->str
                                                                                      : "WAIT: odd reply");
    }
    op_done(t);
}

static void on_exec(struct rconn *rc, redisReply *r, void *arg)
{
    (void)rc;
    struct tool *t = arg;
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_INTEGER && r->element[1]->type == REDIS_REPLY_INTEGER &&
        r->element[0]->integer == r->element[1]->integer) {
        t->tx_ok++;
    } else {
        t->tx_err++;
        note_err(t, r == NULL ? "EXEC: connection lost" : r->type == REDIS_REPLY_ERROR ? r->str
                                                        : "EXEC: the two counters differ");
    }
    op_done(t);
}

static void on_eval(struct rconn *rc, redisReply *r, void *arg)
{
    (void)rc;
    struct tool *t = arg;
    if (r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
        t->tx_ok++;
    } else {
        t->tx_err++;
        note_err(t, r == NULL ? "EVAL: connection lost" : r->type == REDIS_REPLY_ERROR ? r->str
                                                                                      : "EVAL: odd reply");
    }
    op_done(t);
}

/* send_key sends SET or GET of key i; counts a refusal as an error of the round. */
static void send_key(struct tool *t, size_t i, int set)
{
    char key[96], val[48];
    key_name(t, i, key, sizeof(key));
    snprintf(val, sizeof(val), "%d:%zu", t->round, i);
    struct op *op = malloc(sizeof(*op));
    if (op == NULL)
        abort();
    op->t = t;
    op->key = i;
    op->round = t->round;
    const char *sargv[] = { "SET", key, val }, *gargv[] = { "GET", key };
    int rv = set ? rconn_cmd(t->rc, on_set, op, 3, sargv, NULL)
                 : rconn_cmd(t->rc, on_get, op, 2, gargv, NULL);
    if (rv == 0) {
        t->inflight++;
        return;
    }
    free(op);
    if (set)
        t->set_err++;
    else
        t->get_err++;
    note_err(t, "not sent: the primary of its slot is not connected");
}

/* send_tx: one transaction and one script on the keys of tag k (one slot). */
static void send_tx(struct tool *t, size_t k)
{
    char a[96], b[96];
    const char *tag = t->tags[(k * (RCLUSTER_SLOTS / TX_TAGS)) % RCLUSTER_SLOTS];
    snprintf(a, sizeof(a), "%stx{%s}:a", t->prefix, tag);
    snprintf(b, sizeof(b), "%stx{%s}:b", t->prefix, tag);
    const char *multi[] = { "MULTI" }, *ia[] = { "INCR", a }, *ib[] = { "INCR", b },
               *exec[] = { "EXEC" };
    if (rconn_cmd(t->rc, NULL, NULL, 1, multi, NULL) != 0 ||
        rconn_cmd(t->rc, NULL, NULL, 2, ia, NULL) != 0 ||
        rconn_cmd(t->rc, NULL, NULL, 2, ib, NULL) != 0) {
        const char *discard[] = { "DISCARD" };
        rconn_cmd(t->rc, NULL, NULL, 1, discard, NULL);
        t->tx_err++;
        note_err(t, "MULTI: not sent");
    } else if (rconn_cmd(t->rc, on_exec, t, 1, exec, NULL) == 0) {
        t->inflight++;
    } else {
        t->tx_err++;
        note_err(t, "EXEC: not sent");
    }
    const char *eval[] = { "EVAL", "return redis.call('GET', KEYS[1]) + 0", "1", a };
    if (rconn_cmd(t->rc, on_eval, t, 4, eval, NULL) == 0) {
        t->inflight++;
    } else {
        t->tx_err++;
        note_err(t, "EVAL: not sent");
    }
}

static void round_start(struct tool *t);

static void next_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    round_start(arg);
}

static void round_report(struct tool *t)
{
    struct rconn_cluster_stats cs;
    rconn_cluster_stats(t->rc, &cs);
    unsigned long errs = t->set_err + t->get_err + t->missing + t->corrupt + t->tx_err;
    printf("round %d set_ok=%lu set_err=%lu get_ok=%lu get_err=%lu missing=%lu corrupt=%lu "
           "stale=%lu tx_ok=%lu tx_err=%lu wait=%lld moved=%lu ask=%lu maps=%lu primaries=%zu "
           "connected=%d err=\"%s\"\n",
           t->round, t->set_ok, t->set_err, t->get_ok, t->get_err, t->missing, t->corrupt,
           t->stale, t->tx_ok, t->tx_err, t->wait_acked, cs.moved, cs.ask, cs.map_reads,
           cs.primaries, rconn_connected(t->rc), t->first_err);
    if (errs == 0 && !t->ready_said) {
        printf("ready\n");
        t->ready_said = 1;
    }
    fflush(stdout);
    if (t->rounds > 0 && t->round >= t->rounds) {
        event_base_loopbreak(t->base);
        return;
    }
    struct timeval tv = { 0, errs > 0 ? 100000 : 0 };
    evtimer_add(t->next_ev, &tv);
}

/* phase_step sends what the window allows and moves to the next phase when one is done. */
static void phase_step(struct tool *t)
{
    if (t->stopping)
        return;
    for (;;) {
        switch (t->phase) {
        case PH_SET:
        case PH_GET:
            while (t->cursor < t->n_keys && t->inflight < WINDOW)
                send_key(t, t->cursor++, t->phase == PH_SET);
            if (t->cursor < t->n_keys || t->inflight > 0)
                return;
            t->cursor = 0;
            if (t->phase == PH_GET) {
                t->phase = PH_TX;
                for (size_t k = 0; k < TX_TAGS; k++)
                    send_tx(t, k);
                continue;
            }
            t->phase = PH_WAIT;
            if (t->wait_n > 0) {
                char n[16];
                snprintf(n, sizeof(n), "%d", t->wait_n);
                const char *wait[] = { "WAIT", n, "2000" };
                if (rconn_cmd(t->rc, on_wait, t, 3, wait, NULL) == 0) {
                    t->inflight++;
                    return;
                }
                t->wait_acked = -1;
                note_err(t, "WAIT: not sent");
            }
            continue;
        case PH_WAIT:
            if (t->inflight > 0)
                return;
            t->phase = PH_GET;
            continue;
        case PH_TX:
            if (t->inflight > 0)
                return;
            t->phase = PH_IDLE;
            round_report(t);
            return;
        case PH_IDLE:
            return;
        }
    }
}

static void round_start(struct tool *t)
{
    t->round++;
    t->set_ok = t->set_err = t->get_ok = t->get_err = t->missing = t->corrupt = t->stale = 0;
    t->tx_ok = t->tx_err = 0;
    t->wait_acked = 0;
    t->first_err[0] = '\0';
    t->cursor = 0;
    t->phase = PH_SET;
    phase_step(t);
}

static void on_state(struct rconn *rc, int connected, void *arg)
{
    (void)rc;
    struct tool *t = arg;
    if (connected && t->round == 0)
        round_start(t);
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

/* find_tags gives each slot a tag that hashes to it: "t<n>" for the first n found. */
static int find_tags(struct tool *t)
{
    size_t found = 0;
    if ((t->tags = calloc(RCLUSTER_SLOTS, sizeof(*t->tags))) == NULL)
        return -1;
    for (unsigned long n = 0; found < RCLUSTER_SLOTS && n < 100000000UL; n++) {
        char tag[16];
        int len = snprintf(tag, sizeof(tag), "t%lu", n);
        unsigned s = rcluster_key_slot(tag, (size_t)len);
        if (t->tags[s][0] == '\0') {
            memcpy(t->tags[s], tag, (size_t)len + 1);
            found++;
        }
    }
    return found == RCLUSTER_SLOTS ? 0 : -1;
}

static int usage(void)
{
    fprintf(stderr, "usage: pr_rcluster --seed HOST:PORT [--seed ...] [--password P] [--per-slot K]\n"
                    "                   [--rounds N] [--wait N] [--prefix P]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct tool t;
    struct cfg_redis redis;
    memset(&t, 0, sizeof(t));
    memset(&redis, 0, sizeof(redis));
    t.per_slot = 1;
    snprintf(t.prefix, sizeof(t.prefix), "rc:");
    redis.wait_timeout_ms = 100;
    redis.shards = 1;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            return usage();
        if (strcmp(a, "--seed") == 0) {
            const char *colon = strrchr(v, ':');
            if (colon == NULL || redis.n_cluster >= CFG_MAX_CLUSTER_SEEDS ||
                (size_t)(colon - v) >= sizeof(redis.cluster[0].host))
                return usage();
            struct cfg_endpoint *e = &redis.cluster[redis.n_cluster++];
            memcpy(e->host, v, (size_t)(colon - v));
            e->host[colon - v] = '\0';
            e->port = (uint16_t)atoi(colon + 1);
        } else if (strcmp(a, "--password") == 0) {
            redis.password = (char *)v;
        } else if (strcmp(a, "--per-slot") == 0) {
            t.per_slot = atoi(v);
        } else if (strcmp(a, "--rounds") == 0) {
            t.rounds = atoi(v);
        } else if (strcmp(a, "--wait") == 0) {
            t.wait_n = atoi(v);
        } else if (strcmp(a, "--prefix") == 0) {
            snprintf(t.prefix, sizeof(t.prefix), "%s", v);
        } else {
            return usage();
        }
    }
    if (redis.n_cluster == 0 || t.per_slot < 1 || t.per_slot > 64)
        return usage();
    pr_log_set_level(getenv("PR_RCLUSTER_DEBUG") != NULL ? PR_LOG_DEBUG : PR_LOG_INFO);
    t.n_keys = (size_t)t.per_slot * RCLUSTER_SLOTS;
    if (find_tags(&t) != 0 || (t.keys = calloc(t.n_keys, sizeof(*t.keys))) == NULL) {
        fprintf(stderr, "pr_rcluster: out of memory\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    t.base = event_base_new();
    struct event *sigterm = evsignal_new(t.base, SIGTERM, on_signal, t.base);
    struct event *sigint = evsignal_new(t.base, SIGINT, on_signal, t.base);
    t.next_ev = evtimer_new(t.base, next_cb, &t);
    if (t.base == NULL || sigterm == NULL || sigint == NULL || t.next_ev == NULL ||
        event_add(sigterm, NULL) != 0 || event_add(sigint, NULL) != 0 ||
        rconn_new(t.base, &redis, "pr_rcluster", on_state, &t, &t.rc) != 0) {
        fprintf(stderr, "pr_rcluster: setup failed\n");
        return 1;
    }
    event_base_dispatch(t.base);
    t.stopping = 1;
    rconn_free(t.rc);
    event_free(t.next_ev);
    event_free(sigterm);
    event_free(sigint);
    event_base_free(t.base);
    free(t.keys);
    free(t.tags);
    return 0;
}
