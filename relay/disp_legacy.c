/*
 * disp_legacy.c - draining the queue layout from before shards after an
 * upgrade, on a single Redis (direct or Sentinel; never with redis.cluster,
 * where the old keys cannot be reached from a shard's slot and an upgrade
 * starts empty). Called by dispatcher.c and disp_reclaim.c.
 *
 *   <p>{q}:in:<provider>   old streams, group "dispatch"   \
 *   <p>{q}:retry           old retry zset                    > counted by one script
 *
 *   reading connection up,  count > 0: DISP_LEGACY_DRAINING ("found ..." logged once):
 *   every reclaim round --->           d->src[S] (the old keys) is read, reclaimed and its
 *                                      retries moved back to the old streams like a shard's;
 *                                      outcomes go to the shard of the job's provider and token
 *   every reclaim round --> count == 0: DISP_LEGACY_DRAINED ("drained" logged once)
 *
 * The count is XLEN of each old stream plus ZCARD of the old retry zset:
 * an entry stays in its stream (XLEN counts it) until its outcome's XDEL,
 * so a count of 0 means nothing is left to deliver, pending or not. The
 * check repeats every reclaim round (claim_idle_ms / 2) even when nothing
 * was found or all was drained: during a rolling upgrade listeners of the
 * old version keep writing the old keys for a while, and what they write
 * is found and delivered within a round.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "disp_internal.h"

/* KEYS: the old streams, then the old retry zset. Returns entries + retries left. */
static const char disp_legacy_lua[] =
    "local n = 0\n"
    "for i = 1, #KEYS - 1 do n = n + redis.call('XLEN', KEYS[i]) end\n"
    "return n + redis.call('ZCARD', KEYS[#KEYS])\n";

/* disp_legacy_send sends the count script on 'rc' with callback 'cb'; 0 or PR_EREDIS. */
static int disp_legacy_send(struct disp *d, struct rconn *rc, rconn_reply_cb cb)
{
    const struct disp_src *old = &d->src[d->n_shards];
    char numkeys[8];
    snprintf(numkeys, sizeof(numkeys), "%d", PR_PROVIDER_COUNT + 1);
    const char *argv[3 + PR_PROVIDER_COUNT + 1] = { "EVAL", disp_legacy_lua, numkeys };
    int argc = 3;
    for (int p = 0; p < PR_PROVIDER_COUNT; p++)
        argv[argc++] = old->stream[p];
    argv[argc++] = old->retry;
    return rconn_cmd(rc, cb, d, argc, argv, NULL) == 0 ? 0 : PR_EREDIS;
}

static long long disp_legacy_count(const redisReply *reply)
{
    if (reply == NULL)
        return -1;
    if (reply->type == REDIS_REPLY_ERROR) {
        pr_log_warn(DISP_MOD, "pre-shard queue check: %s", reply->str);
        return -1;
    }
    return reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
}

static void disp_on_legacy_check(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct disp *d = arg;
    d->legacy_checking = 0;
    if (disp_closing(d))
        return;
    long long n = disp_legacy_count(reply);
    if (n > 0 && d->legacy == DISP_LEGACY_NONE) {
        d->legacy = DISP_LEGACY_DRAINING;
        pr_log_info(DISP_MOD, "found %lld notifications in the pre-shard queue (%s*, %s): "
                    "delivering them too until it is empty", n,
                    d->src[d->n_shards].stream[0], d->src[d->n_shards].retry);
    }
    if (reply != NULL && !disp_stopping(d))
        disp_groups_create(d);  /* lost: the next connection checks again */
}

int disp_legacy_check(struct disp *d)
{
    if (d->legacy_checking)
        return 0;
    if (disp_legacy_send(d, d->rc_read, disp_on_legacy_check) != 0)
        return PR_EREDIS;
    d->legacy_checking = 1;
    return 0;
}

static void disp_on_legacy_probe(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct disp *d = arg;
    d->legacy_checking = 0;
    if (disp_closing(d) || disp_stopping(d))
        return;
    long long n = disp_legacy_count(reply);
    if (n == 0 && d->legacy == DISP_LEGACY_DRAINING) {
        d->legacy = DISP_LEGACY_DRAINED;
        pr_log_info(DISP_MOD, "the pre-shard queue is drained: reading the %u shard%s only",
                    d->n_shards, d->n_shards == 1 ? "" : "s");
    } else if (n > 0 && d->legacy != DISP_LEGACY_DRAINING) {
        d->legacy = DISP_LEGACY_DRAINING;
        pr_log_info(DISP_MOD, "found %lld notifications in the pre-shard queue (%s*, %s): "
                    "delivering them too until it is empty", n,
                    d->src[d->n_shards].stream[0], d->src[d->n_shards].retry);
        /* Its streams need the group before a read may name them. */
        d->groups_ready = 0;
        if (rconn_connected(d->rc_read))
            disp_groups_create(d);
    }
}

void disp_legacy_probe(struct disp *d)
{
    if (d->per_shard || d->legacy_checking || !rconn_connected(d->rc))
        return;
    if (disp_legacy_send(d, d->rc, disp_on_legacy_probe) == 0)
        d->legacy_checking = 1;
}
