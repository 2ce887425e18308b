/*
 * h2c.c - the HTTP/2 client connection layer (see h2c.h): a FIFO of
 * requests, a pool of TLS connections each driving one nghttp2 session, and
 * the rules that keep requests safe across connection churn.
 *
 * Used by relay/apns.c, relay/fcm.c and relay/oauth.c. It does no DNS on the
 * loop's thread (numeric hosts connect directly; names go through evdns) and
 * never blocks.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event_struct.h>
#include <event2/util.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>

#include "pushrelay/clock.h"
#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "egress.h"
#include "h2c.h"

#define H2C_DEFAULT_CONNECTIONS 2
#define H2C_DEFAULT_MAX_QUEUED 16384
#define H2C_DEFAULT_MAX_BODY 16384
#define H2C_DEFAULT_TIMEOUT_MS 30000
#define H2C_CONNECT_TIMEOUT_MS 10000
#define H2C_PING_IDLE_MS 30000       /* PING after this long without reading */
#define H2C_PING_TIMEOUT_MS 10000    /* and drop the connection if no ACK by then */
/*
 * Connection deaths (reset, TLS error, no PING answer) a request may be in
 * flight for before it is taken for their cause and completes "connection
 * lost" (which the dispatcher counts as an attempt). See conn_close.
 */
#define H2C_DEATHS_CHARGE 2
/*
 * A stream unanswered this long is stalled: when stalled streams hold the
 * pool's stream slots, an overflow connection takes the requests queued
 * behind them (overflow_consider).
 */
#define H2C_STALL_MS 5000
#define H2C_BACKOFF_MIN_MS 100
#define H2C_BACKOFF_MAX_MS 30000
#define H2C_CONN_WINDOW (1 << 30)    /* connection receive window */
#define H2C_OUTPUT_HIGH (1024 * 1024) /* stop serialising frames above this much unsent */
#define H2C_CAPBUF 96                   /* captured header values kept inside the request */

/* The PING timings of every client (h2c_set_ping). */
static int ping_idle_ms = H2C_PING_IDLE_MS, ping_timeout_ms = H2C_PING_TIMEOUT_MS;

void h2c_set_ping(int idle_ms, int timeout_ms)
{
    ping_idle_ms = idle_ms > 0 ? idle_ms : H2C_PING_IDLE_MS;
    ping_timeout_ms = timeout_ms > 0 ? timeout_ms : H2C_PING_TIMEOUT_MS;
}

/* ------------------------------------------------------------------------
 * Types
 * ------------------------------------------------------------------------ */

enum conn_state {
    CONN_IDLE = 0,      /* no socket; opened when requests wait */
    CONN_CONNECTING,    /* [proxy tunnel,] TCP + TLS handshake, then the server's SETTINGS */
    CONN_READY,         /* streams may be opened */
    CONN_DRAINING,      /* GOAWAY received: finish open streams, then close */
    CONN_BACKOFF,       /* failed: reconnect when the timer fires */
};

struct h2c_req;
TAILQ_HEAD(req_list, h2c_req);

struct h2c_conn {
    struct h2c *c;
    int index;
    enum conn_state state;
    struct bufferevent *bev;
    struct egress_tunnel *tunnel;   /* CONNECT through the proxy, before 'bev' exists */
    nghttp2_session *session;
    struct req_list streams;        /* requests submitted on this connection */
    int in_flight;
    int suspects;                   /* of them, requests already in a connection death */
    struct event *timer;            /* connect timeout, PING, reconnect */
    int backoff_ms;
    int ping_outstanding;
    int64_t last_read_us;
};

struct h2c_req {
    TAILQ_ENTRY(h2c_req) link;      /* in c->queue or conn->streams */
    struct h2c *c;
    struct h2c_conn *conn;          /* NULL while queued */
    int32_t stream_id;
    nghttp2_nv *nva;
    size_t nvlen;
    const uint8_t *body;            /* points into this allocation */
    size_t body_len;
    size_t body_off;
    /*
     * Inside the request (event_assign), not one more allocation each:
     * a delivery's timer is set up and torn down once per request.
     */
    struct event timer;
    h2c_done_cb cb;
    void *arg;
    int64_t sent_us;
    int status;
    int headers_sent;               /* HEADERS left us: the server may have acted */
    int done;                       /* callback already called */
    int deaths;                     /* consecutive connection deaths it was in flight for */
    char *captured[H2C_CAPTURE_MAX];
    /*
     * Captured values short enough live here (APNs' apns-id on every
     * answer): not one malloc/free per answer. Longer ones are malloc'd.
     */
    char capbuf[H2C_CAPBUF];
    size_t capused;
    char *rbody;
    size_t rlen;
};

struct h2c {
    struct event_base *base;
    struct evdns_base *dns;         /* created on first use for a host name */
    struct egress *egress;          /* the proxy, or NULL: direct */
    SSL_CTX *ssl_ctx;
    char *host;
    char *authority;
    uint16_t port;
    int host_numeric;
    struct sockaddr_storage addr;
    int addrlen;
    int max_queued;
    size_t max_body;
    char *capture[H2C_CAPTURE_MAX];
    int n_capture;
    char log_name[32];
    struct req_list queue;
    int queued;
    struct event *kick;             /* the dispatcher, once per loop turn; timed: overflow_consider */
    struct h2c_conn *conns;         /* the pool, then as many overflow connections */
    int n_base;                     /* the pool's size (options.connections) */
    int n_conns;                    /* 2 x n_base */
    int closing;
};

