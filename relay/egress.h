/*
 * egress.h - provider egress through an HTTP CONNECT proxy (RFC 9110
 * section 9.3.6), the way enterprises route outbound traffic.
 *
 * Given the config's egress settings and a provider's host:port, decide
 * whether the connection goes through the proxy (egress_via_proxy) and, if
 * so, open a tunnel without blocking the loop (egress_open): TCP to the
 * proxy, "CONNECT host:port HTTP/1.1" with Host (and Proxy-Authorization:
 * Basic when the proxy URL carries user:pass@), then the proxy's answer read
 * with a bounded size and a deadline. On a 2xx the caller gets the connected
 * socket and runs TLS to the provider over it itself: SNI and certificate
 * checks name the provider, never the proxy, so TLS stays end to end.
 *
 *   caller ──egress_open──▶ TCP ──▶ proxy ──CONNECT──▶ "HTTP/1.1 200"
 *      ▲                                                  │
 *      └──────── egress_done_cb(fd | error text) ◀────────┘
 *
 * It does not retry, back off or log: a refused tunnel (407, 403, 502, ...)
 * or an unreachable proxy is reported to the caller like any connection
 * failure, with a text naming the proxy and its status, and the caller's
 * reconnect rules apply. Used by relay/h2c.c (APNs, FCM, HMS, OAuth) and
 * relay/mpns.c (MPNS, WNS). Credentials never appear in the error texts.
 */
#ifndef PUSHRELAY_EGRESS_H
#define PUSHRELAY_EGRESS_H

#include <stdint.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include "pushrelay/config.h"

struct egress;
struct egress_tunnel;

/*
 * egress_new copies what connections need from 'eg' (the configuration may
 * be freed afterwards, e.g. by a reload while old clients drain). Returns 0
 * and the copy in '*out', or NULL there when 'eg' is NULL or names no proxy
 * (every connection goes direct); PR_ENOMEM. Free with egress_free.
 */
int egress_new(const struct cfg_egress *eg, struct egress **out);
void egress_free(struct egress *e);

/*
 * egress_via_proxy: 1 when a connection to 'host' must use the proxy: 'e'
 * is not NULL and 'host' matches no no_proxy entry. Entries match
 * case-insensitively: "name" that host exactly, "*.suffix" any host below
 * suffix, ".suffix" that too and suffix itself, an address that address.
 */
int egress_via_proxy(const struct egress *e, const char *host);

/* egress_proxy_name: the proxy as "host:port" for logs (no credentials). */
const char *egress_proxy_name(const struct egress *e);

/*
 * Completion of egress_open. Success: 'fd' is the connected, non-blocking
 * socket, now owned by the callee, and 'error' is NULL. Failure: 'fd' is -1
 * and 'error' says what happened, naming the proxy ("proxy 10.0.0.1:3128
 * refused the tunnel: 407 Proxy Authentication Required"); it is valid
 * during the call only. The tunnel object is freed after the callback.
 */
typedef void (*egress_done_cb)(void *arg, evutil_socket_t fd, const char *error);

/*
 * egress_open starts a tunnel through e's proxy ('e' must outlive it) to 'host':'port' and
 * calls 'cb' exactly once, always from the loop (never from inside
 * egress_open), unless egress_cancel comes first. 'dns' resolves a proxy
 * given by name (may be NULL when the proxy is an address). 'timeout_ms'
 * bounds the connect and the proxy's answer. Returns 0 and the handle in
 * '*out', PR_EINVAL when 'e' is NULL, or PR_ENOMEM.
 */
int egress_open(struct event_base *base, struct evdns_base *dns, const struct egress *e,
                const char *host, uint16_t port, int timeout_ms, egress_done_cb cb, void *arg,
                struct egress_tunnel **out);

/* egress_cancel abandons a tunnel before its callback: the socket is closed, no callback. */
void egress_cancel(struct egress_tunnel *t);

#endif
