/*
 * sb_mkjwt.c - mint a JWT for the sandbox's tests: an APNs provider token
 * (ES256) or a Google service-account assertion (RS256), signed with OpenSSL
 * directly so that the sandbox's verifier is tested against an independent
 * signer (not relay/jwt.c).
 *
 *   sb_mkjwt ES256 KEY.p8 KID '{"iss":"TEAM","iat":1700000000}'
 *   sb_mkjwt RS256 sa.json - '{"iss":"...","aud":"...",...}'
 *
 * KEY is a PEM private key, or a service-account JSON whose "private_key"
 * is used. KID "-" leaves "kid" out of the header. Prints the token.
 * Used by tests/integration/test_sandbox.sh only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

static char *b64url(const unsigned char *in, size_t len)
{
    char *out = malloc(len / 3 * 4 + 8);
    if (out == NULL)
        return NULL;
    int n = EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (char *p = out; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    return out;
}

static EVP_PKEY *load_key(const char *path)
{
    EVP_PKEY *key = NULL;
    json_t *sa = NULL;
    BIO *bio = NULL;
    size_t plen = strlen(path);
    if (plen > 5 && strcmp(path + plen - 5, ".json") == 0) {
        sa = json_load_file(path, 0, NULL);
        const char *pem = json_string_value(json_object_get(sa, "private_key"));
        bio = pem ? BIO_new_mem_buf(pem, -1) : NULL;
    } else {
        bio = BIO_new_file(path, "r");
    }
    if (bio != NULL)
        key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    json_decref(sa);
    return key;
}

int main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[1], "ES256") != 0 && strcmp(argv[1], "RS256") != 0)) {
        fprintf(stderr, "usage: sb_mkjwt ES256|RS256 KEY(.pem|.p8|.json) KID|- CLAIMS-JSON\n");
        return 2;
    }
    int es = strcmp(argv[1], "ES256") == 0;
    EVP_PKEY *key = load_key(argv[2]);
    json_t *claims = json_loads(argv[4], 0, NULL);
    if (key == NULL || !json_is_object(claims)) {
        fprintf(stderr, "sb_mkjwt: unreadable key or claims\n");
        return 1;
    }
    json_t *hdr = json_pack("{s:s,s:s}", "alg", argv[1], "typ", "JWT");
    if (strcmp(argv[3], "-") != 0)
        json_object_set_new(hdr, "kid", json_string(argv[3]));
    char *hj = json_dumps(hdr, JSON_COMPACT), *cj = json_dumps(claims, JSON_COMPACT);
    char *h64 = b64url((unsigned char *)hj, strlen(hj));
    char *c64 = b64url((unsigned char *)cj, strlen(cj));
    size_t ilen = strlen(h64) + 1 + strlen(c64);
    char *input = malloc(ilen + 1);
    snprintf(input, ilen + 1, "%s.%s", h64, c64);

    unsigned char sig[1024], raw[64];
    size_t siglen = sizeof(sig);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, sig, &siglen, (unsigned char *)input, ilen) != 1) {
        fprintf(stderr, "sb_mkjwt: signing failed\n");
        return 1;
    }
    const unsigned char *out = sig;
    size_t outlen = siglen;
    if (es) {
        /* JWS ES256 wants r||s, 32 bytes each, not OpenSSL's DER */
        const unsigned char *p = sig;
        ECDSA_SIG *es_sig = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
        if (es_sig == NULL || BN_bn2binpad(ECDSA_SIG_get0_r(es_sig), raw, 32) != 32 ||
            BN_bn2binpad(ECDSA_SIG_get0_s(es_sig), raw + 32, 32) != 32) {
            fprintf(stderr, "sb_mkjwt: not a P-256 key\n");
            return 1;
        }
        ECDSA_SIG_free(es_sig);
        out = raw;
        outlen = 64;
    }
    char *s64 = b64url(out, outlen);
    printf("%s.%s\n", input, s64);
    free(s64);
    free(input);
    free(h64);
    free(c64);
    free(hj);
    free(cj);
    json_decref(hdr);
    json_decref(claims);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    return 0;
}
