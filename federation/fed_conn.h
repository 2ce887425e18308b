/*
 * fed_conn.h - one federation connection (internal to the listener):
 * TLS handshake and peer identity, SIP framing, per-request validation and
 * ingest, responses written back in request order, and the timers that
 * drop silent or trickling peers.
 */
#ifndef PUSHRELAY_FED_CONN_H
#define PUSHRELAY_FED_CONN_H

#include <stdint.h>
#include <openssl/ssl.h>
#include <event2/event.h>
#include "pushrelay/config.h"

struct fed_conn;
struct queue;
struct stats;

/* What a connection needs from its listener; owned by the listener. */
struct fed_ctx {
    struct event_base *base;
    const struct cfg *cfg;
    struct queue *queue;
    struct stats *stats;
    int connections;        /* open connections */
    long requests;          /* requests framed since start */
    struct fed_conn *conns; /* every open connection (for shutdown) */
    int64_t refusal_log_sec;    /* refused handshakes: the second being counted, */
    int refusals_logged;        /* lines logged in it, */
    long refusals_unlogged;     /* and those left out, */
    struct event *refusal_ev;   /* logged by this timer once the second is over */
    struct event *trim_ev;      /* returns freed heap to the system after a burst of closes */
    int closes_since_trim;
};

/*
 * fed_conn_new takes ownership of the accepted socket 'fd' and 'ssl' and
 * starts the server handshake. Returns 0 or PR_ENOMEM (fd and ssl are then
 * closed/freed).
 */
int fed_conn_new(struct fed_ctx *ctx, evutil_socket_t fd, SSL *ssl, const char *peer);

/*
 * FED_TRIM_AFTER_CLOSES closes arm 'trim_ev' (owned by the listener) to fire
 * FED_TRIM_DELAY_MS later: see fed_listener.c.
 */
#define FED_TRIM_AFTER_CLOSES 64
#define FED_TRIM_DELAY_MS 500

/*
 * fed_conn_refusals_cb is the callback of 'refusal_ev' (created and freed
 * by the listener, arg the fed_ctx): once the second whose refused
 * handshakes went partly unlogged is over, it logs how many. Called with
 * fd -1 it logs a pending count at once (shutdown).
 */
void fed_conn_refusals_cb(evutil_socket_t fd, short what, void *arg);

/* fed_conn_close_all closes every connection of 'ctx' now (shutdown). */
void fed_conn_close_all(struct fed_ctx *ctx);

#endif