static void kick_schedule(struct h2c *c);
static void conn_close(struct h2c_conn *conn, const char *why, int graceful);
static int conn_flush(struct h2c_conn *conn);

static void timer_arm(struct event *ev, int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    evtimer_add(ev, &tv);
}

/* ------------------------------------------------------------------------
 * Requests: one allocation holds the struct, the header block and the body
 *
 *   [struct h2c_req][nghttp2_nv x nvlen][name\0value\0 ...][body]
 * ------------------------------------------------------------------------ */

/* req_captured_own: 'v' is a captured value of 'r' that is not in its capbuf (malloc'd). */
static int req_captured_own(const struct h2c_req *r, const char *v)
{
    return (uintptr_t)v - (uintptr_t)r->capbuf >= sizeof(r->capbuf);
}

static void req_reset_answer(struct h2c_req *r)
{
    for (int i = 0; i < H2C_CAPTURE_MAX; i++) {
        if (req_captured_own(r, r->captured[i]))
            free(r->captured[i]);
        r->captured[i] = NULL;
    }
    r->capused = 0;
    free(r->rbody);
    r->rbody = NULL;
    r->rlen = 0;
    r->status = 0;
    r->body_off = 0;
    r->headers_sent = 0;
    r->sent_us = 0;
    r->stream_id = 0;
    r->conn = NULL;
}

static void req_free(struct h2c_req *r)
{
    if (r == NULL)
        return;
    req_reset_answer(r);
    evtimer_del(&r->timer);
    free(r);
}

/*
 * req_complete calls the request's callback once. It neither frees the
 * request nor unlinks it: the caller owns where the request lives.
 */
static void req_complete(struct h2c_req *r, int status, const char *error)
{
    if (r->done)
        return;
    r->done = 1;
    evtimer_del(&r->timer);
    struct h2c_response res;
    memset(&res, 0, sizeof(res));
    res.status = status;
    res.error = status == 0 ? error : NULL;
    for (int i = 0; i < H2C_CAPTURE_MAX; i++)
        res.captured[i] = status == 0 ? NULL : r->captured[i];
    res.body = status != 0 && r->rbody != NULL ? r->rbody : "";
    res.body_len = status != 0 ? r->rlen : 0;
    res.rtt_us = r->sent_us != 0 ? pr_mono_us() - r->sent_us : 0;
    r->cb(r->arg, &res);
}

static void nv_set(nghttp2_nv *nv, char **cursor, const char *name, const char *value,
                   int unique)
{
    size_t nl = strlen(name), vl = strlen(value);
    char *p = *cursor;
    memcpy(p, name, nl + 1);
    memcpy(p + nl + 1, value, vl + 1);
    nv->name = (uint8_t *)p;
    nv->namelen = nl;
    nv->value = (uint8_t *)(p + nl + 1);
    nv->valuelen = vl;
    nv->flags = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE |
                (unique ? NGHTTP2_NV_FLAG_NO_INDEX : 0);
    *cursor = p + nl + vl + 2;
}

static void req_timeout_cb(evutil_socket_t fd, short what, void *arg);

/* conn_unlink takes 'r' off the streams of its connection. */
static void conn_unlink(struct h2c_conn *conn, struct h2c_req *r)
{
    TAILQ_REMOVE(&conn->streams, r, link);
    conn->in_flight--;
    if (r->deaths > 0)
        conn->suspects--;
}

static struct h2c_req *req_new(struct h2c *c, const struct h2c_request *in,
                               h2c_done_cb cb, void *arg)
{
    const char *pseudo[4][2] = { { ":method", in->method }, { ":scheme", "https" },
                                 { ":authority", c->authority }, { ":path", in->path } };
    size_t nvlen = 4 + in->n_headers, strbytes = 0;
    for (int i = 0; i < 4; i++)
        strbytes += strlen(pseudo[i][0]) + strlen(pseudo[i][1]) + 2;
    for (size_t i = 0; i < in->n_headers; i++)
        strbytes += strlen(in->headers[i].name) + strlen(in->headers[i].value) + 2;

    struct h2c_req *r = calloc(1, sizeof(*r) + nvlen * sizeof(nghttp2_nv) + strbytes +
                                      in->body_len);
    if (r == NULL)
        return NULL;
    r->c = c;
    r->cb = cb;
    r->arg = arg;
    r->nva = (nghttp2_nv *)(r + 1);
    r->nvlen = nvlen;
    char *cursor = (char *)(r->nva + nvlen);
    for (int i = 0; i < 4; i++)
        nv_set(&r->nva[i], &cursor, pseudo[i][0], pseudo[i][1],
               i == 3 && (in->unique & H2C_UNIQUE_PATH));
    for (size_t i = 0; i < in->n_headers; i++)
        nv_set(&r->nva[4 + i], &cursor, in->headers[i].name, in->headers[i].value,
               i < 31 && (in->unique & 1u << i));
    if (in->body_len > 0)
        memcpy(cursor, in->body, in->body_len);
    r->body = (const uint8_t *)cursor;
    r->body_len = in->body_len;

    if (evtimer_assign(&r->timer, c->base, req_timeout_cb, r) != 0) {
        free(r);
        return NULL;
    }
    timer_arm(&r->timer, in->timeout_ms > 0 ? in->timeout_ms : H2C_DEFAULT_TIMEOUT_MS);
    return r;
}

