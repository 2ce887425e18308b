/*
 * ece_receiver.h - the user agent's side of RFC 8291 for tests: the RFC's
 * Appendix A keys and a decryptor written from the RFC with one-shot HMAC
 * (not relay/ece.c's HKDF), so a test can read what the relay encrypted.
 * Include after cmocka.h.
 */
#ifndef PUSHRELAY_TEST_ECE_RECEIVER_H
#define PUSHRELAY_TEST_ECE_RECEIVER_H

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

#include "ece.h"
#include "jwt.h"

/* RFC 8291 Appendix A, inputs and result (the RFC's line breaks removed). */
#define RFC_PLAINTEXT "When I grow up, I want to be a watermelon"
#define RFC_AS_PUBLIC "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
#define RFC_AS_PRIVATE "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw"
#define RFC_UA_PUBLIC "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
#define RFC_UA_PRIVATE "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94"
#define RFC_SALT "DGv6ra1nlYgDCS1FRnbzlw"
#define RFC_AUTH "BTBZMqHH6r4Tts7J_aSIgg"
#define RFC_HEADER "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
#define RFC_CIPHERTEXT "8pfeW0KbunFT06SuDKoJH9Ql87S1QUrdirN6GcG7sFz1y1sqLgVi1VhjVkHsUoEsbI_0LpXMuGvnzQ"

static size_t decode(const char *b64, unsigned char *out, size_t max)
{
    size_t len = 0;
    assert_int_equal(jwt_b64url_decode(b64, out, max, &len), 0);
    return len;
}

static EVP_PKEY *key_from_b64(const char *b64_private)
{
    unsigned char d[32];
    EVP_PKEY *key = NULL;
    assert_int_equal(decode(b64_private, d, sizeof(d)), 32);
    assert_int_equal(ece_key_from_private(d, &key), 0);
    return key;
}

static void hmac256(const unsigned char *key, size_t keylen, const unsigned char *data,
                    size_t len, unsigned char out[32])
{
    unsigned int olen = 0;
    assert_non_null(HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &olen));
    assert_int_equal(olen, 32);
}

/* HKDF with an output of at most one block: T(1) = HMAC(PRK, info || 0x01). */
static void hkdf1(const unsigned char *salt, size_t saltlen, const unsigned char *ikm,
                  size_t ikmlen, const unsigned char *info, size_t infolen, unsigned char out[32])
{
    unsigned char prk[32], buf[256];
    hmac256(salt, saltlen, ikm, ikmlen, prk);
    memcpy(buf, info, infolen);
    buf[infolen] = 0x01;
    hmac256(prk, sizeof(prk), buf, infolen + 1, out);
}

/* receive decrypts 'body' for the RFC's user agent; returns the plaintext length. */
static size_t receive(const unsigned char *body, size_t len, unsigned char *plain)
{
    unsigned char ua_public[ECE_PUBLIC_LEN], auth[ECE_AUTH_LEN], secret[32], ikm[32];
    unsigned char cek[32], nonce[32], info[160];
    assert_true(len > ECE_HEADER_LEN + ECE_TAG_LEN);
    const unsigned char *salt = body, *as_public = body + 21;
    assert_memory_equal(body + 16, "\x00\x00\x10\x00\x41", 5);     /* rs 4096, idlen 65 */

    decode(RFC_UA_PUBLIC, ua_public, sizeof(ua_public));
    decode(RFC_AUTH, auth, sizeof(auth));
    EVP_PKEY *ua = key_from_b64(RFC_UA_PRIVATE);
    EVP_PKEY *peer = NULL;
    /* The sender's point rebuilt through a parser that checks the curve. */
    char *peer_b64 = jwt_b64url(as_public, ECE_PUBLIC_LEN);
    unsigned char peer_raw[ECE_PUBLIC_LEN];
    assert_int_equal(ece_p256dh_parse(peer_b64, peer_raw), 0);
    free(peer_b64);
    {
        /* ECDH from the user agent's side needs the sender's point as a key. */
        EVP_PKEY_CTX *fctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string("group", (char *)"prime256v1", 0),
            OSSL_PARAM_construct_octet_string("pub", peer_raw, ECE_PUBLIC_LEN),
            OSSL_PARAM_construct_end(),
        };
        assert_int_equal(EVP_PKEY_fromdata_init(fctx), 1);
        assert_int_equal(EVP_PKEY_fromdata(fctx, &peer, EVP_PKEY_PUBLIC_KEY, params), 1);
        EVP_PKEY_CTX_free(fctx);
    }
    EVP_PKEY_CTX *dctx = EVP_PKEY_CTX_new(ua, NULL);
    size_t slen = sizeof(secret);
    assert_int_equal(EVP_PKEY_derive_init(dctx), 1);
    assert_int_equal(EVP_PKEY_derive_set_peer(dctx, peer), 1);
    assert_int_equal(EVP_PKEY_derive(dctx, secret, &slen), 1);
    EVP_PKEY_CTX_free(dctx);
    EVP_PKEY_free(peer);
    EVP_PKEY_free(ua);

    memcpy(info, "WebPush: info", 14);
    memcpy(info + 14, ua_public, ECE_PUBLIC_LEN);
    memcpy(info + 14 + ECE_PUBLIC_LEN, as_public, ECE_PUBLIC_LEN);
    hkdf1(auth, sizeof(auth), secret, slen, info, 14 + 2 * ECE_PUBLIC_LEN, ikm);
    hkdf1(salt, 16, ikm, 32, (const unsigned char *)"Content-Encoding: aes128gcm", 28, cek);
    hkdf1(salt, 16, ikm, 32, (const unsigned char *)"Content-Encoding: nonce", 24, nonce);

    const unsigned char *ct = body + ECE_HEADER_LEN;
    size_t ctlen = len - ECE_HEADER_LEN - ECE_TAG_LEN;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0;
    assert_int_equal(EVP_DecryptInit_ex(c, EVP_aes_128_gcm(), NULL, cek, nonce), 1);
    assert_int_equal(EVP_DecryptUpdate(c, plain, &n, ct, (int)ctlen), 1);
    assert_int_equal(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, ECE_TAG_LEN,
                                         (void *)(ct + ctlen)), 1);
    assert_int_equal(EVP_DecryptFinal_ex(c, plain + n, &fin), 1);    /* the tag verifies */
    EVP_CIPHER_CTX_free(c);
    size_t plen = (size_t)(n + fin);
    assert_true(plen >= 1);
    assert_int_equal(plain[plen - 1], 0x02);    /* padding delimiter of the last record */
    return plen - 1;
}

#endif
