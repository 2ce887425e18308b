/*
 * test_vapid.c - RFC 8292 VAPID (relay/vapid.c): the header is
 * "vapid t=<JWT>, k=<key>", the JWT verifies with OpenSSL against the app's
 * key and carries aud = the endpoint's origin, exp within 24 hours and
 * sub = the contact; one token per origin is reused until near its expiry;
 * the cache stays bounded; origins are extracted from https URLs only; the
 * Topic is base64url-safe and at most 32 characters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "pushrelay/error.h"
#include "ece.h"
#include "jwt.h"
#include "vapid.h"

#define NOW 1764500000
#define SUBJECT "mailto:ops@example.net"
#define ENDPOINT "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABc"

struct fixture {
    EVP_PKEY *key;
    struct vapid_cache *cache;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->key = EVP_EC_gen("P-256");
    if (f->key == NULL || vapid_cache_new(f->key, SUBJECT, &f->cache) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    vapid_cache_del(f->cache);
    EVP_PKEY_free(f->key);
    free(f);
    return 0;
}

static json_t *b64_json(const char *s, size_t len)
{
    char text[1024], part[1024];
    size_t n = 0;
    assert_true(len < sizeof(part));
    memcpy(part, s, len);
    part[len] = '\0';
    assert_int_equal(jwt_b64url_decode(part, (unsigned char *)text, sizeof(text) - 1, &n), 0);
    text[n] = '\0';
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    return j;
}

/*
 * check_header splits "vapid t=<JWT>, k=<key>", verifies the JWT's ES256
 * signature with 'key' and that k is 'key''s public point; returns the claims.
 */
static json_t *check_header(const char *header, EVP_PKEY *key)
{
    assert_memory_equal(header, "vapid t=", 8);
    const char *jwt = header + 8;
    const char *comma = strstr(jwt, ", k=");
    assert_non_null(comma);
    const char *dot1 = strchr(jwt, '.');
    const char *dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
    assert_true(dot1 != NULL && dot2 != NULL && dot2 < comma);

    unsigned char k[80], want[ECE_PUBLIC_LEN];
    size_t klen = 0;
    assert_int_equal(jwt_b64url_decode(comma + 4, k, sizeof(k), &klen), 0);
    assert_int_equal(klen, ECE_PUBLIC_LEN);
    assert_int_equal(ece_public_raw(key, want), 0);
    assert_memory_equal(k, want, ECE_PUBLIC_LEN);

    json_t *hdr = b64_json(jwt, (size_t)(dot1 - jwt));
    assert_string_equal(json_string_value(json_object_get(hdr, "alg")), "ES256");
    assert_string_equal(json_string_value(json_object_get(hdr, "typ")), "JWT");
    assert_int_equal(json_object_size(hdr), 2);
    json_decref(hdr);

    /* The JWS signature is raw r||s; OpenSSL verifies DER. */
    char sig64[128];
    size_t slen = (size_t)(comma - dot2 - 1);
    assert_true(slen < sizeof(sig64));
    memcpy(sig64, dot2 + 1, slen);
    sig64[slen] = '\0';
    unsigned char raw[64], *der = NULL;
    size_t rawlen = 0;
    assert_int_equal(jwt_b64url_decode(sig64, raw, sizeof(raw), &rawlen), 0);
    assert_int_equal(rawlen, 64);
    ECDSA_SIG *sig = ECDSA_SIG_new();
    assert_int_equal(ECDSA_SIG_set0(sig, BN_bin2bn(raw, 32, NULL), BN_bin2bn(raw + 32, 32, NULL)), 1);
    int derlen = i2d_ECDSA_SIG(sig, &der);
    assert_true(derlen > 0);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_equal(EVP_DigestVerify(md, der, (size_t)derlen, (const unsigned char *)jwt,
                                      (size_t)(dot2 - jwt)), 1);
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);

    return b64_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
}

static void header_verifies_and_carries_origin_expiry_and_contact(void **state)
{
    struct fixture *f = *state;
    const char *h = NULL;
    assert_int_equal(vapid_header(f->cache, ENDPOINT, NOW, &h), 0);
    json_t *claims = check_header(h, f->key);
    assert_string_equal(json_string_value(json_object_get(claims, "aud")),
                        "https://updates.push.services.mozilla.com");
    assert_string_equal(json_string_value(json_object_get(claims, "sub")), SUBJECT);
    json_int_t exp = json_integer_value(json_object_get(claims, "exp"));
    assert_true(exp > NOW && exp <= NOW + 24 * 3600);
    assert_int_equal(json_object_size(claims), 3);
    json_decref(claims);
}