/*
 * conn_probe asks a connection that left a request unanswered whether it is
 * alive: a PING now, and the connection is replaced when no ACK comes
 * within the PING timeout (conn_timer_cb), instead of waiting for the
 * idle PING that a connection still carrying other traffic never gets.
 */
static void conn_probe(struct h2c_conn *conn)
{
    if ((conn->state != CONN_READY && conn->state != CONN_DRAINING) || conn->ping_outstanding)
        return;
    if (nghttp2_submit_ping(conn->session, NGHTTP2_FLAG_NONE, NULL) != 0)
        return;
    conn->ping_outstanding = 1;
    pr_log_debug(conn->c->log_name, "connection %d: a request timed out, PING", conn->index);
    timer_arm(conn->timer, ping_timeout_ms);
}

/*
 * A request's deadline passed. Queued: it leaves the queue now. On a stream:
 * the stream is cancelled at once (RST_STREAM goes out in this flush, and
 * nghttp2 closes the stream as it does, freeing its slot) and the request is
 * freed when nghttp2 closes it; the connection is asked for a PING.
 */
static void req_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct h2c_req *r = arg;
    struct h2c *c = r->c;
    (void)fd;
    (void)what;
    if (r->conn == NULL) {
        TAILQ_REMOVE(&c->queue, r, link);
        c->queued--;
        req_complete(r, 0, "timeout");
        req_free(r);
        return;
    }
    struct h2c_conn *conn = r->conn;
    req_complete(r, 0, "timeout");
    nghttp2_submit_rst_stream(conn->session, NGHTTP2_FLAG_NONE, r->stream_id, NGHTTP2_CANCEL);
    conn_probe(conn);
    if (conn_flush(conn) < 0)
        conn_close(conn, "connection lost", 0);
}

/* Put a request that never reached the server back at the head of the queue. */
static void req_requeue(struct h2c_req *r)
{
    struct h2c *c = r->c;
    req_reset_answer(r);
    TAILQ_INSERT_HEAD(&c->queue, r, link);
    c->queued++;
    kick_schedule(c);
}

/* ------------------------------------------------------------------------
 * nghttp2 callbacks
 * ------------------------------------------------------------------------ */

static ssize_t body_read_cb(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                            size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                            void *user_data)
{
    struct h2c_req *r = source->ptr;
    (void)session;
    (void)stream_id;
    (void)user_data;
    size_t n = r->body_len - r->body_off;
    if (n > length)
        n = length;
    memcpy(buf, r->body + r->body_off, n);
    r->body_off += n;
    if (r->body_off == r->body_len)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int on_header_cb(nghttp2_session *session, const nghttp2_frame *frame,
                        const uint8_t *name, size_t namelen, const uint8_t *value,
                        size_t valuelen, uint8_t flags, void *user_data)
{
    struct h2c_conn *conn = user_data;
    (void)flags;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    struct h2c_req *r = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (r == NULL)
        return 0;
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        int status = 0;
        for (size_t i = 0; i < valuelen && value[i] >= '0' && value[i] <= '9'; i++)
            status = status * 10 + (value[i] - '0');
        /* 1xx are interim; the final status replaces them. */
        r->status = status;
        return 0;
    }
    for (int i = 0; i < conn->c->n_capture; i++) {
        const char *want = conn->c->capture[i];
        if (strlen(want) == namelen && memcmp(want, name, namelen) == 0 &&
            r->captured[i] == NULL) {
            if (valuelen < sizeof(r->capbuf) - r->capused) {
                char *v = r->capbuf + r->capused;
                memcpy(v, value, valuelen);
                v[valuelen] = '\0';
                r->capused += valuelen + 1;
                r->captured[i] = v;
            } else if ((r->captured[i] = strndup((const char *)value, valuelen)) == NULL) {
                return NGHTTP2_ERR_CALLBACK_FAILURE;
            }
        }
    }
    return 0;
}

static int on_data_chunk_cb(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                            const uint8_t *data, size_t len, void *user_data)
{
    struct h2c_conn *conn = user_data;
    (void)flags;
    struct h2c_req *r = nghttp2_session_get_stream_user_data(session, stream_id);
    if (r == NULL)
        return 0;
    size_t room = conn->c->max_body - r->rlen;
    if (len > room)
        len = room;
    if (len == 0)
        return 0;
    char *p = realloc(r->rbody, r->rlen + len + 1);
    if (p == NULL)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    memcpy(p + r->rlen, data, len);
    r->rlen += len;
    p[r->rlen] = '\0';
    r->rbody = p;
    return 0;
}

static int on_frame_send_cb(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    (void)user_data;
    if (frame->hd.type != NGHTTP2_HEADERS)
        return 0;
    struct h2c_req *r = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (r != NULL && !r->headers_sent) {
        r->headers_sent = 1;
        r->sent_us = pr_mono_us();
    }
    return 0;
}

