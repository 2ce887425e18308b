/*
 * queue.c - atomic ingest of notifications into Redis (see queue.h).
 *
 * The checks and the append are one Lua script so that no interleaving of
 * listeners can queue a duplicate, exceed a rate limit or pass a check that
 * a concurrent `disable-push` just revoked. Requests made during one turn
 * of the event loop are sent together, as one script call per queue shard
 * (relay/keys.h) per batch of up to QUEUE_BATCH_MAX: a burst of MESSAGEs
 * costs Redis one command per shard it touches, not one each, while a lone
 * MESSAGE leaves in the same loop turn it arrived in. A burst that finds
 * QUEUE_SENT_MAX calls unanswered waits for one and grows meanwhile. A script call only
 * ever names the keys of one shard ({q<k>}), so under Redis Cluster it runs
 * in one slot. Verdicts of different shards may come back in any order;
 * the caller puts its answers back in request order (federation/fed_conn.c).
 * The script is sent by SHA (EVALSHA); when Redis does not know it yet
 * (first use, restart, SCRIPT FLUSH) the same call is repeated once as
 * EVAL, which also caches it.
 *
 * The rate counter's second is read once per flush, not per MESSAGE: the
 * MESSAGEs of one read from an edge are counted in the same second.
 *
 *   KEYS  5 per notification i (0-based), at 5i+1 .. 5i+5, all of shard k:
 *         tenant copy <p>{q<k>}:tenant:<d>, dead-token hash, provider
 *         stream, dedup key, rate counter (this second)
 *   ARGV  1 high water  2 dedup window s  3 count N  4 shards S
 *         5 copies checked ("1" once the listener's pass over the tenant
 *         copies ended, see below), then per notification:
 *         +----------+---------+--------+------+-------+------ ... -----+
 *         | provider | push id | domain | JSON | nsans | edge FQDN x nsans|
 *         +----------+---------+--------+------+-------+------ ... -----+
 *
 *   reply 3N elements, per notification {status, text, retry_after}
 *         status 202: text = stream entry id, or "dup" for a repeat
 *
 * A shard with no copy of a domain's record answers 403 "not enabled",
 * but only once this listener has checked every copy (tenant_repair_start
 * at start, queue_copies_checked): before, the copy may just not be written
 * yet (an upgrade from the layout before shards, a new redis.shards), and
 * the answer is 503 + Retry-After: 1 instead.
 *
 * The domain's rate limit is shared by its S shards: each admits
 * ceil(limit / S) a second, so the domain as a whole gets at least its
 * limit and at most S - 1 more (design section 7).
 *
 * Writes go through pcall: a write Redis refuses (OOM, read-only replica)
 * fails only its own notification with 503, and a dedup mark is removed
 * again when its XADD failed, so a retry of that MESSAGE is queued, not
 * taken for a duplicate.
 *
 * Replicated acknowledgement (redis.wait_replicas N > 0): a 202 must
 * survive the loss of the primary, so once the script answered, the batch
 * waits for `WAIT N wait_timeout_ms` on the same connection:
 *
 *     EVALSHA ingest ... --> verdicts --any 202?--> WAIT N timeout --> acked >= N: verdicts
 *                                                                  \-> fewer:     202 -> 503,
 *                                                                                 Retry-After: 1
 *
 * The edge's retry of such a 503 is answered 202 "dup" by the dedup key
 * (and WAITed for again), so nothing is queued twice.
 *
 * WAIT blocks the connection, and the script calls sent after it queue up
 * behind it: one WAIT per batch would serve one batch per wait_timeout_ms
 * while a replica is missing. So at most one WAIT is in flight; batches
 * whose script answered meanwhile wait for the next one, which covers them
 * all (WAIT counts every write the connection made before it).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/sha.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "jbuf.h"
#include "queue.h"
#include "tenant.h"

/*
 * The script is one flat loop: no closures or helper tables are built per
 * call, and a notification costs Redis its EXISTS, SET NX and XADD (plus
 * INCR under a rate limit); HMGET is made once per tenant, provider and
 * edge certificate, and XLEN once per stream per call, the batch's own
 * appends counted on top (nothing else runs while a script does). Early
 * exits are `break` out of a one-pass repeat (Lua 5.1 has no continue).
 */
