/*
 * test_jwt.c - JWS signing (relay/jwt.h): ES256 APNs provider tokens and
 * RS256 Google assertions verify with OpenSSL against the public key, carry
 * exactly the documented header and claims, and the APNs token is reused
 * until its refresh time. Keys are generated at test time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "pushrelay/error.h"
#include "jwt.h"

struct keys {
    EVP_PKEY *ec;
    EVP_PKEY *rsa;
};

static int setup(void **state)
{
    struct keys *k = calloc(1, sizeof(*k));
    k->ec = EVP_EC_gen("P-256");
    k->rsa = EVP_RSA_gen(2048);
    if (k->ec == NULL || k->rsa == NULL)
        return -1;
    *state = k;
    return 0;
}

static int teardown(void **state)
{
    struct keys *k = *state;
    EVP_PKEY_free(k->ec);
    EVP_PKEY_free(k->rsa);
    free(k);
    return 0;
}

/* Test-side base64url decoder: back to the standard alphabet, padded. */
static unsigned char *b64url_decode(const char *s, size_t len, size_t *outlen)
{
    size_t padded = (len + 3) / 4 * 4;
    char *std = malloc(padded + 1);
    for (size_t i = 0; i < len; i++)
        std[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    for (size_t i = len; i < padded; i++)
        std[i] = '=';
    std[padded] = '\0';
    unsigned char *out = malloc(padded);
    int n = EVP_DecodeBlock(out, (unsigned char *)std, (int)padded);
    assert_true(n >= 0);
    *outlen = (size_t)n - (padded - len);   /* EVP_DecodeBlock counts the padding */
    free(std);
    return out;
}

struct jws {
    json_t *header;
    json_t *claims;
    unsigned char *sig;
    size_t siglen;
    size_t input_len;   /* "<header>.<claims>" */
};

static void jws_split(const char *token, struct jws *j)
{
    const char *d1 = strchr(token, '.');
    assert_non_null(d1);
    const char *d2 = strchr(d1 + 1, '.');
    assert_non_null(d2);
    assert_null(strchr(d2 + 1, '.'));
    assert_null(strpbrk(token, "+/= "));
    size_t n;
    unsigned char *h = b64url_decode(token, (size_t)(d1 - token), &n);
    j->header = json_loadb((char *)h, n, JSON_REJECT_DUPLICATES, NULL);
    free(h);
    unsigned char *c = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &n);
    j->claims = json_loadb((char *)c, n, JSON_REJECT_DUPLICATES, NULL);
    free(c);
    j->sig = b64url_decode(d2 + 1, strlen(d2 + 1), &j->siglen);
    j->input_len = (size_t)(d2 - token);
    assert_non_null(j->header);
    assert_non_null(j->claims);
}

static void jws_free(struct jws *j)
{
    json_decref(j->header);
    json_decref(j->claims);
    free(j->sig);
}

static int verify(EVP_PKEY *key, const char *token, const struct jws *j, int es256)
{
    unsigned char *der = NULL;
    const unsigned char *sig = j->sig;
    size_t siglen = j->siglen;
    if (es256) {
        assert_int_equal(j->siglen, 64);
        ECDSA_SIG *es = ECDSA_SIG_new();
        ECDSA_SIG_set0(es, BN_bin2bn(j->sig, 32, NULL), BN_bin2bn(j->sig + 32, 32, NULL));
        int n = i2d_ECDSA_SIG(es, &der);
        ECDSA_SIG_free(es);
        assert_true(n > 0);
        sig = der;
        siglen = (size_t)n;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(md, sig, siglen, (const unsigned char *)token, j->input_len) == 1;
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    return ok;
}

static void assert_json_equal(json_t *got, const char *want_text)
{
    json_t *want = json_loads(want_text, 0, NULL);
    assert_non_null(want);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
        print_error("got  %s\nwant %s\n", g, want_text);
        free(g);
    }
    assert_true(json_equal(got, want));
    json_decref(want);
}

static void b64url_uses_url_alphabet_without_padding(void **state)
{
    (void)state;
    const unsigned char bytes[] = { 0xfb, 0xff, 0xbf };
    char *s = jwt_b64url(bytes, sizeof(bytes));
    assert_string_equal(s, "-_-_");
    free(s);
    s = jwt_b64url((const unsigned char *)"ab", 2);
    assert_string_equal(s, "YWI");
    free(s);
    s = jwt_b64url((const unsigned char *)"a", 1);
    assert_string_equal(s, "YQ");
    free(s);
    s = jwt_b64url((const unsigned char *)"", 0);
    assert_string_equal(s, "");
    free(s);
}