static int on_frame_recv_cb(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct h2c_conn *conn = user_data;
    struct h2c *c = conn->c;
    (void)session;
    switch (frame->hd.type) {
    case NGHTTP2_SETTINGS:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK) && conn->state == CONN_CONNECTING) {
            conn->state = CONN_READY;
            conn->backoff_ms = 0;
            pr_log_debug(c->log_name, "connection %d to %s ready (max streams %u)",
                         conn->index, c->authority,
                         nghttp2_session_get_remote_settings(
                             session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS));
            evtimer_del(conn->timer);
            timer_arm(conn->timer, ping_idle_ms);
        }
        /* A raised stream limit frees slots for waiting requests. */
        kick_schedule(c);
        break;
    case NGHTTP2_PING:
        if (frame->hd.flags & NGHTTP2_FLAG_ACK) {
            conn->ping_outstanding = 0;
            pr_log_debug(c->log_name, "connection %d: PING answered", conn->index);
            timer_arm(conn->timer, ping_idle_ms);
        }
        break;
    case NGHTTP2_GOAWAY:
        pr_log_info(c->log_name, "connection %d to %s: GOAWAY (last stream %d, error %u)",
                    conn->index, c->authority, frame->goaway.last_stream_id,
                    frame->goaway.error_code);
        if (conn->state == CONN_READY || conn->state == CONN_CONNECTING)
            conn->state = CONN_DRAINING;
        kick_schedule(c);
        break;
    default:
        break;
    }
    return 0;
}

/*
 * A stream ended. REFUSED_STREAM (from the server, from nghttp2 for streams
 * above a GOAWAY's last-stream-id, or for HEADERS it could not send) means
 * the server never processed it: send it again on another stream.
 */
static int on_stream_close_cb(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                              void *user_data)
{
    struct h2c_conn *conn = user_data;
    struct h2c_req *r = nghttp2_session_get_stream_user_data(session, stream_id);
    if (r == NULL)
        return 0;
    nghttp2_session_set_stream_user_data(session, stream_id, NULL);
    conn_unlink(conn, r);
    if (error_code == NGHTTP2_REFUSED_STREAM && !r->done) {
        pr_log_debug(conn->c->log_name, "connection %d: stream %d refused, sending it again",
                     conn->index, stream_id);
        req_requeue(r);
    } else {
        if (r->status >= 200 && error_code == NGHTTP2_NO_ERROR)
            req_complete(r, r->status, NULL);
        else
            req_complete(r, 0, "stream reset");
        req_free(r);
    }
    kick_schedule(conn->c);
    return 0;
}

/* ------------------------------------------------------------------------
 * Connections
 * ------------------------------------------------------------------------ */

/*
 * conn_flush serialises every frame nghttp2 has ready into the bufferevent's
 * output in one go: libevent then writes the batch in few TLS records,
 * instead of one write per frame. Returns 0 or PR_EPROTO.
 */
static int conn_flush(struct h2c_conn *conn)
{
    if (conn->session == NULL || conn->bev == NULL)
        return 0;
    struct evbuffer *out = bufferevent_get_output(conn->bev);
    while (evbuffer_get_length(out) < H2C_OUTPUT_HIGH) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(conn->session, &data);
        if (n < 0) {
            pr_log_warn(conn->c->log_name, "nghttp2 send: %s", nghttp2_strerror((int)n));
            return PR_EPROTO;
        }
        if (n == 0)
            break;
        if (evbuffer_add(out, data, (size_t)n) != 0)
            return PR_ENOMEM;
    }
    return 0;
}

/* Whether the connection is finished: nothing left to read or write. */
static int conn_finished(struct h2c_conn *conn)
{
    return nghttp2_session_want_read(conn->session) == 0 &&
           nghttp2_session_want_write(conn->session) == 0 &&
           evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0;
}

/* After any activity: close a drained connection, flush, or drop a broken one. */
static void conn_after_io(struct h2c_conn *conn)
{
    if (conn->session == NULL)
        return;
    if (conn_flush(conn) < 0) {
        conn_close(conn, "connection lost", 0);
        return;
    }
    if (conn->state == CONN_DRAINING && conn->in_flight == 0 &&
        evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0) {
        conn_close(conn, "connection closed", 1);
        return;
    }
    if (conn_finished(conn))
        conn_close(conn, "connection closed", 1);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct h2c_conn *conn = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (conn->session == NULL)
        return;
    conn->last_read_us = pr_mono_us();
    while (evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        ssize_t n = nghttp2_session_mem_recv(conn->session, v.iov_base, v.iov_len);
        if (n < 0) {
            pr_log_warn(conn->c->log_name, "connection %d: %s", conn->index,
                        nghttp2_strerror((int)n));
            conn_close(conn, "connection lost", 0);
            return;
        }
        evbuffer_drain(in, (size_t)n);
    }
    conn_after_io(conn);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_after_io(arg);
}

/* Verify that the handshake chose h2; start the session with our SETTINGS. */
static int conn_start_session(struct h2c_conn *conn);

/*
 * conn_error_text says why a connection ended: a failed certificate check,
 * an OpenSSL error, the socket error, or the peer closing.
 */
