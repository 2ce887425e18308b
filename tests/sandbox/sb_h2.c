/*
 * sb_h2.c - HTTP/2 server over TLS for pushrelay-sandbox (nghttp2 on
 * libevent bufferevent_openssl).
 *
 * Owns sockets, TLS and HTTP/2 framing only: what a request means is
 * sb_router.c's business. Called from sandbox_main.c (setup, teardown) and
 * the event loop.
 *
 * Memory: a stream's request headers, body and response body live in
 * 'struct h2_stream' buffers that are pooled per server, so a steady load of
 * requests reuses the same memory instead of allocating per request.
 *
 *   h2_conn ──streams──▶ h2_stream ◀──▶ nghttp2 stream user data
 *      │                    │ hdrbuf: "name\0value\0name\0value\0..."
 *      │                    │ body, resp_body (sb_buf, kept when pooled)
 *      └─ bufferevent_openssl (input → nghttp2_session_mem_recv,
 *                              nghttp2 send_callback → output)
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/listener.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "sb_h2.h"
#include "sb_hold.h"
#include "sb_listen.h"
#include "sb_record.h"
#include "sb_router.h"
#include "sb_tls.h"

#define H2_MAX_HDRS 64
#define H2_MAX_HDR_BYTES (16 * 1024)
#define H2_OUTPUT_HIGH (1024 * 1024)      /* stop generating frames above this */
#define H2_CONN_WINDOW (16 * 1024 * 1024)
#define H2_STREAM_WINDOW (1024 * 1024)
#define H2_POOL_MAX 16384                 /* pooled idle streams kept */
#define H2_POOL_BUF_MAX 8192              /* larger stream buffers are freed, not pooled */

struct h2_conn;

struct h2_stream {
    struct h2_conn *conn;
    int32_t id;
    struct h2_stream *prev, *next;       /* conn->streams, or the pool (next only) */
    struct sb_buf hdrbuf;
    uint32_t hoff[H2_MAX_HDRS][2];       /* name/value offsets into hdrbuf */
    size_t nhdrs;
    struct sb_buf body;
    int truncated;
    struct sb_buf resp_body;
    size_t resp_off;
    struct sb_buf token;                 /* device token of a delayed delivery */
    struct sb_resp resp;
    struct event *timer;                 /* delayed answers; created on first use */
    struct sb_held held;                 /* answer held by the gate (sb_hold.h) */
};

struct h2_conn {
    struct sb_h2 *srv;
    struct bufferevent *bev;
    nghttp2_session *ng;
    struct h2_conn *prev, *next;         /* srv->conns */
    struct h2_stream *streams;
    unsigned begun;                      /* request streams started (--goaway-after) */
    int32_t goaway_last;                 /* last stream served once GOAWAY is queued; 0: none */
    int reset_pending;                   /* a behaviour asked to drop the connection */
    struct event *linger;                /* set once done: reading out before closing */
};

struct sb_h2 {
    struct sb_ctx *ctx;
    SSL_CTX *tls;
    struct evconnlistener *listener;
    nghttp2_session_callbacks *cbs;
    nghttp2_option *ngopt;
    struct h2_conn *conns;
    struct h2_stream *pool;
    size_t npool;
};

/* ---- streams ------------------------------------------------------------ */

static struct h2_stream *stream_get(struct h2_conn *c, int32_t id)
{
    struct sb_h2 *srv = c->srv;
    struct h2_stream *s = srv->pool;
    if (s != NULL) {
        srv->pool = s->next;
        srv->npool--;
    } else if ((s = calloc(1, sizeof(*s))) == NULL) {
        return NULL;
    }
    s->conn = c;
    s->id = id;
    s->nhdrs = 0;
    s->truncated = 0;
    s->resp_off = 0;
    sb_buf_reset(&s->hdrbuf);
    sb_buf_reset(&s->body);
    sb_buf_reset(&s->resp_body);
    sb_buf_reset(&s->token);
    s->prev = NULL;
    s->next = c->streams;
    if (c->streams != NULL)
        c->streams->prev = s;
    c->streams = s;
    return s;
}

static void stream_destroy(struct h2_stream *s)
{
    if (s->timer != NULL)
        event_free(s->timer);
    sb_buf_free(&s->hdrbuf);
    sb_buf_free(&s->body);
    sb_buf_free(&s->resp_body);
    sb_buf_free(&s->token);
    free(s);
}

