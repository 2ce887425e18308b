/*
 * test_ece.c - Web Push message encryption (relay/ece.c): RFC 8291
 * Appendix A reproduced byte for byte from its fixed keys and salt; a fresh
 * encryption decrypts with the user agent's key (decrypted here with plain
 * HMAC, not the module's HKDF); subscription keys are checked and a bad one
 * is named; the size limit; and the base64url decoder it relies on
 * (relay/jwt.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

#include "pushrelay/error.h"
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

static void rfc_sub(struct ece_sub *sub)
{
    const char *field = NULL;
    assert_int_equal(ece_sub_parse(RFC_UA_PUBLIC, RFC_AUTH, sub, &field), 0);
}

static void rfc8291_appendix_a_is_reproduced_byte_for_byte(void **state)
{
    (void)state;
    struct ece_sub sub;
    unsigned char salt[ECE_SALT_LEN], want[256], as_public[ECE_PUBLIC_LEN], rfc_public[80];
    unsigned char *body = NULL;
    size_t body_len = 0;

    rfc_sub(&sub);
    assert_int_equal(decode(RFC_SALT, salt, sizeof(salt)), ECE_SALT_LEN);
    EVP_PKEY *as_key = key_from_b64(RFC_AS_PRIVATE);
    /* The public half computed from the scalar is the RFC's as_public. */
    assert_int_equal(ece_public_raw(as_key, as_public), 0);
    assert_int_equal(decode(RFC_AS_PUBLIC, rfc_public, sizeof(rfc_public)), ECE_PUBLIC_LEN);
    assert_memory_equal(as_public, rfc_public, ECE_PUBLIC_LEN);

    size_t hlen = decode(RFC_HEADER, want, sizeof(want));
    assert_int_equal(hlen, ECE_HEADER_LEN);
    size_t clen = decode(RFC_CIPHERTEXT, want + hlen, sizeof(want) - hlen);
    assert_int_equal(clen, strlen(RFC_PLAINTEXT) + 1 + ECE_TAG_LEN);

    assert_int_equal(ece_encrypt_with(&sub, as_key, salt, (const unsigned char *)RFC_PLAINTEXT,
                                      strlen(RFC_PLAINTEXT), &body, &body_len), 0);
    assert_int_equal(body_len, hlen + clen);
    assert_memory_equal(body, want, body_len);
    free(body);
    EVP_PKEY_free(as_key);
}

/* ---- a receiver, written from RFC 8291 with one-shot HMAC ---------------- */

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

static void receiver_check_accepts_the_rfc_example(void **state)
{
    (void)state;
    unsigned char body[256], plain[256];
    size_t hlen = decode(RFC_HEADER, body, sizeof(body));
    size_t clen = decode(RFC_CIPHERTEXT, body + hlen, sizeof(body) - hlen);
    size_t plen = receive(body, hlen + clen, plain);
    assert_int_equal(plen, strlen(RFC_PLAINTEXT));
    assert_memory_equal(plain, RFC_PLAINTEXT, plen);
}

static void fresh_encryption_decrypts_with_the_user_agent_key(void **state)
{
    (void)state;
    static const char text[] = "{\"title\":\"\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 \xf0\x9f\x98\x80\"}";
    struct ece_sub sub;
    unsigned char *a = NULL, *b = NULL, plain[256];
    size_t alen = 0, blen = 0;
    rfc_sub(&sub);
    assert_int_equal(ece_encrypt(&sub, (const unsigned char *)text, strlen(text), &a, &alen), 0);
    assert_int_equal(ece_encrypt(&sub, (const unsigned char *)text, strlen(text), &b, &blen), 0);
    assert_int_equal(alen, ECE_HEADER_LEN + strlen(text) + 1 + ECE_TAG_LEN);
    assert_int_equal(blen, alen);
    /* A fresh salt and sender key each time: no two bodies share them. */
    assert_memory_not_equal(a, b, ECE_SALT_LEN);
    assert_memory_not_equal(a + 21, b + 21, ECE_PUBLIC_LEN);

    size_t plen = receive(a, alen, plain);
    assert_int_equal(plen, strlen(text));
    assert_memory_equal(plain, text, plen);
    free(a);
    free(b);
}

static void plaintext_limit_fills_a_4096_byte_body_and_no_more(void **state)
{
    (void)state;
    struct ece_sub sub;
    unsigned char *body = NULL;
    size_t len = 0;
    unsigned char *big = calloc(1, ECE_PLAINTEXT_MAX + 1);
    rfc_sub(&sub);
    assert_int_equal(ece_encrypt(&sub, big, ECE_PLAINTEXT_MAX, &body, &len), 0);
    assert_int_equal(len, 4096);
    free(body);
    assert_int_equal(ece_encrypt(&sub, big, ECE_PLAINTEXT_MAX + 1, &body, &len), PR_ETOOBIG);
    assert_null(body);
    free(big);
}

/* ---- subscription keys ---------------------------------------------------- */

/* p256dh_variant re-encodes the RFC's ua_public after 'mutate' changed it. */
static char *p256dh_variant(void (*mutate)(unsigned char *raw, size_t *len))
{
    unsigned char raw[80];
    size_t len = decode(RFC_UA_PUBLIC, raw, sizeof(raw));
    mutate(raw, &len);
    return jwt_b64url(raw, len);
}

static void off_curve(unsigned char *raw, size_t *len)
{
    (void)len;
    raw[64] ^= 0x01;    /* y no longer satisfies the curve equation for x */
}

