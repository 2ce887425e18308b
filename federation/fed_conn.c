/*
 * fed_conn.c - one federation connection: an edge's SIP-over-TLS session.
 *
 * Does: the TLS server handshake and the peer's DNS names, SIP framing of
 * the decrypted stream, validation (fed_request.c), the atomic ingest
 * (relay/queue.c), responses in request order, keep-alive pongs, and the
 * timers that protect the listener. Does not: parse SIP (sip_parse.c),
 * know any provider, or talk to Redis other than through the queue.
 *
 * Requests are answered in the order they arrived even though their ingests
 * complete asynchronously: each request takes a slot at the tail of the
 * connection's response queue, and the completed prefix is written out.
 *
 *   input ──frame──▶ [slot 1: waiting Redis][slot 2: 400 ready][slot 3 …]
 *                        │ verdict arrives
 *                        ▼
 *   output ◀── slot 1 response, slot 2 response ◀── flushed in order
 *
 * Timers (one event, re-armed to the nearest deadline):
 *   handshake_timeout_s  TLS handshake must finish; also, once part of a
 *                        request has arrived, the rest must follow within
 *                        it (a peer trickling bytes is dropped)
 *   idle_timeout_s       no complete request or ping for that long
 *
 * A connection is freed when its socket is closed and no ingest still
 * references it (refs).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "pushrelay/clock.h"
#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "fed_conn.h"
#include "fed_request.h"
#include "queue.h"
#include "sip_frame.h"
#include "sip_parse.h"
#include "sip_response.h"
#include "stats.h"

#define FED_MAX_SANS 16
#define FED_MAX_PENDING 512     /* requests awaiting their response, per connection */
#define FED_RETRY_AFTER_S 5     /* Retry-After when Redis is unreachable */
#define FED_REFUSAL_LOG_PER_S 10    /* refused handshakes logged per second */

/*
 * Who puts the socket's output (TLS records) on the wire. The socket
 * bufferevent writes on a write event, a loop turn after the bytes were
 * queued and at the cost of an epoll_ctl to add the event and one to
 * remove it. After the handshake the connection writes its responses
 * itself as soon as they are made, and hands the socket back to the write
 * event only for what the kernel did not take at once (or for bytes
 * OpenSSL queues on its own: alerts, post-handshake messages).
 *
 *   CONN_WR_EVENT   write event enabled: the handshake, or a write that
 *                   did not drain (EAGAIN) until it drains
 *   CONN_WR_SELF    write event disabled: conn_send_cb writes directly
 *   CONN_WR_NOW     inside conn_send_cb's own write: bytes the TLS layer
 *                   adds now are written by it
 */
enum conn_wr { CONN_WR_EVENT, CONN_WR_SELF, CONN_WR_NOW };

/* The From domain as fed_request keeps it (at most 255 bytes), NUL, push id, NUL. */
#define FED_SLOT_IDS (256 + PR_NOTIF_ID_MAX + 1)

/*
 * One request awaiting its response, in one allocation with its copy of
 * the request ('raw', which 'msg' points into): a slot is made and freed
 * per request, so it costs one malloc, not three.
 */
struct fed_slot {
    struct fed_slot *next;
    struct fed_conn *conn;
    struct sip_msg msg;
    int ready;
    struct evbuffer *resp;      /* NULL: none, or already staged in order */
    enum pr_provider provider;  /* for stats; PR_PROVIDER_COUNT when unknown */
    char domain[FED_SLOT_IDS];  /* domain, NUL, push id, NUL, once queued: they outlive
                                   the notification for stats and Push-Id */
    char raw[];                 /* copy of the request, NUL-terminated */
};

struct fed_conn {
    struct fed_ctx *ctx;
    struct fed_conn *prev, *next;   /* ctx->conns */
    struct bufferevent *bev;        /* NULL once closed */
    struct event *timer;
    struct evbuffer *staged;        /* responses of this loop turn, in order */
    struct event *send_ev;          /* sends 'staged' at the end of the turn */
    enum conn_wr wr;                /* who writes the socket's output */
    char peer[64];
    int handshaken;
    int refs;                       /* 1 while open + 1 per slot */
    int closing;                    /* close once the output is flushed */
    char *sans[FED_MAX_SANS];
    size_t n_sans;
    struct fed_slot *head, *tail;
    int n_pending;
    int64_t last_request_ms;
    int64_t partial_since_ms;       /* 0: no partial request buffered */
};

