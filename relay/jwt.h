/*
 * jwt.h - compact JWS signing for provider credentials: ES256 for APNs
 * provider tokens, RS256 for Google service-account assertions. Keys are
 * OpenSSL EVP_PKEYs loaded from PEM (.p8 is PKCS#8 PEM).
 */
#ifndef PUSHRELAY_JWT_H
#define PUSHRELAY_JWT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <openssl/evp.h>

/* jwt_load_key reads a PEM private key; NULL with 'err' filled on failure. */
EVP_PKEY *jwt_load_key(const char *path, char *err, size_t errlen);

/*
 * jwt_sign builds header {"alg":alg,"typ":"JWT"[,"kid":kid]} and signs
 * "<b64url(header)>.<b64url(claims)>" with 'key'. 'alg' is "ES256" (P-256
 * key; the signature is the raw 64-byte r||s, not DER) or "RS256". Returns 0
 * and a malloc'd token in '*out', or PR_EINVAL/PR_ECRYPTO/PR_ENOMEM.
 */
int jwt_sign(EVP_PKEY *key, const char *alg, const char *kid, json_t *claims, char **out);

/* base64url without padding; returns malloc'd text or NULL. */
char *jwt_b64url(const unsigned char *data, size_t len);

/*
 * jwt_b64url_decode decodes base64url text 's' (padding '=' allowed but not
 * required) into 'out', which has room for 'outmax' bytes, and sets '*outlen'.
 * PR_EINVAL when 's' holds a character outside the alphabet or is of an
 * impossible length, PR_ETOOBIG when the result would not fit.
 */
int jwt_b64url_decode(const char *s, unsigned char *out, size_t outmax, size_t *outlen);

/*
 * The APNs provider token: {"iss":team_id,"iat":now} signed ES256 with kid.
 * Apple refuses tokens refreshed more often than every 20 minutes and
 * rejects ones older than 60: the cache reuses a token until 'refresh_s'
 * (use JWT_APNS_REFRESH_S) and only then signs a new one.
 */
#define JWT_APNS_REFRESH_S (50 * 60)
struct jwt_cache {
    char *token;
    int64_t issued_s;
};
/* jwt_apns_token returns the cached token (owned by the cache) or a fresh one. */
int jwt_apns_token(struct jwt_cache *cache, EVP_PKEY *key, const char *team_id,
                   const char *key_id, int64_t now_s, const char **out);
void jwt_cache_clear(struct jwt_cache *cache);  /* forget the token (reauth) */

/*
 * jwt_google_assertion signs the OAuth2 JWT-bearer assertion for a service
 * account: {"iss":email,"scope":scope,"aud":token_uri,"iat":now,"exp":now+3600}, RS256.
 */
int jwt_google_assertion(EVP_PKEY *key, const char *key_id, const char *client_email,
                         const char *scope, const char *token_uri, int64_t now_s, char **out);

#endif
