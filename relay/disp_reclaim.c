/*
 * disp_reclaim.c - taking over work that dead dispatchers left behind.
 * Every claim_idle_ms / 2 it XAUTOCLAIMs, on each provider stream of every
 * shard, entries
 * pending for at least claim_idle_ms on any consumer (a process killed with
 * SIGKILL, a host that vanished) into this consumer and queues them like
 * freshly read ones; the dispatcher's in-flight index skips those it is
 * working on itself. Once an hour it also forgets consumers that have
 * nothing pending and have not been seen for a day, so that restarts (each
 * process is a new consumer "<node_id>-<pid>") do not pile up names in the
 * group. Called by dispatcher.c.
 *
 * Shards are visited round-robin, DISP_RECLAIM_PER_TICK of them per timer
 * tick, the ticks spread so that one round over all S shards still takes
 * claim_idle_ms / 2: with S = 64 the XAUTOCLAIMs come as a steady trickle
 * (S x providers per round, about 25/s at the default 30 s) instead of a
 * burst, and an idle shard costs one cheap command per round. Each command
 * names one shard's stream (Redis Cluster routes it to its node).
 *
 *   stream <p>{q<k>}:in:<provider>, group "dispatch"
 *     consumer relay-1-4242 (dead)   PEL: 17-0 18-0 ...  idle >= claim_idle_ms
 *            | XAUTOCLAIM <stream> dispatch <me> <claim_idle_ms> <cursor> COUNT <room>
 *            v
 *     consumer relay-1-5151 (me)     PEL: 17-0 18-0 ...  -> backlog -> delivery
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "disp_internal.h"

#define DISP_SWEEP_MS (3600 * 1000)
#define DISP_CONSUMER_GONE_MS (24LL * 3600 * 1000)
#define DISP_RECLAIM_PER_TICK 8u        /* shards per reclaim tick */
#define DISP_RECLAIM_MIN_MS 50

struct disp_claim {
    struct disp *d;
    unsigned src;
    enum pr_provider p;
};

static struct disp_claim *disp_claim_new(struct disp *d, unsigned src, int p)
{
    struct disp_claim *c = malloc(sizeof(*c));
    if (c != NULL) {
        c->d = d;
        c->src = src;
        c->p = (enum pr_provider)p;
    }
    return c;
}

/* ---------------------------------------------------------------------------
 * XAUTOCLAIM
 * ------------------------------------------------------------------------- */

static void disp_on_claim(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct disp_claim *c = arg;
    struct disp *d = c->d;
    enum pr_provider p = c->p;
    struct disp_src *src = &d->src[c->src];
    unsigned s = c->src;
    free(c);
    d->reclaiming--;
    if (disp_closing(d))
        return;
    /* Reply: [next cursor, [[id, [field, value, ...]], ...], (Redis 7) [deleted ids]] */
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2) {
        const redisReply *cursor = reply->element[0], *entries = reply->element[1];
        if (cursor->type == REDIS_REPLY_STRING && cursor->len < DISP_ENTRY_ID_MAX)
            memcpy(src->claim_cursor[p], cursor->str, cursor->len + 1);
        long before = d->n_jobs;
        if (entries->type == REDIS_REPLY_ARRAY && !disp_stopping(d))
            for (size_t i = 0; i < entries->elements; i++)
                disp_job_add(d, s, p, entries->element[i]);
        if (d->n_jobs > before)
            pr_log_info(DISP_MOD, "reclaimed %ld idle entries from %s", d->n_jobs - before,
                        src->stream[p]);
        disp_kick(d);
    } else if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        pr_log_warn(DISP_MOD, "XAUTOCLAIM %s: %s", src->stream[p], reply->str);
    }
    disp_check_done(d);
}

static void disp_on_reclaim_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct disp *d = arg;
    if (disp_stopping(d) || d->reclaiming > 0 || !d->groups_ready || !rconn_connected(d->rc))
        return;
    unsigned n = disp_n_src(d);
    if (d->reclaim_next >= n) {
        d->reclaim_next = 0;    /* a round is over */
        disp_legacy_probe(d);
    }
    /*
     * Claim within the room the reader fills too (disp_read_maybe): claimed
     * entries restart their idle clock and start after the backlog ahead of
     * them, well within claim_idle_ms. Waiting for an empty backlog instead
     * would starve reclaim for as long as the streams keep the reader busy.
     */
    long room = disp_room(d);
    if (room <= 0)
        return;
    char idle[24], count[24];
    snprintf(idle, sizeof(idle), "%d", d->cfg->dispatcher.claim_idle_ms);
    snprintf(count, sizeof(count), "%ld", room);
    for (unsigned k = 0; k < DISP_RECLAIM_PER_TICK && d->reclaim_next < n; k++, d->reclaim_next++) {
        struct disp_src *src = &d->src[d->reclaim_next];
        for (int p = 0; p < PR_PROVIDER_COUNT; p++) {
            struct disp_claim *c = disp_claim_new(d, d->reclaim_next, p);
            if (c == NULL)
                return;
            const char *argv[] = { "XAUTOCLAIM", src->stream[p], KEYS_GROUP, d->consumer, idle,
                                   src->claim_cursor[p], "COUNT", count };
            if (rconn_cmd(d->rc, disp_on_claim, c, 8, argv, NULL) != 0) {
                free(c);
                return;
            }
            d->reclaiming++;
        }
    }
}