/* ------------------------------------------------------------------------ */
/* Lifetime                                                                  */
/* ------------------------------------------------------------------------ */

static void conn_unref(struct fed_conn *c)
{
    if (--c->refs > 0)
        return;
    for (size_t i = 0; i < c->n_sans; i++)
        free(c->sans[i]);
    free(c);
}

static void slot_free(struct fed_slot *s)
{
    if (s->resp != NULL)
        evbuffer_free(s->resp);
    free(s);
}

static void conn_sock_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg);

/* conn_close drops the socket now; slots still waiting on Redis keep 'c' alive. */
static void conn_close(struct fed_conn *c, const char *why)
{
    if (c->bev == NULL)
        return;
    pr_log_debug("fed", "%s: closing: %s", c->peer, why);
    struct bufferevent *sock = bufferevent_get_underlying(c->bev);
    if (sock != NULL) {
        struct evbuffer *out = bufferevent_get_output(sock);
        evbuffer_remove_cb(out, conn_sock_out_cb, c);
        /*
         * What TLS still has queued is most often the alert that explains a
         * refused handshake (protocol_version, unknown_ca, ...), written by
         * OpenSSL just before the error event: one non-blocking write puts
         * those few bytes on the wire, where freeing would drop them and the
         * peer would see a bare EOF.
         */
        if (evbuffer_get_length(out) > 0) {
            evbuffer_unfreeze(out, 1);  /* the socket bufferevent keeps its start frozen */
            evbuffer_write(out, bufferevent_getfd(sock));
        }
    }
    bufferevent_free(c->bev);
    c->bev = NULL;
    event_free(c->timer);
    c->timer = NULL;
    event_free(c->send_ev);
    c->send_ev = NULL;
    evbuffer_free(c->staged);
    c->staged = NULL;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        c->ctx->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->ctx->connections--;
    if (++c->ctx->closes_since_trim >= FED_TRIM_AFTER_CLOSES && c->ctx->trim_ev != NULL &&
        !evtimer_pending(c->ctx->trim_ev, NULL)) {
        struct timeval tv = { 0, FED_TRIM_DELAY_MS * 1000 };
        evtimer_add(c->ctx->trim_ev, &tv);
    }
    /* Ready slots are dropped; waiting ones are freed by their callback. */
    struct fed_slot **pp = &c->head;
    while (*pp != NULL) {
        struct fed_slot *s = *pp;
        if (s->ready) {
            *pp = s->next;
            slot_free(s);
            c->refs--;
        } else {
            pp = &s->next;
        }
    }
    conn_unref(c);
}

void fed_conn_close_all(struct fed_ctx *ctx)
{
    while (ctx->conns != NULL)
        conn_close(ctx->conns, "shutdown");
}

/* ------------------------------------------------------------------------ */
/* Timers                                                                    */
/* ------------------------------------------------------------------------ */

static void conn_log_refusal(struct fed_conn *c, const char *reason);

