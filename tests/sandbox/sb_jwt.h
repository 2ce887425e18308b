/*
 * sb_jwt.h - JWT (compact JWS) verification for the sandbox: ES256 APNs
 * provider tokens and RS256 Google service-account assertions.
 *
 * This is deliberately independent of relay/jwt.c: the sandbox checks the
 * relay's signer, so it must not share its code.
 */
#ifndef PUSHRELAY_SANDBOX_SB_JWT_H
#define PUSHRELAY_SANDBOX_SB_JWT_H

#include <stddef.h>
#include <jansson.h>
#include <openssl/evp.h>

/*
 * sb_jwt_verify checks 'jwt' ('len' bytes): three base64url parts, a JSON
 * object header whose "alg" equals 'alg' ("ES256": raw 64-byte r||s over
 * SHA-256 with a P-256 key; "RS256": RSASSA-PKCS1-v1_5 SHA-256), and a valid
 * signature under 'key'. On success returns 0 and sets '*header' and
 * '*claims' to new references the caller must json_decref. Returns
 * PR_EINVAL when malformed, PR_ECRYPTO when the alg or signature is wrong,
 * PR_ENOMEM.
 */
int sb_jwt_verify(const char *jwt, size_t len, EVP_PKEY *key, const char *alg,
                  json_t **header, json_t **claims);

/*
 * sb_jwt_load_key reads a PEM key from 'pem' ('len' bytes; -1: NUL
 * terminated): a public key, or a private key (PKCS#8 such as an APNs .p8,
 * or traditional) whose public half is then used. NULL when unreadable.
 */
EVP_PKEY *sb_jwt_load_key(const char *pem, int len);

/* sb_jwt_load_key_file is sb_jwt_load_key on a file's content. */
EVP_PKEY *sb_jwt_load_key_file(const char *path);

/*
 * sb_b64url_decode decodes unpadded base64url 'in' ('len' bytes) into 'out'
 * (room for at least len*3/4+3 bytes). Returns the decoded length or -1 when
 * 'in' is not base64url.
 */
long sb_b64url_decode(const char *in, size_t len, unsigned char *out);

#endif
