/*
 * ece.c - Web Push message encryption (ece.h): RFC 8291 key derivation and
 * RFC 8188 "aes128gcm" framing, one record, with OpenSSL 3's EVP interfaces
 * (ECDH, the HKDF KDF, AES-128-GCM). Called by relay/webpush_payload.c to
 * encrypt a toast and by the listener (through ece_sub_parse) to check a
 * subscription's keys. It knows nothing of VAPID (relay/vapid.c) or of HTTP.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include "pushrelay/error.h"
#include "ece.h"
#include "jwt.h"

#define ECE_CURVE "prime256v1"
#define ECE_SCALAR_LEN 32
#define ECE_SECRET_LEN 32       /* ECDH secret and IKM: one SHA-256 output */
#define ECE_CEK_LEN 16
#define ECE_NONCE_LEN 12
#define ECE_PAD_DELIMITER 0x02  /* last (and only) record */

/* The HKDF "info" strings of RFC 8291 section 3.4 and RFC 8188 section 2.2, NUL included. */
static const char ece_key_info[] = "WebPush: info";
static const char ece_cek_info[] = "Content-Encoding: aes128gcm";
static const char ece_nonce_info[] = "Content-Encoding: nonce";

/* ---- keys ----------------------------------------------------------------- */

/* ece_is_p256: 1 when 'key' is an EC key on P-256. */
static int ece_is_p256(EVP_PKEY *key)
{
    char group[64];
    size_t glen = 0;
    return key != NULL && EVP_PKEY_is_a(key, "EC") &&
           EVP_PKEY_get_group_name(key, group, sizeof(group), &glen) == 1 &&
           (strcmp(group, ECE_CURVE) == 0 || strcmp(group, "P-256") == 0);
}

/*
 * ece_key_fromdata makes a P-256 key from the uncompressed point 'pub'
 * and, when 'priv' is not NULL, the private scalar; the result is then
 * checked, so a point off the curve is refused here (PR_EINVAL).
 */
static int ece_key_fromdata(const unsigned char pub[ECE_PUBLIC_LEN], const BIGNUM *priv,
                            EVP_PKEY **out)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL, *check = NULL;
    int rc = PR_ENOMEM;

    *out = NULL;
    if (bld == NULL ||
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, ECE_CURVE, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, ECE_PUBLIC_LEN) != 1 ||
        (priv != NULL && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv) != 1) ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
        goto out;
    rc = PR_ECRYPTO;
    if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) != 1)
        goto out;
    rc = PR_EINVAL;
    if (EVP_PKEY_fromdata(ctx, out, priv != NULL ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
                          params) != 1)
        goto out;
    if ((check = EVP_PKEY_CTX_new_from_pkey(NULL, *out, NULL)) == NULL ||
        EVP_PKEY_public_check(check) != 1)
        goto out;
    rc = 0;
out:
    if (rc != 0) {
        EVP_PKEY_free(*out);
        *out = NULL;
        ERR_clear_error();
    }
    EVP_PKEY_CTX_free(check);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return rc;
}

int ece_key_from_private(const unsigned char d[ECE_SCALAR_LEN], EVP_PKEY **out)
{
    unsigned char pub[ECE_PUBLIC_LEN];
    EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    BIGNUM *priv = BN_bin2bn(d, ECE_SCALAR_LEN, NULL);
    EC_POINT *point = group != NULL ? EC_POINT_new(group) : NULL;
    int rc = PR_ENOMEM;

    *out = NULL;
    if (group == NULL || priv == NULL || point == NULL)
        goto out;
    rc = PR_EINVAL;
    if (BN_is_zero(priv) || BN_cmp(priv, EC_GROUP_get0_order(group)) >= 0)
        goto out;
    /* OpenSSL 3.0 does not derive the public half from fromdata's scalar. */
    rc = PR_ECRYPTO;
    if (EC_POINT_mul(group, point, priv, NULL, NULL, NULL) != 1 ||
        EC_POINT_point2oct(group, point, POINT_CONVERSION_UNCOMPRESSED, pub, sizeof(pub),
                           NULL) != sizeof(pub))
        goto out;
    rc = ece_key_fromdata(pub, priv, out);
out:
    if (rc == PR_ECRYPTO)
        ERR_clear_error();
    EC_POINT_free(point);
    BN_clear_free(priv);
    EC_GROUP_free(group);
    return rc;
}

