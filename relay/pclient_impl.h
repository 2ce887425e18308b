/*
 * pclient_impl.h - what relay/pclient.c shares with the provider clients
 * (relay/apns.c, relay/fcm.c with HMS, relay/mpns.c with WNS,
 * relay/webpush.c): the common handle, the
 * table of operations each provider fills in, and helpers they all need.
 * Not for the dispatcher: it sees only pclient.h.
 */
#ifndef PUSHRELAY_PCLIENT_IMPL_H
#define PUSHRELAY_PCLIENT_IMPL_H

#include <stdint.h>
#include <sys/queue.h>
#include "pclient.h"

struct pclient_ops {
    int (*send)(struct pclient *pc, const struct pr_notif *n, int timeout_ms,
                pclient_done_cb cb, void *arg);
    void (*reauth)(struct pclient *pc);
    int (*ready)(const struct pclient *pc);
    void (*stats)(const struct pclient *pc, struct pclient_stats *out);
    /* free completes every pending request ("shutdown") and releases 'impl'. */
    void (*free)(struct pclient *pc);
    /* share (optional): pc->ptoken was just set; start sharing the token. */
    void (*share)(struct pclient *pc);
};

/*
 * PCLIENT_OPS(p) fills a pclient_ops with the functions a provider module
 * names by its prefix: p_send, p_reauth, p_ready, p_stats and p_free ('share'
 * and any exception are set after it, by name).
 */
#define PCLIENT_OPS(p)                                                                        \
    .send = p##_send, .reauth = p##_reauth, .ready = p##_ready, .stats = p##_stats,           \
    .free = p##_free

struct pclient_deferred;

struct pclient {
    struct event_base *base;
    const struct cfg_app *app;
    const struct pclient_ops *ops;
    void *impl;                                 /* the provider's state */
    struct ptoken *ptoken;                      /* shared provider tokens; NULL: sign our own */
    TAILQ_HEAD(, pclient_deferred) deferred;    /* results waiting for the loop */
    int n_deferred;
    struct event *defer_ev;
};

/* Provider constructors: fill pc->ops and pc->impl, or fail with a logged reason. */
int apns_client_new(struct pclient *pc);
int fcm_client_new(struct pclient *pc);
int mpns_client_new(struct pclient *pc);
int wns_client_new(struct pclient *pc);   /* relay/mpns.c, its WNS flavour */
int hms_client_new(struct pclient *pc);   /* relay/fcm.c, its HMS flavour */
int webpush_client_new(struct pclient *pc);

/*
 * pclient_defer reports 'res' to 'cb' from the event loop soon (a request
 * refused before anything was sent still completes asynchronously, as the
 * contract says). Returns 0 or PR_ENOMEM.
 */
int pclient_defer(struct pclient *pc, pclient_done_cb cb, void *arg, const struct pr_result *res);

/* pclient_local fills 'res' as a local refusal: PR_STATUS_LOCAL and 'reason'. */
void pclient_local(struct pr_result *res, const char *reason);

/*
 * pclient_endpoint splits "https://host[:port]" ('url', or 'fallback' when
 * NULL) into 'host' and '*port' (443 by default). PR_ECONFIG with a logged
 * reason if it is not an https URL with a host.
 */
int pclient_endpoint(const char *app_id, const char *url, const char *fallback, char *host,
                     size_t hostlen, uint16_t *port);

/* pclient_parse_retry_after reads a Retry-After header in seconds; -1 when absent or not seconds. */
int pclient_parse_retry_after(const char *value);

/*
 * pclient_h2_result starts 'res' from an HTTP/2 client's answer 'hr'
 * (relay/h2c.h): status and round trip, and for a request that got no
 * answer (status 0) h2c's reason. Returns 1 when there is an answer for the
 * provider client to read further, 0 when not.
 */
struct h2c_response;
int pclient_h2_result(struct pr_result *res, const struct h2c_response *hr);

/*
 * pclient_h2_open starts the HTTP/2 client of an app-wide provider pool
 * (APNs, FCM, HMS) to host:port with the app's TLS files, pool size and
 * egress settings, capturing the response headers 'capture' (NULL-ended,
 * at most H2C_CAPTURE_MAX - 1), logging as 'log_name'. Returns 0; a TLS
 * set-up failure (unreadable CA or certificate) is the configuration's:
 * PR_ECONFIG; else h2c_new's error.
 */
struct h2c;
int pclient_h2_open(const struct pclient *pc, const char *host, uint16_t port,
                    const char *log_name, const char *const *capture, struct h2c **out);

#endif
