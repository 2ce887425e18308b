/*
 * sb_jwt.c - verification of compact JWS tokens (ES256, RS256) with OpenSSL.
 *
 * Called by sb_apns.c (provider tokens) and sb_oauth.c (service-account
 * assertions). It checks structure, algorithm and signature only; claims are
 * the caller's business. It never signs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "pushrelay/error.h"
#include "sb_jwt.h"

/*
 * OpenSSL only decodes the standard, padded alphabet (EVP_DecodeBlock), so
 * the URL-safe form is mapped onto it first; doing the mapping here is
 * cheaper than pulling in another library for one function.
 */
long sb_b64url_decode(const char *in, size_t len, unsigned char *out)
{
    if (len % 4 == 1)
        return -1;
    size_t padded = (len + 3) / 4 * 4;
    char stackbuf[1024];
    char *tmp = padded + 1 <= sizeof(stackbuf) ? stackbuf : malloc(padded + 1);
    if (tmp == NULL)
        return -1;
    long ret = -1;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (c == '+' || c == '/' || c == '=')
            goto out;
        tmp[i] = c;
    }
    for (size_t i = len; i < padded; i++)
        tmp[i] = '=';
    tmp[padded] = '\0';
    int n = padded ? EVP_DecodeBlock(out, (const unsigned char *)tmp, (int)padded) : 0;
    if (n < 0)
        goto out;
    ret = n - (long)(padded - len);   /* EVP_DecodeBlock counts the padding as zero bytes */
out:
    if (tmp != stackbuf)
        free(tmp);
    return ret;
}

static json_t *jwt_part_json(const char *part, size_t len)
{
    unsigned char stackbuf[1024];
    unsigned char *raw = len / 4 * 3 + 3 <= sizeof(stackbuf) ? stackbuf : malloc(len / 4 * 3 + 3);
    if (raw == NULL)
        return NULL;
    json_t *j = NULL;
    long n = sb_b64url_decode(part, len, raw);
    if (n >= 0) {
        j = json_loadb((const char *)raw, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
        if (j != NULL && !json_is_object(j)) {
            json_decref(j);
            j = NULL;
        }
    }
    if (raw != stackbuf)
        free(raw);
    return j;
}

/* ES256 carries r||s (32 bytes each); OpenSSL verifies DER ECDSA-Sig-Value. */
static int jwt_es256_der(const unsigned char *sig, size_t siglen, unsigned char **der, int *derlen)
{
    if (siglen != 64)
        return PR_ECRYPTO;
    int ret = PR_ENOMEM;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL);
    BIGNUM *s = BN_bin2bn(sig + 32, 32, NULL);
    if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1)
        goto fail;
    r = s = NULL;   /* owned by 'es' now */
    *der = NULL;
    *derlen = i2d_ECDSA_SIG(es, der);
    if (*derlen <= 0)
        goto fail;
    ret = 0;
fail:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return ret;
}

int sb_jwt_verify(const char *jwt, size_t len, EVP_PKEY *key, const char *alg,
                  json_t **header, json_t **claims)
{
    const char *dot1 = memchr(jwt, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - jwt)) : NULL;
    if (dot1 == NULL || dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - jwt)))
        return PR_EINVAL;

    int ret = PR_EINVAL;
    json_t *h = NULL, *c = NULL;
    unsigned char sig[600];
    unsigned char *der = NULL;
    EVP_MD_CTX *md = NULL;

    size_t siglen_b64 = len - (size_t)(dot2 + 1 - jwt);
    if (siglen_b64 / 4 * 3 + 3 > sizeof(sig))
        goto out;
    long siglen = sb_b64url_decode(dot2 + 1, siglen_b64, sig);
    h = jwt_part_json(jwt, (size_t)(dot1 - jwt));
    c = jwt_part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1));
    if (siglen < 0 || h == NULL || c == NULL)
        goto out;

    ret = PR_ECRYPTO;
    const char *halg = json_string_value(json_object_get(h, "alg"));
    if (halg == NULL || strcmp(halg, alg) != 0)
        goto out;
    const unsigned char *vsig = sig;
    size_t vlen = (size_t)siglen;
    int derlen = 0;
    if (strcmp(alg, "ES256") == 0) {
        if (EVP_PKEY_base_id(key) != EVP_PKEY_EC || jwt_es256_der(sig, vlen, &der, &derlen) != 0)
            goto out;
        vsig = der;
        vlen = (size_t)derlen;
    } else if (strcmp(alg, "RS256") != 0 || EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
        goto out;
    }
    md = EVP_MD_CTX_new();
    if (md == NULL) {
        ret = PR_ENOMEM;
        goto out;
    }
    if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestVerify(md, vsig, vlen, (const unsigned char *)jwt, (size_t)(dot2 - jwt)) != 1)
        goto out;
    *header = h;
    *claims = c;
    h = c = NULL;
    ret = 0;
out:
    if (ret != 0)
        ERR_clear_error();  /* keep OpenSSL's per-thread error queue from growing */
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    json_decref(h);
    json_decref(c);
    return ret;
}

EVP_PKEY *sb_jwt_load_key(const char *pem, int len)
{
    BIO *bio = BIO_new_mem_buf(pem, len);
    if (bio == NULL)
        return NULL;
    EVP_PKEY *key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (key == NULL) {
        BIO_reset(bio);
        key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    }
    BIO_free(bio);
    ERR_clear_error();
    return key;
}

EVP_PKEY *sb_jwt_load_key_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char buf[16384];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    if (n == 0 || n == sizeof(buf))
        return NULL;
    return sb_jwt_load_key(buf, (int)n);
}
