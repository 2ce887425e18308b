/*
 * sb.h - the types every part of pushrelay-sandbox shares: the program
 * context, a transport-neutral request and response, and a growable byte
 * buffer.
 *
 * The sandbox is split so that the transports (sb_h2.c: HTTP/2 over TLS,
 * sb_http1.c: HTTPS/1.1) know nothing of providers, and the provider
 * handlers (sb_apns.c, sb_fcm.c, sb_oauth.c, sb_mpns.c, sb_webpush.c,
 * sb_wns.c, sb_hms.c, sb_control.c) know
 * nothing of sockets: a transport turns bytes into a 'struct sb_req', asks
 * the router (sb_router.c) for a 'struct sb_resp', and carries out what the
 * response says (answer now, answer after a delay, hold the answer until a
 * test releases it, or reset the connection).
 *
 *   socket ─▶ sb_h2 / sb_http1 ─▶ sb_router ─▶ sb_apns | sb_fcm | sb_oauth |
 *                  ▲                 │          sb_mpns | sb_control
 *                  └── sb_resp ◀─────┘               │
 *                                        sb_behaviour (token markers)
 *                                        sb_record + sb_stats (deliveries)
 *                                        sb_hold (answers held for a test)
 */
#ifndef PUSHRELAY_SANDBOX_SB_H
#define PUSHRELAY_SANDBOX_SB_H

#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>
#include <openssl/evp.h>

#include "pushrelay/provider.h"

/* ---- growable buffer (sb_buf.c) --------------------------------------- */

/*
 * A byte buffer that keeps its allocation when reset, so that pooled
 * streams do not allocate per request. 'p' is always NUL terminated once
 * anything was appended (handy for text), 'len' excludes the NUL.
 */
struct sb_buf {
    char *p;
    size_t len;
    size_t cap;
};

