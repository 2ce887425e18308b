/*
 * sipload - SIP MESSAGE load generator over mutual TLS: plays many enterprise
 * edges at once against a pushrelay listener (or against sipecho, the
 * machine ceiling) and reports throughput and send->response latency.
 *
 * What it does: opens C TLS connections presenting an edge client
 * certificate, keeps up to W requests outstanding on each (pipelined), and
 * either runs closed loop (refill the window as answers come back) or open
 * loop at a steady --rate, where latency is measured from the request's
 * intended send time so a stalled server cannot hide its stall (coordinated
 * omission). Every MESSAGE carries a unique Call-ID, JSON "id" and device
 * token, so nothing is deduplicated away and every 202 must become one
 * stream entry in Redis.
 *
 * What it does not do: SIP transactions, retransmissions, authentication
 * challenges, or any parsing beyond what matching a response needs (status
 * line, Content-Length, Call-ID). The relay answers on one TLS connection in
 * request order, so responses are matched in order and the Call-ID is only
 * checked.
 *
 * Who calls it: bench/run-ingest.sh and bench/run-dispatch.sh, or a person
 * (see bench/README.md). One process, one libevent loop, no threads.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "pushrelay/clock.h"
#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "bench_read.h"
#include "sip_wire.h"

#define MOD "sipload"
#define TOKEN_LEN 64            /* APNs device token: 32 bytes in hex */
#define SEQ_DIGITS 12           /* fixed width keeps Content-Length constant */
#define REQ_HEAD_MAX 1024       /* request line + headers, generous */
#define RESP_MAX 8192           /* a response bigger than this is a protocol error */
#define IN_CAP (64 * 1024)

/* ------------------------------------------------------------------------
 * Latency histogram: log-linear buckets over microseconds.
 *
 *   value v < 32            bucket v (exact)
 *   2^e <= v < 2^(e+1)      group g = e - 4, 32 linear sub-buckets of width 2^(e-5)
 *
 * so every bucket is at most 1/32 (~3%) of its value wide, 1184 counters
 * cover up to 2^41 us (25 days), and recording is a shift and an add.
 * ------------------------------------------------------------------------ */
#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_GROUPS 37
#define HIST_BUCKETS (HIST_GROUPS * HIST_SUB)

struct hist {
    uint64_t counts[HIST_BUCKETS];
    uint64_t n;
    uint64_t max;
};

