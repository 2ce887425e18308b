/*
 * mpns.c - the MPNS-compatible provider client: one notification becomes
 * one HTTPS/1.1 POST of toast XML to the device's channel URI (the token).
 * The channel's host must match the app's allowed_hosts, so the relay is
 * never an open proxy: anything else is refused before a byte is sent.
 *
 * Each connection is a bufferevent_openssl to the channel's host:port,
 * opened directly or, when egress.proxy is set and the host is not in
 * egress.no_proxy, over an HTTP CONNECT tunnel (relay/egress.c); either
 * way TLS runs with the channel's host as SNI and verified name, so it is
 * end to end. Requests are written here; answers are read by relay/h1c.c.
 * Connections are kept alive and reused per host:port, at most
 * app->connections of them, one request at a time each (no pipelining);
 * requests beyond that wait in a FIFO. A connection that closed is never
 * reconnected in place: it is freed and a fresh one (fresh TLS) is made.
 *
 *   conn_new ──direct──────────────────────▶ OPEN (TLS handshake, then requests)
 *       └────egress_open──▶ TUNNEL ──2xx──▶ OPEN
 *                              └─refused/unreachable─▶ DEAD (its call: no answer, retried)
 *   OPEN ──EOF, error, timeout, Connection: close──▶ DEAD ──no call on it──▶ freed
 *
 * WNS is the same client in another flavour (struct mpns_flavour): toast
 * XML of its own with X-WNS-* headers, an OAuth2 access token (client
 * credentials, relay/oauth.c, through the same egress rules) in
 * Authorization, and its status headers as the reason. Calls wait in the
 * FIFO while no token is there; the token's arrival kicks them on.
 * Nothing blocks the loop.
 *
 * It does not classify answers (relay/mpns_errors.c, wns_errors.c do).
 * Created by relay/pclient.c.
 */
#include <ctype.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>

#include "pushrelay/clock.h"
#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "egress.h"
#include "h1c.h"
#include "oauth.h"
#include "pclient_impl.h"
#include "payload.h"
#include "payload_ext.h"
#include "provider_desc.h"
#include "tlsc.h"

#define MPNS_DEFAULT_CONNECTIONS 2
#define MPNS_MAX_WAITING 16384
#define MPNS_DEFAULT_TIMEOUT_MS 30000
#define MPNS_TUNNEL_TIMEOUT_MS 30000 /* the proxy's answer to CONNECT; the call's own deadline is shorter */
#define MPNS_MAX_BODY 65536
#define MPNS_HOST_MAX 256
#define MPNS_MAX_CONNS_TOTAL 256    /* across hosts: idle ones are closed past this */
#define MPNS_SCAN_MAX 1024          /* waiting calls looked at per dispatch turn */
#define MPNS_QUIET_US (10 * 1000000) /* a connection failure repeated within this is counted, not logged */
#define WNS_OAUTH_SCOPE "notify.windows.com"

struct mpns;
struct mpns_call;
struct mpns_conn;

/*
 * What differs between MPNS and WNS: the log name, the body and headers of
 * a request, and which answer headers make the reason. 'build' fills
 * call->body (and the flavour's fields of 'call') or returns PR_E*;
 * 'headers' adds the flavour's headers; 'answer' fills res->reason and
 * res->provider_id from the answer headers 'h'.
 */
struct mpns_flavour {
    const char *log_name;
    int (*build)(struct mpns_call *call, const struct pr_notif *n);
    int (*headers)(const struct mpns_call *call, struct evkeyvalq *h);
    void (*answer)(const struct mpns_call *call, struct evkeyvalq *h, struct pr_result *res);
};
TAILQ_HEAD(mpns_call_list, mpns_call);
TAILQ_HEAD(mpns_conn_list, mpns_conn);

enum mpns_conn_state {
    MPNS_CONN_TUNNEL,               /* waiting for the proxy's answer to CONNECT */
    MPNS_CONN_OPEN,                 /* TLS (maybe still handshaking): requests may be written */
    MPNS_CONN_DEAD,                 /* closed: freed once no call is on it, never reused */
};