int ece_key_from_public(const unsigned char pub[ECE_PUBLIC_LEN], EVP_PKEY **out)
{
    if (pub[0] != POINT_CONVERSION_UNCOMPRESSED) {
        *out = NULL;
        return PR_EINVAL;
    }
    return ece_key_fromdata(pub, NULL, out);
}

int ece_public_raw(EVP_PKEY *key, unsigned char out[ECE_PUBLIC_LEN])
{
    BIGNUM *x = NULL, *y = NULL;
    int rc = PR_ECRYPTO;
    /* x and y rather than the encoded key: that one keeps whatever point
     * format the key was loaded with, which may be compressed. */
    if (!ece_is_p256(key) || EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1)
        goto out;
    out[0] = POINT_CONVERSION_UNCOMPRESSED;
    if (BN_bn2binpad(x, out + 1, ECE_SCALAR_LEN) != ECE_SCALAR_LEN ||
        BN_bn2binpad(y, out + 1 + ECE_SCALAR_LEN, ECE_SCALAR_LEN) != ECE_SCALAR_LEN)
        goto out;
    rc = 0;
out:
    if (rc != 0)
        ERR_clear_error();
    BN_free(x);
    BN_free(y);
    return rc;
}

/* ---- subscription keys ---------------------------------------------------- */

int ece_p256dh_parse(const char *b64, unsigned char out[ECE_PUBLIC_LEN])
{
    unsigned char raw[ECE_PUBLIC_LEN];
    size_t len = 0;
    EVP_PKEY *key = NULL;
    if (b64 == NULL || jwt_b64url_decode(b64, raw, sizeof(raw), &len) != 0 ||
        len != ECE_PUBLIC_LEN || raw[0] != POINT_CONVERSION_UNCOMPRESSED)
        return PR_EINVAL;
    int rc = ece_key_fromdata(raw, NULL, &key);
    EVP_PKEY_free(key);
    if (rc != 0)
        return rc == PR_ENOMEM ? rc : PR_EINVAL;
    memcpy(out, raw, sizeof(raw));
    return 0;
}

int ece_auth_parse(const char *b64, unsigned char out[ECE_AUTH_LEN])
{
    unsigned char raw[ECE_AUTH_LEN];
    size_t len = 0;
    if (b64 == NULL || jwt_b64url_decode(b64, raw, sizeof(raw), &len) != 0 ||
        len != ECE_AUTH_LEN)
        return PR_EINVAL;
    memcpy(out, raw, sizeof(raw));
    return 0;
}

int ece_sub_parse(const char *p256dh, const char *auth, struct ece_sub *out, const char **field)
{
    int rc = ece_p256dh_parse(p256dh, out->p256dh);
    if (rc != 0) {
        *field = "p256dh";
        return rc;
    }
    if ((rc = ece_auth_parse(auth, out->auth)) != 0) {
        *field = "auth";
        return rc;
    }
    return 0;
}

/* ---- key derivation ------------------------------------------------------- */

/* ece_hkdf: HKDF-SHA-256 (RFC 5869), extract and expand, 'outlen' <= 32 bytes. */
static int ece_hkdf(const unsigned char *salt, size_t saltlen, const unsigned char *ikm,
                    size_t ikmlen, const unsigned char *info, size_t infolen,
                    unsigned char *out, size_t outlen)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen),
        OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen),
        OSSL_PARAM_construct_end(),
    };
    int rc = ctx != NULL && EVP_KDF_derive(ctx, out, outlen, params) == 1 ? 0 : PR_ECRYPTO;
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return rc;
}

/* ece_ecdh: the 32-byte shared secret of 'as_key' (private) and 'ua_public'. */
static int ece_ecdh(EVP_PKEY *as_key, const unsigned char ua_public[ECE_PUBLIC_LEN],
                    unsigned char secret[ECE_SECRET_LEN])
{
    EVP_PKEY *peer = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    size_t len = ECE_SECRET_LEN;
    int rc = ece_key_fromdata(ua_public, NULL, &peer);
    if (rc != 0)
        goto out;
    rc = PR_ECRYPTO;
    if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, as_key, NULL)) == NULL ||
        EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer(ctx, peer) != 1 ||
        EVP_PKEY_derive(ctx, secret, &len) != 1 || len != ECE_SECRET_LEN)
        goto out;
    rc = 0;
out:
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peer);
    return rc;
}

/*
 * ece_derive computes the content encryption key and nonce (ece.h) for
 * sender public key 'as_public' and 'salt'. The ECDH secret is the same
 * from either side: 'own_key' is the private half of one party and
 * 'peer_public' the other's point (the sender encrypting: as_key and
 * sub->p256dh; the user agent decrypting: its key and 'as_public').
 */
