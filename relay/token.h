/*
 * token.h - dead device tokens (design section 6, "token dead"). The
 * dispatcher records a token when its provider reports it gone (APNs 410 /
 * BadDeviceToken, FCM UNREGISTERED, MPNS 404 / Expired); the listener's
 * ingest answers 410 while the record exists; `pushrelayctl tokens` lists,
 * shows and forgets records.
 *
 *   <p>token:<provider>:<token>   hash, EXPIRE TOKEN_TTL_S
 *     reason          provider reason ("Unregistered", "UNREGISTERED", "Expired")
 *     since_ms        epoch ms when the relay learnt it
 *     provider_ts_ms  provider's own timestamp (APNs 410 "timestamp"), 0 if none
 *     domain          tenant whose notification revealed it
 *     app             cfg_app id
 *   <p>tokens                     zset: member = the token key, score = since_ms
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
 * 't' (HSET, EXPIRE, ZADD, ZREMRANGEBYSCORE). Meant to run between MULTI
 * and EXEC so that the record lands atomically with the stream ack.
 * Returns 0, PR_ETOOBIG (token longer than a key allows) or PR_EREDIS (not
 * connected: nothing or only part was sent, the caller's EXEC must not run).
 */
int token_send_dead(struct rconn *rc, const struct keys *k, const struct token_dead *t);

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
 * token_get reads the record of 'token' for provider 'p' over a blocking
 * connection (pushrelayctl). 0, PR_ENOTFOUND, PR_ETOOBIG or PR_EREDIS.
 */
int token_get(redisContext *c, const struct keys *k, enum pr_provider p, const char *token,
              struct token_info *out);

/* token_forget deletes the record and its index entry. 0, PR_ENOTFOUND or PR_EREDIS. */
int token_forget(redisContext *c, const struct keys *k, enum pr_provider p, const char *token);

#endif
