/*
 * fed_listener.c - the federation listener: TLS context, listening
 * sockets, connection admission (see fed_listener.h). Each accepted socket
 * becomes a fed_conn; this file knows nothing of SIP.
 *
 * Mutual TLS is not optional: a peer without a certificate that chains to
 * federation.tls.ca_file fails the handshake. TLS 1.2 is the floor.
 */
#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "fed_conn.h"
#include "fed_listener.h"

struct fed {
    struct fed_ctx ctx;
    SSL_CTX *ssl_ctx;
    struct evconnlistener *listeners[CFG_MAX_LISTEN];
    size_t n_listeners;
    long refused;   /* connections refused at max_connections */
};

static void log_ssl_error(const char *what, const char *file)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof(buf));
    pr_log_error("fed", "%s %s: %s", what, file, e != 0 ? buf : "unknown error");
    ERR_clear_error();
}

/* fed_tls_ctx builds the server context for 'tls'; NULL with a logged reason. */
static SSL_CTX *fed_tls_ctx(const struct cfg_tls *tls)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, tls->certificate) != 1) {
        log_ssl_error("cannot use certificate", tls->certificate);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, tls->private_key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        log_ssl_error("cannot use private key", tls->private_key);
        goto fail;
    }
    if (SSL_CTX_load_verify_locations(ctx, tls->ca_file, NULL) != 1) {
        log_ssl_error("cannot load CA file", tls->ca_file);
        goto fail;
    }
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(tls->ca_file);
    if (names != NULL)
        SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_verify_depth(ctx, 8);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"pushrelay", 9);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/*
 * fed_trim_cb runs a moment after a burst of closed connections (see
 * FED_TRIM_AFTER_CLOSES): it hands the heap those connections freed back
 * to the system. Their buffers and TLS states are many small blocks below
 * glibc's mmap threshold, so free() keeps the pages; measured under 650
 * hostile connections, the listener stayed at 4.5x its idle size after
 * they closed, and it did not come down by itself (valgrind under the same
 * attack finds nothing lost: it is heap glibc keeps). malloc_trim releases
 * the free pages inside the heap as well as its top. It runs at most once
 * per FED_TRIM_DELAY_MS, off the close path, so a flood of closes costs one
 * walk of the heap, not one per close.
 */
static void fed_trim_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct fed_ctx *ctx = arg;
    ctx->closes_since_trim = 0;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

static void peer_name(const struct sockaddr *sa, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
        snprintf(buf, len, "%s:%d", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
        snprintf(buf, len, "[%s]:%d", host, port);
    } else {
        snprintf(buf, len, "?");
    }
}

static void fed_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                          int salen, void *arg)
{
    (void)l;
    (void)salen;
    struct fed *f = arg;
    char peer[64];
    peer_name(sa, peer, sizeof(peer));
    if (f->ctx.connections >= f->ctx.cfg->federation.max_connections) {
        /* Before TLS there is no SIP to answer with: refuse at once. */
        if (f->refused++ % 1000 == 0)
            pr_log_warn("fed", "%s: refused: %d connections open (max_connections); %ld refused so far",
                        peer, f->ctx.connections, f->refused);
        evutil_closesocket(fd);
        return;
    }
    /* Responses are small and must not wait for the peer's ACK (Nagle). */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    SSL *ssl = SSL_new(f->ssl_ctx);
    if (ssl == NULL) {
        evutil_closesocket(fd);
        return;
    }
    fed_conn_new(&f->ctx, fd, ssl, peer);
}

static void fed_accept_error_cb(struct evconnlistener *l, void *arg)
{
    (void)arg;
    int err = EVUTIL_SOCKET_ERROR();
    pr_log_error("fed", "accept failed: %s", evutil_socket_error_to_string(err));
    (void)l;
}

/* fed_bind opens one listening socket on 'ep'. */
static int fed_bind(struct fed *f, const struct cfg_endpoint *ep)
{
    struct sockaddr_storage ss;
    int sslen = sizeof(ss);
    char spec[300];
    snprintf(spec, sizeof(spec), strchr(ep->host, ':') ? "[%s]:%u" : "%s:%u", ep->host, ep->port);
    if (evutil_parse_sockaddr_port(spec, (struct sockaddr *)&ss, &sslen) != 0) {
        pr_log_error("fed", "federation.listen: %s is not a numeric address", spec);
        return PR_ECONFIG;
    }
    struct evconnlistener *l = evconnlistener_new_bind(
        f->ctx.base, fed_accept_cb, f,
        LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_EXEC,
        1024, (struct sockaddr *)&ss, sslen);
    if (l == NULL) {
        pr_log_error("fed", "cannot listen on %s: %s", spec,
                     evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        return PR_EIO;
    }
    evconnlistener_set_error_cb(l, fed_accept_error_cb);
    f->listeners[f->n_listeners++] = l;
    pr_log_info("fed", "listening for SIP/TLS on %s", spec);
    return 0;
}

int fed_new(struct event_base *base, const struct cfg *cfg, struct queue *q,
            struct stats *stats, struct fed **out)
{
    struct fed *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return PR_ENOMEM;
    f->ctx.base = base;
    f->ctx.cfg = cfg;
    f->ctx.queue = q;
    f->ctx.stats = stats;
    int rc = PR_ENOMEM;
    if ((f->ctx.trim_ev = evtimer_new(base, fed_trim_cb, &f->ctx)) == NULL ||
        (f->ctx.refusal_ev = evtimer_new(base, fed_conn_refusals_cb, &f->ctx)) == NULL)
        goto fail;
    rc = PR_ETLS;
    if ((f->ssl_ctx = fed_tls_ctx(&cfg->federation.tls)) == NULL)
        goto fail;
    for (size_t i = 0; i < cfg->federation.n_listen; i++)
        if ((rc = fed_bind(f, &cfg->federation.listen[i])) != 0)
            goto fail;
    *out = f;
    return 0;
fail:
    fed_free(f);
    return rc;
}

int fed_reload(struct fed *f, const struct cfg *cfg)
{
    SSL_CTX *ctx = fed_tls_ctx(&cfg->federation.tls);
    if (ctx == NULL)
        return PR_ETLS;
    /* Established connections keep their SSL (it holds its own reference). */
    SSL_CTX_free(f->ssl_ctx);
    f->ssl_ctx = ctx;
    f->ctx.cfg = cfg;
    return 0;
}

void fed_stop(struct fed *f)
{
    for (size_t i = 0; i < f->n_listeners; i++)
        evconnlistener_free(f->listeners[i]);
    f->n_listeners = 0;
}

void fed_get_stats(const struct fed *f, struct fed_stats *out)
{
    out->connections = f->ctx.connections;
    out->requests = f->ctx.requests;
}

void fed_free(struct fed *f)
{
    if (f == NULL)
        return;
    fed_stop(f);
    fed_conn_close_all(&f->ctx);
    if (f->ctx.trim_ev != NULL)
        event_free(f->ctx.trim_ev);
    if (f->ctx.refusal_ev != NULL) {
        fed_conn_refusals_cb(-1, 0, &f->ctx);   /* a count still pending */
        event_free(f->ctx.refusal_ev);
    }
    SSL_CTX_free(f->ssl_ctx);
    free(f);
}
