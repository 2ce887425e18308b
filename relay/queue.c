/*
 * queue.c - atomic ingest of one notification into Redis (see queue.h).
 *
 * The checks and the append are one Lua script so that no interleaving of
 * listeners can queue a duplicate, exceed a rate limit or pass a check that
 * a concurrent `disable-push` just revoked. The script is sent by SHA
 * (EVALSHA); when Redis does not know it yet (first use, restart, SCRIPT
 * FLUSH) the same call is repeated once as EVAL, which also caches it.
 *
 *   KEYS  1 tenant hash   2 dead-token hash   3 provider stream
 *         4 dedup key     5 rate counter (this second)
 *   ARGV  1 provider  2 high water  3 dedup window s  4 push id
 *         5 domain    6 notification JSON  7.. edge FQDNs from the peer cert
 *
 *   reply {status, text[, retry_after]}
 *         status 202: text = stream entry id, or "dup" for a repeat
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/sha.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "queue.h"
#include "tenant.h"

static const char ingest_lua[] =
    "local t = redis.call('HMGET', KEYS[1], 'enabled', ARGV[1], 'rate_limit')\n"
    "if t[1] ~= '1' then return {403, 'domain ' .. ARGV[5] .. ' is not enabled for push'} end\n"
    "if t[2] ~= '1' then return {403, 'provider ' .. ARGV[1] .. ' is disabled for ' .. ARGV[5]} end\n"
    "local edge = false\n"
    "for i = 7, #ARGV do\n"
    "  if redis.call('HEXISTS', KEYS[1], 'edge:' .. ARGV[i]) == 1 then edge = true break end\n"
    "end\n"
    "if not edge then return {403, 'TLS peer is not a registered edge of ' .. ARGV[5]} end\n"
    "if redis.call('EXISTS', KEYS[2]) == 1 then return {410, 'device token is known dead'} end\n"
    "local limit = tonumber(t[3] or '0') or 0\n"
    "if limit > 0 then\n"
    "  local c = redis.call('INCR', KEYS[5])\n"
    "  if c == 1 then redis.call('EXPIRE', KEYS[5], 2) end\n"
    "  if c > limit then return {503, 'rate limit of ' .. limit .. '/s exceeded for ' .. ARGV[5], 1} end\n"
    "end\n"
    "if redis.call('XLEN', KEYS[3]) >= tonumber(ARGV[2]) then\n"
    "  return {503, 'queue for ' .. ARGV[1] .. ' is over its high water mark', 5}\n"
    "end\n"
    "if not redis.call('SET', KEYS[4], '1', 'NX', 'EX', ARGV[3]) then return {202, 'dup'} end\n"
    "return {202, redis.call('XADD', KEYS[3], '*', 'id', ARGV[4], 'domain', ARGV[5], 'n', ARGV[6])}\n";

#define QUEUE_MAX_SANS 16
#define QUEUE_NKEYS 5
#define QUEUE_FIXED_ARGV 6

struct queue {
    struct rconn *rc;
    const struct keys *keys;
    char high_water[24];
    char dedup_window[16];
    char sha[SHA_DIGEST_LENGTH * 2 + 1];
};

/*
 * One ingest in flight. It keeps the whole argv so that a NOSCRIPT reply can
 * be answered by sending the same command again as EVAL.
 */
struct queue_req {
    struct queue *q;
    queue_done_cb cb;
    void *arg;
    int argc;
    const char *argv[3 + QUEUE_NKEYS + QUEUE_FIXED_ARGV + QUEUE_MAX_SANS];
    size_t argvlen[3 + QUEUE_NKEYS + QUEUE_FIXED_ARGV + QUEUE_MAX_SANS];
    char *json;
    char *strs;             /* keys, id, domain and SANs: argv outlives the caller's strings */
    int retried;
};

int queue_new(struct rconn *rc, const struct keys *keys, long long high_water,
              int dedup_window_s, struct queue **out)
{
    struct queue *q = calloc(1, sizeof(*q));
    if (q == NULL)
        return PR_ENOMEM;
    q->rc = rc;
    q->keys = keys;
    snprintf(q->high_water, sizeof(q->high_water), "%lld", high_water);
    snprintf(q->dedup_window, sizeof(q->dedup_window), "%d", dedup_window_s);
    unsigned char md[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)ingest_lua, strlen(ingest_lua), md);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(q->sha + 2 * i, 3, "%02x", md[i]);
    *out = q;
    return 0;
}

void queue_free(struct queue *q) { free(q); }

static void queue_req_free(struct queue_req *r)
{
    free(r->json);
    free(r->strs);
    free(r);
}

