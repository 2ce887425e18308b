/*
 * keys.h - every Redis key pushrelay uses is built here (design section 7),
 * so that a change of layout is a change to this one module.
 *
 * The queue is split into S shards (redis.shards). A notification's shard
 * is k = keys_shard_of(provider, token), and every key its ingest script
 * and its outcome's MULTI/EXEC touch carries the hash tag {q<k>}, so one
 * shard lives in one Redis Cluster slot and no script or transaction ever
 * spans two shards:
 *
 *   <p>{q<k>}:in:<provider>              stream, group "dispatch": queued notifications
 *   <p>{q<k>}:retry                      zset, score = due ms: waiting for next attempt
 *   <p>{q<k>}:dead                       stream: dead letters (reason, last status)
 *   <p>{q<k>}:dedup:<domain>:<id>        string, SET NX EX: idempotency window
 *   <p>{q<k>}:token:<provider>:<token>   hash, with TTL: dead tokens
 *   <p>{q<k>}:tokens                     zset of the shard's dead-token keys by time
 *   <p>{q<k>}:tenant:<domain>            hash: the shard's copy of the tenant record
 *   <p>{q<k>}:rate:<domain>:<second>     counter, short TTL: the shard's share of the
 *                                        domain's rate limit (ceil(limit / S))
 *   <p>{q<k>}:outcome:<domain>:<id>      hash, short TTL: a notification's latest
 *                                        outcome (see relay/outcome_log.h)
 *
 * Keys outside the shards (each touched by single-key commands only):
 *
 *   <p>tenant:<domain>              hash: the authoritative tenant record (enabled,
 *                                   providers, edges, rate_limit, ...); enable-push and
 *                                   disable-push write it and every shard's copy
 *   <p>tenants                      set of tenant domains
 *   <p>stats:total                  hash: counters of every domain (fields drawn in relay/stats.c)
 *   <p>stats:min:<epoch minute>     hash, TTL monitoring.stats_window_h: the same, that minute
 *   <p>stats:domain:<domain>        hash: counters of one domain
 *   <p>stats:hist:<provider>:<name> hash: latency histogram (names: STATS_HIST_MAP, relay/stats.h)
 *   <p>ptoken:apns:<team>:<key id>  string "<iat> <jwt>", with TTL: the APNs provider
 *                                   token every dispatcher uses (see relay/ptoken.h)
 *
 * The layout before shards (read only to drain it after an upgrade):
 *
 *   <p>{q}:in:<provider>  <p>{q}:retry  <p>{q}:dead  <p>dedup:<domain>:<id>
 *   <p>rate:<domain>:<s>  <p>token:<provider>:<token>  <p>tokens  <p>outcome:<domain>:<id>
 *
 * <p> is redis.prefix ("pr:" by default). Every builder writes a NUL
 * terminated key into 'buf' and returns its length, or PR_ETOOBIG when
 * 'buflen' is too small (keys embed device tokens: size buffers KEYS_MAX).
 */
#ifndef PUSHRELAY_KEYS_H
#define PUSHRELAY_KEYS_H

#include <stddef.h>
#include "pushrelay/provider.h"

#define KEYS_MAX 4352           /* prefix + 4 KiB MPNS channel URI + slack */
#define KEYS_PREFIX_MAX 64
#define KEYS_GROUP "dispatch"   /* consumer group on every provider stream */

struct keys {
    char prefix[KEYS_PREFIX_MAX];
    unsigned shards;            /* S >= 1 */
};

/* keys_init copies 'prefix' (NULL: "pr:") with one shard; PR_EINVAL if it is too long. */
int keys_init(struct keys *k, const char *prefix);

/* keys_set_shards sets S (redis.shards); PR_EINVAL unless 1 <= shards <= 16384. */
int keys_set_shards(struct keys *k, int shards);

/*
 * keys_shard_of: the shard 0 .. S-1 of a notification for device 'token'
 * ('len' bytes) of provider 'p': FNV-1a (32 bit) over the provider's name,
 * a NUL and the token, mod S. Part of the data layout: every process of a
 * deployment must agree on it and on S.
 */
unsigned keys_shard_of(const struct keys *k, enum pr_provider p, const char *token, size_t len);

/* The shard keys (tag {q<shard>}); 'shard' < S. */
int keys_q_stream(const struct keys *k, unsigned shard, enum pr_provider p, char *buf, size_t buflen);
int keys_q_retry(const struct keys *k, unsigned shard, char *buf, size_t buflen);
int keys_q_dead(const struct keys *k, unsigned shard, char *buf, size_t buflen);
int keys_q_dedup(const struct keys *k, unsigned shard, const char *domain, const char *id,
                 char *buf, size_t buflen);
int keys_q_token(const struct keys *k, unsigned shard, enum pr_provider p, const char *token,
                 char *buf, size_t buflen);
int keys_q_tokens(const struct keys *k, unsigned shard, char *buf, size_t buflen);
int keys_q_tenant(const struct keys *k, unsigned shard, const char *domain, char *buf, size_t buflen);
int keys_q_rate(const struct keys *k, unsigned shard, const char *domain, long long epoch_s,
                char *buf, size_t buflen);
int keys_q_outcome(const struct keys *k, unsigned shard, const char *domain, const char *id,
                   char *buf, size_t buflen);

/* The keys outside the shards, and (keys_stream .. keys_outcome) the layout before shards. */

int keys_stream(const struct keys *k, enum pr_provider p, char *buf, size_t buflen);
int keys_retry(const struct keys *k, char *buf, size_t buflen);
int keys_dead(const struct keys *k, char *buf, size_t buflen);
int keys_dedup(const struct keys *k, const char *domain, const char *id, char *buf, size_t buflen);
int keys_tenant(const struct keys *k, const char *domain, char *buf, size_t buflen);
int keys_tenants(const struct keys *k, char *buf, size_t buflen);
int keys_rate(const struct keys *k, const char *domain, long long epoch_s, char *buf, size_t buflen);
int keys_token(const struct keys *k, enum pr_provider p, const char *token, char *buf, size_t buflen);
int keys_tokens(const struct keys *k, char *buf, size_t buflen);
int keys_stats_total(const struct keys *k, char *buf, size_t buflen);
int keys_stats_minute(const struct keys *k, long long epoch_min, char *buf, size_t buflen);
int keys_stats_domain(const struct keys *k, const char *domain, char *buf, size_t buflen);
int keys_stats_hist(const struct keys *k, enum pr_provider p, const char *hist, char *buf, size_t buflen);
int keys_outcome(const struct keys *k, const char *domain, const char *id, char *buf, size_t buflen);
int keys_ptoken(const struct keys *k, const char *team_id, const char *key_id, char *buf, size_t buflen);

#endif