static void conn_arm_timer(struct fed_conn *c)
{
    const struct cfg_federation *f = &c->ctx->cfg->federation;
    int64_t now = pr_mono_ms(), due;
    if (!c->handshaken)
        return; /* armed once at accept */
    due = c->last_request_ms + (int64_t)f->idle_timeout_s * 1000;
    if (c->partial_since_ms != 0) {
        int64_t partial_due = c->partial_since_ms + (int64_t)f->handshake_timeout_s * 1000;
        if (partial_due < due)
            due = partial_due;
    }
    if (due <= now) {
        /*
         * Overdue: the timer decides at once. Only an idle connection held
         * open by an ingest still in flight is looked at again a second later
         * (re-arming in the past would otherwise spin, and re-arming in the
         * future on every read would let a trickling peer postpone forever).
         */
        int partial_overdue = c->partial_since_ms != 0 &&
                              now - c->partial_since_ms >= (int64_t)f->handshake_timeout_s * 1000;
        due = (c->head == NULL || partial_overdue) ? now : now + 1000;
    }
    struct timeval tv = { (due - now) / 1000, ((due - now) % 1000) * 1000 };
    evtimer_add(c->timer, &tv);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct fed_conn *c = arg;
    const struct cfg_federation *f = &c->ctx->cfg->federation;
    int64_t now = pr_mono_ms();
    if (!c->handshaken) {
        char why[64];
        snprintf(why, sizeof(why), "not completed in %d s", f->handshake_timeout_s);
        conn_log_refusal(c, why);
        conn_close(c, "handshake timeout");
    } else if (c->partial_since_ms != 0 &&
               now - c->partial_since_ms >= (int64_t)f->handshake_timeout_s * 1000) {
        pr_log_info("fed", "%s: request not completed in %d s", c->peer, f->handshake_timeout_s);
        conn_close(c, "request timeout");
    } else if (now - c->last_request_ms >= (int64_t)f->idle_timeout_s * 1000 && c->head == NULL) {
        conn_close(c, "idle timeout");
    } else {
        conn_arm_timer(c);
    }
}

/* ------------------------------------------------------------------------ */
/* Responses                                                                 */
/* ------------------------------------------------------------------------ */

/* conn_answered_all: 1 when a closing 'c' has sent every response it owes. */
static int conn_answered_all(struct fed_conn *c)
{
    if (c->bev == NULL || !c->closing || c->head != NULL || evbuffer_get_length(c->staged) > 0 ||
        evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
        return 0;
    struct bufferevent *sock = bufferevent_get_underlying(c->bev);
    return sock == NULL || evbuffer_get_length(bufferevent_get_output(sock)) == 0;
}

/*
 * conn_sock_write writes the socket's output now (c->wr is CONN_WR_NOW).
 * Whatever the kernel does not take, and any error, is left to the socket
 * bufferevent's write event, which retries and reports as it always does.
 * Writing may complete a closing connection's last answer and close it, so
 * 'c' is held until the end.
 */
static void conn_sock_write(struct fed_conn *c)
{
    struct bufferevent *sock = bufferevent_get_underlying(c->bev);
    struct evbuffer *out = bufferevent_get_output(sock);
    c->refs++;
    bufferevent_incref(sock);
    /* As the bufferevent's own write does: it keeps the start frozen between writes. */
    evbuffer_unfreeze(out, 1);
    if (evbuffer_write(out, bufferevent_getfd(sock)) < 0 && errno != EAGAIN && errno != EINTR)
        pr_log_debug("fed", "%s: write: %s (left to the write event)", c->peer, strerror(errno));
    evbuffer_freeze(out, 1);
    if (c->bev != NULL) {
        if (evbuffer_get_length(out) > 0) {
            c->wr = CONN_WR_EVENT;
            bufferevent_enable(sock, EV_WRITE);
        } else {
            c->wr = CONN_WR_SELF;
        }
    }
    bufferevent_decref(sock);
    conn_unref(c);
}

/*
 * conn_send_cb hands the responses staged during this loop turn to TLS in
 * one piece: one record and one write for a whole window of pipelined
 * answers, instead of one record each.
 */
static void conn_send_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct fed_conn *c = arg;
    if (c->bev == NULL || evbuffer_get_length(c->staged) == 0)
        return;
    enum conn_wr wr = c->wr;
    if (wr == CONN_WR_SELF)
        c->wr = CONN_WR_NOW;
    if (evbuffer_pullup(c->staged, -1) == NULL ||
        evbuffer_add_buffer(bufferevent_get_output(c->bev), c->staged) != 0) {
        pr_log_error("fed", "%s: cannot send responses: out of memory", c->peer);
        conn_close(c, "out of memory");
        return;
    }
    if (wr == CONN_WR_SELF)
        conn_sock_write(c);
}