static const char ingest_lua[] =
    "local hw, window, shards = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[4])\n"
    "local ready = ARGV[5] == '1'\n"
    "local memo, len, out = {}, {}, {}\n"
    "local a, o = 6, 0\n"
    "for k = 0, 5 * tonumber(ARGV[3]) - 1, 5 do\n"
    "  local prov, dom, ns = ARGV[a], ARGV[a + 2], tonumber(ARGV[a + 4])\n"
    "  local tkey, st, text, ra = KEYS[k + 1], 202, nil, 0\n"
    "  repeat\n"
    /* tenant: {0, rate limit} or the refusal, memoised per batch */
    "    local mid = tkey .. '\\0' .. prov\n"
    "    for j = a + 5, a + 4 + ns do mid = mid .. '\\0' .. ARGV[j] end\n"
    "    local m = memo[mid]\n"
    "    if not m then\n"
    "      local t\n"
    "      if ns == 1 then\n"
    "        t = redis.call('HMGET', tkey, '" TENANT_F_ENABLED "', prov, '" TENANT_F_RATE_LIMIT "',\n"
    "                       '" TENANT_F_EDGE_PREFIX "' .. ARGV[a + 5])\n"
    "      else\n"
    "        local f = {'HMGET', tkey, '" TENANT_F_ENABLED "', prov, '" TENANT_F_RATE_LIMIT "'}\n"
    "        for j = a + 5, a + 4 + ns do f[#f + 1] = '" TENANT_F_EDGE_PREFIX "' .. ARGV[j] end\n"
    "        t = redis.call(unpack(f))\n"
    "      end\n"
    "      if not t[1] and not ready then\n"
    "        m = {503, 'not ready: the tenant records are being copied to the queue shards', 1}\n"
    "      elseif t[1] ~= '1' then m = {403, 'domain ' .. dom .. ' is not enabled for push', 0}\n"
    "      elseif t[2] ~= '1' then m = {403, 'provider ' .. prov .. ' is disabled for ' .. dom, 0}\n"
    "      else\n"
    "        m = {403, 'TLS peer is not a registered edge of ' .. dom, 0}\n"
    "        for j = 4, ns + 3 do\n"
    "          if t[j] then m = {0, tonumber(t[3] or '0') or 0} break end\n"
    "        end\n"
    "      end\n"
    "      memo[mid] = m\n"
    "    end\n"
    "    if m[1] ~= 0 then st, text, ra = m[1], m[2], m[3] break end\n"
    "    if redis.call('EXISTS', KEYS[k + 2]) == 1 then\n"
    "      st, text = 410, 'device token is known dead' break\n"
    "    end\n"
    "    local limit = m[2]\n"
    "    if limit > 0 then\n"
    "      local share = math.ceil(limit / shards)\n"
    "      local c = redis.pcall('INCR', KEYS[k + 5])\n"
    "      if type(c) == 'table' then st, text, ra = 503, 'queue unavailable: ' .. c.err, 5 break end\n"
    "      if c == 1 then redis.pcall('EXPIRE', KEYS[k + 5], 2) end\n"
    "      if c > share then\n"
    "        local what = 'rate limit of ' .. limit .. '/s'\n"
    "        if shards > 1 then what = what .. ' (' .. share .. '/s per queue shard)' end\n"
    "        st, text, ra = 503, what .. ' exceeded for ' .. dom, 1 break\n"
    "      end\n"
    "    end\n"
    "    local sk = KEYS[k + 3]\n"
    "    local n = len[sk] or redis.call('XLEN', sk)\n"
    "    len[sk] = n\n"
    "    if n >= hw then\n"
    "      st, text, ra = 503, 'queue for ' .. prov .. ' is over its high water mark', 5 break\n"
    "    end\n"
    "    local s = redis.pcall('SET', KEYS[k + 4], '1', 'NX', 'EX', window)\n"
    "    if not s then text = 'dup' break end\n"
    "    if s.err then st, text, ra = 503, 'queue unavailable: ' .. s.err, 5 break end\n"
    "    local e = redis.pcall('XADD', sk, '*', 'id', ARGV[a + 1], 'domain', dom, 'n', ARGV[a + 3])\n"
    "    if type(e) == 'table' then\n"
    "      redis.pcall('DEL', KEYS[k + 4])\n"
    "      st, text, ra = 503, 'queue unavailable: ' .. e.err, 5 break\n"
    "    end\n"
    "    len[sk] = n + 1\n"
    "    text = e\n"
    "  until true\n"
    "  out[o + 1], out[o + 2], out[o + 3] = st, text, ra\n"
    "  o, a = o + 3, a + 5 + ns\n"
    "end\n"
    "return out\n";