static int ece_derive(const struct ece_sub *sub, EVP_PKEY *own_key,
                      const unsigned char peer_public[ECE_PUBLIC_LEN],
                      const unsigned char as_public[ECE_PUBLIC_LEN],
                      const unsigned char salt[ECE_SALT_LEN], unsigned char cek[ECE_CEK_LEN],
                      unsigned char nonce[ECE_NONCE_LEN])
{
    unsigned char secret[ECE_SECRET_LEN], ikm[ECE_SECRET_LEN];
    unsigned char key_info[sizeof(ece_key_info) + 2 * ECE_PUBLIC_LEN];
    int rc = ece_ecdh(own_key, peer_public, secret);
    if (rc != 0)
        goto out;
    /* key_info = "WebPush: info" 0x00 ua_public as_public */
    memcpy(key_info, ece_key_info, sizeof(ece_key_info));
    memcpy(key_info + sizeof(ece_key_info), sub->p256dh, ECE_PUBLIC_LEN);
    memcpy(key_info + sizeof(ece_key_info) + ECE_PUBLIC_LEN, as_public, ECE_PUBLIC_LEN);
    if ((rc = ece_hkdf(sub->auth, ECE_AUTH_LEN, secret, sizeof(secret), key_info,
                       sizeof(key_info), ikm, sizeof(ikm))) != 0)
        goto out;
    if ((rc = ece_hkdf(salt, ECE_SALT_LEN, ikm, sizeof(ikm), (const unsigned char *)ece_cek_info,
                       sizeof(ece_cek_info), cek, ECE_CEK_LEN)) != 0)
        goto out;
    rc = ece_hkdf(salt, ECE_SALT_LEN, ikm, sizeof(ikm), (const unsigned char *)ece_nonce_info,
                  sizeof(ece_nonce_info), nonce, ECE_NONCE_LEN);
out:
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(ikm, sizeof(ikm));
    return rc;
}

/* ---- the record ----------------------------------------------------------- */

/*
 * ece_seal writes AES-128-GCM(plain || 0x02) and the tag at 'out'. One
 * record, sequence number 0, so the nonce is used as derived.
 */
static int ece_seal(const unsigned char cek[ECE_CEK_LEN], const unsigned char nonce[ECE_NONCE_LEN],
                    const unsigned char *plain, size_t len, unsigned char *out)
{
    static const unsigned char delimiter = ECE_PAD_DELIMITER;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, total = 0, rc = PR_ECRYPTO;
    if (ctx == NULL || EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, cek, nonce) != 1)
        goto out;
    if (len > 0) {
        if (EVP_EncryptUpdate(ctx, out, &n, plain, (int)len) != 1)
            goto out;
        total += n;
    }
    if (EVP_EncryptUpdate(ctx, out + total, &n, &delimiter, 1) != 1)
        goto out;
    total += n;
    if (EVP_EncryptFinal_ex(ctx, out + total, &n) != 1)
        goto out;
    total += n;
    if ((size_t)total != len + 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, ECE_TAG_LEN, out + total) != 1)
        goto out;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int ece_encrypt_with(const struct ece_sub *sub, EVP_PKEY *as_key,
                     const unsigned char salt[ECE_SALT_LEN], const unsigned char *plain,
                     size_t len, unsigned char **out, size_t *outlen)
{
    unsigned char as_public[ECE_PUBLIC_LEN], cek[ECE_CEK_LEN], nonce[ECE_NONCE_LEN];
    unsigned char *body = NULL;
    int rc;

    *out = NULL;
    if (len > ECE_PLAINTEXT_MAX)
        return PR_ETOOBIG;
    if ((rc = ece_public_raw(as_key, as_public)) != 0 ||
        (rc = ece_derive(sub, as_key, sub->p256dh, as_public, salt, cek, nonce)) != 0)
        goto out;
    size_t total = ECE_HEADER_LEN + len + 1 + ECE_TAG_LEN;
    rc = PR_ENOMEM;
    if ((body = malloc(total)) == NULL)
        goto out;
    /* header: salt, rs (uint32 big-endian), idlen, keyid */
    unsigned char *w = body;
    memcpy(w, salt, ECE_SALT_LEN);
    w += ECE_SALT_LEN;
    *w++ = (unsigned char)(ECE_RECORD_SIZE >> 24);
    *w++ = (unsigned char)(ECE_RECORD_SIZE >> 16);
    *w++ = (unsigned char)(ECE_RECORD_SIZE >> 8);
    *w++ = (unsigned char)ECE_RECORD_SIZE;
    *w++ = ECE_PUBLIC_LEN;
    memcpy(w, as_public, ECE_PUBLIC_LEN);
    w += ECE_PUBLIC_LEN;
    if ((rc = ece_seal(cek, nonce, plain, len, w)) != 0)
        goto out;
    *out = body;
    *outlen = total;
    body = NULL;
out:
    if (rc == PR_ECRYPTO)
        ERR_clear_error();
    OPENSSL_cleanse(cek, sizeof(cek));
    OPENSSL_cleanse(nonce, sizeof(nonce));
    free(body);
    return rc;
}

