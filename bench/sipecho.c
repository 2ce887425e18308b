/*
 * sipecho - a trivial SIP-over-TLS responder: the machine ceiling for the
 * ingest benchmark, and the peer sipload is tested against.
 *
 * What it does: accepts TLS connections that present a client certificate
 * chaining to --ca, frames requests (header block + Content-Length) and
 * answers each at once in order: MESSAGE 202, OPTIONS 200, anything else 405,
 * copying Via, From, To (adding a tag), Call-ID and CSeq. Answers produced
 * while handling one read are written as one batch.
 *
 * What it does not do: validate anything, touch Redis, or check the edge's
 * certificate names. Framing is the listener's own (sip_frame_scan),
 * header lookup sip_wire's. The time sipload measures against it is the cost of
 * TLS, framing and the loopback, which is what pushrelay's listener pays
 * before it does any real work.
 *
 * Who calls it: bench/run-ingest.sh ("ceiling" row), bench/README.md.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "bench_read.h"
#include "sip_frame.h"
#include "sip_wire.h"

#define MOD "sipecho"
#define MSG_MAX (64 * 1024)     /* one request, headers + body */
#define IN_CAP (2 * MSG_MAX)
#define OUT_CAP (256 * 1024)    /* answers batched per read */
#define RESP_MAX 2048           /* one answer, without folded monsters */

struct echo {
    struct event_base *base;
    SSL_CTX *ctx;
    struct evconnlistener *lev;
    struct event *sigint, *sigterm;
    unsigned long long answered;
};

struct econn {
    struct echo *E;
    struct bufferevent *bev;
    char in[IN_CAP];
    size_t in_len;
    char out[OUT_CAP];
    size_t out_len;
};

static void econn_free(struct econn *c)
{
    bufferevent_free(c->bev);
    free(c);
}

/*
 * copy_hdr appends header 'h' of the header lines [hdrs, end) to 'dst' as
 * "Name: value", plus 'suffix'. Returns the bytes written or 0 when absent
 * or too long.
 */