/* One keep-alive connection to host:port, carrying at most one request. */
struct mpns_conn {
    TAILQ_ENTRY(mpns_conn) link;
    struct mpns *m;
    char host[MPNS_HOST_MAX];
    uint16_t port;
    enum mpns_conn_state state;
    struct egress_tunnel *tunnel;   /* while TUNNEL */
    struct bufferevent *bev;        /* while OPEN */
    struct mpns_call *busy;         /* the request on it, or NULL when idle */
    struct h1c_answer ans;          /* the answer to 'busy', while it is read */
};

struct mpns {
    struct pclient *pc;
    const struct mpns_flavour *fl;
    struct oauth *oauth;            /* WNS: the access token's source; NULL for MPNS */
    struct egress *egress;          /* the proxy, or NULL: every connection direct */
    SSL_CTX *ssl_ctx;
    struct evdns_base *dns;         /* created on first host name */
    struct mpns_conn_list conns;
    int n_conns;
    int per_host;
    struct mpns_call_list waiting;
    int n_waiting;
    int in_flight;
    struct event *kick;             /* dispatch and reap, once per loop turn */
    int closing;
    char last_fail[1024];           /* the connection failure logged last (conn_log_fail) */
    int64_t last_fail_us;
    unsigned n_quiet;               /* repeats of it not logged since */
};

struct mpns_call {
    TAILQ_ENTRY(mpns_call) link;
    struct mpns *m;
    struct mpns_conn *conn;         /* while sent */
    struct evbuffer *req;           /* the request's bytes, until its connection can take them */
    pclient_done_cb cb;
    void *arg;
    char host[MPNS_HOST_MAX];
    uint16_t port;
    char *path;                     /* path and query */
    char *body;
    size_t body_len;
    char message_id[37];            /* "" when the id is not UUID-shaped */
    int ttl_s;                      /* WNS: X-WNS-TTL */
    char tag[VAPID_TOPIC_MAX + 1];  /* WNS: X-WNS-Tag, "" for none */
    const char *bearer;             /* WNS: the access token, while call_start runs */
    struct event *timer;
    int64_t sent_us;
};

static void kick_schedule(struct mpns *m)
{
    if (!m->closing)
        event_active(m->kick, EV_TIMEOUT, 0);
}

static void call_free(struct mpns_call *call)
{
    if (call->timer != NULL)
        event_free(call->timer);
    if (call->req != NULL)
        evbuffer_free(call->req);
    free(call->path);
    free(call->body);
    free(call);
}

/* Report a result without an HTTP answer and free the call. */
static void call_finish_noanswer(struct mpns_call *call, const char *why)
{
    struct pr_result res;
    pr_result_init(&res);
    res.status = PR_STATUS_NO_ANSWER;
    snprintf(res.reason, sizeof(res.reason), "%s", why);
    res.rtt_us = call->sent_us != 0 ? pr_mono_us() - call->sent_us : 0;
    call->cb(call->arg, &res);
    call_free(call);
}

/* ------------------------------------------------------------------------
 * Connections
 * ------------------------------------------------------------------------ */

/*
 * conn_log_fail logs 'line', why a connection failed. Every request opens
 * its own connection when none is idle, so a proxy or host that is down
 * would log once per queued notification: the same line again within
 * MPNS_QUIET_US is only counted, and the count is told with the next line
 * logged. A different failure is logged at once.
 */
static void conn_log_fail(struct mpns *m, const char *line)
{
    int64_t now = pr_mono_us();
    if (strcmp(line, m->last_fail) == 0 && now - m->last_fail_us < MPNS_QUIET_US) {
        m->n_quiet++;
        return;
    }
    if (m->n_quiet > 0)
        pr_log_warn(m->fl->log_name, "%s (%u earlier failures not logged)", line, m->n_quiet);
    else
        pr_log_warn(m->fl->log_name, "%s", line);
    snprintf(m->last_fail, sizeof(m->last_fail), "%s", line);
    m->last_fail_us = now;
    m->n_quiet = 0;
}

/* conn_close makes 'conn' DEAD: its tunnel or socket is closed now, the struct later. */
static void conn_close(struct mpns_conn *conn)
{
    conn->state = MPNS_CONN_DEAD;
    egress_cancel(conn->tunnel);
    conn->tunnel = NULL;
    if (conn->bev != NULL) {
        bufferevent_free(conn->bev);
        conn->bev = NULL;
    }
}