int ece_encrypt(const struct ece_sub *sub, const unsigned char *plain, size_t len,
                unsigned char **out, size_t *outlen)
{
    unsigned char salt[ECE_SALT_LEN];
    *out = NULL;
    if (len > ECE_PLAINTEXT_MAX)
        return PR_ETOOBIG;
    EVP_PKEY *as_key = EVP_EC_gen(ECE_CURVE);
    if (as_key == NULL || RAND_bytes(salt, sizeof(salt)) != 1) {
        EVP_PKEY_free(as_key);
        ERR_clear_error();
        return PR_ECRYPTO;
    }
    int rc = ece_encrypt_with(sub, as_key, salt, plain, len, out, outlen);
    EVP_PKEY_free(as_key);
    return rc;
}

/* ---- the receiving side ---------------------------------------------------- */

/*
 * ece_open decrypts the record at 'in' ('len' bytes, tag last) into 'out'
 * and returns the plaintext length without padding, or PR_EINVAL when the
 * tag does not verify or the padding is not a last record's (RFC 8188
 * section 2: zeros after one 0x02).
 */
static int ece_open(const unsigned char cek[ECE_CEK_LEN], const unsigned char nonce[ECE_NONCE_LEN],
                    const unsigned char *in, size_t len, unsigned char *out, size_t *outlen)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    size_t clen = len - ECE_TAG_LEN;
    int n = 0, total = 0, rc = PR_ECRYPTO;
    if (ctx == NULL || EVP_DecryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, cek, nonce) != 1 ||
        EVP_DecryptUpdate(ctx, out, &n, in, (int)clen) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, ECE_TAG_LEN, (void *)(in + clen)) != 1)
        goto out;
    total = n;
    rc = PR_EINVAL;
    if (EVP_DecryptFinal_ex(ctx, out + total, &n) != 1)
        goto out;
    total += n;
    while (total > 0 && out[total - 1] == 0)
        total--;
    if (total == 0 || out[total - 1] != ECE_PAD_DELIMITER)
        goto out;
    *outlen = (size_t)total - 1;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

int ece_decrypt(const struct ece_sub *sub, EVP_PKEY *ua_key, const unsigned char *body, size_t len,
                unsigned char **out, size_t *outlen)
{
    unsigned char cek[ECE_CEK_LEN], nonce[ECE_NONCE_LEN];
    unsigned char *plain = NULL;
    int rc = PR_EINVAL;

    *out = NULL;
    /* header as ece_encrypt_with writes it; the key id must be a P-256 point */
    if (len < ECE_HEADER_LEN + 1 + ECE_TAG_LEN || body[ECE_SALT_LEN + 4] != ECE_PUBLIC_LEN)
        return PR_EINVAL;
    uint32_t rs = (uint32_t)body[ECE_SALT_LEN] << 24 | (uint32_t)body[ECE_SALT_LEN + 1] << 16 |
                  (uint32_t)body[ECE_SALT_LEN + 2] << 8 | body[ECE_SALT_LEN + 3];
    size_t clen = len - ECE_HEADER_LEN;
    if (rs < 1 + ECE_TAG_LEN + 1 || clen > rs)     /* one record only */
        return PR_EINVAL;
    const unsigned char *as_public = body + ECE_SALT_LEN + 5;
    if ((rc = ece_derive(sub, ua_key, as_public, as_public, body, cek, nonce)) != 0)
        goto out;
    rc = PR_ENOMEM;
    if ((plain = malloc(clen)) == NULL)
        goto out;
    if ((rc = ece_open(cek, nonce, body + ECE_HEADER_LEN, clen, plain, outlen)) != 0)
        goto out;
    *out = plain;
    plain = NULL;
out:
    ERR_clear_error();
    OPENSSL_cleanse(cek, sizeof(cek));
    OPENSSL_cleanse(nonce, sizeof(nonce));
    free(plain);
    return rc;
}