/* stream_put unlinks 's' from its connection and pools it (or frees it). */
static void stream_put(struct h2_stream *s)
{
    struct h2_conn *c = s->conn;
    struct sb_h2 *srv = c->srv;
    if (s->timer != NULL && evtimer_pending(s->timer, NULL)) {
        evtimer_del(s->timer);
        srv->ctx->stats.delayed--;        /* dropped with its stream, never answered */
    }
    sb_hold_remove(srv->ctx, &s->held);   /* a held answer dies with its stream */
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        c->streams = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    s->conn = NULL;
    if (srv->npool >= H2_POOL_MAX) {
        stream_destroy(s);
        return;
    }
    /* buffers that grew for one big request (413 tests) are not kept pooled */
    if (s->hdrbuf.cap > H2_POOL_BUF_MAX)
        sb_buf_free(&s->hdrbuf);
    if (s->body.cap > H2_POOL_BUF_MAX)
        sb_buf_free(&s->body);
    if (s->resp_body.cap > H2_POOL_BUF_MAX)
        sb_buf_free(&s->resp_body);
    if (s->token.cap > H2_POOL_BUF_MAX)
        sb_buf_free(&s->token);
    s->next = srv->pool;
    srv->pool = s;
    srv->npool++;
}

/* ---- connections -------------------------------------------------------- */

static void conn_free(struct h2_conn *c)
{
    struct sb_h2 *srv = c->srv;
    /* nghttp2_session_del runs no stream-close callbacks: release ours here */
    nghttp2_session_del(c->ng);
    if (c->linger != NULL)
        event_free(c->linger);
    while (c->streams != NULL)
        stream_put(c->streams);
    if (c->bev != NULL)
        bufferevent_free(c->bev);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    free(c);
}

/*
 * conn_reset drops the TCP connection abruptly, without answering (behaviour
 * c<N>): no GOAWAY, no TLS close_notify, an RST. A FIN is pushed first so
 * that answers to earlier streams, which the kernel may still hold back
 * (autocorking), reach the client instead of being discarded by the RST.
 */
static void conn_reset(struct h2_conn *c)
{
    struct linger lg = { 1, 0 };
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (fd >= 0) {
        shutdown(fd, SHUT_WR);
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    c->srv->ctx->stats.resets++;
    conn_free(c);
}

static void conn_linger_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_free(arg);
}

/*
 * conn_linger ends a finished connection (after GOAWAY) the way a real
 * server does: FIN first, then what the client still sends is read and
 * dropped until it closes (or 2 s pass). Closing with unread input would
 * make the kernel send an RST, and the client would lose answers it had
 * not read yet, then deliver them again.
 */
static void conn_linger(struct h2_conn *c)
{
    struct timeval tv = { 2, 0 };
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (c->linger != NULL)
        return;
    c->linger = evtimer_new(bufferevent_get_base(c->bev), conn_linger_cb, c);
    if (c->linger == NULL || fd < 0) {
        conn_free(c);
        return;
    }
    shutdown(fd, SHUT_WR);
    evtimer_add(c->linger, &tv);
}

/*
 * conn_flush lets nghttp2 write what it has queued; returns -1 when the
 * connection was freed (done, broken or reset), 0 otherwise.
 *
 * A connection waiting to be reset first sends the answers already made
 * for streams that came before the resetting one: only the resetting
 * request and those after it lose their answer, as when a real server
 * crashes mid-connection, and a client's earlier deliveries are not
 * mistaken for lost ones.
 */
static int conn_flush(struct h2_conn *c)
{
    if (nghttp2_session_send(c->ng) != 0) {
        conn_free(c);
        return -1;
    }
    int drained = evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
    if (c->reset_pending) {
        if (!drained)
            return 0;
        conn_reset(c);
        return -1;
    }
    if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng) && drained) {
        conn_linger(c);
        return -1;
    }
    return 0;
}

/* ---- answers ------------------------------------------------------------ */

