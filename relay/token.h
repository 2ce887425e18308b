/*
 * token.h - dead device tokens (design section 6, "token dead"). The
 * dispatcher records a token when its provider reports it gone (APNs 410 /
 * BadDeviceToken, FCM UNREGISTERED, MPNS 404 / Expired); the listener's
 * ingest answers 410 while the record exists; `pushrelayctl tokens` lists,
 * shows and forgets records.
 *
 * A record lives in the queue shard k of its provider and token
 * (keys_shard_of), where the listener's ingest script of that shard looks:
 *
 *   <p>{q<k>}:token:<provider>:<token>   hash, EXPIRE TOKEN_TTL_S
 *     reason          provider reason ("Unregistered", "UNREGISTERED", "Expired")
 *     since_ms        epoch ms when the relay learnt it
 *     provider_ts_ms  provider's own timestamp (APNs 410 "timestamp"), 0 if none
 *     domain          tenant whose notification revealed it
 *     app             cfg_app id
 *   <p>{q<k>}:tokens              zset: member = the token key, score = since_ms
 *                                 (members older than TOKEN_TTL_S are trimmed on write)
 */
#ifndef PUSHRELAY_TOKEN_H
#define PUSHRELAY_TOKEN_H

#include <stdint.h>
#include <hiredis/hiredis.h>
#include "pushrelay/provider.h"
#include "keys.h"
#include "rconn.h"

#define TOKEN_TTL_S (30 * 24 * 3600)

#define TOKEN_F_REASON "reason"
#define TOKEN_F_SINCE "since_ms"
#define TOKEN_F_PROVIDER_TS "provider_ts_ms"
#define TOKEN_F_DOMAIN "domain"
#define TOKEN_F_APP "app"

struct token_dead {
    enum pr_provider provider;
    const char *token;
    const char *reason;         /* may be NULL or "" */
    int64_t since_ms;
    int64_t provider_ts_ms;
    const char *domain;         /* may be NULL */
    const char *app;            /* may be NULL */
};

/*
 * token_send_dead sends, without reply callbacks, the commands that record
 * 't' in shard 'shard' (HSET, EXPIRE, ZADD, ZREMRANGEBYSCORE). Meant to run
 * between MULTI and EXEC so that the record lands atomically with the
 * stream ack of the same shard: 'shard' is the one the notification was
 * read from (keys_shard_of of its provider and token).
 * Returns 0, PR_ETOOBIG (token longer than a key allows) or PR_EREDIS (not
 * connected: nothing or only part was sent, the caller's EXEC must not run).
 */
int token_send_dead(struct rconn *rc, const struct keys *k, unsigned shard,
                    const struct token_dead *t);

/* token_key writes the record key of ('p', 'token') (in its shard) to 'buf'; as keys_q_token. */
int token_key(const struct keys *k, enum pr_provider p, const char *token, char *buf, size_t buflen);

/* A dead-token record as read back (strings owned by the struct). */
struct token_info {
    char reason[96];
    int64_t since_ms;
    int64_t provider_ts_ms;
    char domain[256];
    char app[128];
    long long ttl_s;            /* seconds left, -1 no TTL */
};

/*
 * token_get reads the record of 'token' for provider 'p' over blocking
 * connection 'c', which must serve the record's shard (token_key).
 * 0, PR_ENOTFOUND, PR_ETOOBIG or PR_EREDIS.
 */
int token_get(redisContext *c, const struct keys *k, enum pr_provider p, const char *token,
              struct token_info *out);

/*
 * token_forget deletes the record and its entry in the shard's index (one
 * shard: 'c' serves token_key). 0, PR_ENOTFOUND or PR_EREDIS.
 */
int token_forget(redisContext *c, const struct keys *k, enum pr_provider p, const char *token);

#endif
