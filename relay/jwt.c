/*
 * jwt.c - compact JWS signing (jwt.h): ES256 APNs provider tokens with their
 * refresh cache, and RS256 Google service-account assertions. Called by the
 * APNs client (relay/apns.c) and the OAuth2 token fetcher (relay/oauth.c).
 * It signs only; it never verifies tokens and does no I/O except reading a
 * key file in jwt_load_key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "pushrelay/error.h"
#include "jwt.h"

#define JWT_ES256_FIELD 32          /* bytes of r and of s on P-256 */
#define JWT_GOOGLE_LIFETIME_S 3600  /* Google's maximum assertion lifetime */

/*
 * jwt_no_passphrase refuses encrypted keys: without a callback OpenSSL
 * would prompt on the terminal, which blocks a daemon.
 */
static int jwt_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
    (void)buf, (void)size, (void)rwflag, (void)arg;
    return -1;
}

EVP_PKEY *jwt_load_key(const char *path, char *err, size_t errlen)
{
    EVP_PKEY *key = NULL;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: cannot open key file", path);
        return NULL;
    }
    key = PEM_read_PrivateKey(f, NULL, jwt_no_passphrase, NULL);
    fclose(f);
    if (key == NULL) {
        unsigned long e = ERR_get_error();
        snprintf(err, errlen, "%s: not a PEM private key (%s)", path,
                 e != 0 ? ERR_reason_error_string(e) : "no key found");
        ERR_clear_error();
    }
    return key;
}

/*
 * base64url comes from OpenSSL's EVP_EncodeBlock, a well-kept encoder, with
 * the two alphabet differences of RFC 4648 section 5 applied afterwards
 * ('+' -> '-', '/' -> '_') and the '=' padding dropped, as JWS requires.
 */
char *jwt_b64url(const unsigned char *data, size_t len)
{
    if (len > (size_t)INT32_MAX / 2)
        return NULL;
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out == NULL)
        return NULL;
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (int i = 0; i < n; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    return out;
}

/*
 * The decoder is EVP_DecodeBlock's, like the encoder: the text is turned
 * back into the standard alphabet and padded first. EVP_DecodeBlock counts
 * the bytes the padding stands for, so those are taken off again.
 */
int jwt_b64url_decode(const char *s, unsigned char *out, size_t outmax, size_t *outlen)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t len = strlen(s);
    while (len > 0 && s[len - 1] == '=' && strlen(s) - len < 2)
        len--;
    if (len % 4 == 1 || strspn(s, alphabet) != len || len > (size_t)INT32_MAX / 2)
        return PR_EINVAL;
    size_t pad = (4 - len % 4) % 4;
    if (len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0) > outmax)
        return PR_ETOOBIG;
    char *std = malloc(len + pad + 1);
    unsigned char *raw = malloc((len + pad) / 4 * 3 + 1);
    int rc = PR_ENOMEM;
    if (std == NULL || raw == NULL)
        goto out;
    for (size_t i = 0; i < len; i++)
        std[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    memset(std + len, '=', pad);
    int n = EVP_DecodeBlock(raw, (const unsigned char *)std, (int)(len + pad));
    rc = PR_EINVAL;
    if (n < 0 || (size_t)n < pad)
        goto out;
    *outlen = (size_t)n - pad;
    memcpy(out, raw, *outlen);
    rc = 0;
out:
    free(std);
    free(raw);
    return rc;
}

/*
 * jwt_der_to_raw turns OpenSSL's DER ECDSA-Sig-Value into the JWS form
 * (RFC 7518 section 3.4): r and s as fixed 32-byte big-endian integers.
 */
static int jwt_der_to_raw(const unsigned char *der, size_t derlen, unsigned char *raw)
{
    const unsigned char *p = der;
    const BIGNUM *r, *s;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    if (sig == NULL)
        return PR_ECRYPTO;
    ECDSA_SIG_get0(sig, &r, &s);
    int rc = 0;
    if (BN_bn2binpad(r, raw, JWT_ES256_FIELD) != JWT_ES256_FIELD ||
        BN_bn2binpad(s, raw + JWT_ES256_FIELD, JWT_ES256_FIELD) != JWT_ES256_FIELD)
        rc = PR_ECRYPTO;
    ECDSA_SIG_free(sig);
    return rc;
}

/* jwt_key_fits: 1 when 'key' is the key type 'alg' signs with. */
static int jwt_key_fits(EVP_PKEY *key, int es256)
{
    if (!es256)
        return EVP_PKEY_is_a(key, "RSA");
    char group[64];
    size_t glen = 0;
    return EVP_PKEY_is_a(key, "EC") &&
           EVP_PKEY_get_group_name(key, group, sizeof(group), &glen) == 1 &&
           (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0);
}