static unsigned hist_index(uint64_t v)
{
    if (v < HIST_SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    unsigned g = e - HIST_SUB_BITS + 1;
    if (g >= HIST_GROUPS)
        return HIST_BUCKETS - 1;
    return g * HIST_SUB + (unsigned)((v >> (e - HIST_SUB_BITS)) - HIST_SUB);
}

/* hist_upper returns the largest value that falls in bucket 'i'. */
static uint64_t hist_upper(unsigned i)
{
    unsigned g = i / HIST_SUB, sub = i % HIST_SUB;
    if (g == 0)
        return sub;
    return (((uint64_t)HIST_SUB + sub + 1) << (g - 1)) - 1;
}

static void hist_add(struct hist *h, uint64_t us)
{
    h->counts[hist_index(us)]++;
    h->n++;
    if (us > h->max)
        h->max = us;
}

/* hist_pct returns the value at quantile 'q' (0..1): the upper bound of the
 * bucket holding that rank, never more than the exact maximum. */
static uint64_t hist_pct(const struct hist *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->n + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = hist_upper(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

/* ------------------------------------------------------------------------
 * Options and run state
 * ------------------------------------------------------------------------ */
struct opts {
    const char *host;
    int port;
    const char *cert, *key, *ca;
    int connections;
    int window;
    uint64_t count;             /* 0: unlimited (then --duration bounds the run) */
    double duration_s;          /* 0: until count */
    const char *domain;         /* From domain */
    const char *relay_domain;   /* Request-URI host */
    const char *provider;
    const char *param;
    const char *token_prefix;   /* one prefix, or a comma-separated list (see token_of) */
    double rate;                /* 0: closed loop */
    int body_bytes;             /* 0: natural size */
    int options;                /* send OPTIONS instead of MESSAGE */
    int json;
    double drain_s;             /* wait this long for answers after the last send */
    const char *log_path;       /* --log: one line per request's fate */
};

/*
 * CONNECTING covers the TCP connect, the TLS handshake and one warm-up
 * OPTIONS round trip: the server has then finished its side of the
 * handshake too, so the first measured requests do not queue behind other
 * connections' certificate checks. The load starts when every connection
 * is READY or DEAD.
 */
enum conn_state { CONN_CONNECTING, CONN_READY, CONN_DEAD };

/* One outstanding request: responses arrive in request order, so a ring. */
struct slot {
    uint64_t seq;
    uint64_t t_us;              /* send time (closed loop) or intended send time */
};

struct conn {
    struct sipload *L;
    struct bufferevent *bev;
    enum conn_state state;
    struct slot *ring;          /* 'window' slots */
    unsigned head, n_out;
    char *in;                   /* linear copy of unparsed input */
    size_t in_len;
    char *out;                  /* requests built this loop iteration */
    size_t out_len, out_cap;
};

struct sipload {
    struct opts o;
    struct event_base *base;
    SSL_CTX *ctx;
    struct conn *conns;
    int n_ready, n_settled;     /* connected; connected or failed */
    struct event *tick;         /* open-loop pacing timer */
    struct event *stop;         /* --duration */
    struct event *drain;        /* give up waiting for answers */
    struct event *sigint;

    char run_id[17];            /* makes ids unique across runs (dedup window) */
    char body_pad[16384];
    size_t body_len;            /* Content-Length, the same for every request */
    size_t req_max;

    uint64_t t0_us;             /* monotonic load start */
    int64_t t0_wall_us;         /* the same instant, wall clock */
    uint64_t t_last_us;         /* last answer */
    uint64_t issued;            /* requests written (seq of the next one) */
    uint64_t answered;
    uint64_t mismatched;        /* answer whose Call-ID was not the expected one */
    uint64_t lost;              /* outstanding on a connection that died */
    uint64_t status[700];
    int stopping;               /* no more new requests */
    int ok_status;              /* 202 for MESSAGE, 200 for OPTIONS */
    unsigned rr;                /* open-loop round robin */
    struct conn **dirty;        /* connections with a batch to flush */
    int n_dirty;
    int interrupted;
    struct hist lat;
    const char *prefixes[64];   /* --token-prefix split at commas */
    size_t n_prefixes;
    char prefix_buf[64 * 49 + 1];
    FILE *log;                  /* --log, or NULL */
};

/* ------------------------------------------------------------------------
 * Request building. Every variable field is fixed width, so the body length
 * is computed once and each request is one snprintf into the batch buffer.
 * ------------------------------------------------------------------------ */
static void req_init(struct sipload *L)
{
    const struct opts *o = &L->o;
    char probe[512];
    int base_len = snprintf(probe, sizeof(probe),
                            "{\"id\":\"%s-%0*d\",\"event\":\"im\",\"from\":\"sip:alice@%s\","
                            "\"to\":\"sip:bob@%s\",\"title\":\"Benchmark\",\"body\":\"\",\"ttl\":3600}",
                            L->run_id, SEQ_DIGITS, 0, o->domain, o->domain);
    size_t pad = 12;            /* "Lunch at 12?"-sized text by default */
    if (o->body_bytes > base_len)
        pad = (size_t)(o->body_bytes - base_len);
    if (pad >= sizeof(L->body_pad))
        pad = sizeof(L->body_pad) - 1;
    for (size_t i = 0; i < pad; i++)
        L->body_pad[i] = (char)('a' + i % 26);
    L->body_pad[pad] = '\0';
    L->body_len = (size_t)base_len + pad;
    L->req_max = REQ_HEAD_MAX + strlen(o->domain) * 4 + strlen(o->param) +
                 strlen(o->relay_domain) * 3 + TOKEN_LEN + L->body_len;
}

/* token_of writes the 64-character device token of request 'seq' into
 * 'buf' (TOKEN_LEN + 1 bytes): the prefix chosen by 'seq' modulo the number
 * of --token-prefix entries, then 'seq' in hex, zero-filled. With several
 * prefixes the traffic interleaves them (e.g. plain tokens and sandbox
 * behaviour markers) at a fixed ratio; every token stays unique. */
static void token_of(const struct sipload *L, uint64_t seq, char *buf)
{
    const char *prefix = L->prefixes[seq % L->n_prefixes];
    int plen = (int)strlen(prefix);
    snprintf(buf, TOKEN_LEN + 1, "%s%0*llx", prefix, TOKEN_LEN - plen, (unsigned long long)seq);
}

/* log_fate appends "<epoch ms> <push id> <token> <status>" for request 'seq'
 * to --log; 'status' 0 is written "-": never answered (its connection died
 * or the drain gave up), so the edge would have to send it again. */
static void log_fate(const struct sipload *L, uint64_t seq, int status)
{
    if (L->log == NULL || L->o.options)
        return;
    char tok[TOKEN_LEN + 1], st[16] = "-";
    token_of(L, seq, tok);
    if (status > 0)
        snprintf(st, sizeof(st), "%d", status);
    fprintf(L->log, "%" PRId64 " %s-%0*llu %s %s\n", pr_now_us() / 1000, L->run_id, SEQ_DIGITS,
            (unsigned long long)seq, tok, st);
}

/* req_format writes request 'seq' into 'buf' and returns its length, or 0
 * if 'cap' is too small (a sizing bug: the caller reserves req_max). */
static size_t req_format(const struct sipload *L, uint64_t seq, char *buf, size_t cap)
{
    const struct opts *o = &L->o;
    unsigned long long s = (unsigned long long)seq;
    int n;
    if (o->options) {
        n = snprintf(buf, cap,
                     "OPTIONS sip:push@%s SIP/2.0\r\n"
                     "Via: SIP/2.0/TLS edge.%s:5061;branch=z9hG4bK%s%0*llu\r\n"
                     "Max-Forwards: 70\r\n"
                     "From: <sip:mcx@%s>;tag=%s\r\n"
                     "To: <sip:push@%s>\r\n"
                     "Call-ID: %0*llu-%s@edge.%s\r\n"
                     "CSeq: 1 OPTIONS\r\n"
                     "Content-Length: 0\r\n\r\n",
                     o->relay_domain, o->domain, L->run_id, SEQ_DIGITS, s, o->domain,
                     L->run_id, o->relay_domain, SEQ_DIGITS, s, L->run_id, o->domain);
    } else {
        char tok[TOKEN_LEN + 1];
        token_of(L, seq, tok);
        n = snprintf(buf, cap,
                     "MESSAGE sip:push@%s;pn-provider=%s;pn-prid=%s;pn-param=%s SIP/2.0\r\n"
                     "Via: SIP/2.0/TLS edge.%s:5061;branch=z9hG4bK%s%0*llu\r\n"
                     "Max-Forwards: 70\r\n"
                     "From: <sip:mcx@%s>;tag=%s\r\n"
                     "To: <sip:push@%s>\r\n"
                     "Call-ID: %0*llu-%s@edge.%s\r\n"
                     "CSeq: 1 MESSAGE\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n"
                     "{\"id\":\"%s-%0*llu\",\"event\":\"im\",\"from\":\"sip:alice@%s\","
                     "\"to\":\"sip:bob@%s\",\"title\":\"Benchmark\",\"body\":\"%s\",\"ttl\":3600}",
                     o->relay_domain, o->provider, tok, o->param, o->domain, L->run_id,
                     SEQ_DIGITS, s, o->domain, L->run_id, o->relay_domain, SEQ_DIGITS, s,
                     L->run_id, o->domain, L->body_len, L->run_id, SEQ_DIGITS, s, o->domain,
                     o->domain, L->body_pad);
    }
    if (n < 0 || (size_t)n >= cap)
        return 0;
    return (size_t)n;
}

/* ------------------------------------------------------------------------
 * Responses: framed by sip_wire (Content-Length, compact "l" included);
 * only the status and Call-ID ("i") are read.
 * ------------------------------------------------------------------------ */

/*
 * resp_parse looks at 'len' bytes at 'p'. Returns the length of one complete
 * response and fills 'status' and 'callid_seq' (UINT64_MAX if unreadable),
 * 0 if more bytes are needed, or PR_EPROTO if this is not a SIP response.
 */
static long resp_parse(const char *p, size_t len, int *status, uint64_t *callid_seq)
{
    struct sip_wire_resp r;
    if (sip_wire_resp_scan(p, len, RESP_MAX, &r) != 0)
        return PR_EPROTO;
    if (r.len == 0)
        return 0;
    *status = r.status;
    *callid_seq = UINT64_MAX;
    struct sip_str v = sip_wire_header(r.hdrs, r.hdrs_end, SIP_WIRE_HDR_CALL_ID);
    if (v.p != NULL) {
        char *e;
        unsigned long long s = strtoull(v.p, &e, 10);
        if (e != v.p && *e == '-')
            *callid_seq = s;
    }
    return (long)r.len;
}

/* ------------------------------------------------------------------------
 * Sending
 * ------------------------------------------------------------------------ */
static int all_issued(const struct sipload *L)
{
    return L->stopping || (L->o.count > 0 && L->issued >= L->o.count);
}

/* due returns how many requests should have been issued by 'now' (open loop). */
static uint64_t due(const struct sipload *L, uint64_t now)
{
    uint64_t d = (uint64_t)((double)(now - L->t0_us) * L->o.rate / 1e6) + 1;
    if (L->o.count > 0 && d > L->o.count)
        d = L->o.count;
    return d;
}

/* conn_queue builds request number L->issued into c's batch buffer. */
static void conn_queue(struct conn *c, uint64_t t_us)
{
    struct sipload *L = c->L;
    if (c->out_len == 0)
        L->dirty[L->n_dirty++] = c;
    size_t n = req_format(L, L->issued, c->out + c->out_len, c->out_cap - c->out_len);
    if (n == 0)
        abort();                /* req_max undersized: a bug, not a run-time condition */
    c->out_len += n;
    struct slot *s = &c->ring[(c->head + c->n_out) % (unsigned)L->o.window];
    s->seq = L->issued;
    s->t_us = t_us;
    c->n_out++;
    L->issued++;
}

/* conn_flush hands the batch to the TLS layer in one piece: a few large
 * TLS records and writes per loop iteration, not one per request. */
static void conn_flush(struct conn *c)
{
    if (c->out_len == 0)
        return;
    if (evbuffer_add(bufferevent_get_output(c->bev), c->out, c->out_len) != 0)
        pr_log_error(MOD, "out of memory queueing %zu bytes", c->out_len);
    c->out_len = 0;
}

/* conn_fill tops up the window of 'c' (closed loop) or issues what is due. */
static void conn_fill(struct conn *c, uint64_t now)
{
    struct sipload *L = c->L;
    if (c->state != CONN_READY)
        return;
    uint64_t limit = L->o.rate > 0 ? due(L, now) : UINT64_MAX;
    while (!all_issued(L) && c->n_out < (unsigned)L->o.window && L->issued < limit) {
        uint64_t t = L->o.rate > 0 ? L->t0_us + (uint64_t)((double)L->issued * 1e6 / L->o.rate)
                                   : now;
        conn_queue(c, t);
    }
    conn_flush(c);
    L->n_dirty = 0;             /* 'c' was the only one written to */
}

/* pace (open loop): spread what is due over connections with window room. */
static void pace(struct sipload *L, uint64_t now)
{
    uint64_t limit = due(L, now);
    int n = L->o.connections, idle = 0;
    while (!all_issued(L) && L->issued < limit && idle < n) {
        struct conn *c = &L->conns[L->rr++ % (unsigned)n];
        if (c->state != CONN_READY || c->n_out >= (unsigned)L->o.window) {
            idle++;
            continue;
        }
        idle = 0;
        uint64_t t = L->t0_us + (uint64_t)((double)L->issued * 1e6 / L->o.rate);
        conn_queue(c, t);
    }
    for (int i = 0; i < L->n_dirty; i++)
        conn_flush(L->dirty[i]);
    L->n_dirty = 0;
}

/* ------------------------------------------------------------------------
 * Run control
 * ------------------------------------------------------------------------ */
static uint64_t outstanding(const struct sipload *L)
{
    uint64_t n = 0;
    for (int i = 0; i < L->o.connections; i++)
        if (L->conns[i].state == CONN_READY)
            n += L->conns[i].n_out;
    return n;
}

static void check_done(struct sipload *L)
{
    if (L->n_ready == 0 && L->n_settled == L->o.connections) {
        event_base_loopbreak(L->base);
        return;
    }
    if (L->t0_us == 0)
        return;
    int alive = 0;
    for (int i = 0; i < L->o.connections; i++)
        alive += L->conns[i].state == CONN_READY;
    if (alive == 0 || (all_issued(L) && outstanding(L) == 0))
        event_base_loopbreak(L->base);
}

static void begin_drain(struct sipload *L)
{
    if (L->drain != NULL && !evtimer_pending(L->drain, NULL)) {
        struct timeval tv = { (time_t)L->o.drain_s,
                              (suseconds_t)((L->o.drain_s - (double)(time_t)L->o.drain_s) * 1e6) };
        evtimer_add(L->drain, &tv);
    }
}

static void conn_kill(struct conn *c, const char *why)
{
    struct sipload *L = c->L;
    if (c->state == CONN_DEAD)
        return;
    if (c->state == CONN_READY) {
        L->n_ready--;
        if (c->n_out > 0 || !all_issued(L))
            pr_log_warn(MOD, "connection lost with %u requests outstanding: %s", c->n_out, why);
        L->lost += c->n_out;
        for (unsigned i = 0; i < c->n_out; i++)
            log_fate(L, c->ring[(c->head + i) % (unsigned)L->o.window].seq, 0);
    } else {
        L->n_settled++;
        pr_log_error(MOD, "connect to %s:%d failed: %s", L->o.host, L->o.port, why);
    }
    c->n_out = 0;
    c->out_len = 0;             /* a batch still listed in L->dirty is dropped */
    c->state = CONN_DEAD;
    bufferevent_free(c->bev);
    c->bev = NULL;
    check_done(L);
}

static void start_load(struct sipload *L);

/* conn_ready: 'c' answered its warm-up request; start when all have settled. */
static void conn_ready(struct conn *c)
{
    struct sipload *L = c->L;
    c->state = CONN_READY;
    L->n_ready++;
    L->n_settled++;
    if (L->n_settled == L->o.connections)
        start_load(L);
}

static void start_load(struct sipload *L)
{
    /* timers are relative to the loop's cached time, which is stale after
     * a callback that did many handshakes */
    event_base_update_cache_time(L->base);
    L->t0_us = pr_mono_us();
    L->t0_wall_us = pr_now_us();
    if (L->o.duration_s > 0) {
        struct timeval tv = { (time_t)L->o.duration_s,
                              (suseconds_t)((L->o.duration_s - (double)(time_t)L->o.duration_s) * 1e6) };
        evtimer_add(L->stop, &tv);
    }
    if (L->o.rate > 0) {
        /* tick about once per request, between 50 us and 1 ms: a request
         * waits at most one tick past its intended time on an idle run */
        double period = 1e6 / L->o.rate;
        struct timeval tv = { 0, (suseconds_t)(period < 50 ? 50 : period > 1000 ? 1000 : period) };
        event_add(L->tick, &tv);
        pace(L, L->t0_us);
    } else {
        for (int i = 0; i < L->o.connections; i++)
            conn_fill(&L->conns[i], L->t0_us);
    }
    if (all_issued(L))
        begin_drain(L);
    check_done(L);
}

/* ------------------------------------------------------------------------
 * libevent callbacks
 * ------------------------------------------------------------------------ */
/*
 * A read's answers, as bench_read hands them to load_answer: all of them
 * are stamped with the time the read began.
 */
struct load_read {
    struct conn *c;
    uint64_t now;
};

/* load_answer is the bench_read_fn: takes one answer (and the CRLF pongs before it). */
static long load_answer(void *arg, const char *p, size_t len)
{
    struct load_read *r = arg;
    struct conn *c = r->c;
    struct sipload *L = c->L;
    size_t skip = sip_wire_skip_crlf(p, len);   /* RFC 5626 pongs */
    int status;
    uint64_t seq;
    long used = resp_parse(p + skip, len - skip, &status, &seq);
    if (used == 0)
        return (long)skip;
    if (used < 0) {
        conn_kill(c, "malformed response");
        return -1;
    }
    if (c->state == CONN_CONNECTING) {
        conn_ready(c);  /* the warm-up answer: not measured */
        return (long)skip + used;
    }
    if (c->n_out == 0) {
        conn_kill(c, "response without a request");
        return -1;
    }
    struct slot *s = &c->ring[c->head];
    c->head = (c->head + 1) % (unsigned)L->o.window;
    c->n_out--;
    if (seq != s->seq)
        L->mismatched++;
    L->status[status]++;
    L->answered++;
    log_fate(L, s->seq, status);
    hist_add(&L->lat, r->now > s->t_us ? r->now - s->t_us : 0);
    L->t_last_us = r->now;
    return (long)skip + used;
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct sipload *L = c->L;
    struct load_read r = { .c = c, .now = pr_mono_us() };
    uint64_t now = r.now;

    if (bench_read(bufferevent_get_input(bev), c->in, IN_CAP, &c->in_len, load_answer, &r) != 0)
        return;
    if (L->t0_us == 0)
        return;                 /* still warming up */
    if (L->o.rate > 0)
        pace(L, now);
    else
        conn_fill(c, now);
    if (all_issued(L))
        begin_drain(L);
    check_done(L);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    struct sipload *L = c->L;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        const struct opts *o = &L->o;
        evbuffer_add_printf(bufferevent_get_output(bev),
                            "OPTIONS sip:push@%s SIP/2.0\r\n"
                            "Via: SIP/2.0/TLS edge.%s:5061;branch=z9hG4bK%sw%d\r\n"
                            "Max-Forwards: 70\r\n"
                            "From: <sip:mcx@%s>;tag=%s\r\n"
                            "To: <sip:push@%s>\r\n"
                            "Call-ID: warmup%d-%s@edge.%s\r\n"
                            "CSeq: 1 OPTIONS\r\n"
                            "Content-Length: 0\r\n\r\n",
                            o->relay_domain, o->domain, L->run_id, (int)(c - L->conns),
                            o->domain, L->run_id, o->relay_domain, (int)(c - L->conns),
                            L->run_id, o->domain);
        return;
    }
    char why[256];
    snprintf(why, sizeof(why), "%s", c->state == CONN_CONNECTING
             ? "refused, or closed during the TLS handshake" : "closed by peer");
    unsigned long e = bufferevent_get_openssl_error(bev);
    int serr = EVUTIL_SOCKET_ERROR();
    if (e != 0 && ERR_GET_LIB(e) != 0)
        ERR_error_string_n(e, why, sizeof(why));
    else if ((what & BEV_EVENT_ERROR) && serr != 0)
        snprintf(why, sizeof(why), "%s", strerror(serr));
    pr_log_debug(MOD, "connection event 0x%x, TLS error 0x%lx, errno %d", what, e, serr);
    int was_connecting = c->state == CONN_CONNECTING;
    conn_kill(c, why);
    if (was_connecting && L->n_settled == L->o.connections && L->n_ready > 0)
        start_load(L);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct sipload *L = arg;
    pace(L, pr_mono_us());
    if (all_issued(L)) {
        event_del(L->tick);
        begin_drain(L);
    }
    check_done(L);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct sipload *L = arg;
    L->stopping = 1;
    if (L->tick != NULL)
        event_del(L->tick);
    begin_drain(L);
    check_done(L);
}

static void on_drain(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct sipload *L = arg;
    pr_log_warn(MOD, "gave up after %.1f s waiting for %" PRIu64 " answers", L->o.drain_s,
                outstanding(L));
    event_base_loopbreak(L->base);
}

static void on_sigint(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct sipload *L = arg;
    L->interrupted = 1;
    event_base_loopbreak(L->base);
}

/* ------------------------------------------------------------------------
 * Setup
 * ------------------------------------------------------------------------ */
static int tls_setup(struct sipload *L)
{
    const struct opts *o = &L->o;
    L->ctx = SSL_CTX_new(TLS_client_method());
    if (L->ctx == NULL)
        return PR_ENOMEM;
    SSL_CTX_set_min_proto_version(L->ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(L->ctx, o->cert) != 1) {
        pr_log_error(MOD, "--cert %s: cannot load certificate chain", o->cert);
        return PR_ETLS;
    }
    if (SSL_CTX_use_PrivateKey_file(L->ctx, o->key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(L->ctx) != 1) {
        pr_log_error(MOD, "--key %s: cannot load or does not match --cert", o->key);
        return PR_ETLS;
    }
    if (SSL_CTX_load_verify_locations(L->ctx, o->ca, NULL) != 1) {
        pr_log_error(MOD, "--ca %s: cannot load CA bundle", o->ca);
        return PR_ETLS;
    }
    SSL_CTX_set_verify(L->ctx, SSL_VERIFY_PEER, NULL);
    /* the relay's certificate must name the address we dial */
    X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(L->ctx);
    struct in6_addr a6;
    struct in_addr a4;
    if (inet_pton(AF_INET, o->host, &a4) == 1 || inet_pton(AF_INET6, o->host, &a6) == 1)
        X509_VERIFY_PARAM_set1_ip_asc(vp, o->host);
    else
        X509_VERIFY_PARAM_set1_host(vp, o->host, 0);
    return 0;
}

static int conns_open(struct sipload *L)
{
    const struct opts *o = &L->o;
    struct sockaddr_storage ss;
    int sslen = sizeof(ss);
    char addr[300];
    snprintf(addr, sizeof(addr), strchr(o->host, ':') ? "[%s]:%d" : "%s:%d", o->host, o->port);
    if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &sslen) != 0) {
        pr_log_error(MOD, "--host %s: not a numeric address", o->host);
        return PR_EINVAL;
    }
    L->conns = calloc((size_t)o->connections, sizeof(*L->conns));
    L->dirty = calloc((size_t)o->connections, sizeof(*L->dirty));
    if (L->conns == NULL || L->dirty == NULL)
        return PR_ENOMEM;
    for (int i = 0; i < o->connections; i++) {
        struct conn *c = &L->conns[i];
        c->L = L;
        c->state = CONN_CONNECTING;
        c->ring = calloc((size_t)o->window, sizeof(*c->ring));
        c->in = malloc(IN_CAP);
        c->out_cap = L->req_max * (size_t)o->window;
        c->out = malloc(c->out_cap);
        SSL *ssl = SSL_new(L->ctx);
        if (c->ring == NULL || c->in == NULL || c->out == NULL || ssl == NULL) {
            SSL_free(ssl);
            return PR_ENOMEM;
        }
        c->bev = bufferevent_openssl_socket_new(L->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                BEV_OPT_CLOSE_ON_FREE);
        if (c->bev == NULL)
            return PR_ENOMEM;   /* the bufferevent freed 'ssl' */
        bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
        bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
        bufferevent_enable(c->bev, EV_READ | EV_WRITE);
        if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&ss, sslen) != 0) {
            pr_log_error(MOD, "connect %s: %s", addr, strerror(errno));
            return PR_EIO;
        }
    }
    return 0;
}