static void token_is_reused_per_origin_until_it_nears_expiry(void **state)
{
    struct fixture *f = *state;
    const char *h = NULL;
    char first[1024], other[1024];
    assert_int_equal(vapid_header(f->cache, ENDPOINT, NOW, &h), 0);
    snprintf(first, sizeof(first), "%s", h);

    /* Another subscription on the same push service: the same token. ECDSA
     * signatures are randomised, so equal text means it was not re-signed. */
    assert_int_equal(vapid_header(f->cache, "https://updates.push.services.mozilla.com/wpush/v2/zzz",
                                  NOW + VAPID_LIFETIME_S - VAPID_RENEW_S - 1, &h), 0);
    assert_string_equal(h, first);

    /* Another origin: its own token, whose aud is that origin. */
    assert_int_equal(vapid_header(f->cache, "https://fcm.googleapis.com/fcm/send/abc", NOW, &h), 0);
    snprintf(other, sizeof(other), "%s", h);
    assert_string_not_equal(other, first);
    json_t *claims = check_header(other, f->key);
    assert_string_equal(json_string_value(json_object_get(claims, "aud")), "https://fcm.googleapis.com");
    json_decref(claims);

    /* Within the renewal margin: signed anew, with a later expiry. */
    int64_t later = NOW + VAPID_LIFETIME_S - VAPID_RENEW_S;
    assert_int_equal(vapid_header(f->cache, ENDPOINT, later, &h), 0);
    assert_string_not_equal(h, first);
    claims = check_header(h, f->key);
    assert_true(json_integer_value(json_object_get(claims, "exp")) > later);
    json_decref(claims);
}

static void clock_stepping_back_or_forget_signs_anew(void **state)
{
    struct fixture *f = *state;
    const char *h = NULL;
    char first[1024];
    assert_int_equal(vapid_header(f->cache, ENDPOINT, NOW, &h), 0);
    snprintf(first, sizeof(first), "%s", h);
    assert_int_equal(vapid_header(f->cache, ENDPOINT, NOW - 10, &h), 0);
    assert_string_not_equal(h, first);
    snprintf(first, sizeof(first), "%s", h);
    vapid_cache_forget(f->cache, ENDPOINT "/other-subscription");
    assert_int_equal(vapid_header(f->cache, ENDPOINT, NOW - 10, &h), 0);
    assert_string_not_equal(h, first);
}

static void cache_is_bounded_and_evicts_the_soonest_to_expire(void **state)
{
    struct fixture *f = *state;
    const char *h = NULL;
    char url[128], first[1024], last[1024];
    /* Origin i is signed at NOW + i, so origin 0 expires first. */
    for (int i = 0; i < VAPID_CACHE_SLOTS; i++) {
        snprintf(url, sizeof(url), "https://push%d.example.net/s/%d", i, i);
        assert_int_equal(vapid_header(f->cache, url, NOW + i, &h), 0);
        if (i == 0)
            snprintf(first, sizeof(first), "%s", h);
        if (i == VAPID_CACHE_SLOTS - 1)
            snprintf(last, sizeof(last), "%s", h);
    }
    /* All remembered while they fit. */
    assert_int_equal(vapid_header(f->cache, "https://push0.example.net/x", NOW + 100, &h), 0);
    assert_string_equal(h, first);
    /* One more origin takes origin 0's slot... */
    assert_int_equal(vapid_header(f->cache, "https://extra.example.net/x", NOW + 100, &h), 0);
    /* ...so origin 0 is signed anew, which in turn evicts origin 1, not the last. */
    assert_int_equal(vapid_header(f->cache, "https://push0.example.net/x", NOW + 100, &h), 0);
    assert_string_not_equal(h, first);
    snprintf(url, sizeof(url), "https://push%d.example.net/y", VAPID_CACHE_SLOTS - 1);
    assert_int_equal(vapid_header(f->cache, url, NOW + 100, &h), 0);
    assert_string_equal(h, last);
}