/* conn_detach takes the call off 'conn' (which is not reused) and returns it. */
static struct mpns_call *conn_detach(struct mpns_conn *conn)
{
    struct mpns_call *call = conn->busy;
    conn->busy = NULL;
    if (call != NULL) {
        conn->m->in_flight--;
        evtimer_del(call->timer);
        h1c_clear(&conn->ans);
    }
    return call;
}

/*
 * conn_fail: the connection is lost before its call's answer (if it has
 * one) was complete. The call ends without an answer ('why'), which the
 * dispatcher retries; the connection is never used again.
 */
static void conn_fail(struct mpns_conn *conn, const char *why)
{
    struct mpns *m = conn->m;
    struct mpns_call *call = conn_detach(conn);
    conn_close(conn);
    if (call != NULL)
        call_finish_noanswer(call, why);
    kick_schedule(m);
}

static void conn_free(struct mpns_conn *conn)
{
    struct mpns *m = conn->m;
    TAILQ_REMOVE(&m->conns, conn, link);
    m->n_conns--;
    conn_close(conn);
    free(conn);
}

/* conn_answer: the answer to conn->busy is complete; report it. */
static void conn_answer(struct mpns_conn *conn)
{
    struct mpns *m = conn->m;
    struct mpns_call *call = conn->busy;
    struct pr_result res;
    pr_result_init(&res);
    res.status = conn->ans.status;
    res.rtt_us = pr_mono_us() - call->sent_us;
    m->fl->answer(call, &conn->ans.headers, &res);
    res.retry_after_s =
        pclient_parse_retry_after(evhttp_find_header(&conn->ans.headers, "Retry-After"));
    /* Bytes after the answer were never asked for: such a peer is not trusted again. */
    int reuse = conn->ans.keep_alive && conn->bev != NULL &&
                evbuffer_get_length(bufferevent_get_input(conn->bev)) == 0;
    conn_detach(conn);
    if (!reuse)
        conn_close(conn);
    call->cb(call->arg, &res);
    call_free(call);
    kick_schedule(m);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct mpns_conn *conn = arg;
    const char *why = NULL;
    if (conn->busy == NULL) {
        conn_fail(conn, "connection lost");     /* unasked bytes on an idle connection */
        return;
    }
    int rv = h1c_feed(&conn->ans, bufferevent_get_input(bev), 0, &why);
    if (rv < 0) {
        char line[sizeof(conn->m->last_fail)];
        snprintf(line, sizeof(line), "answer from %s:%u: %s", conn->host, conn->port, why);
        conn_log_fail(conn->m, line);
        conn_fail(conn, why);
    } else if (rv == 1) {
        conn_answer(conn);
    }
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct mpns_conn *conn = arg;
    const char *why = "connection lost";
    if (what & BEV_EVENT_CONNECTED) {
        /* Head and body leave in one write, but a small last segment must not wait for an ACK. */
        evutil_socket_t fd = bufferevent_getfd(bev);
        int one = 1;
        if (fd >= 0)
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        return;
    }
    if ((what & BEV_EVENT_EOF) && conn->busy != NULL) {
        /* An answer framed by the close ends here. */
        int rv = h1c_feed(&conn->ans, bufferevent_get_input(bev), 1, &why);
        if (rv == 1) {
            conn_answer(conn);
            conn_close(conn);
            return;
        }
    }
    if (what & BEV_EVENT_ERROR) {
        char tls[256], line[sizeof(conn->m->last_fail)];
        line[0] = '\0';
        int dns_err = bufferevent_socket_get_dns_error(bev);
        unsigned long ssl_err = bufferevent_get_openssl_error(bev);
        if (dns_err != 0)
            snprintf(line, sizeof(line), "connect to %s:%u failed: cannot resolve: %s",
                     conn->host, conn->port, evutil_gai_strerror(dns_err));
        else if (ssl_err != 0) {
            ERR_error_string_n(ssl_err, tls, sizeof(tls));
            snprintf(line, sizeof(line), "connection to %s:%u: TLS: %s", conn->host, conn->port,
                     tls);
        }
        if (line[0] != '\0')
            conn_log_fail(conn->m, line);
    }
    conn_fail(conn, why);
}