static void conn_error_text(struct h2c_conn *conn, struct bufferevent *bev, short what,
                            char *buf, size_t len)
{
    int sock_err = EVUTIL_SOCKET_ERROR();
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    long vr = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long e, last = 0;
    while ((e = bufferevent_get_openssl_error(bev)) != 0)
        last = e;
    int dns_err = bufferevent_socket_get_dns_error(bev);
    if (dns_err != 0)
        snprintf(buf, len, "cannot resolve %s: %s", conn->c->host, evutil_gai_strerror(dns_err));
    else if (conn->state == CONN_CONNECTING && vr != X509_V_OK)
        snprintf(buf, len, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
    else if (last != 0 && ERR_GET_LIB(last) != 0)
        ERR_error_string_n(last, buf, len);
    else if (what & BEV_EVENT_EOF)
        snprintf(buf, len, "closed by peer");
    else if (sock_err != 0)
        snprintf(buf, len, "%s", evutil_socket_error_to_string(sock_err));
    else
        snprintf(buf, len, "connection failed");
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct h2c_conn *conn = arg;
    struct h2c *c = conn->c;
    if (what & BEV_EVENT_CONNECTED) {
        SSL *ssl = bufferevent_openssl_get_ssl(bev);
        const unsigned char *alpn = NULL;
        unsigned alpn_len = 0;
        SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
        if (alpn_len != 2 || memcmp(alpn, "h2", 2) != 0) {
            pr_log_warn(c->log_name, "%s did not negotiate HTTP/2 (ALPN)", c->authority);
            conn_close(conn, "connection lost", 0);
            return;
        }
        /* Requests are latency-bound and already batched by conn_flush. */
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (conn_start_session(conn) < 0) {
            conn_close(conn, "connection lost", 0);
            return;
        }
        conn->last_read_us = pr_mono_us();
        conn_after_io(conn);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        char why[256];
        conn_error_text(conn, bev, what, why, sizeof(why));
        if (conn->state == CONN_CONNECTING)
            pr_log_warn(c->log_name, "connect to %s failed: %s", c->authority, why);
        else
            pr_log_info(c->log_name, "connection %d to %s: %s", conn->index, c->authority, why);
        /* A server closing after its GOAWAY is expected: reconnect without backoff. */
        conn_close(conn, "connection lost", conn->state == CONN_DRAINING);
    }
}

static int conn_start_session(struct h2c_conn *conn)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return PR_ENOMEM;
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_cb);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, on_frame_send_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close_cb);
    int rv = nghttp2_session_client_new(&conn->session, cbs, conn);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0)
        return PR_ENOMEM;
    nghttp2_settings_entry iv[] = { { NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
                                    { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20 } };
    if (nghttp2_submit_settings(conn->session, NGHTTP2_FLAG_NONE, iv, 2) != 0)
        return PR_ENOMEM;
    /*
     * A connection window this large means we practically never send
     * WINDOW_UPDATE: answers are small, and a late WINDOW_UPDATE reaching a
     * server that already closed after GOAWAY makes its kernel reset the
     * connection, destroying answers we had not read yet.
     */
    if (nghttp2_session_set_local_window_size(conn->session, NGHTTP2_FLAG_NONE, 0,
                                              H2C_CONN_WINDOW) != 0)
        return PR_ENOMEM;
    return 0;
}

/*
 * conn_tls_new makes the TLS bufferevent on 'fd' (-1: connect it later).
 * The handshake names the provider (SNI, certificate check) even when 'fd'
 * is a proxy tunnel. Returns 0 or PR_ENOMEM (then 'fd' is not taken).
 */