/* conn_flush stages the responses that are ready, in request order. */
static void conn_flush(struct fed_conn *c)
{
    if (c->bev == NULL)
        return;
    while (c->head != NULL && c->head->ready) {
        struct fed_slot *s = c->head;
        c->head = s->next;
        if (c->head == NULL)
            c->tail = NULL;
        if (s->resp != NULL)
            evbuffer_add_buffer(c->staged, s->resp);
        c->n_pending--;
        slot_free(s);
        c->refs--;
    }
    if (evbuffer_get_length(c->staged) > 0)
        event_active(c->send_ev, EV_TIMEOUT, 0);
    /* Only when reading was paused: enabling the TLS filter tries to read again at once. */
    if (c->n_pending < FED_MAX_PENDING / 2 && !c->closing &&
        !(bufferevent_get_enabled(c->bev) & EV_READ))
        bufferevent_enable(c->bev, EV_READ);
}

/*
 * slot_respond renders the response of 's' and flushes what is in order.
 * 'why' becomes a Warning; 'retry_after' > 0 adds Retry-After.
 */
static void slot_respond(struct fed_slot *s, int status, const char *why, int retry_after,
                         const char *push_id)
{
    struct fed_conn *c = s->conn;
    const char *agent = c->ctx->cfg->federation.domain;
    struct sip_hdr extra[4];
    size_t n = 0;
    char warning[320], retry[16];

    if (status == 202 && push_id != NULL)
        extra[n++] = (struct sip_hdr){ "Push-Id", push_id };
    if (status == 200 || status == 405)
        extra[n++] = (struct sip_hdr){ "Allow", FED_ALLOW };
    if (status == 200 || status == 415)
        extra[n++] = (struct sip_hdr){ "Accept", FED_ACCEPT };
    if (retry_after > 0) {
        snprintf(retry, sizeof(retry), "%d", retry_after);
        extra[n++] = (struct sip_hdr){ "Retry-After", retry };
    }
    if (why != NULL && why[0] != '\0' && sip_warning(warning, sizeof(warning), agent, why) > 0)
        extra[n++] = (struct sip_hdr){ "Warning", warning };

    /*
     * The head of the queue is next on the wire: its response goes straight
     * to this turn's staged bytes (with pipelining, nearly every verdict),
     * the others wait in a buffer of their own until their turn.
     */
    struct evbuffer *dst = c->bev != NULL && c->head == s ? c->staged : (s->resp = evbuffer_new());
    if (dst == NULL || sip_response_write(dst, &s->msg, status, NULL, extra, n) != 0)
        pr_log_error("fed", "%s: cannot build a %d response: out of memory", c->peer, status);
    s->ready = 1;
    if (status >= 300 && c->ctx->stats != NULL && s->provider != PR_PROVIDER_COUNT)
        stats_incr_status(c->ctx->stats, s->provider, s->domain, STATS_REJECTED, status, 1);
    if (status >= 400)
        pr_log_debug("fed", "%s: %d %s", c->peer, status, why != NULL ? why : "");
    conn_flush(c);
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                  */
/* ------------------------------------------------------------------------ */

static void ingest_done(void *arg, const struct queue_verdict *v)
{
    struct fed_slot *s = arg;
    struct fed_conn *c = s->conn;
    if (c->bev == NULL) {
        /* The edge went away; the verdict (and a 202's stored entry) stand. */
        slot_free(s);
        conn_unref(c);
        return;
    }
    if (v->status == 202 && c->ctx->stats != NULL)
        stats_incr(c->ctx->stats, s->provider, s->domain, v->duplicate ? STATS_DUPLICATE : STATS_QUEUED, 1);
    const char *push_id = s->domain + strlen(s->domain) + 1;
    slot_respond(s, v->status, v->why, v->status == 503 ? v->retry_after_s : 0, push_id);
}

/*
 * slot_new copies the 'len' bytes of a request at 'buf' and parses them.
 * A request that does not parse but still carries what a response needs
 * gets a slot with '*why' set (answer 400); NULL means nobody can be
 * answered (out of memory, or no Via/From/To/Call-ID/CSeq) and '*why' says why.
 */
static struct fed_slot *slot_new(const char *buf, size_t len, const char **why)
{
    struct fed_slot *s = malloc(sizeof(*s) + len + 1);
    *why = "out of memory";
    if (s == NULL)
        return NULL;
    /* Not calloc: the request's copy needs no zeroing, only the struct does. */
    memset(s, 0, sizeof(*s));
    s->provider = PR_PROVIDER_COUNT;
    memcpy(s->raw, buf, len);
    s->raw[len] = '\0';
    *why = NULL;
    if (sip_parse(s->raw, len, &s->msg, why) != 0 && !sip_msg_can_respond(&s->msg)) {
        slot_free(s);
        return NULL;
    }
    return s;
}

/* conn_enqueue puts 's' at the tail of the response queue of 'c'. */
static void conn_enqueue(struct fed_conn *c, struct fed_slot *s)
{
    s->conn = c;
    c->refs++;
    c->n_pending++;
    if (c->tail != NULL)
        c->tail->next = s;
    else
        c->head = s;
    c->tail = s;
}

/* conn_fatal stops reading: what is queued is answered, then the socket closes. */
static void conn_fatal(struct fed_conn *c)
{
    c->closing = 1;
    bufferevent_disable(c->bev, EV_READ);
    evbuffer_drain(bufferevent_get_input(c->bev), evbuffer_get_length(bufferevent_get_input(c->bev)));
}

/* conn_request handles one framed request of 'len' bytes at 'buf'. */
static void conn_request(struct fed_conn *c, const char *buf, size_t len)
{
    const char *why = NULL;
    struct fed_slot *s = slot_new(buf, len, &why);
    c->ctx->requests++;
    if (s == NULL) {
        /* Without the headers a response needs there is no one to answer. */
        pr_log_info("fed", "%s: unanswerable request: %s", c->peer, why);
        conn_fatal(c);
        return;
    }
    conn_enqueue(c, s);
    if (why != NULL) {
        slot_respond(s, 400, why, 0, NULL);
        return;
    }

    struct pr_notif n;
    struct fed_verdict v;
    struct fed_strs strs;       /* the notification's strings, for as long as 'n' lives */
    if (fed_request_check(c->ctx->cfg, &s->msg, pr_now_ms(), &strs, &n, &v) != 0) {
        slot_respond(s, 500, "out of memory", 0, NULL);
        return;
    }
    if (v.action == FED_IGNORE) {
        s->ready = 1;   /* no response */
        conn_flush(c);
        return;
    }
    if (v.action == FED_RESPOND) {
        slot_respond(s, v.status, v.why, 0, NULL);
        return;
    }
    /* fed_request keeps both within these bounds; the check guards the copy */
    size_t dl = strlen(n.domain), il = strlen(n.id);
    if (dl + il + 2 > sizeof(s->domain)) {
        fed_request_release(&n, &strs);
        slot_respond(s, 500, "push id or domain too long", 0, NULL);
        return;
    }
    s->provider = n.provider;
    memcpy(s->domain, n.domain, dl + 1);
    memcpy(s->domain + dl + 1, n.id, il + 1);
    if (c->ctx->stats != NULL)
        stats_incr(c->ctx->stats, n.provider, n.domain, STATS_RECEIVED, 1);
    int rc = queue_ingest(c->ctx->queue, &n, (const char *const *)c->sans, c->n_sans, ingest_done, s);
    fed_request_release(&n, &strs);
    if (rc != 0)
        slot_respond(s, 503, "queue unavailable: Redis is unreachable", FED_RETRY_AFTER_S, NULL);
}

static void conn_read_sans(struct fed_conn *c, SSL *ssl);

/*
 * conn_established takes the edge's identity once the handshake is done.
 * Requests that came in the same read as the handshake's last flight reach
 * conn_read_cb before the CONNECTED event does, so both call it.
 */
static void conn_established(struct fed_conn *c)
{
    if (c->handshaken)
        return;
    c->handshaken = 1;
    c->last_request_ms = pr_mono_ms();
    conn_read_sans(c, bufferevent_openssl_get_ssl(c->bev));
    struct bufferevent *sock = bufferevent_get_underlying(c->bev);
    if (c->wr == CONN_WR_EVENT && evbuffer_get_length(bufferevent_get_output(sock)) == 0) {
        c->wr = CONN_WR_SELF;   /* else once the handshake's last bytes are out */
        bufferevent_disable(sock, EV_WRITE);
    }
    pr_log_debug("fed", "%s: TLS established, %zu DNS name(s)%s%s", c->peer, c->n_sans,
                 c->n_sans > 0 ? ", first " : "", c->n_sans > 0 ? c->sans[0] : "");
    conn_arm_timer(c);
}

/*
 * conn_error_slot makes the slot that answers a framing error 'fr' of the
 * 'len' buffered bytes at 'buf': from the complete header block when there
 * is one, else from the headers sip_frame_salvage still finds within the
 * buffer (which never exceeds max_message_bytes + 8). NULL when nobody can
 * be addressed: the connection is then closed without an answer.
 */
static struct fed_slot *conn_error_slot(const char *buf, size_t len, const struct sip_frame *fr)
{
    const char *why = NULL;
    if (fr->can_respond)
        return slot_new(buf, fr->hdr_len, &why);
    if (fr->status != 413)
        return NULL;
    char *hdrs = malloc(len + 2);
    if (hdrs == NULL)
        return NULL;
    size_t n = sip_frame_salvage(buf, len, hdrs, len + 2);
    struct fed_slot *s = n > 0 ? slot_new(hdrs, n, &why) : NULL;
    free(hdrs);
    return s;
}

/* Frame and handle every complete request in the input buffer. */
static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    struct fed_conn *c = arg;
    conn_established(c);
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t max = (size_t)c->ctx->cfg->federation.max_message_bytes;
    int64_t now = pr_mono_ms();     /* once per read: its requests arrived together */

    while (c->bev != NULL && !c->closing && evbuffer_get_length(in) > 0) {
        if (c->n_pending >= FED_MAX_PENDING) {
            bufferevent_disable(bev, EV_READ); /* resumes as responses drain */
            break;
        }
        size_t avail = evbuffer_get_length(in), want = avail < max + 8 ? avail : max + 8;
        const char *buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)want);
        struct sip_frame fr;
        if (buf == NULL || sip_frame_scan(buf, want, max, &fr) != 0)
            break;
        if (fr.kind == SIP_FRAME_NEED_MORE)
            break;
        if (fr.kind == SIP_FRAME_PING) {
            evbuffer_drain(in, fr.len);
            bufferevent_write(bev, "\r\n", 2); /* RFC 5626 pong */
            c->last_request_ms = now;
            continue;
        }
        if (fr.kind == SIP_FRAME_SKIP) {
            evbuffer_drain(in, fr.len);
            continue;
        }
        if (fr.kind == SIP_FRAME_ERROR) {
            /* Framing is lost: answer if the headers allow it, then close. */
            pr_log_info("fed", "%s: %d %s", c->peer, fr.status, fr.why != NULL ? fr.why : "");
            struct fed_slot *s = conn_error_slot(buf, want, &fr);
            if (s != NULL) {
                conn_enqueue(c, s);
                slot_respond(s, fr.status, fr.why, 0, NULL);
            }
            conn_fatal(c);
            break;
        }
        c->last_request_ms = now;
        conn_request(c, buf, fr.len);
        if (c->bev != NULL && !c->closing)
            evbuffer_drain(in, fr.len);
    }
    if (c->bev == NULL)
        return;
    if (evbuffer_get_length(in) == 0)
        c->partial_since_ms = 0;
    else if (c->partial_since_ms == 0)
        c->partial_since_ms = now;
    if (conn_answered_all(c))
        conn_close(c, "request error");
    else
        conn_arm_timer(c);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct fed_conn *c = arg;
    if (conn_answered_all(c))
        conn_close(c, "request error");
}