static ssize_t h2_body_read(nghttp2_session *ng, int32_t stream_id, uint8_t *buf, size_t length,
                            uint32_t *flags, nghttp2_data_source *source, void *user)
{
    (void)ng;
    (void)stream_id;
    (void)user;
    struct h2_stream *s = source->ptr;
    size_t left = s->resp_body.len - s->resp_off;
    size_t n = left < length ? left : length;
    memcpy(buf, s->resp_body.p + s->resp_off, n);
    s->resp_off += n;
    if (s->resp_off == s->resp_body.len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static void stream_answer(struct h2_stream *s)
{
    struct sb_resp *r = &s->resp;
    nghttp2_nv nv[SB_RESP_HDRS + 2];
    char status[8];
    char clen[24];
    size_t n = 0;

    snprintf(status, sizeof(status), "%03d", r->status % 1000);
    nv[n++] = (nghttp2_nv){ (uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE };
    for (size_t i = 0; i < r->nhdrs; i++)
        nv[n++] = (nghttp2_nv){ (uint8_t *)r->hdrs[i].name, (uint8_t *)r->hdrs[i].value,
                                strlen(r->hdrs[i].name), strlen(r->hdrs[i].value),
                                NGHTTP2_NV_FLAG_NONE };
    int clen_n = snprintf(clen, sizeof(clen), "%zu", s->resp_body.len);
    nv[n++] = (nghttp2_nv){ (uint8_t *)"content-length", (uint8_t *)clen, 14, (size_t)clen_n,
                            NGHTTP2_NV_FLAG_NONE };
    nghttp2_data_provider prd = { .source = { .ptr = s }, .read_callback = h2_body_read };
    int rv = nghttp2_submit_response(s->conn->ng, s->id, nv, n,
                                     s->resp_body.len > 0 ? &prd : NULL);
    if (rv != 0)
        pr_log_warn("sandbox", "h2: cannot answer stream %d: %s", s->id, nghttp2_strerror(rv));
}

/* stream_req points 'req' at the request held by 's' ('hdrs' has H2_MAX_HDRS slots). */
static void stream_req(struct h2_stream *s, struct sb_req *req, struct sb_hdr *hdrs)
{
    *req = (struct sb_req){ .method = "", .path = "", .hdrs = hdrs, .nhdrs = s->nhdrs,
                            .body = s->body.p ? s->body.p : "", .bodylen = s->body.len,
                            .body_truncated = s->truncated };
    for (size_t i = 0; i < s->nhdrs; i++) {
        hdrs[i].name = s->hdrbuf.p + s->hoff[i][0];
        hdrs[i].value = s->hdrbuf.p + s->hoff[i][1];
        if (strcmp(hdrs[i].name, ":method") == 0)
            req->method = hdrs[i].value;
        else if (strcmp(hdrs[i].name, ":path") == 0)
            req->path = hdrs[i].value;
    }
}

static void stream_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct h2_stream *s = arg;
    struct h2_conn *c = s->conn;
    if (what & EV_TIMEOUT)
        c->srv->ctx->stats.delayed--;     /* a timer fired, not a release */
    if (s->resp.deliver) {
        struct sb_hdr hdrs[H2_MAX_HDRS];
        struct sb_req req;
        stream_req(s, &req, hdrs);
        sb_delivered(c->srv->ctx, s->resp.provider, s->token.p, &req);
    }
    stream_answer(s);
    conn_flush(c);
}

/* stream_release answers a stream the hold gate kept back, as a timer would. */
static void stream_release(struct sb_held *h)
{
    struct h2_stream *s = (struct h2_stream *)((char *)h - offsetof(struct h2_stream, held));
    stream_timer_cb(-1, 0, s);
}

/*
 * stream_dispatch routes the complete request on 's'. Returns 0, or -1 when
 * the connection must be reset (the caller stops reading frames).
 */
static int stream_dispatch(struct h2_stream *s)
{
    struct sb_hdr hdrs[H2_MAX_HDRS];
    struct sb_req req;
    stream_req(s, &req, hdrs);
    struct sb_resp *r = &s->resp;
    r->status = 500;
    r->act = SB_ACT_ANSWER;
    r->delay_ms = 0;
    r->nhdrs = 0;
    r->body = &s->resp_body;
    r->deliver = 0;
    r->token = &s->token;
    sb_router_h2(s->conn->srv->ctx, &req, r);

    if (r->act == SB_ACT_RESET)
        return -1;
    if (r->act == SB_ACT_HOLD) {
        s->held.release = stream_release;
        sb_hold_add(s->conn->srv->ctx, &s->held);
        return 0;
    }
    if (r->delay_ms > 0) {
        if (s->timer == NULL)
            s->timer = evtimer_new(s->conn->srv->ctx->base, stream_timer_cb, s);
        if (s->timer != NULL) {
            struct timeval tv = { r->delay_ms / 1000, (r->delay_ms % 1000) * 1000 };
            evtimer_add(s->timer, &tv);
            s->conn->srv->ctx->stats.delayed++;
            return 0;
        }
        if (r->deliver)   /* no timer: answer now, and the delivery with it */
            sb_delivered(s->conn->srv->ctx, r->provider, s->token.p, &req);
    }
    stream_answer(s);
    return 0;
}

/* ---- nghttp2 callbacks --------------------------------------------------- */

static ssize_t h2_send(nghttp2_session *ng, const uint8_t *data, size_t len, int flags, void *user)
{
    (void)ng;
    (void)flags;
    struct h2_conn *c = user;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (evbuffer_get_length(out) >= H2_OUTPUT_HIGH)
        return NGHTTP2_ERR_WOULDBLOCK;
    if (evbuffer_add(out, data, len) != 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    return (ssize_t)len;
}

static int h2_begin_headers(nghttp2_session *ng, const nghttp2_frame *frame, void *user)
{
    struct h2_conn *c = user;
    int32_t id = frame->hd.stream_id;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST ||
        c->reset_pending)
        return 0;
    /*
     * Streams past our GOAWAY's last-stream-id may still be in this read
     * (the GOAWAY is only queued): refuse them explicitly, so that the
     * client knows they were not processed and may retry them elsewhere.
     */
    if (c->goaway_last != 0 && id > c->goaway_last) {
        nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    struct h2_stream *s = stream_get(c, id);
    if (s == NULL)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;   /* resets just this stream */
    nghttp2_session_set_stream_user_data(ng, id, s);
    unsigned after = c->srv->ctx->opts->goaway_after;
    if (after > 0 && ++c->begun == after) {
        c->goaway_last = id;
        nghttp2_submit_goaway(ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR, NULL, 0);
    }
    return 0;
}

static int h2_header(nghttp2_session *ng, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    (void)flags;
    (void)user;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    if (s == NULL || s->nhdrs >= H2_MAX_HDRS ||
        s->hdrbuf.len + namelen + valuelen + 2 > H2_MAX_HDR_BYTES)
        return 0;   /* extra headers are ignored, like a proxy with limits would */
    uint32_t noff = (uint32_t)s->hdrbuf.len;
    if (sb_buf_append(&s->hdrbuf, name, namelen) != 0 || sb_buf_append(&s->hdrbuf, "", 1) != 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    uint32_t voff = (uint32_t)s->hdrbuf.len;
    if (sb_buf_append(&s->hdrbuf, value, valuelen) != 0 || sb_buf_append(&s->hdrbuf, "", 1) != 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    s->hoff[s->nhdrs][0] = noff;
    s->hoff[s->nhdrs][1] = voff;
    s->nhdrs++;
    return 0;
}

static int h2_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user)
{
    (void)flags;
    (void)user;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, stream_id);
    if (s == NULL)
        return 0;
    if (s->body.len + len > SB_BODY_MAX) {
        s->truncated = 1;
        return 0;
    }
    if (sb_buf_append(&s->body, data, len) != 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return 0;
}

static int h2_frame_recv(nghttp2_session *ng, const nghttp2_frame *frame, void *user)
{
    struct h2_conn *c = user;
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, frame->hd.stream_id);
    /* once a reset is decided, later requests in this read are not processed */
    if (s == NULL || c->reset_pending)
        return 0;
    if (stream_dispatch(s) != 0)
        c->reset_pending = 1;
    return 0;
}

static int h2_stream_close(nghttp2_session *ng, int32_t stream_id, uint32_t error_code, void *user)
{
    (void)error_code;
    (void)user;
    struct h2_stream *s = nghttp2_session_get_stream_user_data(ng, stream_id);
    if (s != NULL) {
        nghttp2_session_set_stream_user_data(ng, stream_id, NULL);
        stream_put(s);
    }
    return 0;
}

/* ---- socket events -------------------------------------------------------- */

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct h2_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_iovec vec[16];
    int n;
    if (c->linger != NULL) {    /* done: read out and drop until the client closes */
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    /* feed the input chunk by chunk: no pullup copy of a large backlog */
    while ((n = evbuffer_peek(in, -1, NULL, vec, 16)) > 0) {
        size_t used = 0;
        for (int i = 0; i < n && i < 16; i++) {
            ssize_t rv = nghttp2_session_mem_recv(c->ng, vec[i].iov_base, vec[i].iov_len);
            if (rv < 0) {
                conn_free(c);
                return;
            }
            if (c->reset_pending) {
                /* stop reading; conn_flush resets once earlier answers are out */
                bufferevent_disable(bev, EV_READ);
                conn_flush(c);
                return;
            }
            used += (size_t)rv;
        }
        evbuffer_drain(in, used);
    }
    conn_flush(c);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct h2_conn *c = arg;
    if (c->linger == NULL)
        conn_flush(c);
}

static void conn_event_cb(struct bufferevent *bev, short events, void *arg)
{
    (void)bev;
    struct h2_conn *c = arg;
    if (events & BEV_EVENT_CONNECTED)
        return;
    if (events & BEV_EVENT_ERROR) {
        unsigned long e = bufferevent_get_openssl_error(c->bev);
        if (e != 0)
            pr_log_debug("sandbox", "h2: TLS error: %s", ERR_reason_error_string(e));
    }
    conn_free(c);
}

static void h2_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                         int salen, void *arg)
{
    (void)l;
    (void)sa;
    (void)salen;
    struct sb_h2 *srv = arg;
    struct h2_conn *c = calloc(1, sizeof(*c));
    SSL *ssl = SSL_new(srv->tls);
    if (c == NULL || ssl == NULL)
        goto fail;
    c->srv = srv;
    c->bev = bufferevent_openssl_socket_new(srv->ctx->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL)
        goto fail;
    ssl = NULL;   /* owned by the bufferevent */
    fd = -1;
    if (nghttp2_session_server_new2(&c->ng, srv->cbs, c, srv->ngopt) != 0)
        goto fail;
    nghttp2_settings_entry iv[] = {
        { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, srv->ctx->opts->max_concurrent_streams },
        { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW },
    };
    if (nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, 2) != 0 ||
        nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW) != 0)
        goto fail;
    c->next = srv->conns;
    if (srv->conns != NULL)
        srv->conns->prev = c;
    srv->conns = c;
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    conn_flush(c);
    return;
fail:
    pr_log_warn("sandbox", "h2: cannot set up a connection");
    if (c != NULL) {
        nghttp2_session_del(c->ng);
        if (c->bev != NULL)
            bufferevent_free(c->bev);
        free(c);
    }
    SSL_free(ssl);
    if (fd >= 0)
        evutil_closesocket(fd);
}