/* sb_buf_append copies 'n' bytes of 'data'; PR_ENOMEM on failure. */
int sb_buf_append(struct sb_buf *b, const void *data, size_t n);
/* sb_buf_printf appends formatted text; PR_ENOMEM on failure. */
int sb_buf_printf(struct sb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* sb_buf_reset empties 'b' but keeps its memory. */
void sb_buf_reset(struct sb_buf *b);
/* sb_buf_free releases the memory; 'b' may be reused afterwards. */
void sb_buf_free(struct sb_buf *b);

/* ---- requests and responses ------------------------------------------- */

/* One request header; both strings NUL terminated, names lower case. */
struct sb_hdr {
    const char *name;
    const char *value;
};

/*
 * A complete request as a transport hands it to the router. Every pointer
 * is owned by the transport and valid only during the router call: a
 * handler that needs something later copies it.
 */
struct sb_req {
    const char *method;
    const char *path;         /* as sent, with any query string */
    const struct sb_hdr *hdrs;
    size_t nhdrs;
    const char *body;         /* not NUL terminated in general */
    size_t bodylen;
    int body_truncated;       /* the body went past SB_BODY_MAX and was cut */
};

#define SB_BODY_MAX (64 * 1024)

/* sb_req_header returns the value of header 'name' (lower case) or NULL. */
const char *sb_req_header(const struct sb_req *req, const char *name);

/* What a transport does with a response. */
enum sb_act {
    SB_ACT_ANSWER = 0,   /* send status, headers and body (after delay_ms) */
    SB_ACT_RESET,        /* drop the TCP connection abruptly, answer nothing */
    SB_ACT_HOLD,         /* keep the answer until /_sandbox/release (sb_hold.h) */
};

#define SB_RESP_HDRS 8
#define SB_RESP_NAME 40
#define SB_RESP_VALUE 128

/*
 * A response as the router fills it. Headers live inline (a response has a
 * handful); the body is a buffer the transport owns and lends to the router
 * empty, so that its memory is reused across requests.
 */
struct sb_resp {
    int status;
    enum sb_act act;
    unsigned delay_ms;
    size_t nhdrs;
    struct {
        char name[SB_RESP_NAME];
        char value[SB_RESP_VALUE];
    } hdrs[SB_RESP_HDRS];
    struct sb_buf *body;
    /*
     * A success answered after a delay is recorded when its answer goes out
     * (sb_deliver sets these; the transport then calls sb_delivered): a
     * client that gave up waiting has not had a delivery. 'token' is lent
     * by the transport like 'body'.
     */
    int deliver;
    enum pr_provider provider;
    struct sb_buf *token;
};

/* sb_resp_header adds a header (lower case name); silently drops past SB_RESP_HDRS. */
void sb_resp_header(struct sb_resp *resp, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- providers the relay does not speak yet ----------------------------- */

/*
 * Web Push (sb_webpush.c), WNS (sb_wns.c) and HMS (sb_hms.c) are not in
 * enum pr_provider until the relay's clients for them are wired in; the
 * sandbox numbers them after its providers so that the delivery counters
 * and records treat all six alike. sb_provider_name (sb_record.c) names
 * them all.
 */
#define SB_PROVIDER_WEBPUSH ((enum pr_provider)(PR_PROVIDER_COUNT + 0))
#define SB_PROVIDER_WNS ((enum pr_provider)(PR_PROVIDER_COUNT + 1))
#define SB_PROVIDER_HMS ((enum pr_provider)(PR_PROVIDER_COUNT + 2))
#define SB_PROVIDER_COUNT (PR_PROVIDER_COUNT + 3)

/* sb_provider_name: the wire name of any provider the sandbox plays. */
const char *sb_provider_name(enum pr_provider p);

/* ---- statistics (sb_stats.c) ------------------------------------------ */

struct sb_stats {
    uint64_t delivered[SB_PROVIDER_COUNT];
    uint64_t requests;
    uint64_t by_status[600];
    uint64_t resets;
    uint64_t tokens_issued;
    uint64_t apns_provider_tokens;  /* distinct valid APNs provider tokens seen (sb_apns.c) */
    uint64_t held;                   /* answers held by the gate now (sb_hold.c) */
    uint64_t delayed;                /* answers waiting on a delay timer now */
};

/* ---- the program context ---------------------------------------------- */

struct sb_map;
struct sb_record;
struct sb_behaviour;
struct sb_apns;
struct sb_oauth;
struct sb_webpush;
struct sb_ccred;
struct sb_held;

/* The hold gate (sb_hold.c): deliveries left before it closes, -1 when open. */
struct sb_hold_gate {
    long left;
    struct sb_held *list;
};

/* Command line, parsed once in sandbox_main.c. */
struct sb_opts {
    const char *listen;
    const char *mpns_listen;
    const char *cert;
    const char *key;
    const char *apns_key;
    const char *apns_team;
    const char *apns_key_id;
    const char *fcm_service_account;
    long oauth_token_ttl;
    unsigned max_concurrent_streams;
    unsigned goaway_after;
    const char *record;
    const char *port_file;
    int no_markers;                 /* --no-markers: tokens never script a failure */
};

/* Everything the handlers share; one per process, passed down explicitly. */
struct sb_ctx {
    struct event_base *base;
    const struct sb_opts *opts;
    struct sb_stats stats;
    struct sb_record *record;        /* NULL without --record */
    struct sb_behaviour *behaviour;
    struct sb_apns *apns;
    struct sb_oauth *oauth;
    struct sb_webpush *webpush;      /* subscriptions handed out (sb_webpush.c) */
    struct sb_ccred *wns_tokens;     /* WNS access tokens (sb_wns.c) */
    struct sb_ccred *hms_tokens;     /* HMS access tokens (sb_hms.c) */
    struct sb_hold_gate hold;
};

/* sb_now_ms is the wall clock in milliseconds (records, expiries). */
int64_t sb_now_ms(void);
/* sb_now_us: the wall clock in microseconds (delivery records' ts_us). */
int64_t sb_now_us(void);

#endif