/*
 * conn_sock_out_cb watches the socket's output: the TLS layer's write
 * callback fires once records are made, not once they are sent, and a
 * closing connection must not drop its last response on the floor. It also
 * moves the socket between its writers (enum conn_wr): bytes queued outside
 * conn_send_cb's own write go out on the write event, and once the output
 * is empty after the handshake the connection writes it itself again.
 */
static void conn_sock_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct fed_conn *c = arg;
    if (c->bev == NULL)
        return;
    struct bufferevent *sock = bufferevent_get_underlying(c->bev);
    if (info->n_added > 0 && c->wr == CONN_WR_SELF) {
        c->wr = CONN_WR_EVENT;
        bufferevent_enable(sock, EV_WRITE);
    }
    if (info->n_deleted == 0)
        return;
    if (c->wr == CONN_WR_EVENT && c->handshaken && evbuffer_get_length(buf) == 0) {
        c->wr = CONN_WR_SELF;
        bufferevent_disable(sock, EV_WRITE);
    }
    if (conn_answered_all(c))
        conn_close(c, "request error");
}

/* ------------------------------------------------------------------------ */
/* TLS                                                                       */
/* ------------------------------------------------------------------------ */

/*
 * conn_drop_peer_chain frees the certificates the edge sent above its own
 * (intermediates, and the root that OpenSSL clients send by default).
 * OpenSSL keeps a decoded copy of each in the session for as long as the
 * connection lives (a P-256 CA: 4.4 KB of the listener's RSS per idle
 * edge, bench/run-idle.sh), yet nothing needs them once the handshake
 * verified the chain: the verified chain holds the trust store's own
 * copies, and the edge's identity is its leaf's names. A session resumed
 * from a ticket carries no chain (SSL_get_peer_cert_chain is NULL).
 */
