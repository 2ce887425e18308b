/*
 * ptoken.h - one APNs provider token per signing key for every dispatcher
 * process on every host, kept in Redis.
 *
 * Apple answers 429 TooManyProviderTokenUpdates when a key's token changes
 * more often than every 20 minutes, and refuses a token older than 60. One
 * process reusing its token for 50 minutes (relay/jwt.c) is inside that
 * window; many processes each signing their own are not. So the token
 * lives in Redis as <p>ptoken:apns:<team>:<key id> = "<iat> <jwt>" with a
 * TTL of PTOKEN_SHARE_S from its iat: whichever process finds the key
 * missing signs a new token and offers it with SET NX; every other process
 * (one that lost the race included) adopts what the key holds. Each process
 * re-reads the key every PTOKEN_CHECK_S, so all switch to the next token
 * within that time after the old one's TTL ran out.
 *
 * Called by relay/apns.c (the token-fetch hook) and owned by the
 * dispatcher, one per process (its own Redis connection). When Redis is
 * unreachable, a process signs and uses its own token (jwt.c's rules), as
 * before: delivery does not wait for Redis to agree on a token.
 */
#ifndef PUSHRELAY_PTOKEN_H
#define PUSHRELAY_PTOKEN_H

#include <stdint.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include "pushrelay/config.h"

#define PTOKEN_SHARE_S (50 * 60)    /* the Redis key's TTL from the token's iat */
#define PTOKEN_USE_MAX_S (55 * 60)  /* never send a token older than this (Apple: 60) */
#define PTOKEN_CHECK_S 30           /* how often each process re-reads the key */

struct ptoken;

/*
 * ptoken_new connects to 'redis' (its key prefix included) for the shared
 * tokens of one process. PR_ENOMEM, PR_EINVAL (prefix too long).
 */
int ptoken_new(struct event_base *base, const struct cfg_redis *redis, struct ptoken **out);
void ptoken_free(struct ptoken *pt);

/*
 * ptoken_watch starts sharing the token of ('team_id', 'key_id'), signed
 * with 'key' (reference taken) when this process has to make one: it reads
 * the Redis key at once, so that the first request already finds the shared
 * token. Calling it again for the same pair replaces the key (a reload).
 * PR_ENOMEM.
 */
int ptoken_watch(struct ptoken *pt, EVP_PKEY *key, const char *team_id, const char *key_id);

/*
 * ptoken_apns gives the token to send now for the pair (watched or not):
 * the shared one when known and younger than PTOKEN_USE_MAX_S, else one
 * signed here (and offered to the others). '*out' stays valid until the
 * next call for the pair. 0, or PR_ECRYPTO/PR_ENOMEM from signing.
 */
int ptoken_apns(struct ptoken *pt, EVP_PKEY *key, const char *team_id, const char *key_id,
                int64_t now_s, const char **out);

/*
 * ptoken_reject: Apple refused the pair's current token (InvalidProviderToken,
 * ExpiredProviderToken). It is forgotten here and deleted from Redis if it
 * is still the shared one, so that the next request gets a new one.
 */
void ptoken_reject(struct ptoken *pt, const char *team_id, const char *key_id);

#endif