#define QUEUE_BATCH_MAX 128
#define QUEUE_UNAVAILABLE "queue unavailable: "    /* the script's prefix for Redis errors */
#define QUEUE_MAX_SANS 16
#define QUEUE_NKEYS 5
#define QUEUE_KEY_RATE 4        /* key[4], built at flush time (the second) */
#define QUEUE_ARGS 5            /* per notification, before its SANs */

/*
 * A pipelined burst (more than QUEUE_FLUSH_NOW_MAX requests waiting, see
 * queue_flush_cb) is held while this many script calls await their reply,
 * and leaves when one answers, grown by what arrived meanwhile. Under a
 * pipelined load Redis is the bound, and a script call costs it per call
 * as well as per MESSAGE, so fewer, larger calls raise the rate
 * (bench/README.md, issue 14: 1 connection x window 100, 1.25x). Two in
 * flight keep Redis busy while the next forms. A lone MESSAGE is never
 * held.
 */
#define QUEUE_SENT_MAX 2

struct queue {
    struct rconn *rc;
    const struct keys *keys;
    struct event *flush_ev;
    struct queue_req *head, *tail;      /* waiting for this loop turn's flush */
    char high_water[24];
    char dedup_window[16];
    char shards[16];                /* S, for the script's rate share */
    size_t high_water_len, dedup_window_len, shards_len;
    struct jbuf enc;                /* the record being encoded, kept between requests */
    const char *copies_checked;     /* "0", then "1" (queue_copies_checked) */
    char sha[SHA_DIGEST_LENGTH * 2 + 1];
    int wait_replicas;              /* redis.wait_replicas; 0: no WAIT */
    char wait_n[16], wait_ms[16];
    int wait_short;                 /* the last WAIT fell short: logged once */
    struct queue_wait *wait;        /* the WAIT in flight, or NULL */
    struct queue_batch *sent;       /* script calls awaiting their reply (a list) */
    int n_sent;
    unsigned long refused;          /* MESSAGEs whose write Redis refused since it last took one */
    struct queue_batch *await_head, *await_tail;    /* answered by the script, WAIT not sent */
};

/* One WAIT in flight and the batches it covers. 'q' is NULL once the queue is freed. */
struct queue_wait {
    struct queue *q;
    struct queue_batch *covered;
};

/*
 * One notification waiting for its verdict, in one allocation: the struct,
 * then copies of its keys, id, domain, SANs and JSON record ('strs'), so
 * argv outlives the caller's strings. Every length is kept, so building the
 * script call measures nothing again. The rate key is rewritten in place
 * (room for any second) at flush time.
 *
 *   +-------------+--------------------------------------------------+
 *   | queue_req   | key0 \0 .. key4 \0 | id \0 | domain \0 | san.. | json |
 *   +-------------+--------------------------------------------------+
 */
struct queue_req {
    struct queue_req *next;
    queue_done_cb cb;
    void *arg;
    unsigned shard;
    const char *key[QUEUE_NKEYS];
    size_t key_len[QUEUE_NKEYS];
    size_t rate_room;
    const char *provider, *id, *domain;
    size_t provider_len, id_len, domain_len;
    const char *sans[QUEUE_MAX_SANS];
    size_t san_len[QUEUE_MAX_SANS];
    size_t n_sans;
    char nsans[24];
    size_t nsans_len;
    const char *json;
    size_t jsonlen;
    char strs[];
};

/*
 * One script call. It keeps the whole argv so that a NOSCRIPT reply can be
 * answered by sending the same command again as EVAL.
 */
struct queue_batch {
    struct queue_req *req[QUEUE_BATCH_MAX];
    int n;
    int argc;
    const char **argv;              /* these three point into the batch's own allocation */
    size_t *argvlen;
    struct queue_verdict *verdict;  /* held while WAIT runs */
    char nkeys[24], count[24];
    char high_water[24], dedup_window[16];  /* the queue's, as sent: a reload may change them */
    int retried;
    struct queue *q;
    struct queue_batch *next;       /* in q->await_head or a queue_wait's 'covered' */
    struct queue_batch **sent_link, *sent_next;     /* in q->sent while its script runs */
};