static void origin_is_scheme_host_and_non_default_port(void **state)
{
    (void)state;
    static const struct {
        const char *url;
        const char *origin;     /* NULL: refused */
    } rows[] = {
        { "https://fcm.googleapis.com/fcm/send/abc:def", "https://fcm.googleapis.com" },
        { "https://Web.Push.Apple.com:443/QGuQ", "https://web.push.apple.com" },
        { "HTTPS://wns2-by3p.notify.windows.com/w/?token=AwYAAAB", "https://wns2-by3p.notify.windows.com" },
        { "https://127.0.0.1:8443/push/sub-1", "https://127.0.0.1:8443" },
        { "https://push.example.net", "https://push.example.net" },
        { "https://[2001:DB8::1]:8443/push", "https://[2001:db8::1]:8443" },
        { "http://push.example.net/sub", NULL },
        { "https:///sub", NULL },
        { "https://user@push.example.net/sub", NULL },
        { "push.example.net/sub", NULL },
        { "", NULL },
        { NULL, NULL },
    };
    char out[VAPID_ORIGIN_MAX];
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int rc = vapid_origin(rows[i].url, out, sizeof(out));
        if (rows[i].origin == NULL) {
            assert_int_equal(rc, PR_EINVAL);
        } else {
            assert_int_equal(rc, 0);
            assert_string_equal(out, rows[i].origin);
        }
    }
    char small[12];
    assert_int_equal(vapid_origin("https://push.example.net/x", small, sizeof(small)), PR_ETOOBIG);
}

static void bad_endpoint_gets_no_header(void **state)
{
    struct fixture *f = *state;
    const char *h = "untouched";
    assert_int_equal(vapid_header(f->cache, "http://push.example.net/x", NOW, &h), PR_EINVAL);
    assert_string_equal(h, "untouched");
}

static void subject_must_be_mailto_or_https_and_key_p256(void **state)
{
    struct fixture *f = *state;
    struct vapid_cache *c = NULL;
    assert_int_equal(vapid_cache_new(f->key, "ops@example.net", &c), PR_EINVAL);
    assert_int_equal(vapid_cache_new(f->key, NULL, &c), PR_EINVAL);
    assert_int_equal(vapid_cache_new(f->key, "https://example.net/contact", &c), 0);
    vapid_cache_del(c);
    EVP_PKEY *rsa = EVP_RSA_gen(1024);
    assert_int_equal(vapid_cache_new(rsa, SUBJECT, &c), PR_ECRYPTO);
    assert_null(c);
    EVP_PKEY_free(rsa);
}

static void topic_is_base64url_safe_and_at_most_32_characters(void **state)
{
    (void)state;
    char t[VAPID_TOPIC_MAX + 1], u[VAPID_TOPIC_MAX + 1];
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    assert_int_equal(vapid_topic("conv-42", t), 0);
    assert_string_equal(t, "conv-42");                      /* already safe: kept */
    assert_int_equal(vapid_topic(NULL, t), 0);
    assert_string_equal(t, "");
    assert_int_equal(vapid_topic("", t), 0);
    assert_string_equal(t, "");

    const char *unsafe[] = {
        "conv 42", "conv/42", "conv=42", "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4",
        "abcdefghijklmnopqrstuvwxyz0123456",                 /* 33 safe characters */
    };
    for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++) {
        assert_int_equal(vapid_topic(unsafe[i], t), 0);
        assert_int_equal(strlen(t), VAPID_TOPIC_MAX);
        assert_int_equal(strspn(t, alphabet), VAPID_TOPIC_MAX);
        assert_int_equal(vapid_topic(unsafe[i], u), 0);
        assert_string_equal(t, u);                          /* one id, one topic */
    }
    assert_int_equal(vapid_topic("conv 42", t), 0);
    assert_int_equal(vapid_topic("conv 43", u), 0);
    assert_string_not_equal(t, u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(header_verifies_and_carries_origin_expiry_and_contact, setup, teardown),
        cmocka_unit_test_setup_teardown(token_is_reused_per_origin_until_it_nears_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(clock_stepping_back_or_forget_signs_anew, setup, teardown),
        cmocka_unit_test_setup_teardown(cache_is_bounded_and_evicts_the_soonest_to_expire, setup, teardown),
        cmocka_unit_test(origin_is_scheme_host_and_non_default_port),
        cmocka_unit_test_setup_teardown(bad_endpoint_gets_no_header, setup, teardown),
        cmocka_unit_test_setup_teardown(subject_must_be_mailto_or_https_and_key_p256, setup, teardown),
        cmocka_unit_test(topic_is_base64url_safe_and_at_most_32_characters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
