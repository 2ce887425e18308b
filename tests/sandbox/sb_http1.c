/*
 * sb_http1.c - HTTPS/1.1 server for the sandbox's MPNS endpoint (libevent
 * evhttp over bufferevent_openssl).
 *
 * Owns the socket side only; sb_router_mpns() decides the answer. Called
 * from sandbox_main.c (setup, teardown) and the event loop.
 *
 * evhttp serves one request at a time per connection, so a delayed answer
 * is one 'struct h1_pending' per connection, freed by its timer or by the
 * connection's close callback, whichever comes first; its delivery is
 * recorded only when the timer sends the answer.
 */
#include <ctype.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "sb_hold.h"
#include "sb_http1.h"
#include "sb_listen.h"
#include "sb_record.h"
#include "sb_router.h"
#include "sb_tls.h"

#define H1_MAX_HDRS 64

struct sb_http1 {
    struct sb_ctx *ctx;
    SSL_CTX *tls;
    struct evhttp *http;
};

/*
 * A delayed answer keeps what recording its delivery needs: the request
 * view (method, path, body and header values stay owned by the evhttp
 * request, alive until the reply) and the lower-cased header names.
 */
struct h1_pending {
    struct sb_http1 *srv;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    struct event *timer;
    struct sb_resp resp;
    struct sb_buf body;
    struct sb_buf token;
    struct sb_buf names;
    struct sb_hdr hdrs[H1_MAX_HDRS];
    struct sb_req view;
    struct sb_held held;       /* answered at /_sandbox/release, not by the timer */
};

static const char *h1_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 412: return "Precondition Failed";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    }
    return "Status";
}

static void h1_send(struct evhttp_request *req, const struct sb_resp *resp, const struct sb_buf *body)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    for (size_t i = 0; i < resp->nhdrs; i++)
        evhttp_add_header(out, resp->hdrs[i].name, resp->hdrs[i].value);
    struct evbuffer *b = NULL;
    if (body->len > 0 && (b = evbuffer_new()) != NULL)
        evbuffer_add(b, body->p, body->len);
    evhttp_send_reply(req, resp->status, h1_reason(resp->status), b);
    if (b != NULL)
        evbuffer_free(b);
}

static void pending_free(struct h1_pending *p)
{
    sb_hold_remove(p->srv->ctx, &p->held);
    event_free(p->timer);
    sb_buf_free(&p->body);
    sb_buf_free(&p->token);
    sb_buf_free(&p->names);
    free(p);
}

static void pending_close_cb(struct evhttp_connection *evcon, void *arg)
{
    struct h1_pending *p = arg;
    evhttp_connection_set_closecb(evcon, NULL, NULL);
    if (evtimer_pending(p->timer, NULL))
        p->srv->ctx->stats.delayed--;     /* dropped with its connection, never answered */
    pending_free(p);
}

/*
 * h1_peer_gone: the client closed its side while we held its answer back.
 * evhttp does not read while a reply is pending, so it cannot tell; POLLRDHUP
 * can, even with unread bytes (a TLS close_notify) queued before the FIN.
 */
static int h1_peer_gone(struct evhttp_connection *evcon)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    struct pollfd pfd = { .fd = fd, .events = POLLRDHUP };
    if (fd < 0)
        return 1;
    return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static void pending_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct h1_pending *p = arg;
    if (what & EV_TIMEOUT)
        p->srv->ctx->stats.delayed--;     /* the timer fired, not a release */
    evhttp_connection_set_closecb(p->evcon, NULL, NULL);
    if (p->resp.deliver && !h1_peer_gone(p->evcon))
        sb_delivered(p->srv->ctx, p->resp.provider, p->token.p, &p->view);
    h1_send(p->req, &p->resp, &p->body);
    pending_free(p);
}

/* pending_release answers a request the hold gate kept back, as the timer would. */
static void pending_release(struct sb_held *h)
{
    pending_timer_cb(-1, 0, (struct h1_pending *)((char *)h - offsetof(struct h1_pending, held)));
}

/* The buffers and views a request callback lends to the router. */
struct h1_call {
    struct sb_buf names, body, token;
    struct sb_hdr hdrs[H1_MAX_HDRS];
    struct sb_req view;
};

/*
 * h1_delay answers 'req' after resp->delay_ms, or at /_sandbox/release when
 * the act is SB_ACT_HOLD, taking over the buffers of 'call'; falls back to
 * answering (and recording) now.
 */