/* queue_batch_send lays argv and argvlen out right behind the batch. */
_Static_assert(sizeof(struct queue_batch) % _Alignof(size_t) == 0 &&
                   sizeof(const char *) % _Alignof(size_t) == 0,
               "argv, argvlen and the verdicts follow the batch aligned");

static void queue_req_free(struct queue_req *r)
{
    free(r);
}

/* queue_req_done gives 'r' its verdict and frees it. */
static void queue_req_done(struct queue_req *r, const struct queue_verdict *v)
{
    r->cb(r->arg, v);
    queue_req_free(r);
}

static void queue_batch_free(struct queue_batch *b)
{
    free(b);
}

/* queue_reqs_fail answers the 'n' requests at 'reqs' with 503 'why' and frees them. */
static void queue_reqs_fail(struct queue_req *const *reqs, int n, const char *why)
{
    struct queue_verdict v = { .status = 503, .retry_after_s = 5 };
    snprintf(v.why, sizeof(v.why), "%s", why);
    for (int i = 0; i < n; i++)
        queue_req_done(reqs[i], &v);
}

/* queue_batch_fail answers every request of 'b' with 503 'why' and frees it. */
static void queue_batch_fail(struct queue_batch *b, const char *why)
{
    queue_reqs_fail(b->req, b->n, why);
    queue_batch_free(b);
}

/* queue_verdict_of reads notification 'i''s three reply elements into 'v'; -1 if malformed. */
static int queue_verdict_of(const redisReply *reply, int i, struct queue_verdict *v)
{
    const redisReply *st = reply->element[3 * i], *text = reply->element[3 * i + 1],
                     *ra = reply->element[3 * i + 2];
    if (st->type != REDIS_REPLY_INTEGER || text->type != REDIS_REPLY_STRING ||
        ra->type != REDIS_REPLY_INTEGER)
        return -1;
    memset(v, 0, sizeof(*v));
    v->status = (int)st->integer;
    if (v->status == 202)
        v->duplicate = strcmp(text->str, "dup") == 0;
    else
        snprintf(v->why, sizeof(v->why), "%s", text->str);
    v->retry_after_s = (int)ra->integer;
    return 0;
}

/* queue_batch_answer gives each request of 'b' its verdict from 'b->verdict' and frees 'b'. */
static void queue_batch_answer(struct queue_batch *b)
{
    for (int i = 0; i < b->n; i++)
        queue_req_done(b->req[i], &b->verdict[i]);
    queue_batch_free(b);
}

/*
 * queue_batches_waited answers the batches at 'b' (a list) after a WAIT
 * that 'acked' replicas acknowledged (-1: no answer). Short of
 * redis.wait_replicas a 202 could be lost with the primary: answer 503.
 */
static void queue_batches_waited(struct queue *q, struct queue_batch *b, long long acked,
                                 const char *err)
{
    int want = q != NULL ? q->wait_replicas : 1;
    int short_now = acked < want;
    if (q != NULL && short_now && !q->wait_short)
        pr_log_warn("queue", "WAIT %d: %s; answering 503 until writes are replicated", want,
                    acked >= 0 ? "too few replicas acknowledged in time" : err);
    else if (q != NULL && !short_now && q->wait_short)
        pr_log_info("queue", "writes reach %lld replicas again (redis.wait_replicas %d)", acked,
                    want);
    if (q != NULL)
        q->wait_short = short_now;
    while (b != NULL) {
        struct queue_batch *next = b->next;
        for (int i = 0; short_now && i < b->n; i++) {
            struct queue_verdict *v = &b->verdict[i];
            if (v->status != 202)
                continue;
            *v = (struct queue_verdict){ .status = 503, .retry_after_s = 1 };
            snprintf(v->why, sizeof(v->why), "queue unavailable: %lld of %d replicas acknowledged",
                     acked < 0 ? 0 : acked, want);
        }
        queue_batch_answer(b);
        b = next;
    }
}

static void queue_wait_cb(struct rconn *rc, redisReply *reply, void *arg);