static void apns_token_is_es256_raw_rs_and_verifies(void **state)
{
    struct keys *k = *state;
    struct jwt_cache cache = { 0 };
    const char *token = NULL;
    assert_int_equal(jwt_apns_token(&cache, k->ec, "ABCDE12345", "KEY1234567", 1732480000, &token), 0);
    struct jws j;
    jws_split(token, &j);
    assert_json_equal(j.header, "{\"alg\":\"ES256\",\"kid\":\"KEY1234567\",\"typ\":\"JWT\"}");
    assert_json_equal(j.claims, "{\"iss\":\"ABCDE12345\",\"iat\":1732480000}");
    assert_true(verify(k->ec, token, &j, 1));
    jws_free(&j);
    jwt_cache_clear(&cache);
}

static void tampered_token_does_not_verify(void **state)
{
    struct keys *k = *state;
    struct jwt_cache cache = { 0 };
    const char *token = NULL;
    assert_int_equal(jwt_apns_token(&cache, k->ec, "ABCDE12345", "KEY1234567", 1732480000, &token), 0);
    char *copy = strdup(token);
    copy[5] = copy[5] == 'A' ? 'B' : 'A';   /* inside the header */
    struct jws j;
    const char *d1 = strchr(copy, '.'), *d2 = strchr(d1 + 1, '.');
    j.sig = b64url_decode(d2 + 1, strlen(d2 + 1), &j.siglen);
    j.input_len = (size_t)(d2 - copy);
    assert_false(verify(k->ec, copy, &j, 1));
    free(j.sig);
    free(copy);
    jwt_cache_clear(&cache);
}

static void apns_token_is_reused_until_refresh_then_signed_anew(void **state)
{
    struct keys *k = *state;
    struct jwt_cache cache = { 0 };
    const char *t1 = NULL, *t2 = NULL, *t3 = NULL;
    assert_int_equal(jwt_apns_token(&cache, k->ec, "TEAM", "KID", 1000, &t1), 0);
    char *first = strdup(t1);
    assert_int_equal(cache.issued_s, 1000);

    assert_int_equal(jwt_apns_token(&cache, k->ec, "TEAM", "KID", 1000 + JWT_APNS_REFRESH_S - 1, &t2), 0);
    assert_ptr_equal(t2, t1);
    assert_string_equal(t2, first);
    assert_int_equal(cache.issued_s, 1000);

    assert_int_equal(jwt_apns_token(&cache, k->ec, "TEAM", "KID", 1000 + JWT_APNS_REFRESH_S, &t3), 0);
    assert_string_not_equal(t3, first);
    assert_int_equal(cache.issued_s, 1000 + JWT_APNS_REFRESH_S);
    struct jws j;
    jws_split(t3, &j);
    assert_json_equal(j.claims, "{\"iss\":\"TEAM\",\"iat\":4000}");
    assert_true(verify(k->ec, t3, &j, 1));
    jws_free(&j);
    free(first);
    jwt_cache_clear(&cache);
}

static void refresh_is_between_20_and_60_minutes(void **state)
{
    (void)state;
    assert_true(JWT_APNS_REFRESH_S >= 20 * 60);
    assert_true(JWT_APNS_REFRESH_S < 60 * 60);
}

static void cleared_cache_signs_a_new_token(void **state)
{
    struct keys *k = *state;
    struct jwt_cache cache = { 0 };
    const char *t = NULL;
    assert_int_equal(jwt_apns_token(&cache, k->ec, "TEAM", "KID", 1000, &t), 0);
    jwt_cache_clear(&cache);
    assert_null(cache.token);
    assert_int_equal(jwt_apns_token(&cache, k->ec, "TEAM", "KID", 1010, &t), 0);
    assert_int_equal(cache.issued_s, 1010);
    jwt_cache_clear(&cache);
}

static void apns_token_refuses_an_rsa_key(void **state)
{
    struct keys *k = *state;
    struct jwt_cache cache = { 0 };
    const char *t = NULL;
    assert_int_equal(jwt_apns_token(&cache, k->rsa, "TEAM", "KID", 1000, &t), PR_ECRYPTO);
    assert_null(cache.token);
}