static void conns_free(struct sipload *L)
{
    if (L->conns == NULL)
        return;
    for (int i = 0; i < L->o.connections; i++) {
        struct conn *c = &L->conns[i];
        if (c->bev != NULL)
            bufferevent_free(c->bev);
        free(c->ring);
        free(c->in);
        free(c->out);
    }
    free(L->conns);
    free(L->dirty);
}

/* ------------------------------------------------------------------------
 * Report
 * ------------------------------------------------------------------------ */
static void report(const struct sipload *L)
{
    uint64_t end = L->t_last_us > L->t0_us ? L->t_last_us : (uint64_t)pr_mono_us();
    double secs = L->t0_us ? (double)(end - L->t0_us) / 1e6 : 0;
    uint64_t ok = L->status[L->ok_status];
    double rate = secs > 0 ? (double)ok / secs : 0;
    uint64_t missing = L->issued - L->answered;
    const char *what = L->o.options ? "OPTIONS" : "MESSAGE";
    double p50 = hist_pct(&L->lat, 0.50) / 1e3, p90 = hist_pct(&L->lat, 0.90) / 1e3;
    double p99 = hist_pct(&L->lat, 0.99) / 1e3, mx = L->lat.max / 1e3;

    if (L->o.json) {
        printf("{\"method\":\"%s\",\"connections\":%d,\"window\":%d,\"rate_target\":%.0f,"
               "\"sent\":%" PRIu64 ",\"answered\":%" PRIu64 ",\"unanswered\":%" PRIu64
               ",\"mismatched\":%" PRIu64 ",\"status\":{",
               what, L->o.connections, L->o.window, L->o.rate, L->issued, L->answered, missing,
               L->mismatched);
        const char *sep = "";
        for (int s = 0; s < 700; s++) {
            if (L->status[s]) {
                printf("%s\"%d\":%" PRIu64, sep, s, L->status[s]);
                sep = ",";
            }
        }
        printf("},\"ok\":%" PRIu64 ",\"duration_s\":%.3f,\"rate\":%.1f,\"p50_ms\":%.3f,"
               "\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"start_ms\":%" PRId64
               ",\"start_us\":%" PRId64 ",\"run_id\":\"%s\"}\n",
               ok, secs, rate, p50, p90, p99, mx, L->t0_wall_us / 1000, L->t0_wall_us, L->run_id);
    } else {
        printf("sipload: %s to %s:%d over TLS, %d connection(s), window %d",
               what, L->o.host, L->o.port, L->o.connections, L->o.window);
        if (L->o.rate > 0)
            printf(", open loop at %.0f/s", L->o.rate);
        printf("\n  sent        %" PRIu64 "\n  answered    %" PRIu64 " (", L->issued, L->answered);
        const char *sep = "";
        for (int s = 0; s < 700; s++) {
            if (L->status[s]) {
                printf("%s%d: %" PRIu64, sep, s, L->status[s]);
                sep = ", ";
            }
        }
        printf(")\n  unanswered  %" PRIu64 "\n", missing);
        if (L->mismatched)
            printf("  mismatched  %" PRIu64 " (Call-ID not the one expected)\n", L->mismatched);
        printf("  duration    %.3f s\n  rate        %.0f %s/s answered %d\n", secs, rate, what,
               L->ok_status);
        printf("  latency ms  p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", p50, p90, p99, mx);
    }
    fflush(stdout);
}

