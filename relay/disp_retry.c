/*
 * disp_retry.c - the retry-zset mover: it moves the notifications whose
 * next attempt is due from each shard's <p>{q<k>}:retry back to the end of
 * their provider stream in the same shard, where any dispatcher's
 * XREADGROUP picks them up as new entries. One Lua script per shard does it
 * atomically (a member is either in the zset or in a stream, never both
 * nor neither), so every dispatcher can run the mover at once; the script
 * declares every key it touches in KEYS, all of one shard, so it runs on
 * a Redis Cluster node. Scheduling a retry (ZADD with the stream ack) is
 * disp_outcome.c's; the delay policy is retry.c's. Called by dispatcher.c.
 *
 * Every DISP_MOVER_MS a tick visits the next DISP_MOVER_PER_TICK shards,
 * round-robin (pipelined EVALs): S = 64 costs 80 cheap EVALs/s per
 * dispatcher, not 640, and a retry waits at most ceil(S / 8) ticks past
 * its due time (800 ms with S = 64, within the jitter of the backoff). A
 * shard that had a full batch makes the next tick come at once. While the
 * pre-shard layout drains (disp_legacy.c), its retry zset is one more
 * source, moved to the old streams.
 *
 *   <p>{q<k>}:retry  zset
 *     +---------------+-------------------------------------------+
 *     | score         | member                                    |
 *     +---------------+-------------------------------------------+
 *     | due (epoch ms)| notification JSON (notif.h; "att" = tries |
 *     |               | made, "last" = last provider answer)      |
 *     +---------------+-------------------------------------------+
 *          |  due <= now  (ZRANGEBYSCORE -inf now LIMIT 0 500)
 *          v
 *   XADD <p>{q<k>}:in:<"prov" of the JSON> * id <id> domain <dom> n <member>
 *   ZREM <p>{q<k>}:retry <member>
 *
 * A member whose JSON cannot be read goes to the shard's dead-letter stream
 * instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "disp_internal.h"

#define DISP_MOVER_MS 100
#define DISP_MOVER_BATCH "500"
#define DISP_MOVER_PER_TICK 8u

/*
 * KEYS[1] retry zset, KEYS[2] dead letters, KEYS[3..] the provider streams
 * in PR_PROVIDERS order. ARGV[1] now (ms), ARGV[2] batch size, ARGV[3]
 * dead-letter MAXLEN, ARGV[4..] the provider names, one per stream key.
 * Returns how many members moved.
 */
static const char disp_mover_lua[] =
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])\n"
    "for _, m in ipairs(due) do\n"
    "  local ok, n = pcall(cjson.decode, m)\n"
    "  local dest, id, dom = nil, '', ''\n"
    "  if ok and type(n) == 'table' then\n"
    "    if type(n.id) == 'string' then id = n.id end\n"
    "    if type(n.dom) == 'string' then dom = n.dom end\n"
    "    for i = 3, #KEYS do\n"
    "      if n.prov == ARGV[i + 1] then dest = KEYS[i] end\n"
    "    end\n"
    "  end\n"
    "  if dest then\n"
    "    redis.call('XADD', dest, '*', 'id', id, 'domain', dom, 'n', m)\n"
    "  else\n"
    "    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'id', id, 'domain', dom,\n"
    "      'provider', '', 'app', '', 'reason', 'corrupt retry record', 'last_status', '',\n"
    "      'attempts', '', 'n', m)\n"
    "  end\n"
    "  redis.call('ZREM', KEYS[1], m)\n"
    "end\n"
    "return #due\n";

static void disp_mover_arm(struct disp *d, int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    evtimer_add(d->mover_timer, &tv);
}

static void disp_on_moved(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct disp *d = arg;
    d->moving--;
    if (disp_stopping(d))
        return;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        pr_log_warn(DISP_MOD, "retry mover: %s", reply->str);
    else if (reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
             reply->integer >= (long long)atoi(DISP_MOVER_BATCH))
        d->moved_full++;        /* a full batch: more are due right now */
    if (d->moving > 0)
        return;
    disp_mover_arm(d, d->moved_full > 0 ? 0 : DISP_MOVER_MS);
}

static void disp_on_mover_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct disp *d = arg;
    if (d->moving || disp_stopping(d))
        return;
    if (!rconn_connected(d->rc)) {
        disp_mover_arm(d, DISP_MOVER_MS);
        return;
    }
    char now[24];
    snprintf(now, sizeof(now), "%lld", (long long)pr_now_ms());
    unsigned n = disp_n_src(d);
    d->moved_full = 0;
    for (unsigned k = 0; k < DISP_MOVER_PER_TICK && k < n; k++) {
        if (d->mover_next >= n)
            d->mover_next = 0;
        const struct disp_src *src = &d->src[d->mover_next++];
        /* EVAL script numkeys retry dead <stream>... now batch maxlen <name>... */
        enum { FIXED_KEYS = 2, ARGC = 3 + FIXED_KEYS + 3 + 2 * PR_PROVIDER_COUNT };
        char numkeys[8];
        snprintf(numkeys, sizeof(numkeys), "%d", FIXED_KEYS + PR_PROVIDER_COUNT);
        const char *argv[ARGC] = { "EVAL", disp_mover_lua, numkeys, src->retry, src->dead };
        const int names = 3 + FIXED_KEYS + PR_PROVIDER_COUNT;
        argv[names] = now;
        argv[names + 1] = DISP_MOVER_BATCH;
        argv[names + 2] = DISP_DEAD_MAXLEN;
        for (int p = 0; p < PR_PROVIDER_COUNT; p++) {
            argv[3 + FIXED_KEYS + p] = src->stream[p];
            argv[names + 3 + p] = pr_provider_name((enum pr_provider)p);
        }
        if (rconn_cmd(d->rc, disp_on_moved, d, ARGC, argv, NULL) != 0)
            break;
        d->moving++;
    }
    if (d->moving == 0)
        disp_mover_arm(d, DISP_MOVER_MS);
}

void disp_mover_start(struct disp *d)
{
    if (d->mover_timer == NULL)
        d->mover_timer = evtimer_new(d->base, disp_on_mover_timer, d);
    if (d->mover_timer != NULL)
        disp_mover_arm(d, DISP_MOVER_MS);
}

void disp_mover_stop(struct disp *d)
{
    if (d->mover_timer != NULL)
        event_del(d->mover_timer);
}