/* jwt_b64url_json encodes 'o' as compact JSON, then base64url. */
static char *jwt_b64url_json(const json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    if (text == NULL)
        return NULL;
    char *b64 = jwt_b64url((const unsigned char *)text, strlen(text));
    free(text);
    return b64;
}

/*
 *   token = b64url(header) "." b64url(claims) "." b64url(signature)
 *           `------ signing input, SHA-256 ------'
 */
int jwt_sign(EVP_PKEY *key, const char *alg, const char *kid, json_t *claims, char **out)
{
    json_t *header = NULL;
    char *h64 = NULL, *c64 = NULL, *input = NULL, *s64 = NULL;
    unsigned char *sig = NULL;
    unsigned char raw[2 * JWT_ES256_FIELD];
    EVP_MD_CTX *md = NULL;
    size_t siglen = 0;
    int rc = PR_EINVAL;

    *out = NULL;
    if (key == NULL || alg == NULL || !json_is_object(claims))
        goto out;
    int es256 = strcmp(alg, "ES256") == 0;
    if (!es256 && strcmp(alg, "RS256") != 0)
        goto out;
    if (!jwt_key_fits(key, es256)) {
        rc = PR_ECRYPTO;
        goto out;
    }

    rc = PR_ENOMEM;
    header = kid != NULL ? json_pack("{s:s, s:s, s:s}", "alg", alg, "kid", kid, "typ", "JWT")
                         : json_pack("{s:s, s:s}", "alg", alg, "typ", "JWT");
    if (header == NULL || (h64 = jwt_b64url_json(header)) == NULL ||
        (c64 = jwt_b64url_json(claims)) == NULL)
        goto out;
    size_t inlen = strlen(h64) + 1 + strlen(c64);
    if ((input = malloc(inlen + 1)) == NULL)
        goto out;
    snprintf(input, inlen + 1, "%s.%s", h64, c64);

    rc = PR_ECRYPTO;
    if ((md = EVP_MD_CTX_new()) == NULL ||
        EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)input, inlen) != 1)
        goto out;
    if ((sig = malloc(siglen)) == NULL) {
        rc = PR_ENOMEM;
        goto out;
    }
    if (EVP_DigestSign(md, sig, &siglen, (const unsigned char *)input, inlen) != 1)
        goto out;
    if (es256) {
        if ((rc = jwt_der_to_raw(sig, siglen, raw)) != 0)
            goto out;
        s64 = jwt_b64url(raw, sizeof(raw));
    } else {
        s64 = jwt_b64url(sig, siglen);
    }
    rc = PR_ENOMEM;
    if (s64 == NULL)
        goto out;
    size_t toklen = inlen + 1 + strlen(s64);
    if ((*out = malloc(toklen + 1)) == NULL)
        goto out;
    snprintf(*out, toklen + 1, "%s.%s", input, s64);
    rc = 0;
out:
    if (rc == PR_ECRYPTO)
        ERR_clear_error();
    EVP_MD_CTX_free(md);
    json_decref(header);
    free(h64);
    free(c64);
    free(input);
    free(sig);
    free(s64);
    return rc;
}

int jwt_apns_token(struct jwt_cache *cache, EVP_PKEY *key, const char *team_id,
                   const char *key_id, int64_t now_s, const char **out)
{
    /* A clock that stepped back also re-signs: an "iat" in the future is refused. */
    if (cache->token != NULL && now_s >= cache->issued_s &&
        now_s - cache->issued_s < JWT_APNS_REFRESH_S) {
        *out = cache->token;
        return 0;
    }
    if (team_id == NULL || key_id == NULL)
        return PR_EINVAL;
    json_t *claims = json_pack("{s:s, s:I}", "iss", team_id, "iat", (json_int_t)now_s);
    if (claims == NULL)
        return PR_ENOMEM;
    char *token = NULL;
    int rc = jwt_sign(key, "ES256", key_id, claims, &token);
    json_decref(claims);
    if (rc != 0)
        return rc;
    free(cache->token);
    cache->token = token;
    cache->issued_s = now_s;
    *out = token;
    return 0;
}

void jwt_cache_clear(struct jwt_cache *cache)
{
    free(cache->token);
    cache->token = NULL;
    cache->issued_s = 0;
}

int jwt_google_assertion(EVP_PKEY *key, const char *key_id, const char *client_email,
                         const char *scope, const char *token_uri, int64_t now_s, char **out)
{
    *out = NULL;
    if (client_email == NULL || scope == NULL || token_uri == NULL)
        return PR_EINVAL;
    json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", client_email, "scope", scope,
                               "aud", token_uri, "iat", (json_int_t)now_s,
                               "exp", (json_int_t)(now_s + JWT_GOOGLE_LIFETIME_S));
    if (claims == NULL)
        return PR_ENOMEM;
    int rc = jwt_sign(key, "RS256", key_id, claims, out);
    json_decref(claims);
    return rc;
}
