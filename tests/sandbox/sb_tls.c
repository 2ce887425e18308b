/*
 * sb_tls.c - TLS server contexts (certificate, key, ALPN) for sb_h2.c and
 * sb_http1.c. No client authentication: the sandbox plays a public provider.
 */
#include <string.h>

#include <openssl/err.h>

#include "pushrelay/log.h"
#include "sb_tls.h"

static int tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                           const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)ssl;
    const char *want = arg;
    size_t wlen = strlen(want);
    for (unsigned int i = 0; i < inlen; i += 1u + in[i]) {
        if (in[i] == wlen && i + 1u + wlen <= inlen && memcmp(in + i + 1, want, wlen) == 0) {
            *out = in + i + 1;
            *outlen = in[i];
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

SSL_CTX *sb_tls_server_ctx(const char *cert, const char *key, const char *alpn)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        pr_log_error("sandbox", "cannot load certificate %s", cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        pr_log_error("sandbox", "cannot load key %s (or it does not match the certificate)", key);
        goto fail;
    }
    /* 'alpn' is a string literal of the caller: it outlives the context */
    SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_select, (void *)alpn);
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}