/* ---------------------------------------------------------------------------
 * Consumer sweep
 * ------------------------------------------------------------------------- */

/* disp_consumer_field returns the integer after 'name' in one XINFO CONSUMERS row, or -1. */
static long long disp_consumer_field(const redisReply *row, const char *name)
{
    for (size_t i = 0; i + 1 < row->elements; i += 2) {
        const redisReply *k = row->element[i], *v = row->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && strcmp(k->str, name) == 0)
            return v->type == REDIS_REPLY_INTEGER ? v->integer : -1;
    }
    return -1;
}

static void disp_on_consumers(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct disp_claim *c = arg;
    struct disp *d = c->d;
    enum pr_provider p = c->p;
    const char *stream = d->src[c->src].stream[p];
    free(c);
    if (disp_closing(d) || reply == NULL || reply->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *row = reply->element[i];
        if (row->type != REDIS_REPLY_ARRAY || row->elements < 2 ||
            row->element[1]->type != REDIS_REPLY_STRING)
            continue;
        const char *name = row->element[1]->str;
        /* Never a consumer with pending entries: its PEL would be lost. */
        if (strcmp(name, d->consumer) == 0 || disp_consumer_field(row, "pending") != 0 ||
            disp_consumer_field(row, "idle") < DISP_CONSUMER_GONE_MS)
            continue;
        const char *argv[] = { "XGROUP", "DELCONSUMER", stream, KEYS_GROUP, name };
        if (rconn_cmd(d->rc, NULL, NULL, 5, argv, NULL) == 0)
            pr_log_info(DISP_MOD, "forgot consumer %s of %s (idle, nothing pending)", name,
                        stream);
    }
}

static void disp_on_sweep_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct disp *d = arg;
    if (disp_stopping(d) || !d->groups_ready || !rconn_connected(d->rc))
        return;
    /* Hourly: every shard at once is a few hundred cheap commands at most. */
    for (unsigned s = 0; s < d->n_shards; s++)
        for (int p = 0; p < PR_PROVIDER_COUNT; p++) {
            struct disp_claim *c = disp_claim_new(d, s, p);
            if (c == NULL)
                return;
            const char *argv[] = { "XINFO", "CONSUMERS", d->src[s].stream[p], KEYS_GROUP };
            if (rconn_cmd(d->rc, disp_on_consumers, c, 4, argv, NULL) != 0) {
                free(c);
                return;
            }
        }
}

/* ---------------------------------------------------------------------------
 * Timers
 * ------------------------------------------------------------------------- */

int disp_reclaim_start(struct disp *d)
{
    if ((d->reclaim_timer = event_new(d->base, -1, EV_PERSIST, disp_on_reclaim_timer, d)) == NULL ||
        (d->sweep_timer = event_new(d->base, -1, EV_PERSIST, disp_on_sweep_timer, d)) == NULL)
        return PR_ENOMEM;
    /* One round over every shard (and the old layout) per claim_idle_ms / 2. */
    unsigned ticks = (d->n_shards + 1 + DISP_RECLAIM_PER_TICK - 1) / DISP_RECLAIM_PER_TICK;
    int claim_ms = d->cfg->dispatcher.claim_idle_ms / 2 / (int)ticks;
    if (claim_ms < DISP_RECLAIM_MIN_MS)
        claim_ms = DISP_RECLAIM_MIN_MS;
    struct timeval claim_tv = { claim_ms / 1000, (claim_ms % 1000) * 1000 };
    struct timeval sweep_tv = { DISP_SWEEP_MS / 1000, 0 };
    event_add(d->reclaim_timer, &claim_tv);
    event_add(d->sweep_timer, &sweep_tv);
    return 0;
}

void disp_reclaim_stop(struct disp *d)
{
    if (d->reclaim_timer != NULL)
        event_del(d->reclaim_timer);
    if (d->sweep_timer != NULL)
        event_del(d->sweep_timer);
}