/* queue_wait_send sends one WAIT covering every batch in q->await_head, unless one is in flight. */
static void queue_wait_send(struct queue *q)
{
    if (q->wait != NULL || q->await_head == NULL)
        return;
    struct queue_wait *w = calloc(1, sizeof(*w));
    struct queue_batch *covered = q->await_head;
    q->await_head = q->await_tail = NULL;
    if (w == NULL) {
        queue_batches_waited(q, covered, -1, "out of memory");
        return;
    }
    w->q = q;
    w->covered = covered;
    q->wait = w;
    const char *argv[] = { "WAIT", q->wait_n, q->wait_ms };
    if (rconn_cmd(q->rc, queue_wait_cb, w, 3, argv, NULL) != 0) {
        q->wait = NULL;
        free(w);
        queue_batches_waited(q, covered, -1, "connection lost");  /* not known to be replicated */
    }
}

/* queue_wait_cb: WAIT's reply is how many replicas have every write sent before it. */
static void queue_wait_cb(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct queue_wait *w = arg;
    struct queue *q = w->q;
    long long acked = reply != NULL && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    const char *err = reply == NULL ? "connection lost"
                      : reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply";

    if (q != NULL)
        q->wait = NULL;
    queue_batches_waited(q, w->covered, acked, err);
    free(w);
    if (q != NULL)
        queue_wait_send(q);     /* the batches that arrived meanwhile */
}

/* queue_sent_add puts 'b', just sent, on its queue's list of script calls in flight. */
static void queue_sent_add(struct queue *q, struct queue_batch *b)
{
    b->sent_next = q->sent;
    if (q->sent != NULL)
        q->sent->sent_link = &b->sent_next;
    b->sent_link = &q->sent;
    q->sent = b;
    q->n_sent++;
}

/*
 * queue_sent_done takes 'b' off that list once its script answered and
 * sends what was held meanwhile (queue_flush_cb). A batch of a freed
 * queue is on no list.
 */
static void queue_sent_done(struct queue_batch *b)
{
    if (b->sent_link == NULL)
        return;
    *b->sent_link = b->sent_next;
    if (b->sent_next != NULL)
        b->sent_next->sent_link = b->sent_link;
    b->sent_link = NULL;
    if (--b->q->n_sent < QUEUE_SENT_MAX && b->q->head != NULL)
        event_active(b->q->flush_ev, EV_TIMEOUT, 0);
}

/*
 * queue_note_refusals logs when Redis starts refusing the script's writes
 * (OOM once maxmemory is reached, a read-only replica) and when it takes
 * them again: one line each way, however many MESSAGEs come between.
 */
static void queue_note_refusals(struct queue *q, const char *err, int refused, int accepted)
{
    if (refused > 0 && q->refused == 0)
        pr_log_warn("queue", "Redis refuses the queue's writes (%s): MESSAGEs are answered 503 until it "
                             "takes them again", err);
    q->refused += (unsigned long)refused;
    if (accepted > 0 && q->refused > 0) {
        pr_log_info("queue", "Redis takes the queue's writes again (%lu MESSAGE%s answered 503 meanwhile)",
                    q->refused, q->refused == 1 ? "" : "s");
        q->refused = 0;
    }
}

static void queue_reply_cb(struct rconn *rc, redisReply *reply, void *arg)
{
    struct queue_batch *b = arg;

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR &&
        strncmp(reply->str, "NOSCRIPT", 8) == 0 && !b->retried) {
        b->retried = 1;
        b->argv[0] = "EVAL";
        b->argv[1] = ingest_lua;
        b->argvlen[0] = 4;
        b->argvlen[1] = sizeof(ingest_lua) - 1;
        if (rconn_cmd(rc, queue_reply_cb, b, b->argc, b->argv, b->argvlen) == 0)
            return;
    }
    queue_sent_done(b);
    if (reply == NULL) {
        queue_batch_fail(b, "queue unavailable: Redis connection lost");
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 * (size_t)b->n) {
        pr_log_error("queue", "ingest script failed: %s",
                     reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
        queue_batch_fail(b, "queue unavailable: Redis refused the write");
        return;
    }
    int accepted = 0, refused = 0;
    const char *refusal = NULL;
    for (int i = 0; i < b->n; i++) {
        struct queue_verdict *v = &b->verdict[i];
        if (queue_verdict_of(reply, i, v) != 0) {
            pr_log_error("queue", "ingest script gave an unexpected verdict");
            *v = (struct queue_verdict){ .status = 503, .retry_after_s = 5 };
            snprintf(v->why, sizeof(v->why), "queue unavailable: Redis refused the write");
        }
        accepted += v->status == 202;
        /* A write the script's pcall saw refused because this Redis is not
         * a writable primary (any more): the connection must find out too. */
        if (v->status == 503 && strncmp(v->why, QUEUE_UNAVAILABLE, strlen(QUEUE_UNAVAILABLE)) == 0) {
            rconn_saw_error(rc, v->why + strlen(QUEUE_UNAVAILABLE));
            if (refused++ == 0)
                refusal = v->why + strlen(QUEUE_UNAVAILABLE);
        }
    }
    if (b->q != NULL)
        queue_note_refusals(b->q, refusal, refused, accepted);
    if (accepted > 0 && b->q == NULL) {      /* its queue was freed, and with it any WAIT */
        queue_batches_waited(NULL, b, -1, "listener stopping");
        return;
    }
    if (accepted > 0 && b->q->wait_replicas > 0) {
        struct queue *q = b->q;
        if (q->await_tail != NULL)
            q->await_tail->next = b;
        else
            q->await_head = b;
        q->await_tail = b;
        queue_wait_send(q);
        return;
    }
    queue_batch_answer(b);
}

