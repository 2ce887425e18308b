/*
 * h2c.h - an HTTP/2 client for one origin over TLS (nghttp2 on libevent's
 * bufferevent_openssl). It keeps a small pool of connections, runs as many
 * concurrent streams on each as the server allows (SETTINGS_MAX_CONCURRENT_
 * STREAMS), queues requests in FIFO order when every stream slot is taken,
 * and hides connection churn: GOAWAY, refused streams and reconnects.
 *
 * It knows nothing of any provider: relay/apns.c, relay/fcm.c and
 * relay/oauth.c build requests and read answers through it.
 *
 *   h2c_request ──▶ FIFO ──▶ conn[0..N-1] (streams ≤ server limit)
 *        ▲                     │  GOAWAY: streams above last-stream-id and
 *        └── requeue ◀─────────┘  REFUSED_STREAM go back to the FIFO head;
 *                                 so do requests lost with a dying connection
 *
 * Every accepted request completes exactly once, from the event loop, never
 * from inside h2c_request: with the server's answer, or with status 0 and
 * a local cause ("timeout", "connection lost", "stream reset", "shutdown").
 * Stalled streams (unanswered for H2C_STALL_MS) do not hold up the queue for their
 * whole timeout: when they hold at least half of the stream slots of a pool
 * that is up and full, an overflow connection opens, up to as many again as
 * the pool; each closes once idle.
 *
 * "connection lost" means this request is taken for the cause of connection
 * deaths: it was alone on its connection, or in two deaths in a row (see
 * conn_close in h2c.c); other requests lost with a connection are sent again
 * (so the server may see one twice). "timeout": the request's timeout_ms
 * passed; its stream is cancelled at once and its connection must answer a
 * PING or is replaced. With options.egress naming a proxy (relay/egress.h),
 * connections open through an HTTP CONNECT tunnel; a proxy that refuses or
 * cannot be reached is a failed connect like any other.
 */
#ifndef PUSHRELAY_H2C_H
#define PUSHRELAY_H2C_H

#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>
#include "tlsc.h"

struct h2c;
struct cfg_egress;

#define H2C_CAPTURE_MAX 4       /* response headers kept by name */

struct h2c_options {
    const char *host;           /* connect to, verify, :authority (copied) */
    uint16_t port;
    struct tlsc_options tls;    /* CA, client cert; ALPN is set to h2 here */
    int connections;            /* pool size; <= 0: 2 (plus overflow connections, see above) */
    int max_queued;             /* waiting requests; <= 0: 16384 (then PR_EAGAIN) */
    size_t max_body;            /* response bytes kept; 0: 16384 (the rest is dropped) */
    const char *capture[H2C_CAPTURE_MAX]; /* lower-case response header names, NULL-ended */
    const char *log_name;       /* module name for logs, e.g. "apns" */
    const struct cfg_egress *egress; /* proxy settings (copied), or NULL: direct */
};

struct h2c_header {
    const char *name;           /* lower-case */
    const char *value;
};

/*
 * 'unique': values that differ on every request (a device's path, an id),
 * bit i for headers[i] and H2C_UNIQUE_PATH for :path. HPACK sends them as
 * literals instead of adding them to the connection's header table, where
 * they would only push out the values that do repeat (the provider token).
 */
#define H2C_UNIQUE_PATH (1u << 31)

struct h2c_request {
    const char *method;
    const char *path;
    unsigned unique;
    const struct h2c_header *headers;
    size_t n_headers;
    const void *body;           /* may be NULL */
    size_t body_len;
    int timeout_ms;             /* whole request, queueing included; <= 0: 30000 */
};

struct h2c_response {
    int status;                 /* HTTP status, or 0: no answer */
    const char *error;          /* status 0: "timeout", "connection lost", ... */
    const char *captured[H2C_CAPTURE_MAX]; /* values for options.capture, NULL if absent */
    const char *body;           /* NUL-terminated, never NULL */
    size_t body_len;
    int64_t rtt_us;             /* first byte sent -> stream closed (0 if never sent) */
};

/* Completion: 'res' and everything it points to are valid during the call only. */
typedef void (*h2c_done_cb)(void *arg, const struct h2c_response *res);

/*
 * h2c_new prepares the client (TLS context now, connections lazily on the
 * first request). Returns 0, PR_ETLS with a logged cause when a CA or
 * certificate file is unusable, PR_EINVAL or PR_ENOMEM.
 */
int h2c_new(struct event_base *base, const struct h2c_options *opt, struct h2c **out);

/*
 * h2c_request copies 'req' (headers, body) and queues it. Returns 0 and
 * later calls 'cb' exactly once; PR_EAGAIN when the queue is full;
 * PR_ESTATE while the client is being freed; PR_ENOMEM.
 */
int h2c_request(struct h2c *c, const struct h2c_request *req, h2c_done_cb cb, void *arg);

/*
 * h2c_set_ping sets, for every client of the process, how long a connection
 * may go without reading before it is sent a PING (default 30000 ms) and how
 * long the ACK may then take before the connection is dropped (10000 ms);
 * a value <= 0 restores the default. Test drivers shorten them; the relay
 * keeps the defaults.
 */
void h2c_set_ping(int idle_ms, int timeout_ms);

/* h2c_ready: 1 if a connection is up or one may be attempted now (not all backing off). */
int h2c_ready(const struct h2c *c);

struct h2c_stats {
    int connections_open;       /* TLS up and HTTP/2 settled */
    int in_flight;              /* streams open on any connection */
    int queued;                 /* waiting for a stream slot */
};
void h2c_get_stats(const struct h2c *c, struct h2c_stats *out);

/*
 * h2c_free closes every connection; each pending request completes with
 * status 0, "shutdown" before it returns. Must not be called from inside
 * an h2c_done_cb of the same client.
 */
void h2c_free(struct h2c *c);

#endif