static void compressed(unsigned char *raw, size_t *len)
{
    raw[0] = 0x02 | (raw[64] & 1);
    *len = 33;
}

static void short_by_one(unsigned char *raw, size_t *len)
{
    (void)raw;
    *len = 64;
}

static void not_uncompressed_tag(unsigned char *raw, size_t *len)
{
    (void)len;
    raw[0] = 0x05;
}

static void bad_p256dh_is_refused_and_named(void **state)
{
    (void)state;
    void (*mutations[])(unsigned char *, size_t *) = {
        off_curve, compressed, short_by_one, not_uncompressed_tag,
    };
    struct ece_sub sub;
    const char *field = NULL;
    for (size_t i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++) {
        char *p = p256dh_variant(mutations[i]);
        field = NULL;
        assert_int_equal(ece_sub_parse(p, RFC_AUTH, &sub, &field), PR_EINVAL);
        assert_string_equal(field, "p256dh");
        free(p);
    }
    const char *texts[] = { NULL, "", "BCVx+sr7N", "not base64url!" };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        field = NULL;
        assert_int_equal(ece_sub_parse(texts[i], RFC_AUTH, &sub, &field), PR_EINVAL);
        assert_string_equal(field, "p256dh");
    }
}

static void bad_auth_is_refused_and_named(void **state)
{
    (void)state;
    struct ece_sub sub;
    const char *field = NULL;
    const char *texts[] = {
        NULL, "", "BTBZMqHH6r4Tts7J_aSI",           /* 15 bytes */
        "BTBZMqHH6r4Tts7J_aSIggAA",                  /* 18 bytes */
        "BTBZMqHH6r4Tts7J/aSIgg",                    /* standard alphabet */
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        field = NULL;
        assert_int_equal(ece_sub_parse(RFC_UA_PUBLIC, texts[i], &sub, &field), PR_EINVAL);
        assert_string_equal(field, "auth");
    }
}

static void good_keys_are_decoded(void **state)
{
    (void)state;
    struct ece_sub sub;
    unsigned char want[ECE_PUBLIC_LEN];
    const char *field = "untouched";
    /* Padded base64url is accepted too: some subscription serialisers pad. */
    assert_int_equal(ece_sub_parse(RFC_UA_PUBLIC, RFC_AUTH "==", &sub, &field), 0);
    assert_string_equal(field, "untouched");
    decode(RFC_UA_PUBLIC, want, sizeof(want));
    assert_memory_equal(sub.p256dh, want, ECE_PUBLIC_LEN);
    assert_memory_equal(sub.auth, "\x05\x30\x59\x32\xa1\xc7\xea\xbe\x13\xb6\xce\xc9\xfd\xa4\x88\x82",
                        ECE_AUTH_LEN);
}

static void private_scalar_out_of_range_is_refused(void **state)
{
    (void)state;
    unsigned char zero[32] = { 0 }, ones[32];
    EVP_PKEY *key = NULL;
    memset(ones, 0xff, sizeof(ones));   /* above the group order */
    assert_int_equal(ece_key_from_private(zero, &key), PR_EINVAL);
    assert_int_equal(ece_key_from_private(ones, &key), PR_EINVAL);
    assert_null(key);
}

/* ---- base64url decoding (relay/jwt.c) ------------------------------------- */

static void b64url_decode_round_trips_and_refuses_junk(void **state)
{
    (void)state;
    unsigned char data[7] = { 0xfb, 0xff, 0xbf, 0x00, 0x3e, 0x3f, 0x41 }, out[16];
    size_t len = 0;
    for (size_t n = 0; n <= sizeof(data); n++) {
        char *text = jwt_b64url(data, n);
        assert_int_equal(jwt_b64url_decode(text, out, sizeof(out), &len), 0);
        assert_int_equal(len, n);
        assert_memory_equal(out, data, n);
        free(text);
    }
    assert_int_equal(jwt_b64url_decode("QUJD", out, sizeof(out), &len), 0);
    assert_int_equal(len, 3);
    assert_int_equal(jwt_b64url_decode("QUI=", out, sizeof(out), &len), 0);
    assert_int_equal(len, 2);
    assert_int_equal(jwt_b64url_decode("QUJDRA", out, 3, &len), PR_ETOOBIG);
    assert_int_equal(jwt_b64url_decode("Q", out, sizeof(out), &len), PR_EINVAL);
    assert_int_equal(jwt_b64url_decode("QU=I", out, sizeof(out), &len), PR_EINVAL);
    assert_int_equal(jwt_b64url_decode("QU I", out, sizeof(out), &len), PR_EINVAL);
    assert_int_equal(jwt_b64url_decode("Q+/I", out, sizeof(out), &len), PR_EINVAL);
    assert_int_equal(jwt_b64url_decode("QUI===", out, sizeof(out), &len), PR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc8291_appendix_a_is_reproduced_byte_for_byte),
        cmocka_unit_test(receiver_check_accepts_the_rfc_example),
        cmocka_unit_test(fresh_encryption_decrypts_with_the_user_agent_key),
        cmocka_unit_test(plaintext_limit_fills_a_4096_byte_body_and_no_more),
        cmocka_unit_test(bad_p256dh_is_refused_and_named),
        cmocka_unit_test(bad_auth_is_refused_and_named),
        cmocka_unit_test(good_keys_are_decoded),
        cmocka_unit_test(private_scalar_out_of_range_is_refused),
        cmocka_unit_test(b64url_decode_round_trips_and_refuses_junk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