/* queue__num writes 'v' in decimal and a NUL at 'out' (room for 21 bytes) and returns its length. */
static size_t queue__num(char *out, size_t v)
{
    char num[24], *p = num + sizeof(num);
    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    size_t n = (size_t)(num + sizeof(num) - p);
    memcpy(out, p, n);
    out[n] = '\0';
    return n;
}

static void queue__arg(struct queue_batch *b, const char *s, size_t len)
{
    b->argv[b->argc] = s;
    b->argvlen[b->argc++] = len;
}

/*
 * queue_batch_send builds one script call for the 'n' requests at 'reqs'
 * and sends it. On failure every request is answered 503.
 */
static void queue_batch_send(struct queue *q, struct queue_req **reqs, int n)
{
    size_t argc = 8;
    for (int i = 0; i < n; i++)
        argc += QUEUE_NKEYS + QUEUE_ARGS + reqs[i]->n_sans;
    /* One allocation: the batch, then argv, argvlen and the verdicts (widest alignment first). */
    size_t vsize = (size_t)n * sizeof(struct queue_verdict);
    struct queue_batch *b = malloc(sizeof(*b) + argc * (sizeof(char *) + sizeof(size_t)) + vsize);
    if (b == NULL) {
        queue_reqs_fail(reqs, n, "queue unavailable: out of memory");
        return;
    }
    b->n = n;
    memcpy(b->req, reqs, (size_t)n * sizeof(*reqs));
    b->retried = 0;
    b->q = q;
    b->next = NULL;
    b->argv = (const char **)(b + 1);
    b->argvlen = (size_t *)(b->argv + argc);
    b->verdict = (struct queue_verdict *)(b->argvlen + argc);
    b->argc = 0;
    size_t nkl = queue__num(b->nkeys, QUEUE_NKEYS * (size_t)n);
    size_t cl = queue__num(b->count, (size_t)n);
    queue__arg(b, "EVALSHA", 7);
    queue__arg(b, q->sha, sizeof(q->sha) - 1);
    queue__arg(b, b->nkeys, nkl);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < QUEUE_NKEYS; k++)
            queue__arg(b, b->req[i]->key[k], b->req[i]->key_len[k]);
    memcpy(b->high_water, q->high_water, q->high_water_len + 1);
    memcpy(b->dedup_window, q->dedup_window, q->dedup_window_len + 1);
    queue__arg(b, b->high_water, q->high_water_len);
    queue__arg(b, b->dedup_window, q->dedup_window_len);
    queue__arg(b, b->count, cl);
    queue__arg(b, q->shards, q->shards_len);
    queue__arg(b, q->copies_checked, 1);
    for (int i = 0; i < n; i++) {
        struct queue_req *r = b->req[i];
        queue__arg(b, r->provider, r->provider_len);
        queue__arg(b, r->id, r->id_len);
        queue__arg(b, r->domain, r->domain_len);
        queue__arg(b, r->json, r->jsonlen);
        queue__arg(b, r->nsans, r->nsans_len);
        for (size_t s = 0; s < r->n_sans; s++)
            queue__arg(b, r->sans[s], r->san_len[s]);
    }
    if (rconn_cmd(q->rc, queue_reply_cb, b, b->argc, b->argv, b->argvlen) != 0) {
        queue_batch_fail(b, "queue unavailable: Redis connection lost");
        return;
    }
    queue_sent_add(q, b);
}