static void queue_reply_cb(struct rconn *rc, redisReply *reply, void *arg)
{
    struct queue_req *r = arg;
    struct queue_verdict v = { .status = 503, .retry_after_s = 5 };

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR &&
        strncmp(reply->str, "NOSCRIPT", 8) == 0 && !r->retried) {
        r->retried = 1;
        r->argv[0] = "EVAL";
        r->argv[1] = ingest_lua;
        r->argvlen[0] = 4;
        r->argvlen[1] = strlen(ingest_lua);
        if (rconn_cmd(rc, queue_reply_cb, r, r->argc, r->argv, r->argvlen) == 0)
            return;
    }
    if (reply == NULL) {
        snprintf(v.why, sizeof(v.why), "queue unavailable: Redis connection lost");
    } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2 &&
               reply->element[0]->type == REDIS_REPLY_INTEGER &&
               reply->element[1]->type == REDIS_REPLY_STRING) {
        v.status = (int)reply->element[0]->integer;
        if (v.status == 202)
            v.duplicate = strcmp(reply->element[1]->str, "dup") == 0;
        else
            snprintf(v.why, sizeof(v.why), "%s", reply->element[1]->str);
        v.retry_after_s = reply->elements >= 3 && reply->element[2]->type == REDIS_REPLY_INTEGER
                              ? (int)reply->element[2]->integer : 0;
    } else {
        pr_log_error("queue", "ingest script failed: %s",
                     reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
        snprintf(v.why, sizeof(v.why), "queue unavailable: Redis refused the write");
    }
    r->cb(r->arg, &v);
    queue_req_free(r);
}

/* arena_put copies 's' to '*p', advances '*p' past its NUL and returns the copy. */
static const char *arena_put(char **p, const char *s)
{
    char *start = *p;
    *p = stpcpy(start, s) + 1;
    return start;
}

int queue_ingest(struct queue *q, const struct pr_notif *n, const char *const *sans,
                 size_t n_sans, queue_done_cb cb, void *arg)
{
    if (!rconn_connected(q->rc))
        return PR_EREDIS;
    /* Keys are built on the stack and then packed: a request holds only what it uses. */
    char k[QUEUE_NKEYS][KEYS_MAX];
    if (keys_tenant(q->keys, n->domain, k[0], KEYS_MAX) < 0 ||
        keys_token(q->keys, n->provider, n->token, k[1], KEYS_MAX) < 0 ||
        keys_stream(q->keys, n->provider, k[2], KEYS_MAX) < 0 ||
        keys_dedup(q->keys, n->domain, n->id, k[3], KEYS_MAX) < 0 ||
        keys_rate(q->keys, n->domain, (long long)time(NULL), k[4], KEYS_MAX) < 0)
        return PR_ETOOBIG;
    if (n_sans > QUEUE_MAX_SANS)
        n_sans = QUEUE_MAX_SANS;
    size_t total = strlen(n->id) + strlen(n->domain) + 2;
    for (int j = 0; j < QUEUE_NKEYS; j++)
        total += strlen(k[j]) + 1;
    for (size_t j = 0; j < n_sans; j++)
        total += strlen(sans[j]) + 1;

    struct queue_req *r = malloc(sizeof(*r));
    if (r == NULL)
        return PR_ENOMEM;
    r->retried = 0;
    r->json = NULL;
    char *p = r->strs = malloc(total);
    size_t jsonlen;
    int rc = p == NULL ? PR_ENOMEM : notif_encode(n, &r->json, &jsonlen);
    if (rc != 0)
        goto fail;
    int i = 0;
    r->argv[i++] = "EVALSHA";
    r->argv[i++] = q->sha;
    r->argv[i++] = "5";
    for (int j = 0; j < QUEUE_NKEYS; j++)
        r->argv[i++] = arena_put(&p, k[j]);
    r->argv[i++] = pr_provider_name(n->provider);
    r->argv[i++] = q->high_water;
    r->argv[i++] = q->dedup_window;
    r->argv[i++] = arena_put(&p, n->id);
    r->argv[i++] = arena_put(&p, n->domain);
    r->argv[i++] = r->json;
    for (size_t j = 0; j < n_sans; j++)
        r->argv[i++] = arena_put(&p, sans[j]);
    r->argc = i;
    for (int j = 0; j < i; j++)
        r->argvlen[j] = r->argv[j] == r->json ? jsonlen : strlen(r->argv[j]);
    r->q = q;
    r->cb = cb;
    r->arg = arg;
    rc = rconn_cmd(q->rc, queue_reply_cb, r, r->argc, r->argv, r->argvlen);
    if (rc == 0)
        return 0;
fail:
    queue_req_free(r);
    return rc;
}
