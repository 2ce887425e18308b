/*
 * sb_tls.h - server TLS contexts for the sandbox's listeners.
 */
#ifndef PUSHRELAY_SANDBOX_SB_TLS_H
#define PUSHRELAY_SANDBOX_SB_TLS_H

#include <openssl/ssl.h>

/*
 * sb_tls_server_ctx loads 'cert' (PEM chain) and 'key' and offers 'alpn'
 * ("h2" or "http/1.1") to clients that ask for it; a client that offers no
 * matching protocol still gets a handshake (HTTP/2 with prior knowledge).
 * Returns the context (caller frees with SSL_CTX_free) or NULL, logged.
 */
SSL_CTX *sb_tls_server_ctx(const char *cert, const char *key, const char *alpn);

#endif