static void conn_drop_peer_chain(SSL *ssl)
{
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);
    X509 *x;
    while (chain != NULL && (x = sk_X509_pop(chain)) != NULL)
        X509_free(x);
}

/*
 * conn_read_sans keeps the peer certificate's DNS names (lower case): the
 * identities an edge may claim. The chain itself was verified by OpenSSL
 * against federation.tls.ca_file during the handshake.
 */
static void conn_read_sans(struct fed_conn *c, SSL *ssl)
{
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (cert == NULL)
        return;
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
        if (gn->type != GEN_DNS || c->n_sans >= FED_MAX_SANS)
            continue;
        const unsigned char *p = ASN1_STRING_get0_data(gn->d.dNSName);
        int len = ASN1_STRING_length(gn->d.dNSName);
        if (len <= 0 || len > 253 || memchr(p, '\0', (size_t)len) != NULL)
            continue;
        char *name = malloc((size_t)len + 1);
        if (name == NULL)
            break;
        for (int j = 0; j < len; j++)
            name[j] = (char)tolower(p[j]);
        name[len] = '\0';
        c->sans[c->n_sans++] = name;
    }
    GENERAL_NAMES_free(names);
    X509_free(cert);
    conn_drop_peer_chain(ssl);
}

/*
 * conn_refusal_reason names why OpenSSL refused the handshake of 'c' with
 * error 'e', for the log: the certificate verdict when the chain was
 * refused, else the error's reason.
 */