/* ------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------ */
static void usage(FILE *f)
{
    fprintf(f,
"usage: sipload --host ADDR --port P --cert edge.pem --key edge.key --ca ca.pem\n"
"               (--count N | --duration S) [--connections C] [--window W]\n"
"               [--domain contoso.com] [--relay-domain push.example.net]\n"
"               [--provider apns] [--param TEAMID.bundle] [--token-prefix HEX]\n"
"               [--rate R] [--body-bytes B] [--options] [--drain S] [--json] [--verbose]\n"
"               [--log FILE]\n"
"  --count N        total requests (with --duration: whichever ends first)\n"
"  --duration S     stop sending after S seconds\n"
"  --connections C  TLS connections (default 1)\n"
"  --window W       requests outstanding per connection (default 1: lock-step)\n"
"  --rate R         open loop: R requests/s in total, latency from intended send time\n"
"  --body-bytes B   pad the JSON body to B bytes\n"
"  --token-prefix   hex, starts with 0; the rest of the 64-char token is a counter.\n"
"                   A comma-separated list interleaves prefixes (request n takes\n"
"                   entry n mod count); an entry may then start with a sandbox\n"
"                   behaviour marker on purpose (e4291, c1, b1, d0500)\n"
"  --options        send OPTIONS (expects 200) instead of MESSAGE (expects 202)\n"
"  --drain S        wait at most S seconds for answers after the last send (default 10)\n"
"  --json           print the summary as one JSON line\n"
"  --verbose        log connection events\n"
"  --log FILE       append \"<epoch ms> <push id> <token> <status|->\" per request\n"
"exit: 0 every request answered, 1 some not (or connect failed), 2 usage\n");
}

