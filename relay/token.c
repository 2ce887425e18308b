/*
 * token.c - dead device token records (layout drawn in token.h). Writes
 * happen in the dispatcher's MULTI/EXEC with the stream ack; reads and
 * deletes are pushrelayctl's, over a blocking connection. The listener
 * only tests the key's existence in its ingest script.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pushrelay/error.h"
#include "token.h"

int token_key(const struct keys *k, enum pr_provider p, const char *token, char *buf, size_t buflen)
{
    return keys_q_token(k, keys_shard_of(k, p, token, strlen(token)), p, token, buf, buflen);
}

int token_send_dead(struct rconn *rc, const struct keys *k, unsigned shard,
                    const struct token_dead *t)
{
    char key[KEYS_MAX], index[KEYS_MAX], since[24], pts[24], ttl[16], cutoff[32];
    if (keys_q_token(k, shard, t->provider, t->token, key, sizeof(key)) < 0 ||
        keys_q_tokens(k, shard, index, sizeof(index)) < 0)
        return PR_ETOOBIG;
    snprintf(since, sizeof(since), "%lld", (long long)t->since_ms);
    snprintf(pts, sizeof(pts), "%lld", (long long)t->provider_ts_ms);
    snprintf(ttl, sizeof(ttl), "%d", TOKEN_TTL_S);
    snprintf(cutoff, sizeof(cutoff), "(%lld", (long long)t->since_ms - (long long)TOKEN_TTL_S * 1000);

    const char *hset[] = { "HSET", key,
                           TOKEN_F_REASON, t->reason != NULL ? t->reason : "",
                           TOKEN_F_SINCE, since,
                           TOKEN_F_PROVIDER_TS, pts,
                           TOKEN_F_DOMAIN, t->domain != NULL ? t->domain : "",
                           TOKEN_F_APP, t->app != NULL ? t->app : "" };
    const char *expire[] = { "EXPIRE", key, ttl };
    const char *zadd[] = { "ZADD", index, since, key };
    const char *trim[] = { "ZREMRANGEBYSCORE", index, "-inf", cutoff };
    if (rconn_cmd(rc, NULL, NULL, 12, hset, NULL) != 0 ||
        rconn_cmd(rc, NULL, NULL, 3, expire, NULL) != 0 ||
        rconn_cmd(rc, NULL, NULL, 4, zadd, NULL) != 0 ||
        rconn_cmd(rc, NULL, NULL, 4, trim, NULL) != 0)
        return PR_EREDIS;
    return 0;
}

static void token_copy(char *dst, size_t dstlen, const redisReply *r)
{
    dst[0] = '\0';
    if (r != NULL && r->type == REDIS_REPLY_STRING)
        snprintf(dst, dstlen, "%.*s", (int)r->len, r->str);
}

static int64_t token_num(const redisReply *r)
{
    return (r != NULL && r->type == REDIS_REPLY_STRING) ? strtoll(r->str, NULL, 10) : 0;
}

int token_get(redisContext *c, const struct keys *k, enum pr_provider p, const char *token,
              struct token_info *out)
{
    char key[KEYS_MAX];
    if (token_key(k, p, token, key, sizeof(key)) < 0)
        return PR_ETOOBIG;
    const char *hmget[] = { "HMGET", key, TOKEN_F_REASON, TOKEN_F_SINCE, TOKEN_F_PROVIDER_TS,
                            TOKEN_F_DOMAIN, TOKEN_F_APP };
    const char *ttl[] = { "TTL", key };
    redisReply *r = redisCommandArgv(c, 7, hmget, NULL);
    if (r == NULL)
        return PR_EREDIS;
    int rc = PR_EREDIS;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 5)
        goto out;
    rc = PR_ENOTFOUND;
    if (r->element[1]->type != REDIS_REPLY_STRING)     /* since_ms is always written */
        goto out;
    memset(out, 0, sizeof(*out));
    token_copy(out->reason, sizeof(out->reason), r->element[0]);
    out->since_ms = token_num(r->element[1]);
    out->provider_ts_ms = token_num(r->element[2]);
    token_copy(out->domain, sizeof(out->domain), r->element[3]);
    token_copy(out->app, sizeof(out->app), r->element[4]);
    freeReplyObject(r);
    r = redisCommandArgv(c, 2, ttl, NULL);
    if (r == NULL)
        return PR_EREDIS;
    out->ttl_s = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    rc = 0;
out:
    freeReplyObject(r);
    return rc;
}

int token_forget(redisContext *c, const struct keys *k, enum pr_provider p, const char *token)
{
    char key[KEYS_MAX], index[KEYS_MAX];
    if (token_key(k, p, token, key, sizeof(key)) < 0 ||
        keys_q_tokens(k, keys_shard_of(k, p, token, strlen(token)), index, sizeof(index)) < 0)
        return PR_ETOOBIG;
    const char *del[] = { "DEL", key };
    const char *zrem[] = { "ZREM", index, key };
    redisReply *r = redisCommandArgv(c, 2, del, NULL);
    if (r == NULL)
        return PR_EREDIS;
    int rc = r->type == REDIS_REPLY_INTEGER ? (r->integer > 0 ? 0 : PR_ENOTFOUND) : PR_EREDIS;
    freeReplyObject(r);
    r = redisCommandArgv(c, 3, zrem, NULL);
    if (r == NULL)
        return PR_EREDIS;
    freeReplyObject(r);
    return rc;
}