/* conn_tls starts TLS to conn's host over 'fd' (-1: the caller connects the bufferevent). */
static int conn_tls(struct mpns_conn *conn, evutil_socket_t fd)
{
    struct mpns *m = conn->m;
    SSL *ssl = tlsc_ssl_new(m->ssl_ctx, conn->host);
    if (ssl == NULL)
        return PR_ENOMEM;
    conn->bev = bufferevent_openssl_socket_new(m->pc->base, fd, ssl, BUFFEREVENT_SSL_CONNECTING,
                                               BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (conn->bev == NULL) {
        SSL_free(ssl);
        return PR_ENOMEM;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(conn->bev, 1);
    bufferevent_setcb(conn->bev, conn_read_cb, NULL, conn_event_cb, conn);
    bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
    conn->state = MPNS_CONN_OPEN;
    return 0;
}

/* conn_write hands the call's request to the connection once it has a socket. */
static void conn_write(struct mpns_conn *conn)
{
    if (conn->bev != NULL && conn->busy != NULL && conn->busy->req != NULL &&
        bufferevent_write_buffer(conn->bev, conn->busy->req) != 0)
        conn_fail(conn, "out of memory");
}

/*
 * conn_tunnel_cb: the proxy answered CONNECT (or failed). A refusal or an
 * unreachable proxy is logged with the proxy and its status and ends the
 * call without an answer: the dispatcher retries it, nothing is lost.
 */
static void conn_tunnel_cb(void *arg, evutil_socket_t fd, const char *error)
{
    struct mpns_conn *conn = arg;
    conn->tunnel = NULL;
    if (error != NULL) {
        char line[sizeof(conn->m->last_fail)];
        snprintf(line, sizeof(line), "connect to %s:%u failed: %s", conn->host, conn->port, error);
        conn_log_fail(conn->m, line);
        conn_fail(conn, "proxy refused or unreachable");
        return;
    }
    if (conn_tls(conn, fd) < 0) {
        evutil_closesocket(fd);
        conn_fail(conn, "out of memory");
        return;
    }
    conn_write(conn);
}

static struct mpns_conn *conn_new(struct mpns *m, const char *host, uint16_t port)
{
    struct mpns_conn *conn = calloc(1, sizeof(*conn));
    if (conn == NULL)
        return NULL;
    conn->m = m;
    snprintf(conn->host, sizeof(conn->host), "%s", host);
    conn->port = port;
    struct evutil_addrinfo hints = { .ai_flags = EVUTIL_AI_NUMERICHOST }, *ai = NULL;
    if (evutil_getaddrinfo(host, NULL, &hints, &ai) == 0)
        evutil_freeaddrinfo(ai);
    else if (m->dns == NULL)
        m->dns = evdns_base_new(m->pc->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    int via_proxy = egress_via_proxy(m->egress, host);
    if (via_proxy) {
        /* The proxy may be a name even when the channel host is an address. */
        if (m->dns == NULL)
            m->dns = evdns_base_new(m->pc->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
        conn->state = MPNS_CONN_TUNNEL;
        if (egress_open(m->pc->base, m->dns, m->egress, host, port, MPNS_TUNNEL_TIMEOUT_MS,
                        conn_tunnel_cb, conn, &conn->tunnel) < 0)
            goto fail;
    } else {
        if (conn_tls(conn, -1) < 0)
            goto fail;
        /* A numeric host needs no resolver: libevent parses it without blocking. */
        if (bufferevent_socket_connect_hostname(conn->bev, m->dns, AF_UNSPEC, host, port) != 0) {
            bufferevent_free(conn->bev);
            goto fail;
        }
    }
    TAILQ_INSERT_TAIL(&m->conns, conn, link);
    m->n_conns++;
    pr_log_debug(m->fl->log_name, "new connection to %s:%u%s%s", host, port,
                 via_proxy ? " through proxy " : "", via_proxy ? egress_proxy_name(m->egress) : "");
    return conn;
fail:
    free(conn);
    return NULL;
}

/* ------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------ */

static const char *hdr_or_empty(struct evkeyvalq *h, const char *name)
{
    const char *v = evhttp_find_header(h, name);
    return v != NULL ? v : "";
}

/*
 * The deadline passed. Waiting: it just leaves the FIFO. Sent: the
 * connection is closed (an answer may still be on its way; it must not be
 * read as the next request's).
 */
static void call_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct mpns_call *call = arg;
    struct mpns *m = call->m;
    (void)fd;
    (void)what;
    if (call->conn == NULL) {
        TAILQ_REMOVE(&m->waiting, call, link);
        m->n_waiting--;
    } else {
        conn_detach(call->conn);
        conn_close(call->conn);
        kick_schedule(m);
    }
    call_finish_noanswer(call, "timeout");
}

/*
 * call_request writes the request into call->req:
 *
 *   POST <path> HTTP/1.1\r\n
 *   Host: <host>[:<port>]\r\n
 *   <the flavour's fields>\r\n
 *   Content-Length: <n>\r\n
 *   \r\n
 *   <body>
 *
 * Field values come from evhttp_add_header, which refuses CR and LF.
 */
static int call_request(struct mpns *m, struct mpns_call *call)
{
    struct evkeyvalq h;
    struct evkeyval *kv;
    char hostport[MPNS_HOST_MAX + 16];
    int rv = PR_ENOMEM;
    TAILQ_INIT(&h);
    int v6 = strchr(call->host, ':') != NULL;
    if (call->port == 443)
        snprintf(hostport, sizeof(hostport), v6 ? "[%s]" : "%s", call->host);
    else
        snprintf(hostport, sizeof(hostport), v6 ? "[%s]:%u" : "%s:%u", call->host, call->port);
    if ((call->req = evbuffer_new()) == NULL || evhttp_add_header(&h, "Host", hostport) != 0)
        goto out;
    if ((rv = m->fl->headers(call, &h)) != 0)
        goto out;
    rv = PR_ENOMEM;
    if (evbuffer_add_printf(call->req, "POST %s HTTP/1.1\r\n", call->path) < 0)
        goto out;
    TAILQ_FOREACH(kv, &h, next)
        if (evbuffer_add_printf(call->req, "%s: %s\r\n", kv->key, kv->value) < 0)
            goto out;
    if (evbuffer_add_printf(call->req, "Content-Length: %zu\r\n\r\n", call->body_len) < 0 ||
        evbuffer_add(call->req, call->body, call->body_len) != 0)
        goto out;
    rv = 0;
out:
    evhttp_clear_headers(&h);
    return rv;
}

/* Hand 'call' to 'conn'. Returns 0, or <0 with 'call' untouched but for its request. */
static int call_start(struct mpns_conn *conn, struct mpns_call *call)
{
    int rv = call_request(conn->m, call);
    if (rv < 0)
        return rv;
    h1c_init(&conn->ans, MPNS_MAX_BODY);
    call->conn = conn;
    call->sent_us = pr_mono_us();
    conn->busy = call;
    conn->m->in_flight++;
    conn_write(conn);
    return 0;
}

/* Free closed connections, then give waiting calls an idle or new connection. */
static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct mpns *m = arg;
    (void)fd;
    (void)what;
    struct mpns_conn *conn, *cnext;
    for (conn = TAILQ_FIRST(&m->conns); conn != NULL; conn = cnext) {
        cnext = TAILQ_NEXT(conn, link);
        if (conn->state == MPNS_CONN_DEAD && conn->busy == NULL)
            conn_free(conn);
    }
    /* WNS: nothing goes out without an access token; its arrival kicks again. */
    const char *bearer = NULL;
    if (m->oauth != NULL && TAILQ_FIRST(&m->waiting) != NULL &&
        (bearer = oauth_token(m->oauth)) == NULL)
        return;
    /* Look at the head of the FIFO only: a long queue must not make each turn O(n). */
    struct mpns_call *call, *next;
    int scanned = 0;
    for (call = TAILQ_FIRST(&m->waiting); call != NULL && scanned < MPNS_SCAN_MAX;
         call = next, scanned++) {
        next = TAILQ_NEXT(call, link);
        struct mpns_conn *idle = NULL, *idle_other = NULL;
        int same = 0;
        TAILQ_FOREACH(conn, &m->conns, link) {
            if (conn->state == MPNS_CONN_DEAD)
                continue;
            int match = conn->port == call->port && strcmp(conn->host, call->host) == 0;
            same += match;
            if (conn->busy == NULL && match && idle == NULL)
                idle = conn;
            else if (conn->busy == NULL && !match && idle_other == NULL)
                idle_other = conn;
        }
        if (idle == NULL && same < m->per_host) {
            /* Keep the total bounded: retire an idle connection to another host. */
            if (m->n_conns >= MPNS_MAX_CONNS_TOTAL && idle_other != NULL)
                conn_free(idle_other);
            if (m->n_conns < MPNS_MAX_CONNS_TOTAL)
                idle = conn_new(m, call->host, call->port);
        }
        if (idle == NULL)
            continue;
        TAILQ_REMOVE(&m->waiting, call, link);
        m->n_waiting--;
        call->bearer = bearer;
        int rv = call_start(idle, call);
        call->bearer = NULL;
        if (rv < 0) {
            conn_close(idle);
            call_finish_noanswer(call, "connection lost");
        }
    }
}

/* ------------------------------------------------------------------------
 * Provider operations
 * ------------------------------------------------------------------------ */

/* Whether 's' is a UUID in canonical 8-4-4-4-12 hex form. */
static int uuid_shaped(const char *s)
{
    if (s == NULL || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

/*
 * mpns_target checks the channel URI: https, a host the app allows, no
 * user info. Fills host, port and path (malloc'd); returns a refusal
 * reason, or NULL when the URI may be used.
 */
static const char *mpns_target(const struct cfg_app *app, const char *channel,
                               struct mpns_call *call)
{
    struct evhttp_uri *uri = channel != NULL ? evhttp_uri_parse(channel) : NULL;
    const char *why = NULL;
    if (uri == NULL) {
        why = "bad channel URI";
        goto out;
    }
    const char *scheme = evhttp_uri_get_scheme(uri);
    const char *host = evhttp_uri_get_host(uri);
    if (scheme == NULL || evutil_ascii_strcasecmp(scheme, "https") != 0) {
        why = "channel URI not https";
        goto out;
    }
    if (host == NULL || host[0] == '\0' || evhttp_uri_get_userinfo(uri) != NULL) {
        why = "bad channel URI";
        goto out;
    }
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[') {
        host++;
        hl -= 2;
    }
    if (hl >= sizeof(call->host)) {
        why = "bad channel URI";
        goto out;
    }
    memcpy(call->host, host, hl);
    call->host[hl] = '\0';
    if (!provider_host_allowed(app, call->host)) {
        why = "host not allowed";
        goto out;
    }
    int port = evhttp_uri_get_port(uri);
    call->port = port > 0 ? (uint16_t)port : 443;
    const char *path = evhttp_uri_get_path(uri);
    const char *query = evhttp_uri_get_query(uri);
    if (path == NULL || path[0] == '\0')
        path = "/";
    size_t len = strlen(path) + (query != NULL ? strlen(query) + 1 : 0) + 1;
    if ((call->path = malloc(len)) == NULL) {
        why = "out of memory";
        goto out;
    }
    snprintf(call->path, len, "%s%s%s", path, query != NULL ? "?" : "",
             query != NULL ? query : "");
out:
    if (uri != NULL)
        evhttp_uri_free(uri);
    return why;
}

static int mpns_send(struct pclient *pc, const struct pr_notif *n, int timeout_ms,
                     pclient_done_cb cb, void *arg)
{
    struct mpns *m = pc->impl;
    struct pr_result local;
    if (m->n_waiting >= MPNS_MAX_WAITING)
        return PR_EAGAIN;
    struct mpns_call *call = calloc(1, sizeof(*call));
    if (call == NULL)
        return PR_ENOMEM;
    call->m = m;
    call->cb = cb;
    call->arg = arg;
    const char *refused = mpns_target(pc->app, n->token, call);
    if (refused != NULL) {
        char tok[48];
        pr_log_warn(m->fl->log_name, "app %s: channel %s refused: %s", pc->app->id,
                    pr_redact(n->token, tok, sizeof(tok)), refused);
        call_free(call);
        pclient_local(&local, refused);
        return pclient_defer(pc, cb, arg, &local);
    }
    int rv = m->fl->build(call, n);
    if (rv < 0) {
        call_free(call);
        pclient_local(&local, rv == PR_ETOOBIG ? "payload too large" : pr_strerror(rv));
        return pclient_defer(pc, cb, arg, &local);
    }
    if ((call->timer = evtimer_new(pc->base, call_timeout_cb, call)) == NULL) {
        call_free(call);
        return PR_ENOMEM;
    }
    if (timeout_ms <= 0)
        timeout_ms = MPNS_DEFAULT_TIMEOUT_MS;
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    evtimer_add(call->timer, &tv);
    TAILQ_INSERT_TAIL(&m->waiting, call, link);
    m->n_waiting++;
    kick_schedule(m);
    return 0;
}

static int mpns_ready(const struct pclient *pc)
{
    const struct mpns *m = pc->impl;
    /* Connections are per channel host, opened on demand; WNS needs its token endpoint. */
    return m->oauth == NULL || oauth_ready(m->oauth);
}

static void mpns_reauth(struct pclient *pc)
{
    struct mpns *m = pc->impl;
    if (m->oauth != NULL)
        oauth_invalidate(m->oauth);
}

static void mpns_stats(const struct pclient *pc, struct pclient_stats *out)
{
    const struct mpns *m = pc->impl;
    const struct mpns_conn *conn;
    memset(out, 0, sizeof(*out));
    TAILQ_FOREACH(conn, &m->conns, link)
        out->connections_open += conn->state != MPNS_CONN_DEAD;
    out->in_flight = m->in_flight;
    out->queued = m->n_waiting;
}

static void mpns_free(struct pclient *pc)
{
    struct mpns *m = pc->impl;
    if (m == NULL)
        return;
    m->closing = 1;
    struct mpns_conn *conn;
    while ((conn = TAILQ_FIRST(&m->conns)) != NULL) {
        struct mpns_call *call = conn_detach(conn);
        conn_free(conn);
        if (call != NULL)
            call_finish_noanswer(call, "shutdown");
    }
    struct mpns_call *call;
    while ((call = TAILQ_FIRST(&m->waiting)) != NULL) {
        TAILQ_REMOVE(&m->waiting, call, link);
        m->n_waiting--;
        call_finish_noanswer(call, "shutdown");
    }
    oauth_free(m->oauth);
    egress_free(m->egress);
    if (m->kick != NULL)
        event_free(m->kick);
    if (m->dns != NULL)
        evdns_base_free(m->dns, 0);
    SSL_CTX_free(m->ssl_ctx);
    free(m);
    pc->impl = NULL;
}

static const struct pclient_ops mpns_ops = {
    .send = mpns_send,
    .reauth = mpns_reauth,
    .ready = mpns_ready,
    .stats = mpns_stats,
    .free = mpns_free,
};

/* toast_client_new makes the client of 'pc' in flavour 'fl' (without its token source). */
static int toast_client_new(struct pclient *pc, const struct mpns_flavour *fl)
{
    const struct cfg_app *app = pc->app;
    char err[512];
    int rv;
    struct mpns *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return PR_ENOMEM;
    m->pc = pc;
    m->fl = fl;
    TAILQ_INIT(&m->conns);
    TAILQ_INIT(&m->waiting);
    m->per_host = app->connections > 0 ? app->connections : MPNS_DEFAULT_CONNECTIONS;
    pc->impl = m;
    pc->ops = &mpns_ops;
    if (app->n_allowed_hosts == 0)
        pr_log_warn(fl->log_name, "app %s: no allowed_hosts: every channel will be refused", app->id);
    struct tlsc_options tls = { .ca_file = app->ca_file, .cert_file = app->certificate,
                                .key_file = app->private_key };
    if ((rv = tlsc_ctx_new(&tls, &m->ssl_ctx, err, sizeof(err))) < 0) {
        pr_log_error(fl->log_name, "app %s: TLS: %s", app->id, err);
        rv = PR_ECONFIG;
        goto fail;
    }
    if ((m->kick = event_new(pc->base, -1, 0, kick_cb, m)) == NULL ||
        egress_new(app->egress, &m->egress) < 0) {
        rv = PR_ENOMEM;
        goto fail;
    }
    return 0;
fail:
    mpns_free(pc);
    return rv;
}

/* ------------------------------------------------------------------------
 * Flavours
 * ------------------------------------------------------------------------ */

static int mpns_build(struct mpns_call *call, const struct pr_notif *n)
{
    if (uuid_shaped(n->id))
        snprintf(call->message_id, sizeof(call->message_id), "%s", n->id);
    return mpns_payload_build(n, &call->body, &call->body_len);
}

static int mpns_headers(const struct mpns_call *call, struct evkeyvalq *h)
{
    if (evhttp_add_header(h, "Content-Type", "text/xml") != 0 ||
        evhttp_add_header(h, "X-WindowsPhone-Target", "toast") != 0 ||
        evhttp_add_header(h, "X-NotificationClass", "2") != 0 ||
        (call->message_id[0] != '\0' &&
         evhttp_add_header(h, "X-MessageID", call->message_id) != 0))
        return PR_ENOMEM;
    return 0;
}

static void mpns_answer(const struct mpns_call *call, struct evkeyvalq *h, struct pr_result *res)
{
    snprintf(res->reason, sizeof(res->reason), "%s/%s/%s",
             hdr_or_empty(h, "X-NotificationStatus"), hdr_or_empty(h, "X-SubscriptionStatus"),
             hdr_or_empty(h, "X-DeviceConnectionStatus"));
    const char *mid = evhttp_find_header(h, "X-MessageID");
    snprintf(res->provider_id, sizeof(res->provider_id), "%s",
             mid != NULL ? mid : call->message_id);
}

static const struct mpns_flavour mpns_flavour = {
    .log_name = "mpns", .build = mpns_build, .headers = mpns_headers, .answer = mpns_answer,
};

int mpns_client_new(struct pclient *pc)
{
    return toast_client_new(pc, &mpns_flavour);
}

/* WNS: wns_payload.c's toast, its TTL and tag (design section 6). */
static int wns_build(struct mpns_call *call, const struct pr_notif *n)
{
    struct wns_request r;
    int rv = wns_payload_build(n, pr_now_ms(), &r);
    if (rv < 0) {
        wns_request_clear(&r);
        return rv;
    }
    call->body = r.body;
    call->body_len = r.body_len;
    call->ttl_s = r.ttl_s;
    snprintf(call->tag, sizeof(call->tag), "%s", r.tag);
    return 0;
}

static int wns_headers(const struct mpns_call *call, struct evkeyvalq *h)
{
    char ttl[16], auth[4096];
    snprintf(ttl, sizeof(ttl), "%d", call->ttl_s);
    if (call->bearer == NULL ||
        snprintf(auth, sizeof(auth), "Bearer %s", call->bearer) >= (int)sizeof(auth))
        return PR_EINVAL;
    if (evhttp_add_header(h, "Content-Type", WNS_CONTENT_TYPE) != 0 ||
        evhttp_add_header(h, "Authorization", auth) != 0 ||
        evhttp_add_header(h, "X-WNS-Type", WNS_TYPE) != 0 ||
        evhttp_add_header(h, "X-WNS-TTL", ttl) != 0 ||
        evhttp_add_header(h, "X-WNS-RequestForStatus", WNS_REQUEST_FOR_STATUS) != 0 ||
        (call->tag[0] != '\0' && evhttp_add_header(h, "X-WNS-Tag", call->tag) != 0))
        return PR_ENOMEM;
    return 0;
}

/* The reason wns_classify reads (classify_ext.h). */
static void wns_answer(const struct mpns_call *call, struct evkeyvalq *h, struct pr_result *res)
{
    (void)call;
    snprintf(res->reason, sizeof(res->reason), "%s/%s/%s", hdr_or_empty(h, "X-WNS-Status"),
             hdr_or_empty(h, "X-WNS-DeviceConnectionStatus"),
             hdr_or_empty(h, "X-WNS-Error-Description"));
    snprintf(res->provider_id, sizeof(res->provider_id), "%s", hdr_or_empty(h, "X-WNS-Msg-ID"));
}

static const struct mpns_flavour wns_flavour = {
    .log_name = "wns", .build = wns_build, .headers = wns_headers, .answer = wns_answer,
};

/* oauth's callback: a token arrived (kick the waiting calls) or the fetch failed (they wait). */
static void wns_token_ready(void *arg, int err)
{
    struct mpns *m = arg;
    if (err == 0)
        kick_schedule(m);
}

int wns_client_new(struct pclient *pc)
{
    const struct cfg_app *app = pc->app;
    int rv = toast_client_new(pc, &wns_flavour);
    if (rv < 0)
        return rv;
    struct mpns *m = pc->impl;
    const struct oauth_client_credentials cc = {
        .token_endpoint = app->token_endpoint,
        .client_id = app->package_sid,
        .client_secret_file = app->client_secret_file,
        .scope = WNS_OAUTH_SCOPE,
    };
    if ((rv = oauth_new_client_credentials(pc->base, app->id, &cc, app->ca_file, app->egress,
                                           wns_token_ready, m, &m->oauth)) < 0) {
        mpns_free(pc);
        return rv;
    }
    return 0;
}