static void google_assertion_is_rs256_and_verifies(void **state)
{
    struct keys *k = *state;
    char *token = NULL;
    assert_int_equal(jwt_google_assertion(k->rsa, "abc123", "relay@example-lync.iam.gserviceaccount.com",
                                          "https://www.googleapis.com/auth/firebase.messaging",
                                          "https://oauth2.googleapis.com/token", 1732480000, &token), 0);
    struct jws j;
    jws_split(token, &j);
    assert_json_equal(j.header, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"abc123\"}");
    assert_json_equal(j.claims,
                      "{\"iss\":\"relay@example-lync.iam.gserviceaccount.com\","
                      "\"scope\":\"https://www.googleapis.com/auth/firebase.messaging\","
                      "\"aud\":\"https://oauth2.googleapis.com/token\","
                      "\"iat\":1732480000,\"exp\":1732483600}");
    assert_int_equal(j.siglen, 256);
    assert_true(verify(k->rsa, token, &j, 0));
    assert_false(verify(k->ec, token, &j, 0));
    jws_free(&j);
    free(token);
}

static void google_assertion_without_kid_has_no_kid(void **state)
{
    struct keys *k = *state;
    char *token = NULL;
    assert_int_equal(jwt_google_assertion(k->rsa, NULL, "a@b", "s", "https://t", 10, &token), 0);
    struct jws j;
    jws_split(token, &j);
    assert_json_equal(j.header, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}");
    assert_true(verify(k->rsa, token, &j, 0));
    jws_free(&j);
    free(token);
}

static void sign_refuses_unknown_alg_and_wrong_key(void **state)
{
    struct keys *k = *state;
    json_t *claims = json_pack("{s:i}", "iat", 1);
    char *out = (char *)1;
    assert_int_equal(jwt_sign(k->ec, "HS256", NULL, claims, &out), PR_EINVAL);
    assert_null(out);
    assert_int_equal(jwt_sign(k->ec, "RS256", NULL, claims, &out), PR_ECRYPTO);
    assert_int_equal(jwt_sign(k->rsa, "ES256", NULL, claims, &out), PR_ECRYPTO);
    EVP_PKEY *p384 = EVP_EC_gen("P-384");
    assert_int_equal(jwt_sign(p384, "ES256", NULL, claims, &out), PR_ECRYPTO);
    EVP_PKEY_free(p384);
    assert_null(out);
    json_decref(claims);
}

static void load_key_reads_pkcs8_pem_and_reports_failures(void **state)
{
    struct keys *k = *state;
    char path[] = "/tmp/test_jwt_keyXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_int_equal(PEM_write_PrivateKey(f, k->ec, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);

    char err[256] = "";
    EVP_PKEY *loaded = jwt_load_key(path, err, sizeof(err));
    assert_non_null(loaded);
    assert_int_equal(EVP_PKEY_eq(loaded, k->ec), 1);
    EVP_PKEY_free(loaded);

    f = fopen(path, "w");
    assert_int_equal(PEM_write_PrivateKey(f, k->ec, EVP_aes_256_cbc(), NULL, 0, NULL, "secret"), 1);
    fclose(f);
    assert_null(jwt_load_key(path, err, sizeof(err)));   /* encrypted: refused, never prompts */
    assert_non_null(strstr(err, path));

    f = fopen(path, "w");
    fputs("not a key\n", f);
    fclose(f);
    assert_null(jwt_load_key(path, err, sizeof(err)));
    assert_non_null(strstr(err, path));
    unlink(path);

    assert_null(jwt_load_key(path, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot open"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(b64url_uses_url_alphabet_without_padding),
        cmocka_unit_test(apns_token_is_es256_raw_rs_and_verifies),
        cmocka_unit_test(tampered_token_does_not_verify),
        cmocka_unit_test(apns_token_is_reused_until_refresh_then_signed_anew),
        cmocka_unit_test(refresh_is_between_20_and_60_minutes),
        cmocka_unit_test(cleared_cache_signs_a_new_token),
        cmocka_unit_test(apns_token_refuses_an_rsa_key),
        cmocka_unit_test(google_assertion_is_rs256_and_verifies),
        cmocka_unit_test(google_assertion_without_kid_has_no_kid),
        cmocka_unit_test(sign_refuses_unknown_alg_and_wrong_key),
        cmocka_unit_test(load_key_reads_pkcs8_pem_and_reports_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
