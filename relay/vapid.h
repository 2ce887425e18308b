/*
 * vapid.h - RFC 8292 voluntary application server identification for Web
 * Push: the Authorization header value for a push endpoint, its JWT cached
 * per endpoint origin, plus the endpoint-derived values a Web Push request
 * needs (the origin, the RFC 8030 Topic). Used by the Web Push client; the
 * payload itself is relay/webpush_payload.c's.
 *
 *   Authorization: vapid t=<JWT>, k=<application server public key>
 *
 *   JWT header {"alg":"ES256","typ":"JWT"}
 *   JWT claims {"aud":"https://push.example.net","exp":<now + 12 h>,"sub":"mailto:ops@…"}
 *   k          base64url of the uncompressed P-256 public point (65 bytes)
 */
#ifndef PUSHRELAY_VAPID_H
#define PUSHRELAY_VAPID_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

/*
 * A token lives 12 hours (RFC 8292 section 2 allows 24, counted on the
 * push service's clock: half leaves room for skew) and is signed anew once
 * less than an hour of that is left.
 */
#define VAPID_LIFETIME_S (12 * 3600)
#define VAPID_RENEW_S 3600
#define VAPID_CACHE_SLOTS 32        /* origins remembered; the soonest to expire goes first */
#define VAPID_ORIGIN_MAX 256        /* "https://" host [":" port], NUL included */
#define VAPID_TOPIC_MAX 32          /* RFC 8030 section 5.4 */

/*
 * vapid_origin writes the origin of https URL 'url' ("https://host", with
 * ":port" unless it is 443; host lower-cased) into 'out'. PR_EINVAL when
 * 'url' is not an absolute https URL with a host and no userinfo,
 * PR_ETOOBIG when 'outlen' is too small.
 */
int vapid_origin(const char *url, char *out, size_t outlen);

/* The per-app signer and its token cache: opaque. */
struct vapid_cache;

/*
 * vapid_cache_new makes the cache for an app's VAPID key 'key' (a P-256
 * key, borrowed: it must outlive the cache) and contact 'subject' (copied;
 * a "mailto:" or "https:" URI, as RFC 8292 section 2.1 asks). PR_EINVAL
 * for another subject, PR_ECRYPTO for another kind of key, PR_ENOMEM.
 */
int vapid_cache_new(EVP_PKEY *key, const char *subject, struct vapid_cache **out);
void vapid_cache_del(struct vapid_cache *c);

/*
 * vapid_header sets '*out' to the Authorization value for push endpoint
 * 'endpoint' at wall clock 'now_s': the cached one for the endpoint's
 * origin while it has more than VAPID_RENEW_S to live, else a freshly
 * signed one. '*out' is owned by the cache and valid until the next call
 * on it. Errors: vapid_origin's, jwt_sign's.
 */
int vapid_header(struct vapid_cache *c, const char *endpoint, int64_t now_s, const char **out);

/* vapid_cache_forget drops the token of 'endpoint''s origin (after a 401). */
void vapid_cache_forget(struct vapid_cache *c, const char *endpoint);

/*
 * vapid_topic writes the Topic header value for 'collapse_id' into 'out':
 * 'collapse_id' itself when it is 1 to 32 characters of the base64url
 * alphabet, else the first 32 characters of base64url(SHA-256(collapse_id))
 * so that one collapse id always gives one topic. "" (no Topic) for a NULL
 * or empty 'collapse_id'. PR_ECRYPTO if hashing fails.
 */
int vapid_topic(const char *collapse_id, char out[VAPID_TOPIC_MAX + 1]);

#endif
