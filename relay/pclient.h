/*
 * pclient.h - the provider client interface the dispatcher drives: one
 * client per configured app, whatever its provider. Implementations:
 * relay/apns.c, relay/fcm.c (FCM and HMS) and relay/webpush.c (HTTP/2
 * through relay/h2c.c), relay/mpns.c (MPNS and WNS, HTTPS/1.1). A client knows nothing of SIP, Redis or retries: it sends
 * one notification and reports what the provider said.
 */
#ifndef PUSHRELAY_PCLIENT_H
#define PUSHRELAY_PCLIENT_H

#include <event2/event.h>
#include "pushrelay/config.h"
#include "pushrelay/notif.h"
#include "pushrelay/outcome.h"

struct pclient;

/*
 * Called exactly once per pclient_send that returned 0, always from the event
 * loop (never from inside pclient_send). 'res' is valid only during the call.
 */
typedef void (*pclient_done_cb)(void *arg, const struct pr_result *res);

/*
 * pclient_new creates the client for 'app' on 'base' (the app must outlive
 * every pclient_send and pclient_reauth: requests already sent, and
 * pclient_free, do not read it again). Credentials are loaded here:
 * PR_ECONFIG/PR_ECRYPTO with a logged reason when a key file is unusable.
 * Connections open lazily.
 */
int pclient_new(struct event_base *base, const struct cfg_app *app, struct pclient **out);

/*
 * pclient_send queues 'n' for delivery ('n' is copied as needed; the caller
 * may free it on return). Returns 0, or PR_EAGAIN when the client's own
 * queue is full (the dispatcher backs off). 'timeout_ms' bounds the whole
 * request; on expiry the callback gets PR_STATUS_NO_ANSWER, "timeout".
 */
int pclient_send(struct pclient *c, const struct pr_notif *n, int timeout_ms,
                 pclient_done_cb cb, void *arg);

/* pclient_reauth drops the cached provider credential (JWT, access token). */
void pclient_reauth(struct pclient *c);

/* pclient_ready: 1 if a connection is up or can be attempted now, else 0. */
int pclient_ready(const struct pclient *c);

/*
 * pclient_share_tokens lets the client take its provider token from 'pt'
 * (relay/ptoken.h: one APNs token for every process) instead of signing its
 * own; 'pt' must outlive 'c'. Clients without such tokens ignore it.
 */
struct ptoken;
void pclient_share_tokens(struct pclient *c, struct ptoken *pt);

/* Counters for /metrics. */
struct pclient_stats {
    int connections_open;
    int in_flight;
    int queued;
};
void pclient_get_stats(const struct pclient *c, struct pclient_stats *out);

/*
 * pclient_free closes connections; every request still pending completes
 * its callback with PR_STATUS_NO_ANSWER, "shutdown" before this returns.
 */
void pclient_free(struct pclient *c);

#endif
