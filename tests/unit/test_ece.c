/*
 * test_ece.c - Web Push message encryption (relay/ece.c): RFC 8291
 * Appendix A reproduced byte for byte from its fixed keys and salt; a fresh
 * encryption decrypts with the user agent's key (decrypted here with plain
 * HMAC, not the module's HKDF), and ece_decrypt reads the RFC's message;
 * subscription keys are checked and a bad one
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

#include "pushrelay/error.h"
#include "ece.h"
#include "jwt.h"
#include "ece_receiver.h"

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

/* The receiving side (ece_decrypt, for the sandbox's push service) reads the RFC's message. */
static void decrypt_reads_the_rfc_example_and_refuses_a_changed_one(void **state)
{
    (void)state;
    struct ece_sub sub;
    unsigned char body[256], *plain = NULL;
    size_t plen = 0;
    rfc_sub(&sub);
    size_t hlen = decode(RFC_HEADER, body, sizeof(body));
    size_t len = hlen + decode(RFC_CIPHERTEXT, body + hlen, sizeof(body) - hlen);
    EVP_PKEY *ua_key = key_from_b64(RFC_UA_PRIVATE);

    assert_int_equal(ece_decrypt(&sub, ua_key, body, len, &plain, &plen), 0);
    assert_int_equal(plen, strlen(RFC_PLAINTEXT));
    assert_memory_equal(plain, RFC_PLAINTEXT, plen);
    free(plain);

    body[len - 1] ^= 1;     /* the tag no longer verifies */
    assert_int_equal(ece_decrypt(&sub, ua_key, body, len, &plain, &plen), PR_EINVAL);
    assert_null(plain);
    body[len - 1] ^= 1;
    sub.auth[0] ^= 1;       /* another auth secret: another key */
    assert_int_equal(ece_decrypt(&sub, ua_key, body, len, &plain, &plen), PR_EINVAL);
    sub.auth[0] ^= 1;
    assert_int_equal(ece_decrypt(&sub, ua_key, body, ECE_HEADER_LEN + ECE_TAG_LEN, &plain, &plen),
                     PR_EINVAL);    /* too short to hold the padding delimiter */
    EVP_PKEY_free(ua_key);
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
        cmocka_unit_test(decrypt_reads_the_rfc_example_and_refuses_a_changed_one),
        cmocka_unit_test(plaintext_limit_fills_a_4096_byte_body_and_no_more),
        cmocka_unit_test(bad_p256dh_is_refused_and_named),
        cmocka_unit_test(bad_auth_is_refused_and_named),
        cmocka_unit_test(good_keys_are_decoded),
        cmocka_unit_test(private_scalar_out_of_range_is_refused),
        cmocka_unit_test(b64url_decode_round_trips_and_refuses_junk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