/*
 * A turn that queued at most this many requests most likely drained its
 * edges' input (a lone or lock-step MESSAGE): its script calls are written
 * at once (rconn_flush) rather than a loop turn later. A bigger turn is a
 * pipelined burst, likely with more input already waiting: its calls leave
 * on the write event, where the next turn's batch can join them in one
 * write (bench/README.md, issue 14: flushing every turn cost window-100
 * throughput on a busy 2-core VM).
 */
#define QUEUE_FLUSH_NOW_MAX 8

/*
 * queue_flush_cb sends what this loop turn queued: one script call per
 * shard, QUEUE_BATCH_MAX requests at most each. Every request of the turn
 * is counted against the same second, read here once.
 */
static void queue_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct queue *q = arg;
    long long now_s = (long long)time(NULL);
    int turn = 0;

    if (q->n_sent >= QUEUE_SENT_MAX) {
        int n = 0;
        for (const struct queue_req *r = q->head; r != NULL && n <= QUEUE_FLUSH_NOW_MAX; r = r->next)
            n++;
        if (n > QUEUE_FLUSH_NOW_MAX)
            return;             /* queue_sent_done calls again */
    }
    while (q->head != NULL) {
        /* Take the head's shard's requests, in order, and leave the others. */
        struct queue_req *reqs[QUEUE_BATCH_MAX], **link = &q->head;
        unsigned shard = q->head->shard;
        int n = 0;
        q->tail = NULL;
        while (*link != NULL) {
            struct queue_req *r = *link;
            if (r->shard == shard && n < QUEUE_BATCH_MAX) {
                reqs[n++] = r;
                *link = r->next;
                r->next = NULL;
                /* cannot fail: queue_ingest sized it for any second */
                r->key_len[QUEUE_KEY_RATE] = (size_t)keys_q_rate(
                    q->keys, shard, r->domain, now_s, (char *)r->key[QUEUE_KEY_RATE], r->rate_room);
            } else {
                q->tail = r;
                link = &r->next;
            }
        }
        queue_batch_send(q, reqs, n);    /* answers 503 itself when Redis is gone */
        turn += n;
    }
    if (turn <= QUEUE_FLUSH_NOW_MAX)
        rconn_flush(q->rc);
}

int queue_new(struct event_base *base, struct rconn *rc, const struct keys *keys,
              long long high_water, int dedup_window_s, struct queue **out)
{
    struct queue *q = calloc(1, sizeof(*q));
    if (q == NULL || (q->flush_ev = event_new(base, -1, 0, queue_flush_cb, q)) == NULL) {
        free(q);
        return PR_ENOMEM;
    }
    q->rc = rc;
    q->keys = keys;
    queue_set_limits(q, high_water, dedup_window_s);
    q->shards_len = (size_t)snprintf(q->shards, sizeof(q->shards), "%u", keys->shards);
    q->copies_checked = "0";
    q->wait_replicas = rconn_cfg(rc)->wait_replicas;
    snprintf(q->wait_n, sizeof(q->wait_n), "%d", q->wait_replicas);
    snprintf(q->wait_ms, sizeof(q->wait_ms), "%d", rconn_cfg(rc)->wait_timeout_ms);
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)ingest_lua, sizeof(ingest_lua) - 1, md);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(q->sha + 2 * i, 3, "%02x", md[i]);
    *out = q;
    return 0;
}

void queue_set_limits(struct queue *q, long long high_water, int dedup_window_s)
{
    q->high_water_len = (size_t)snprintf(q->high_water, sizeof(q->high_water), "%lld", high_water);
    q->dedup_window_len =
        (size_t)snprintf(q->dedup_window, sizeof(q->dedup_window), "%d", dedup_window_s);
}

void queue_copies_checked(struct queue *q)
{
    q->copies_checked = "1";
}