static const char *conn_refusal_reason(struct fed_conn *c, unsigned long e, char *buf, size_t len)
{
    SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
    long vr = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (e != 0 && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED && vr != X509_V_OK) {
        snprintf(buf, len, "client certificate refused: %s", X509_verify_cert_error_string(vr));
    } else {
        const char *r = ERR_reason_error_string(e);
        snprintf(buf, len, "%s", r != NULL ? r : "TLS error");
    }
    return buf;
}

/* conn_refusals_summary logs how many refusals went unlogged, stamped 'now'. */
static void conn_refusals_summary(struct fed_ctx *ctx, int64_t now)
{
    if (ctx->refusals_unlogged > 0)
        pr_log_at(PR_LOG_INFO, "fed", now, "%ld more TLS handshake(s) refused and not logged",
                  ctx->refusals_unlogged);
    ctx->refusals_unlogged = 0;
}

/* conn_refusals_arm wakes fed_conn_refusals_cb just after the second of 'now'. */
static void conn_refusals_arm(struct fed_ctx *ctx, int64_t now)
{
    int64_t ms = 1000 - now % 1000 + 1;
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
    if (ctx->refusal_ev != NULL)
        evtimer_add(ctx->refusal_ev, &tv);
}

void fed_conn_refusals_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct fed_ctx *ctx = arg;
    int64_t now = pr_now_ms();
    if (ctx->refusals_unlogged == 0)
        return;                 /* a refusal of a later second logged the count */
    if (fd >= 0 && now / 1000 == ctx->refusal_log_sec) {
        conn_refusals_arm(ctx, now);    /* woken before the wall clock's second ended */
        return;
    }
    conn_refusals_summary(ctx, now);
}