/* prefixes_check: 0 if 'list' is one prefix of 1..48 lowercase hex digits
 * starting with 0 (which keeps it clear of the sandbox's behaviour markers),
 * or a comma-separated list of up to 64 prefixes of 1..48 hex digits, where
 * a marker letter first is the point of listing it; PR_EINVAL otherwise. */
static int prefixes_check(const char *list)
{
    size_t n = 0;
    int single = strchr(list, ',') == NULL;
    const char *p = list;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (len < 1 || len > 48 || strspn(p, "0123456789abcdef") < len || ++n > 64)
            return PR_EINVAL;
        if (single && p[0] != '0')
            return PR_EINVAL;
        if (p[len] == '\0')
            return 0;
        p += len + 1;
    }
}

/* prefixes_split fills L->prefixes from the checked --token-prefix. */
static void prefixes_split(struct sipload *L)
{
    snprintf(L->prefix_buf, sizeof(L->prefix_buf), "%s", L->o.token_prefix);
    char *save = NULL;
    for (char *t = strtok_r(L->prefix_buf, ",", &save); t != NULL && L->n_prefixes < 64;
         t = strtok_r(NULL, ",", &save))
        L->prefixes[L->n_prefixes++] = t;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        { "host", 1, 0, 'h' },        { "port", 1, 0, 'p' },
        { "cert", 1, 0, 'C' },        { "key", 1, 0, 'K' },
        { "ca", 1, 0, 'A' },          { "connections", 1, 0, 'c' },
        { "window", 1, 0, 'w' },      { "count", 1, 0, 'n' },
        { "duration", 1, 0, 'd' },    { "domain", 1, 0, 'D' },
        { "relay-domain", 1, 0, 'R' }, { "provider", 1, 0, 'P' },
        { "param", 1, 0, 'm' },       { "token-prefix", 1, 0, 't' },
        { "rate", 1, 0, 'r' },        { "body-bytes", 1, 0, 'b' },
        { "options", 0, 0, 'o' },     { "json", 0, 0, 'j' },
        { "drain", 1, 0, 'x' },       { "verbose", 0, 0, 'v' },
        { "log", 1, 0, 'L' },         { "help", 0, 0, '?' },
        { 0, 0, 0, 0 },
    };
    *o = (struct opts){ .host = "127.0.0.1", .connections = 1, .window = 1,
                        .domain = "contoso.com", .relay_domain = "push.example.net",
                        .provider = "apns", .param = "ABCDE12345.com.example.lync",
                        .token_prefix = "0b", .drain_s = 10 };
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'h': o->host = optarg; break;
        case 'p': o->port = atoi(optarg); break;
        case 'C': o->cert = optarg; break;
        case 'K': o->key = optarg; break;
        case 'A': o->ca = optarg; break;
        case 'c': o->connections = atoi(optarg); break;
        case 'w': o->window = atoi(optarg); break;
        case 'n': o->count = strtoull(optarg, NULL, 10); break;
        case 'd': o->duration_s = atof(optarg); break;
        case 'D': o->domain = optarg; break;
        case 'R': o->relay_domain = optarg; break;
        case 'P': o->provider = optarg; break;
        case 'm': o->param = optarg; break;
        case 't': o->token_prefix = optarg; break;
        case 'r': o->rate = atof(optarg); break;
        case 'b': o->body_bytes = atoi(optarg); break;
        case 'o': o->options = 1; break;
        case 'j': o->json = 1; break;
        case 'x': o->drain_s = atof(optarg); break;
        case 'v': pr_log_set_level(PR_LOG_DEBUG); break;
        case 'L': o->log_path = optarg; break;
        default: return PR_EINVAL;
        }
    }
    const char *bad = NULL;
    if (optind != argc) bad = "unexpected argument";
    else if (o->port <= 0 || o->port > 65535) bad = "--port: 1..65535 required";
    else if (!o->cert || !o->key || !o->ca) bad = "--cert, --key and --ca are required";
    else if (o->connections < 1 || o->connections > 100000) bad = "--connections: 1..100000";
    else if (o->window < 1 || o->window > 100000) bad = "--window: 1..100000";
    else if (o->count == 0 && o->duration_s <= 0) bad = "--count or --duration is required";
    else if (o->rate < 0 || o->duration_s < 0 || o->drain_s < 0) bad = "negative value";
    else if (o->body_bytes < 0 || o->body_bytes > 16000) bad = "--body-bytes: 0..16000";
    else if (prefixes_check(o->token_prefix) != 0)
        bad = "--token-prefix: 1..48 lowercase hex digits starting with 0, or a list of up "
              "to 64 such prefixes (where an entry may start with a marker letter)";
    if (bad != NULL) {
        fprintf(stderr, "sipload: %s\n", bad);
        return PR_EINVAL;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int rc = 1;
    struct sipload *L = calloc(1, sizeof(*L));  /* big (histogram): not on the stack */
    if (L == NULL)
        return 1;
    if (parse_opts(argc, argv, &L->o) != 0) {
        usage(stderr);
        free(L);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    L->ok_status = L->o.options ? 200 : 202;
    prefixes_split(L);
    if (L->o.log_path != NULL && (L->log = fopen(L->o.log_path, "a")) == NULL) {
        fprintf(stderr, "sipload: --log %s: %s\n", L->o.log_path, strerror(errno));
        free(L);
        return 2;
    }
    snprintf(L->run_id, sizeof(L->run_id), "%08x%08x", (unsigned)time(NULL),
             (unsigned)(pr_mono_us() ^ ((uint64_t)getpid() << 16)));
    req_init(L);

    /* open loop needs sub-millisecond timers (timerfd), not epoll's ms timeouts */
    struct event_config *ecfg = event_config_new();
    if (ecfg == NULL)
        goto out;
    if (L->o.rate > 0)
        event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    L->base = event_base_new_with_config(ecfg);
    event_config_free(ecfg);
    if (L->base == NULL || tls_setup(L) != 0)
        goto out;
    L->tick = event_new(L->base, -1, EV_PERSIST, on_tick, L);
    L->stop = evtimer_new(L->base, on_stop, L);
    L->drain = evtimer_new(L->base, on_drain, L);
    L->sigint = evsignal_new(L->base, SIGINT, on_sigint, L);
    if (!L->tick || !L->stop || !L->drain || !L->sigint)
        goto out;
    event_add(L->sigint, NULL);
    if (conns_open(L) != 0)
        goto out;

    event_base_dispatch(L->base);
    for (int i = 0; L->conns != NULL && i < L->o.connections; i++)   /* drain gave up */
        for (unsigned k = 0; k < L->conns[i].n_out; k++)
            log_fate(L, L->conns[i].ring[(L->conns[i].head + k) % (unsigned)L->o.window].seq, 0);
    report(L);
    if (L->n_ready + L->lost == 0 && L->issued == 0)
        pr_log_error(MOD, "no connection could be established");
    else if (L->issued > 0 && L->answered == L->issued && L->mismatched == 0 && !L->interrupted)
        rc = 0;

out:
    conns_free(L);
    if (L->tick) event_free(L->tick);
    if (L->stop) event_free(L->stop);
    if (L->drain) event_free(L->drain);
    if (L->sigint) event_free(L->sigint);
    SSL_CTX_free(L->ctx);
    if (L->base) event_base_free(L->base);
    if (L->log != NULL && fclose(L->log) != 0) {
        fprintf(stderr, "sipload: --log %s: %s\n", L->o.log_path, strerror(errno));
        rc = 1;
    }
    free(L);
    return rc;
}
