/*
 * tlsc.h - TLS client setup shared by the provider connections (relay/h2c.c
 * for HTTP/2, relay/mpns.c for HTTPS/1.1): one SSL_CTX per provider origin
 * with peer verification against the system store or a given CA file and an
 * optional client certificate, and one SSL per connection with SNI and a
 * host name (or IP address) check. No sockets here.
 */
#ifndef PUSHRELAY_TLSC_H
#define PUSHRELAY_TLSC_H

#include <stddef.h>
#include <openssl/ssl.h>

struct tlsc_options {
    const char *ca_file;    /* PEM bundle to verify the server; NULL: system store */
    const char *cert_file;  /* PEM client certificate chain, or NULL */
    const char *key_file;   /* PEM key for 'cert_file' (NULL: same file) */
    const char *alpn;       /* wire-format ALPN list ("\x02h2"), or NULL */
    size_t alpn_len;
};

/*
 * tlsc_ctx_new builds a client SSL_CTX (TLS 1.2+, verify peer) from 'opt'.
 * Returns 0 and the context in '*out' (free with SSL_CTX_free), or PR_ETLS
 * with the cause in 'err' when a file is unusable.
 */
int tlsc_ctx_new(const struct tlsc_options *opt, SSL_CTX **out, char *err, size_t errlen);

/*
 * tlsc_ssl_new makes an SSL for one connection to 'host': SNI (names only)
 * and the certificate must match 'host' (DNS name or IP address). Returns
 * NULL on allocation failure.
 */
SSL *tlsc_ssl_new(SSL_CTX *ctx, const char *host);

/* tlsc_last_error writes OpenSSL's queued error (or "unknown") into 'buf'; returns 'buf'. */
const char *tlsc_last_error(char *buf, size_t len);

#endif