/*
 * conn_log_refusal logs one line per refused peer, at most
 * FED_REFUSAL_LOG_PER_S stamped with the same second: a flood of bad
 * handshakes must not flood the log. The lines are stamped with the
 * reading the limit counts by, so no second of the log shows more. How
 * many went unlogged is logged once their second is over (refusal_ev), or
 * by the first refusal of a later second, whichever comes first: every
 * refusal is in the log, as a line or in a count.
 */
static void conn_log_refusal(struct fed_conn *c, const char *reason)
{
    struct fed_ctx *ctx = c->ctx;
    int64_t now = pr_now_ms(), sec = now / 1000;
    if (sec != ctx->refusal_log_sec) {
        conn_refusals_summary(ctx, now);
        ctx->refusal_log_sec = sec;
        ctx->refusals_logged = 0;
    }
    if (ctx->refusals_logged >= FED_REFUSAL_LOG_PER_S) {
        if (ctx->refusals_unlogged++ == 0)
            conn_refusals_arm(ctx, now);
        return;
    }
    ctx->refusals_logged++;
    pr_log_at(PR_LOG_INFO, "fed", now, "%s: TLS handshake refused: %s", c->peer, reason);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct fed_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        conn_established(c);
        return;
    }
    if (what & BEV_EVENT_ERROR) {
        unsigned long e = bufferevent_get_openssl_error(bev);
        char buf[256];
        if (!c->handshaken && e != 0) {
            /* A refused handshake is worth an admin's eye; an edge that hangs up is not. */
            conn_log_refusal(c, conn_refusal_reason(c, e, buf, sizeof(buf)));
        } else if (e != 0) {
            ERR_error_string_n(e, buf, sizeof(buf));
            pr_log_debug("fed", "%s: TLS closed: %s", c->peer, buf);
        }
        while (bufferevent_get_openssl_error(bev) != 0)
            ;   /* the rest of this connection's queue says nothing more */
    }
    conn_close(c, (what & BEV_EVENT_EOF) ? "peer closed" : "socket error");
}

int fed_conn_new(struct fed_ctx *ctx, evutil_socket_t fd, SSL *ssl, const char *peer)
{
    struct fed_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        SSL_free(ssl);
        evutil_closesocket(fd);
        return PR_ENOMEM;
    }
    c->ctx = ctx;
    c->refs = 1;
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    /*
     * TLS runs as a filter over a plain socket bufferevent rather than on
     * the socket itself: one read() then brings in every record the edge
     * has pipelined (OpenSSL on a socket reads each record's header and
     * body with a read() each), and the responses of one loop turn leave
     * in one write().
     */
    struct bufferevent *sock = bufferevent_socket_new(ctx->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (sock == NULL) {
        SSL_free(ssl);
        evutil_closesocket(fd);
    } else if ((c->bev = bufferevent_openssl_filter_new(ctx->base, sock, ssl,
                                                        BUFFEREVENT_SSL_ACCEPTING,
                                                        BEV_OPT_CLOSE_ON_FREE)) == NULL) {
        bufferevent_free(sock);     /* the filter freed 'ssl' */
    }
    c->timer = evtimer_new(ctx->base, conn_timer_cb, c);
    c->send_ev = event_new(ctx->base, -1, 0, conn_send_cb, c);
    c->staged = evbuffer_new();
    if (c->bev == NULL || c->timer == NULL || c->send_ev == NULL || c->staged == NULL ||
        evbuffer_add_cb(bufferevent_get_output(sock), conn_sock_out_cb, c) == NULL) {
        if (c->bev != NULL)
            bufferevent_free(c->bev);
        if (c->timer != NULL)
            event_free(c->timer);
        if (c->send_ev != NULL)
            event_free(c->send_ev);
        if (c->staged != NULL)
            evbuffer_free(c->staged);
        free(c);
        return PR_ENOMEM;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    struct timeval tv = { ctx->cfg->federation.handshake_timeout_s, 0 };
    evtimer_add(c->timer, &tv);
    c->next = ctx->conns;
    if (ctx->conns != NULL)
        ctx->conns->prev = c;
    ctx->conns = c;
    ctx->connections++;
    return 0;
}