void queue_free(struct queue *q)
{
    if (q == NULL)
        return;
    while (q->head != NULL) {
        struct queue_req *r = q->head;
        q->head = r->next;
        queue_reqs_fail(&r, 1, "queue unavailable: listener stopping");
    }
    /* Batches waiting for replicas are not known to be replicated: 503. */
    queue_batches_waited(NULL, q->await_head, -1, "listener stopping");
    if (q->wait != NULL) {
        queue_batches_waited(NULL, q->wait->covered, -1, "listener stopping");
        q->wait->covered = NULL;
        q->wait->q = NULL;      /* its callback, still to come, frees it */
    }
    for (struct queue_batch *b = q->sent; b != NULL; b = b->sent_next) {
        b->sent_link = NULL;
        b->q = NULL;
    }
    event_free(q->flush_ev);
    jbuf_free(&q->enc);
    free(q);
}

/* queue__put copies 'len' bytes of 's' and a NUL to '*p', advances '*p' past them and returns the copy. */
static const char *queue__put(char **p, const char *s, size_t len)
{
    char *start = *p;
    memcpy(start, s, len);
    start[len] = '\0';
    *p = start + len + 1;
    return start;
}

int queue_ingest(struct queue *q, const struct pr_notif *n, const char *const *sans,
                 size_t n_sans, queue_done_cb cb, void *arg)
{
    if (!rconn_connected(q->rc))
        return PR_EREDIS;
    /* Keys are built on the stack and then packed: a request holds only what it uses. */
    char k[QUEUE_NKEYS][KEYS_MAX];
    int kl[QUEUE_NKEYS];
    unsigned shard = keys_shard_of(q->keys, n->provider, n->token, strlen(n->token));
    if ((kl[0] = keys_q_tenant(q->keys, shard, n->domain, k[0], KEYS_MAX)) < 0 ||
        (kl[1] = keys_q_token(q->keys, shard, n->provider, n->token, k[1], KEYS_MAX)) < 0 ||
        (kl[2] = keys_q_stream(q->keys, shard, n->provider, k[2], KEYS_MAX)) < 0 ||
        (kl[3] = keys_q_dedup(q->keys, shard, n->domain, n->id, k[3], KEYS_MAX)) < 0 ||
        (kl[4] = keys_q_rate(q->keys, shard, n->domain, LLONG_MIN, k[QUEUE_KEY_RATE],
                             KEYS_MAX)) < 0)
        return PR_ETOOBIG;      /* LLONG_MIN: the longest second, to size the rate key */
    if (n_sans > QUEUE_MAX_SANS)
        n_sans = QUEUE_MAX_SANS;
    /* The record is encoded into the queue's kept buffer, then copied with the rest. */
    jbuf_reset(&q->enc);
    int rc = notif_encode_jbuf(n, &q->enc);
    if (rc != 0)
        return rc;
    size_t id_len = strlen(n->id), domain_len = strlen(n->domain), san_len[QUEUE_MAX_SANS];
    size_t total = id_len + domain_len + 2 + q->enc.len;
    for (int j = 0; j < QUEUE_NKEYS; j++)
        total += (size_t)kl[j] + 1;
    for (size_t j = 0; j < n_sans; j++)
        total += (san_len[j] = strlen(sans[j])) + 1;

    struct queue_req *r = malloc(sizeof(*r) + total);
    if (r == NULL)
        return PR_ENOMEM;
    char *p = r->strs;
    r->next = NULL;
    r->shard = shard;
    for (int j = 0; j < QUEUE_NKEYS; j++) {
        r->key[j] = queue__put(&p, k[j], (size_t)kl[j]);
        r->key_len[j] = (size_t)kl[j];
    }
    r->rate_room = (size_t)kl[QUEUE_KEY_RATE] + 1;
    r->provider = pr_provider_name(n->provider);
    r->provider_len = strlen(r->provider);
    r->id = queue__put(&p, n->id, id_len);
    r->id_len = id_len;
    r->domain = queue__put(&p, n->domain, domain_len);
    r->domain_len = domain_len;
    for (size_t j = 0; j < n_sans; j++) {
        r->sans[j] = queue__put(&p, sans[j], san_len[j]);
        r->san_len[j] = san_len[j];
    }
    r->n_sans = n_sans;
    r->nsans_len = queue__num(r->nsans, n_sans);     /* at most QUEUE_MAX_SANS */
    memcpy(p, q->enc.p, q->enc.len);    /* argv carries its length: no NUL needed */
    r->json = p;
    r->jsonlen = q->enc.len;
    r->cb = cb;
    r->arg = arg;
    if (q->tail != NULL)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
    event_active(q->flush_ev, EV_TIMEOUT, 0);
    return 0;
}
