/*
 * ece.h - Web Push message encryption (RFC 8291 over RFC 8188's
 * "aes128gcm" content coding): the subscription keys a browser hands out
 * (p256dh, auth), their validation, and the encrypted request body.
 * Pure apart from drawing random numbers; OpenSSL 3 does the cryptography.
 * Called by the Web Push payload builder (relay/webpush_payload.c); the
 * listener calls ece_sub_parse to refuse bad keys at ingest.
 *
 * The body is one record (the relay's payloads are far below 4096 bytes):
 *
 *   +-----------+-----------+-------+----------------+----------------------+
 *   | salt (16) | rs (4 BE) | idlen | keyid (65)     | AES-128-GCM(         |
 *   |  random   |   4096    |  65   | as_public, the |   plaintext || 0x02) |
 *   |           |           |       | sender's fresh |   || tag (16)        |
 *   |           |           |       | P-256 point    |                      |
 *   +-----------+-----------+-------+----------------+----------------------+
 *    `------------------ header, 86 bytes -----------'
 *
 * Keys (RFC 8291 section 3.4; HKDF-SHA-256 throughout):
 *   ecdh_secret = ECDH(as_private, ua_public)
 *   IKM   = HKDF(salt=auth, ikm=ecdh_secret, "WebPush: info" 0x00 ua_public as_public, 32)
 *   CEK   = HKDF(salt=salt, ikm=IKM, "Content-Encoding: aes128gcm" 0x00, 16)
 *   NONCE = HKDF(salt=salt, ikm=IKM, "Content-Encoding: nonce" 0x00, 12)
 */
#ifndef PUSHRELAY_ECE_H
#define PUSHRELAY_ECE_H

#include <stddef.h>
#include <openssl/evp.h>

#define ECE_PUBLIC_LEN 65       /* uncompressed P-256 point: 0x04 || x || y */
#define ECE_AUTH_LEN 16
#define ECE_SALT_LEN 16
#define ECE_RECORD_SIZE 4096
#define ECE_HEADER_LEN (ECE_SALT_LEN + 4 + 1 + ECE_PUBLIC_LEN)     /* 86 */
#define ECE_TAG_LEN 16
/*
 * Push services must take 4096 bytes of body (RFC 8291 section 4); what is
 * left of that for the plaintext once the header, the padding delimiter and
 * the tag are counted.
 */
#define ECE_BODY_MAX 4096
#define ECE_PLAINTEXT_MAX (ECE_BODY_MAX - ECE_HEADER_LEN - 1 - ECE_TAG_LEN)     /* 3993 */

/* A push subscription's keys, decoded and checked. */
struct ece_sub {
    unsigned char p256dh[ECE_PUBLIC_LEN];   /* the user agent's public key (ua_public) */
    unsigned char auth[ECE_AUTH_LEN];       /* the authentication secret */
};

/*
 * ece_p256dh_parse decodes base64url 'b64' into 'out': PR_EINVAL unless it
 * is 65 bytes, an uncompressed point, and on the P-256 curve (RFC 8291
 * section 4: a point off the curve can leak the sender's private key).
 */
int ece_p256dh_parse(const char *b64, unsigned char out[ECE_PUBLIC_LEN]);

/* ece_auth_parse decodes base64url 'b64' into 'out': PR_EINVAL unless it is 16 bytes. */
int ece_auth_parse(const char *b64, unsigned char out[ECE_AUTH_LEN]);

/*
 * ece_sub_parse fills 'out' from the body's "webpush" member values (either
 * may be NULL: absent). On failure it returns PR_EINVAL and points '*field'
 * at the name of the member at fault, "p256dh" or "auth", for the
 * listener's 400 Warning; p256dh is checked first.
 */
int ece_sub_parse(const char *p256dh, const char *auth, struct ece_sub *out, const char **field);

/*
 * ece_encrypt encrypts 'len' bytes of 'plain' for 'sub' with a fresh sender
 * key pair and salt (never reuse either: the pair of them is what makes
 * each message's key unique). On success '*out' is the malloc'd body (free
 * with free()) and '*outlen' its length, len + 103. PR_ETOOBIG when 'len'
 * is over ECE_PLAINTEXT_MAX, PR_ECRYPTO when OpenSSL fails, PR_ENOMEM.
 */
int ece_encrypt(const struct ece_sub *sub, const unsigned char *plain, size_t len,
                unsigned char **out, size_t *outlen);

/*
 * ece_encrypt_with is ece_encrypt with the sender key pair 'as_key' (a
 * P-256 EVP_PKEY, borrowed) and 'salt' given: for tests that reproduce
 * RFC 8291 Appendix A. Production code calls ece_encrypt.
 */
int ece_encrypt_with(const struct ece_sub *sub, EVP_PKEY *as_key,
                     const unsigned char salt[ECE_SALT_LEN], const unsigned char *plain,
                     size_t len, unsigned char **out, size_t *outlen);

/*
 * ece_key_from_private makes the P-256 key pair whose private scalar is the
 * 32 big-endian bytes 'd' (the public point is computed). PR_EINVAL when
 * 'd' is not a valid scalar, PR_ECRYPTO, PR_ENOMEM. Free with EVP_PKEY_free.
 */
int ece_key_from_private(const unsigned char d[32], EVP_PKEY **out);

/*
 * ece_key_from_public makes a public P-256 key from the uncompressed point
 * 'pub' (a VAPID "k=", a subscription's p256dh). PR_EINVAL when it is not
 * one or lies off the curve, PR_ECRYPTO, PR_ENOMEM. Free with EVP_PKEY_free.
 */
int ece_key_from_public(const unsigned char pub[ECE_PUBLIC_LEN], EVP_PKEY **out);

/*
 * ece_public_raw writes the uncompressed public point of P-256 key 'key'
 * into 'out' (the form Web Push carries keys in: keyid here, "k=" in
 * VAPID). PR_ECRYPTO when 'key' is not a P-256 key.
 */
int ece_public_raw(EVP_PKEY *key, unsigned char out[ECE_PUBLIC_LEN]);

/*
 * ece_decrypt is the user agent's side of ece_encrypt: it decrypts body
 * 'body' ('len' bytes, one aes128gcm record) for 'sub' with 'ua_key', the
 * private key whose public point is sub->p256dh (borrowed). On success
 * '*out' is the malloc'd plaintext (free with free()) and '*outlen' its
 * length. PR_EINVAL when the framing is not one record with a P-256 key
 * id, the tag does not verify (wrong key or auth secret, altered body) or
 * the padding is wrong; PR_ECRYPTO, PR_ENOMEM. The push service in the
 * test sandbox uses it; the relay only encrypts.
 */
int ece_decrypt(const struct ece_sub *sub, EVP_PKEY *ua_key, const unsigned char *body, size_t len,
                unsigned char **out, size_t *outlen);

#endif