static size_t copy_hdr(const char *hdrs, const char *end, enum sip_wire_hdr h,
                       const char *suffix, char *dst, size_t cap)
{
    struct sip_str v = sip_wire_header(hdrs, end, h);
    if (v.p == NULL)
        return 0;
    int n = snprintf(dst, cap, "%s: %.*s%s\r\n", sip_wire_hdr_name(h), (int)v.len, v.p, suffix);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/*
 * answer appends to c->out the answer to the request 'p' of 'f' (framed by
 * sip_frame_scan: header block, then Content-Length body bytes).
 */
static int answer(struct econn *c, const char *p, const struct sip_frame *f)
{
    const char *hend = p + f->hdr_len - 2;
    const char *hdrs = memchr(p, '\n', (size_t)(hend - p));
    if (hdrs == NULL)
        return PR_EPROTO;
    hdrs++;
    if (c->out_len + RESP_MAX > OUT_CAP) {
        evbuffer_add(bufferevent_get_output(c->bev), c->out, c->out_len);
        c->out_len = 0;
    }
    const char *status = "405 Method Not Allowed";
    if (strncmp(p, "MESSAGE ", 8) == 0)
        status = "202 Accepted";
    else if (strncmp(p, "OPTIONS ", 8) == 0)
        status = "200 OK";
    char *o = c->out + c->out_len;
    size_t cap = RESP_MAX, n = (size_t)snprintf(o, cap, "SIP/2.0 %s\r\n", status);
    n += copy_hdr(hdrs, hend, SIP_WIRE_HDR_VIA, "", o + n, cap - n);
    n += copy_hdr(hdrs, hend, SIP_WIRE_HDR_FROM, "", o + n, cap - n);
    n += copy_hdr(hdrs, hend, SIP_WIRE_HDR_TO, ";tag=sipecho", o + n, cap - n);
    n += copy_hdr(hdrs, hend, SIP_WIRE_HDR_CALL_ID, "", o + n, cap - n);
    n += copy_hdr(hdrs, hend, SIP_WIRE_HDR_CSEQ, "", o + n, cap - n);
    int m = snprintf(o + n, cap - n, "%sContent-Length: 0\r\n\r\n",
                     status[0] == '4' ? "Allow: MESSAGE, OPTIONS\r\n" : "");
    if (m < 0 || (size_t)m >= cap - n)
        return PR_EPROTO;
    c->out_len += n + (size_t)m;
    c->E->answered++;
    return 0;
}

/*
 * echo_message is the bench_read_fn: frames one request with the listener's
 * own framer (the ceiling pays what pushrelay pays to frame) and answers it.
 */
static long echo_message(void *arg, const char *p, size_t len)
{
    struct econn *c = arg;
    struct sip_frame f;
    sip_frame_scan(p, len, MSG_MAX, &f);
    if (f.kind == SIP_FRAME_NEED_MORE)
        return 0;
    if (f.kind == SIP_FRAME_PING)       /* RFC 5626: answer with a pong */
        evbuffer_add(bufferevent_get_output(c->bev), "\r\n", 2);
    if (f.kind == SIP_FRAME_ERROR || (f.kind == SIP_FRAME_REQUEST && answer(c, p, &f) != 0)) {
        pr_log_warn(MOD, "malformed request, closing");
        econn_free(c);
        return -1;
    }
    return (long)f.len;
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct econn *c = arg;
    if (bench_read(bufferevent_get_input(bev), c->in, IN_CAP, &c->in_len, echo_message, c) != 0)
        return;
    if (c->out_len > 0) {
        evbuffer_add(bufferevent_get_output(bev), c->out, c->out_len);
        c->out_len = 0;
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct econn *c = arg;
    if (what & BEV_EVENT_CONNECTED)
        return;
    unsigned long e = bufferevent_get_openssl_error(bev);
    if (e != 0) {
        char why[256];
        ERR_error_string_n(e, why, sizeof(why));
        pr_log_debug(MOD, "connection closed: %s", why);
    }
    econn_free(c);
}

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    (void)lev, (void)sa, (void)salen;
    struct echo *E = arg;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct econn *c = calloc(1, sizeof(*c));
    SSL *ssl = SSL_new(E->ctx);
    if (c == NULL || ssl == NULL) {
        free(c);
        SSL_free(ssl);
        evutil_closesocket(fd);
        return;
    }
    c->E = E;
    c->bev = bufferevent_openssl_socket_new(E->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        free(c);
        evutil_closesocket(fd);
        return;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct echo *E = arg;
    event_base_loopbreak(E->base);
}

static int tls_setup(struct echo *E, const char *cert, const char *key, const char *ca)
{
    E->ctx = SSL_CTX_new(TLS_server_method());
    if (E->ctx == NULL)
        return PR_ENOMEM;
    SSL_CTX_set_min_proto_version(E->ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(E->ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(E->ctx, key, SSL_FILETYPE_PEM) != 1) {
        pr_log_error(MOD, "--cert %s / --key %s: cannot load", cert, key);
        return PR_ETLS;
    }
    if (SSL_CTX_load_verify_locations(E->ctx, ca, NULL) != 1) {
        pr_log_error(MOD, "--ca %s: cannot load", ca);
        return PR_ETLS;
    }
    SSL_CTX_set_verify(E->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "listen", 1, 0, 'l' }, { "cert", 1, 0, 'c' }, { "key", 1, 0, 'k' },
        { "ca", 1, 0, 'a' },     { 0, 0, 0, 0 },
    };
    const char *listen = NULL, *cert = NULL, *key = NULL, *ca = NULL;
    int ch, rc = 1;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'l': listen = optarg; break;
        case 'c': cert = optarg; break;
        case 'k': key = optarg; break;
        case 'a': ca = optarg; break;
        default: goto usage;
        }
    }
    if (!listen || !cert || !key || !ca || optind != argc)
        goto usage;

    signal(SIGPIPE, SIG_IGN);
    struct echo E = { 0 };
    struct sockaddr_storage ss;
    int sslen = sizeof(ss);
    if (evutil_parse_sockaddr_port(listen, (struct sockaddr *)&ss, &sslen) != 0) {
        fprintf(stderr, "sipecho: --listen %s: want ADDR:PORT\n", listen);
        return 2;
    }
    E.base = event_base_new();
    if (E.base == NULL || tls_setup(&E, cert, key, ca) != 0)
        goto out;
    E.lev = evconnlistener_new_bind(E.base, on_accept, &E,
                                    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
                                    (struct sockaddr *)&ss, sslen);
    if (E.lev == NULL) {
        pr_log_error(MOD, "listen %s: %s", listen, strerror(errno));
        goto out;
    }
    E.sigint = evsignal_new(E.base, SIGINT, on_signal, &E);
    E.sigterm = evsignal_new(E.base, SIGTERM, on_signal, &E);
    event_add(E.sigint, NULL);
    event_add(E.sigterm, NULL);
    pr_log_info(MOD, "listening on %s", listen);
    event_base_dispatch(E.base);
    pr_log_info(MOD, "answered %llu requests", E.answered);
    rc = 0;
out:
    /* open connections are reclaimed by the OS at exit: the loop owns them */
    if (E.sigint) event_free(E.sigint);
    if (E.sigterm) event_free(E.sigterm);
    if (E.lev) evconnlistener_free(E.lev);
    SSL_CTX_free(E.ctx);
    if (E.base) event_base_free(E.base);
    return rc;
usage:
    fprintf(stderr, "usage: sipecho --listen 127.0.0.1:PORT --cert server.pem --key server.key "
                    "--ca ca.pem\n");
    return 2;
}