static void h1_delay(struct sb_http1 *h, struct evhttp_request *req, const struct sb_resp *resp,
                     struct h1_call *call)
{
    struct h1_pending *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->timer = evtimer_new(h->ctx->base, pending_timer_cb, p)) == NULL) {
        free(p);
        if (resp->deliver)
            sb_delivered(h->ctx, resp->provider, call->token.p, &call->view);
        h1_send(req, resp, &call->body);
        return;
    }
    p->srv = h;
    p->req = req;
    p->evcon = evhttp_request_get_connection(req);
    p->resp = *resp;
    /* buffers move by value: their memory, and the names the views point into, stay put */
    p->body = call->body;
    p->token = call->token;
    p->names = call->names;
    memset(&call->body, 0, sizeof(call->body));
    memset(&call->token, 0, sizeof(call->token));
    memset(&call->names, 0, sizeof(call->names));
    memcpy(p->hdrs, call->hdrs, sizeof(p->hdrs));
    p->view = call->view;
    p->view.hdrs = p->hdrs;
    p->resp.body = &p->body;
    p->resp.token = &p->token;
    evhttp_connection_set_closecb(p->evcon, pending_close_cb, p);
    if (resp->act == SB_ACT_HOLD) {
        p->held.release = pending_release;
        sb_hold_add(h->ctx, &p->held);
        return;
    }
    struct timeval tv = { resp->delay_ms / 1000, (resp->delay_ms % 1000) * 1000 };
    evtimer_add(p->timer, &tv);
    h->ctx->stats.delayed++;
}

static void h1_reset(struct sb_http1 *h, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    struct linger lg = { 1, 0 };
    if (fd >= 0) {
        shutdown(fd, SHUT_WR);   /* earlier answers on this connection go out first (see sb_h2.c) */
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    h->ctx->stats.resets++;
    /* an incoming connection is not touched by evhttp after the request callback */
    evhttp_connection_free(evcon);
}

static const char *h1_method(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    default: return "OTHER";
    }
}

static void h1_request_cb(struct evhttp_request *req, void *arg)
{
    struct sb_http1 *h = arg;
    struct h1_call call = { 0 };
    size_t offs[H1_MAX_HDRS];
    size_t n = 0;

    /* header names are lower-cased into one buffer, values borrowed from evhttp */
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next) {
        if (n >= H1_MAX_HDRS)
            break;
        offs[n] = call.names.len;
        if (sb_buf_append(&call.names, kv->key, strlen(kv->key) + 1) != 0)
            break;
        for (char *c = call.names.p + offs[n]; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        call.hdrs[n++].value = kv->value;
    }
    for (size_t i = 0; i < n; i++)
        call.hdrs[i].name = call.names.p + offs[i];

    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t blen = evbuffer_get_length(in);
    call.view = (struct sb_req){ .method = h1_method(evhttp_request_get_command(req)),
                                 .path = evhttp_request_get_uri(req), .hdrs = call.hdrs,
                                 .nhdrs = n,
                                 .body = blen ? (const char *)evbuffer_pullup(in, -1) : "",
                                 .bodylen = blen };
    struct sb_resp resp = { .status = 500, .act = SB_ACT_ANSWER, .body = &call.body,
                            .token = &call.token };
    sb_router_mpns(h->ctx, &call.view, &resp);

    if (resp.act == SB_ACT_RESET)
        h1_reset(h, req);
    else if (resp.delay_ms > 0 || resp.act == SB_ACT_HOLD)
        h1_delay(h, req, &resp, &call);
    else
        h1_send(req, &resp, &call.body);
    sb_buf_free(&call.names);
    sb_buf_free(&call.body);
    sb_buf_free(&call.token);
}

static struct bufferevent *h1_bev_cb(struct event_base *base, void *arg)
{
    struct sb_http1 *h = arg;
    SSL *ssl = SSL_new(h->tls);
    if (ssl == NULL)
        return NULL;
    struct bufferevent *bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                             BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL)
        SSL_free(ssl);
    return bev;
}

int sb_http1_new(struct sb_ctx *ctx, struct sb_http1 **out, int *port)
{
    int rc = PR_ENOMEM;
    struct evconnlistener *l = NULL;
    struct sb_http1 *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return PR_ENOMEM;
    h->ctx = ctx;
    h->http = evhttp_new(ctx->base);
    if (h->http == NULL)
        goto fail;
    rc = PR_ETLS;
    h->tls = sb_tls_server_ctx(ctx->opts->cert, ctx->opts->key, "http/1.1");
    if (h->tls == NULL)
        goto fail;
    evhttp_set_bevcb(h->http, h1_bev_cb, h);
    evhttp_set_gencb(h->http, h1_request_cb, h);
    evhttp_set_max_body_size(h->http, SB_BODY_MAX);
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
    rc = sb_listen(ctx->base, ctx->opts->mpns_listen, NULL, NULL, &l, port);
    if (rc != 0)
        goto fail;
    rc = PR_EIO;
    if (evhttp_bind_listener(h->http, l) == NULL) {
        evconnlistener_free(l);
        goto fail;
    }
    *out = h;
    return 0;
fail:
    sb_http1_free(h);
    return rc;
}

void sb_http1_free(struct sb_http1 *h)
{
    if (h == NULL)
        return;
    if (h->http != NULL)
        evhttp_free(h->http);
    SSL_CTX_free(h->tls);
    free(h);
}