/* ---- setup ------------------------------------------------------------------- */

int sb_h2_new(struct sb_ctx *ctx, struct sb_h2 **out, int *port)
{
    int rc = PR_ENOMEM;
    struct sb_h2 *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return PR_ENOMEM;
    h->ctx = ctx;
    if (nghttp2_session_callbacks_new(&h->cbs) != 0 || nghttp2_option_new(&h->ngopt) != 0)
        goto fail;
    nghttp2_session_callbacks_set_send_callback(h->cbs, h2_send);
    nghttp2_session_callbacks_set_on_begin_headers_callback(h->cbs, h2_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(h->cbs, h2_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(h->cbs, h2_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(h->cbs, h2_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(h->cbs, h2_stream_close);
    /* closed streams need no priority bookkeeping here: less memory under load */
    nghttp2_option_set_no_closed_streams(h->ngopt, 1);
    rc = PR_ETLS;
    h->tls = sb_tls_server_ctx(ctx->opts->cert, ctx->opts->key, "h2");
    if (h->tls == NULL)
        goto fail;
    rc = sb_listen(ctx->base, ctx->opts->listen, h2_accept_cb, h, &h->listener, port);
    if (rc != 0)
        goto fail;
    *out = h;
    return 0;
fail:
    sb_h2_free(h);
    return rc;
}

void sb_h2_free(struct sb_h2 *h)
{
    if (h == NULL)
        return;
    if (h->listener != NULL)
        evconnlistener_free(h->listener);
    while (h->conns != NULL)
        conn_free(h->conns);
    while (h->pool != NULL) {
        struct h2_stream *s = h->pool;
        h->pool = s->next;
        stream_destroy(s);
    }
    nghttp2_session_callbacks_del(h->cbs);
    nghttp2_option_del(h->ngopt);
    SSL_CTX_free(h->tls);
    free(h);
}
