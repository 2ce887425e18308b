/*
 * sb_http1.c - HTTPS/1.1 server for the sandbox's MPNS endpoint (libevent
 * evhttp over bufferevent_openssl).
 *
 * Owns the socket side only; sb_router_mpns() decides the answer. Called
 * from sandbox_main.c (setup, teardown) and the event loop.
 *
 * evhttp serves one request at a time per connection, so a delayed answer
 * is one 'struct h1_pending' per connection, freed by its timer or by the
 * connection's close callback, whichever comes first.
 */
#include <ctype.h>
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
#include "sb_http1.h"
#include "sb_listen.h"
#include "sb_router.h"
#include "sb_tls.h"

#define H1_MAX_HDRS 64

struct sb_http1 {
    struct sb_ctx *ctx;
    SSL_CTX *tls;
    struct evhttp *http;
};

struct h1_pending {
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    struct event *timer;
    struct sb_resp resp;
    struct sb_buf body;
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
    event_free(p->timer);
    sb_buf_free(&p->body);
    free(p);
}

static void pending_close_cb(struct evhttp_connection *evcon, void *arg)
{
    evhttp_connection_set_closecb(evcon, NULL, NULL);
    pending_free(arg);
}

static void pending_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct h1_pending *p = arg;
    evhttp_connection_set_closecb(p->evcon, NULL, NULL);
    h1_send(p->req, &p->resp, &p->body);
    pending_free(p);
}

/* h1_delay answers 'req' after resp->delay_ms; falls back to answering now. */
static void h1_delay(struct sb_http1 *h, struct evhttp_request *req, const struct sb_resp *resp,
                     struct sb_buf *body)
{
    struct h1_pending *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->timer = evtimer_new(h->ctx->base, pending_timer_cb, p)) == NULL) {
        free(p);
        h1_send(req, resp, body);
        return;
    }
    p->req = req;
    p->evcon = evhttp_request_get_connection(req);
    p->resp = *resp;
    p->body = *body;          /* takes the buffer's memory */
    memset(body, 0, sizeof(*body));
    p->resp.body = &p->body;
    evhttp_connection_set_closecb(p->evcon, pending_close_cb, p);
    struct timeval tv = { resp->delay_ms / 1000, (resp->delay_ms % 1000) * 1000 };
    evtimer_add(p->timer, &tv);
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
    struct sb_hdr hdrs[H1_MAX_HDRS];
    struct sb_buf names = { 0 }, body = { 0 };
    size_t offs[H1_MAX_HDRS];
    size_t n = 0;

    /* header names are lower-cased into one buffer, values borrowed from evhttp */
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next) {
        if (n >= H1_MAX_HDRS)
            break;
        offs[n] = names.len;
        if (sb_buf_append(&names, kv->key, strlen(kv->key) + 1) != 0)
            break;
        for (char *c = names.p + offs[n]; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        hdrs[n++].value = kv->value;
    }
    for (size_t i = 0; i < n; i++)
        hdrs[i].name = names.p + offs[i];

    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t blen = evbuffer_get_length(in);
    struct sb_req r = { .method = h1_method(evhttp_request_get_command(req)),
                        .path = evhttp_request_get_uri(req), .hdrs = hdrs, .nhdrs = n,
                        .body = blen ? (const char *)evbuffer_pullup(in, -1) : "",
                        .bodylen = blen };
    struct sb_resp resp = { .status = 500, .act = SB_ACT_ANSWER, .body = &body };
    sb_router_mpns(h->ctx, &r, &resp);

    if (resp.act == SB_ACT_RESET)
        h1_reset(h, req);
    else if (resp.delay_ms > 0)
        h1_delay(h, req, &resp, &body);
    else
        h1_send(req, &resp, &body);
    sb_buf_free(&names);
    sb_buf_free(&body);
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