static int conn_tls_new(struct h2c_conn *conn, evutil_socket_t fd)
{
    struct h2c *c = conn->c;
    SSL *ssl = tlsc_ssl_new(c->ssl_ctx, c->host);
    if (ssl == NULL)
        return PR_ENOMEM;
    conn->bev = bufferevent_openssl_socket_new(c->base, fd, ssl, BUFFEREVENT_SSL_CONNECTING,
                                               BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (conn->bev == NULL) {
        SSL_free(ssl);
        return PR_ENOMEM;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(conn->bev, 1);
    bufferevent_setcb(conn->bev, conn_read_cb, conn_write_cb, conn_event_cb, conn);
    bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
    return 0;
}

/*
 * conn_tunnel_cb: the proxy answered (or failed). A refusal is a failed
 * connect: the connection backs off like any other, which also bounds how
 * often this line is logged; queued requests wait (no attempt is charged:
 * none was sent).
 */
static void conn_tunnel_cb(void *arg, evutil_socket_t fd, const char *error)
{
    struct h2c_conn *conn = arg;
    struct h2c *c = conn->c;
    conn->tunnel = NULL;
    if (error != NULL) {
        pr_log_warn(c->log_name, "connect to %s failed: %s", c->authority, error);
        conn_close(conn, "connection lost", 0);
        return;
    }
    if (conn_tls_new(conn, fd) < 0) {
        evutil_closesocket(fd);
        pr_log_warn(c->log_name, "connection to %s: out of memory", c->authority);
        conn_close(conn, "connection lost", 0);
    }
}

static void conn_open(struct h2c_conn *conn)
{
    struct h2c *c = conn->c;
    conn->ping_outstanding = 0;
    if (egress_via_proxy(c->egress, c->host)) {
        if (c->dns == NULL)
            c->dns = evdns_base_new(c->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
        if (egress_open(c->base, c->dns, c->egress, c->host, c->port, H2C_CONNECT_TIMEOUT_MS,
                        conn_tunnel_cb, conn, &conn->tunnel) < 0)
            goto fail;
        /* The connect deadline covers the tunnel and the TLS handshake after it. */
        conn->state = CONN_CONNECTING;
        timer_arm(conn->timer, H2C_CONNECT_TIMEOUT_MS);
        return;
    }
    if (conn_tls_new(conn, -1) < 0)
        goto fail;
    conn->state = CONN_CONNECTING;
    timer_arm(conn->timer, H2C_CONNECT_TIMEOUT_MS);
    int rv;
    if (c->host_numeric) {
        rv = bufferevent_socket_connect(conn->bev, (struct sockaddr *)&c->addr, c->addrlen);
    } else {
        if (c->dns == NULL)
            c->dns = evdns_base_new(c->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
        rv = c->dns == NULL ? -1
                            : bufferevent_socket_connect_hostname(conn->bev, c->dns, AF_UNSPEC,
                                                                  c->host, c->port);
    }
    if (rv != 0) {
        pr_log_warn(c->log_name, "connect to %s: cannot start", c->authority);
        conn_close(conn, "connection lost", 0);
    }
    return;
fail:
    pr_log_warn(c->log_name, "connection to %s: out of memory", c->authority);
    conn->backoff_ms = H2C_BACKOFF_MAX_MS;
    conn->state = CONN_BACKOFF;
    timer_arm(conn->timer, conn->backoff_ms);
}

/*
 * conn_close tears the connection down. 'graceful' closes (a drained
 * GOAWAY) may reconnect at once; failures back off exponentially.
 *
 * A dying connection takes every unanswered stream with it, but usually
 * only one request (if any) caused the death: the others must not pay an
 * attempt for it. So requests lost with the connection go back to the
 * queue, and the culprit is found by isolation:
 *
 *   one request lost, alone:         it is the only candidate: charged
 *   death with no suspect on board:  every lost request becomes a suspect
 *                                     (deaths = 1), requeued
 *   death with a suspect on board:   the suspect is blamed (deaths + 1);
 *                                     the others are requeued, unchanged
 *   deaths reach H2C_DEATHS_CHARGE:  completes "connection lost": charged
 *
 * kick_cb sends at most one suspect per connection, so a suspect that dies
 * again died alone among suspects. Requests whose HEADERS never left, and
 * everything while the client is freed, are not deaths. A request's own
 * timer still bounds the whole story. Requests the server may have seen
 * are sent again: the provider can get such a one twice.
 */
static void conn_close(struct h2c_conn *conn, const char *why, int graceful)
{
    struct h2c *c = conn->c;
    struct h2c_req *r;
    int was_connecting = conn->state == CONN_CONNECTING;
    int blame_suspects = conn->suspects > 0, lost = 0;
    TAILQ_FOREACH(r, &conn->streams, link)
        lost += r->headers_sent && !r->done;
    /* Newest first: each requeue goes to the head, so the FIFO keeps its order. */
    while ((r = TAILQ_LAST(&conn->streams, req_list)) != NULL) {
        conn_unlink(conn, r);
        if (r->done || c->closing) {
            req_complete(r, 0, why);
            req_free(r);
            continue;
        }
        if (r->headers_sent) {
            if (lost == 1)
                r->deaths = H2C_DEATHS_CHARGE;
            else if (r->deaths > 0 || !blame_suspects)
                r->deaths++;
            if (r->deaths >= H2C_DEATHS_CHARGE) {
                pr_log_debug(c->log_name, "connection %d: a request was in %d connection "
                             "deaths in a row: counted as failed", conn->index, r->deaths);
                req_complete(r, 0, why);
                req_free(r);
                continue;
            }
        }
        req_requeue(r);
    }
    if (conn->session != NULL) {
        nghttp2_session_del(conn->session);
        conn->session = NULL;
    }
    if (conn->bev != NULL) {
        bufferevent_free(conn->bev);
        conn->bev = NULL;
    }
    egress_cancel(conn->tunnel);
    conn->tunnel = NULL;
    evtimer_del(conn->timer);
    conn->ping_outstanding = 0;
    if (c->closing) {
        conn->state = CONN_IDLE;
        return;
    }
    if (graceful && !was_connecting) {
        conn->state = CONN_IDLE;
    } else {
        conn->backoff_ms = conn->backoff_ms == 0 ? H2C_BACKOFF_MIN_MS : conn->backoff_ms * 2;
        if (conn->backoff_ms > H2C_BACKOFF_MAX_MS)
            conn->backoff_ms = H2C_BACKOFF_MAX_MS;
        conn->state = CONN_BACKOFF;
        timer_arm(conn->timer, conn->backoff_ms);
    }
    kick_schedule(c);
}

/* The connection timer: connect deadline, idle PING and its deadline, or reconnect. */
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct h2c_conn *conn = arg;
    struct h2c *c = conn->c;
    (void)fd;
    (void)what;
    switch (conn->state) {
    case CONN_CONNECTING:
        pr_log_warn(c->log_name, "connect to %s: timed out", c->authority);
        conn_close(conn, "connection lost", 0);
        break;
    case CONN_BACKOFF:
        conn->state = CONN_IDLE;
        kick_schedule(c);
        break;
    case CONN_READY:
    case CONN_DRAINING: {
        if (conn->ping_outstanding) {
            pr_log_warn(c->log_name, "connection %d to %s: no PING answer", conn->index,
                        c->authority);
            conn_close(conn, "connection lost", 0);
            break;
        }
        int64_t idle_ms = (pr_mono_us() - conn->last_read_us) / 1000;
        if (idle_ms < ping_idle_ms) {
            timer_arm(conn->timer, (int)(ping_idle_ms - idle_ms));
            break;
        }
        if (conn->index >= c->n_base && conn->in_flight == 0) {
            pr_log_info(c->log_name, "overflow connection %d to %s idle: closed", conn->index,
                        c->authority);
            conn_close(conn, "connection closed", 1);
            break;
        }
        if (nghttp2_submit_ping(conn->session, NGHTTP2_FLAG_NONE, NULL) != 0) {
            conn_close(conn, "connection lost", 0);
            break;
        }
        conn->ping_outstanding = 1;
        pr_log_debug(c->log_name, "connection %d: idle, PING", conn->index);
        timer_arm(conn->timer, ping_timeout_ms);
        conn_after_io(conn);
        break;
    }
    case CONN_IDLE:
        break;
    }
}

/* Stream slots left on 'conn' under the server's limit. */
static int conn_free_slots(struct h2c_conn *conn)
{
    if (conn->state != CONN_READY)
        return 0;
    uint32_t max = nghttp2_session_get_remote_settings(conn->session,
                                                       NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    if (max > 1000000)
        max = 1000000;
    return (int)max - conn->in_flight;
}

/* Open request 'r' as a stream on 'conn'. Returns 0, or <0 with 'r' untouched. */
static int conn_submit(struct h2c_conn *conn, struct h2c_req *r)
{
    nghttp2_data_provider dp = { .source.ptr = r, .read_callback = body_read_cb };
    int32_t id = nghttp2_submit_request(conn->session, NULL, r->nva, r->nvlen,
                                        r->body_len > 0 ? &dp : NULL, r);
    if (id < 0)
        return id;
    r->conn = conn;
    r->stream_id = id;
    TAILQ_INSERT_TAIL(&conn->streams, r, link);
    conn->in_flight++;
    if (r->deaths > 0)
        conn->suspects++;
    return 0;
}

/* ------------------------------------------------------------------------
 * The dispatcher: waiting requests onto free stream slots, once per loop turn
 * ------------------------------------------------------------------------ */

/*
 * kick_best picks the least loaded connection with a free slot for 'r' (that
 * spreads the pool evenly); a suspect (see conn_close) only goes where no
 * other suspect is in flight. Returns its index or -1.
 */
static int kick_best(struct h2c *c, const struct h2c_req *r, int *any_free)
{
    int best = -1, best_free = 0;
    for (int i = 0; i < c->n_conns; i++) {
        int f = conn_free_slots(&c->conns[i]);
        if (f > 0)
            *any_free = 1;
        if (r->deaths > 0 && c->conns[i].suspects > 0)
            continue;
        if (f > best_free) {
            best = i;
            best_free = f;
        }
    }
    return best;
}

/*
 * overflow_consider opens an overflow connection when requests wait only
 * because stalled streams (unanswered for H2C_STALL_MS) hold the slots:
 * every connection is up and full, and at least half of the streams are
 * stalled. One at a time, up to as many as the pool; each closes once idle
 * as long as the idle PING waits. A pool merely busy with answered traffic,
 * one connecting or one backing off (the provider is down) gets none. Until
 * a stream becomes stalled, the kick event is armed to look again then.
 */
static void overflow_consider(struct h2c *c)
{
    int64_t now = pr_mono_us(), old = now - (int64_t)H2C_STALL_MS * 1000, next = -1;
    int streams = 0, stalled = 0, idle = -1;
    for (int i = 0; i < c->n_conns; i++) {
        struct h2c_conn *conn = &c->conns[i];
        if (i >= c->n_base && conn->state == CONN_IDLE) {
            if (idle < 0)
                idle = i;
            continue;
        }
        if (conn->state != CONN_READY || conn_free_slots(conn) > 0)
            return;
        streams += conn->in_flight;
        /* Streams are listed in the order they were sent: the stalled ones come first. */
        struct h2c_req *r;
        TAILQ_FOREACH(r, &conn->streams, link) {
            if (r->done)
                continue;       /* cancelled: its slot frees as the RST_STREAM goes */
            if (r->sent_us == 0 || r->sent_us > old) {
                if (r->sent_us != 0 && (next < 0 || r->sent_us < next))
                    next = r->sent_us;
                break;
            }
            stalled++;
        }
    }
    if (idle < 0)
        return;
    if (stalled > 0 && 2 * stalled >= streams) {
        pr_log_info(c->log_name, "%d of %d streams to %s unanswered for %d ms: opening "
                    "overflow connection %d", stalled, streams, c->authority, H2C_STALL_MS, idle);
        conn_open(&c->conns[idle]);
    } else if (next >= 0) {
        timer_arm(c->kick, (int)((next - old) / 1000) + 1);
    }
}

static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct h2c *c = arg;
    (void)fd;
    (void)what;
    int touched[c->n_conns];
    memset(touched, 0, sizeof(touched));
    struct h2c_req *r, *next;
    /* FIFO order, except that suspects waiting for a connection do not hold up the rest. */
    for (r = TAILQ_FIRST(&c->queue); r != NULL; r = next) {
        next = TAILQ_NEXT(r, link);
        int any_free = 0;
        int best = kick_best(c, r, &any_free);
        if (!any_free)
            break;
        if (best < 0)
            continue;
        struct h2c_conn *conn = &c->conns[best];
        TAILQ_REMOVE(&c->queue, r, link);
        c->queued--;
        int rv = conn_submit(conn, r);
        if (rv < 0) {
            /* Stream ids exhausted or the session refuses: retire this connection. */
            pr_log_info(c->log_name, "connection %d: %s; draining", best, nghttp2_strerror(rv));
            if (next != NULL)
                TAILQ_INSERT_BEFORE(next, r, link);
            else
                TAILQ_INSERT_TAIL(&c->queue, r, link);
            c->queued++;
            conn->state = CONN_DRAINING;
            next = r;           /* try it again on another connection */
        }
        touched[best] = 1;
    }
    for (int i = 0; i < c->n_conns; i++)
        if (touched[i])
            conn_after_io(&c->conns[i]);
    if (c->queued > 0) {
        for (int i = 0; i < c->n_base; i++)
            if (c->conns[i].state == CONN_IDLE)
                conn_open(&c->conns[i]);
        overflow_consider(c);
    }
}

static void kick_schedule(struct h2c *c)
{
    if (!c->closing)
        event_active(c->kick, EV_TIMEOUT, 0);
}

/* ------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------ */

int h2c_new(struct event_base *base, const struct h2c_options *opt, struct h2c **out)
{
    char err[512];
    if (opt->host == NULL || opt->host[0] == '\0' || opt->port == 0)
        return PR_EINVAL;
    struct h2c *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return PR_ENOMEM;
    int rv = PR_ENOMEM;
    c->base = base;
    TAILQ_INIT(&c->queue);
    snprintf(c->log_name, sizeof(c->log_name), "%s", opt->log_name ? opt->log_name : "h2c");
    c->port = opt->port;
    c->max_queued = opt->max_queued > 0 ? opt->max_queued : H2C_DEFAULT_MAX_QUEUED;
    c->max_body = opt->max_body > 0 ? opt->max_body : H2C_DEFAULT_MAX_BODY;
    c->n_base = opt->connections > 0 ? opt->connections : H2C_DEFAULT_CONNECTIONS;
    c->n_conns = 2 * c->n_base;
    if ((c->host = strdup(opt->host)) == NULL)
        goto fail;
    int v6 = strchr(c->host, ':') != NULL;
    char auth[300];
    if (opt->port == 443)
        snprintf(auth, sizeof(auth), v6 ? "[%s]" : "%s", c->host);
    else
        snprintf(auth, sizeof(auth), v6 ? "[%s]:%u" : "%s:%u", c->host, opt->port);
    if ((c->authority = strdup(auth)) == NULL)
        goto fail;
    c->addrlen = sizeof(c->addr);
    char hostport[300];
    snprintf(hostport, sizeof(hostport), v6 ? "[%s]:%u" : "%s:%u", c->host, opt->port);
    c->host_numeric = evutil_parse_sockaddr_port(hostport, (struct sockaddr *)&c->addr,
                                                 &c->addrlen) == 0;
    if (egress_new(opt->egress, &c->egress) < 0)
        goto fail;
    for (int i = 0; i < H2C_CAPTURE_MAX && opt->capture[i] != NULL; i++) {
        if ((c->capture[i] = strdup(opt->capture[i])) == NULL)
            goto fail;
        c->n_capture++;
    }
    struct tlsc_options tls = opt->tls;
    tls.alpn = "\x02h2";
    tls.alpn_len = 3;
    if ((rv = tlsc_ctx_new(&tls, &c->ssl_ctx, err, sizeof(err))) < 0) {
        pr_log_error(c->log_name, "TLS for %s: %s", c->authority, err);
        goto fail;
    }
    rv = PR_ENOMEM;
    if ((c->kick = event_new(base, -1, 0, kick_cb, c)) == NULL)
        goto fail;
    if ((c->conns = calloc((size_t)c->n_conns, sizeof(*c->conns))) == NULL)
        goto fail;
    for (int i = 0; i < c->n_conns; i++) {
        struct h2c_conn *conn = &c->conns[i];
        conn->c = c;
        conn->index = i;
        TAILQ_INIT(&conn->streams);
        if ((conn->timer = evtimer_new(base, conn_timer_cb, conn)) == NULL)
            goto fail;
    }
    *out = c;
    return 0;
fail:
    h2c_free(c);
    return rv;
}

int h2c_request(struct h2c *c, const struct h2c_request *req, h2c_done_cb cb, void *arg)
{
    if (c->closing)
        return PR_ESTATE;
    if (c->queued >= c->max_queued)
        return PR_EAGAIN;
    struct h2c_req *r = req_new(c, req, cb, arg);
    if (r == NULL)
        return PR_ENOMEM;
    TAILQ_INSERT_TAIL(&c->queue, r, link);
    c->queued++;
    kick_schedule(c);
    return 0;
}

int h2c_ready(const struct h2c *c)
{
    for (int i = 0; i < c->n_conns; i++)
        if (c->conns[i].state != CONN_BACKOFF && (i < c->n_base || c->conns[i].state != CONN_IDLE))
            return 1;
    return 0;
}

void h2c_get_stats(const struct h2c *c, struct h2c_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < c->n_conns; i++) {
        if (c->conns[i].state == CONN_READY || c->conns[i].state == CONN_DRAINING)
            out->connections_open++;
        out->in_flight += c->conns[i].in_flight;
    }
    out->queued = c->queued;
}

void h2c_free(struct h2c *c)
{
    if (c == NULL)
        return;
    c->closing = 1;
    for (int i = 0; c->conns != NULL && i < c->n_conns; i++) {
        if (c->conns[i].timer == NULL)
            continue;
        conn_close(&c->conns[i], "shutdown", 0);
        event_free(c->conns[i].timer);
    }
    struct h2c_req *r;
    while ((r = TAILQ_FIRST(&c->queue)) != NULL) {
        TAILQ_REMOVE(&c->queue, r, link);
        req_complete(r, 0, "shutdown");
        req_free(r);
    }
    free(c->conns);
    if (c->kick != NULL)
        event_free(c->kick);
    if (c->dns != NULL)
        evdns_base_free(c->dns, 0);
    egress_free(c->egress);
    SSL_CTX_free(c->ssl_ctx);
    for (int i = 0; i < H2C_CAPTURE_MAX; i++)
        free(c->capture[i]);
    free(c->authority);
    free(c->host);
    free(c);
}
