/*
 * keys.h - every Redis key pushrelay uses is built here (design section 7),
 * so that a change of layout (Redis Cluster hash tags per provider shard,
 * another prefix) is a change to this one module.
 *
 *   <p>{q}:in:<provider>            stream, group "dispatch": queued notifications
 *   <p>{q}:retry                    zset, score = due ms: waiting for next attempt
 *   <p>{q}:dead                     stream: dead letters (reason, last status)
 *   <p>dedup:<domain>:<id>          string, SET NX EX: idempotency window
 *   <p>tenant:<domain>              hash: enabled, providers, edges, rate_limit, …
 *   <p>tenants                      set of tenant domains
 *   <p>rate:<domain>:<epoch second> counter with a short TTL: per-domain rate limit
 *   <p>token:<provider>:<token>     hash, with TTL: dead tokens
 *   <p>tokens                       zset of dead-token keys by time (for listing)
 *   <p>stats:total                  hash: counters of every domain (fields drawn in relay/stats.c)
 *   <p>stats:min:<epoch minute>     hash, TTL monitoring.stats_window_h: the same, that minute
 *   <p>stats:domain:<domain>        hash: counters of one domain
 *   <p>stats:hist:<provider>:<name> hash: latency histogram (names: STATS_HIST_MAP, relay/stats.h)
 *   <p>outcome:<domain>:<id>        hash, short TTL: a notification's latest outcome
 *                                   (see relay/outcome_log.h)
 *   <p>ptoken:apns:<team>:<key id>  string "<iat> <jwt>", with TTL: the APNs provider
 *                                   token every dispatcher uses (see relay/ptoken.h)
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
};

/* keys_init copies 'prefix' (NULL: "pr:"); PR_EINVAL if it is too long. */
int keys_init(struct keys *k, const char *prefix);

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
