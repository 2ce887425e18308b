/*
 * tlsc.c - TLS client contexts for provider connections (see tlsc.h).
 * Used by relay/h2c.c and relay/mpns.c; knows nothing of HTTP.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "pushrelay/error.h"
#include "tlsc.h"

const char *tlsc_last_error(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    if (e == 0)
        snprintf(buf, len, "unknown");
    else
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

int tlsc_ctx_new(const struct tlsc_options *opt, SSL_CTX **out, char *err, size_t errlen)
{
    char why[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        snprintf(err, errlen, "SSL_CTX_new: %s", tlsc_last_error(why, sizeof(why)));
        return PR_ETLS;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (opt->ca_file != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, opt->ca_file, NULL) != 1) {
            snprintf(err, errlen, "%s: %s", opt->ca_file, tlsc_last_error(why, sizeof(why)));
            goto fail;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        snprintf(err, errlen, "system CA store: %s", tlsc_last_error(why, sizeof(why)));
        goto fail;
    }
    if (opt->cert_file != NULL) {
        const char *key = opt->key_file != NULL ? opt->key_file : opt->cert_file;
        if (SSL_CTX_use_certificate_chain_file(ctx, opt->cert_file) != 1) {
            snprintf(err, errlen, "%s: %s", opt->cert_file, tlsc_last_error(why, sizeof(why)));
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            snprintf(err, errlen, "%s: %s", key, tlsc_last_error(why, sizeof(why)));
            goto fail;
        }
    }
    if (opt->alpn != NULL &&
        SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)opt->alpn, (unsigned)opt->alpn_len) != 0) {
        snprintf(err, errlen, "ALPN: %s", tlsc_last_error(why, sizeof(why)));
        goto fail;
    }
    *out = ctx;
    return 0;
fail:
    SSL_CTX_free(ctx);
    return PR_ETLS;
}

/* Whether 'host' is a numeric IPv4/IPv6 address (no SNI, IP SAN check). */
static int host_is_ip(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

SSL *tlsc_ssl_new(SSL_CTX *ctx, const char *host)
{
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL)
        return NULL;
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    int ok;
    if (host_is_ip(host)) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1;
    } else {
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = X509_VERIFY_PARAM_set1_host(param, host, 0) == 1 &&
             SSL_set_tlsext_host_name(ssl, host) == 1;
    }
    if (!ok) {
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}
