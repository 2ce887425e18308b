/*
 * egress.c - HTTP CONNECT tunnels to providers through the configured
 * egress proxy (see egress.h for the contract).
 *
 * A tunnel is a plain bufferevent that lives only until the proxy has
 * answered; then its socket is detached and handed to the caller, which
 * wraps it in TLS to the provider. The exchange:
 *
 *   -> CONNECT api.push.apple.com:443 HTTP/1.1\r\n
 *      Host: api.push.apple.com:443\r\n
 *      [Proxy-Authorization: Basic base64(user:pass)\r\n]
 *      \r\n
 *   <- HTTP/1.1 200 Connection established\r\n ... \r\n\r\n    (any 2xx)
 *
 * The answer must fit EGRESS_MAX_ANSWER bytes, and nothing may follow it:
 * the provider speaks only after our TLS ClientHello, so bytes there would
 * be the proxy's, not the provider's.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "pushrelay/error.h"
#include "egress.h"

#define EGRESS_MAX_ANSWER 8192      /* status line + headers of the proxy's answer */

struct egress {
    struct cfg_endpoint addr;
    char name[sizeof(((struct cfg_egress *)0)->proxy_name)];
    char *auth;                     /* "user:pass" or NULL */
    char **no_proxy;
    size_t n_no_proxy;
};

struct egress_tunnel {
    struct event_base *base;
    const struct egress *eg;
    struct bufferevent *bev;
    struct event *timer;            /* the deadline; also delivers an early failure */
    egress_done_cb cb;
    void *arg;
    char target[300];               /* "host:port" as sent in CONNECT */
    char early[400];                /* a failure found in egress_open, reported from the loop */
};

/* ------------------------------------------------------------------------
 * no_proxy matching
 * ------------------------------------------------------------------------ */

/* Whether 'host' is 'suffix' or ends in "." + 'suffix' (case-insensitive). */
static int egress__below(const char *host, const char *suffix, int self)
{
    size_t hl = strlen(host), sl = strlen(suffix);
    if (hl == sl)
        return self && strcasecmp(host, suffix) == 0;
    return hl > sl + 1 && host[hl - sl - 1] == '.' && strcasecmp(host + hl - sl, suffix) == 0;
}

int egress_new(const struct cfg_egress *eg, struct egress **out)
{
    *out = NULL;
    if (eg == NULL || eg->proxy == NULL)
        return 0;
    struct egress *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return PR_ENOMEM;
    e->addr = eg->proxy_addr;
    snprintf(e->name, sizeof(e->name), "%s", eg->proxy_name);
    if (eg->proxy_auth != NULL && (e->auth = strdup(eg->proxy_auth)) == NULL)
        goto fail;
    if (eg->n_no_proxy > 0 && (e->no_proxy = calloc(eg->n_no_proxy, sizeof(char *))) == NULL)
        goto fail;
    for (; e->n_no_proxy < eg->n_no_proxy; e->n_no_proxy++)
        if ((e->no_proxy[e->n_no_proxy] = strdup(eg->no_proxy[e->n_no_proxy])) == NULL)
            goto fail;
    *out = e;
    return 0;
fail:
    egress_free(e);
    return PR_ENOMEM;
}

void egress_free(struct egress *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->n_no_proxy; i++)
        free(e->no_proxy[i]);
    free(e->no_proxy);
    if (e->auth != NULL)
        OPENSSL_cleanse(e->auth, strlen(e->auth));
    free(e->auth);
    free(e);
}

const char *egress_proxy_name(const struct egress *e)
{
    return e != NULL ? e->name : "(none)";
}

int egress_via_proxy(const struct egress *eg, const char *host)
{
    if (eg == NULL)
        return 0;
    for (size_t i = 0; i < eg->n_no_proxy; i++) {
        const char *p = eg->no_proxy[i];
        if (strncmp(p, "*.", 2) == 0 ? egress__below(host, p + 2, 0)
            : p[0] == '.'            ? egress__below(host, p + 1, 1)
                                     : strcasecmp(host, p) == 0)
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------
 * The tunnel
 * ------------------------------------------------------------------------ */

/* egress__free releases the tunnel; the socket too unless 'keep_fd'. */
static void egress__free(struct egress_tunnel *t, int keep_fd)
{
    if (t->bev != NULL) {
        evutil_socket_t fd = bufferevent_getfd(t->bev);
        bufferevent_disable(t->bev, EV_READ | EV_WRITE);
        bufferevent_free(t->bev);
        if (!keep_fd && fd >= 0)
            evutil_closesocket(fd);
    }
    if (t->timer != NULL)
        event_free(t->timer);
    free(t);
}

/* egress__finish reports 'error' (or success: the socket) and frees the tunnel. */
static void egress__finish(struct egress_tunnel *t, const char *error)
{
    evutil_socket_t fd = -1;
    if (error == NULL)
        fd = bufferevent_getfd(t->bev);
    egress_done_cb cb = t->cb;
    void *arg = t->arg;
    egress__free(t, error == NULL);
    cb(arg, fd, error);
}

/*
 * egress__answer parses the proxy's answer once its header block is complete.
 * Returns 1 when done (the tunnel was finished), 0 to wait for more bytes.
 */
static int egress__answer(struct egress_tunnel *t)
{
    struct evbuffer *in = bufferevent_get_input(t->bev);
    char err[1024];
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    if (end.pos < 0) {
        if (evbuffer_get_length(in) <= EGRESS_MAX_ANSWER)
            return 0;
        snprintf(err, sizeof(err), "proxy %s: answer to CONNECT %s longer than %d bytes",
                 t->eg->name, t->target, EGRESS_MAX_ANSWER);
        egress__finish(t, err);
        return 1;
    }
    size_t hlen = (size_t)end.pos + 4;
    if (hlen > EGRESS_MAX_ANSWER) {
        snprintf(err, sizeof(err), "proxy %s: answer to CONNECT %s longer than %d bytes",
                 t->eg->name, t->target, EGRESS_MAX_ANSWER);
        egress__finish(t, err);
        return 1;
    }
    char *head = malloc(hlen + 1);
    if (head == NULL) {
        egress__finish(t, "out of memory");
        return 1;
    }
    evbuffer_remove(in, head, hlen);
    head[hlen] = '\0';
    head[strcspn(head, "\r\n")] = '\0';         /* the status line only */
    int status = 0, off = 0;
    if (sscanf(head, "HTTP/1.%*1[01] %3d%n", &status, &off) != 1 || status < 100 ||
        status > 599 || (head[off] != ' ' && head[off] != '\0')) {
        snprintf(err, sizeof(err), "proxy %s: unreadable answer to CONNECT %s: \"%.80s\"",
                 t->eg->name, t->target, head);
        free(head);
        egress__finish(t, err);
        return 1;
    }
    const char *reason = head[off] == ' ' ? head + off + 1 : "";
    if (status / 100 != 2)
        snprintf(err, sizeof(err), "proxy %s refused the tunnel to %s: %d %.80s",
                 t->eg->name, t->target, status, reason);
    else if (evbuffer_get_length(in) > 0)
        snprintf(err, sizeof(err), "proxy %s: data after its answer to CONNECT %s",
                 t->eg->name, t->target);
    free(head);
    egress__finish(t, status / 100 == 2 && evbuffer_get_length(in) == 0 ? NULL : err);
    return 1;
}

static void egress__read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    egress__answer(arg);
}

static void egress__event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct egress_tunnel *t = arg;
    char err[1024];
    if (what & BEV_EVENT_CONNECTED)
        return;                     /* the CONNECT request is already queued */
    /* A refusing proxy often closes right after its answer: read that first. */
    if ((what & BEV_EVENT_EOF) && evbuffer_get_length(bufferevent_get_input(bev)) > 0 &&
        egress__answer(t))
        return;
    int dns_err = bufferevent_socket_get_dns_error(bev);
    int sock_err = EVUTIL_SOCKET_ERROR();
    if (dns_err != 0)
        snprintf(err, sizeof(err), "proxy %s: cannot resolve: %s", t->eg->name,
                 evutil_gai_strerror(dns_err));
    else if (what & BEV_EVENT_EOF)
        snprintf(err, sizeof(err), "proxy %s closed the connection before answering CONNECT %s",
                 t->eg->name, t->target);
    else
        snprintf(err, sizeof(err), "proxy %s: %s", t->eg->name,
                 sock_err != 0 ? evutil_socket_error_to_string(sock_err) : "connection failed");
    egress__finish(t, err);
}

static void egress__timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct egress_tunnel *t = arg;
    char err[1024];
    (void)fd;
    (void)what;
    if (t->early[0] != '\0')
        snprintf(err, sizeof(err), "%s", t->early);
    else
        snprintf(err, sizeof(err), "proxy %s: no answer to CONNECT %s in time",
                 t->eg->name, t->target);
    egress__finish(t, err);
}

/* egress__request queues the CONNECT request in the output buffer. */
static int egress__request(struct egress_tunnel *t)
{
    struct evbuffer *out = bufferevent_get_output(t->bev);
    if (evbuffer_add_printf(out, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", t->target,
                            t->target) < 0)
        return PR_ENOMEM;
    if (t->eg->auth != NULL) {
        size_t n = strlen(t->eg->auth);
        unsigned char *b64 = malloc(4 * ((n + 2) / 3) + 1);
        if (b64 == NULL)
            return PR_ENOMEM;
        EVP_EncodeBlock(b64, (const unsigned char *)t->eg->auth, (int)n);
        int rv = evbuffer_add_printf(out, "Proxy-Authorization: Basic %s\r\n", b64);
        OPENSSL_cleanse(b64, strlen((char *)b64));
        free(b64);
        if (rv < 0)
            return PR_ENOMEM;
    }
    return evbuffer_add(out, "\r\n", 2) == 0 ? 0 : PR_ENOMEM;
}

/* egress__connect starts the TCP connect to the proxy; a text when it cannot start. */
static const char *egress__connect(struct egress_tunnel *t, struct evdns_base *dns)
{
    const struct cfg_endpoint *pa = &t->eg->addr;
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    memset(&sin, 0, sizeof(sin));
    memset(&sin6, 0, sizeof(sin6));
    int rv;
    if (inet_pton(AF_INET, pa->host, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        sin.sin_port = htons(pa->port);
        rv = bufferevent_socket_connect(t->bev, (struct sockaddr *)&sin, sizeof(sin));
    } else if (inet_pton(AF_INET6, pa->host, &sin6.sin6_addr) == 1) {
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(pa->port);
        rv = bufferevent_socket_connect(t->bev, (struct sockaddr *)&sin6, sizeof(sin6));
    } else if (dns != NULL) {
        rv = bufferevent_socket_connect_hostname(t->bev, dns, AF_UNSPEC, pa->host, pa->port);
    } else {
        return "a proxy given by name needs a resolver";
    }
    return rv == 0 ? NULL : "cannot start the connection";
}

int egress_open(struct event_base *base, struct evdns_base *dns, const struct egress *eg,
                const char *host, uint16_t port, int timeout_ms, egress_done_cb cb, void *arg,
                struct egress_tunnel **out)
{
    struct egress_tunnel *t = NULL;
    int rv = PR_ENOMEM;

    *out = NULL;
    if (eg == NULL)
        return PR_EINVAL;
    if ((t = calloc(1, sizeof(*t))) == NULL)
        goto fail;
    t->base = base;
    t->eg = eg;
    t->cb = cb;
    t->arg = arg;
    int v6 = strchr(host, ':') != NULL;
    snprintf(t->target, sizeof(t->target), "%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "",
             (unsigned)port);
    /* Not BEV_OPT_CLOSE_ON_FREE: on success the socket outlives this bufferevent. */
    if ((t->timer = evtimer_new(base, egress__timer_cb, t)) == NULL ||
        (t->bev = bufferevent_socket_new(base, -1, BEV_OPT_DEFER_CALLBACKS)) == NULL)
        goto fail;
    bufferevent_setcb(t->bev, egress__read_cb, NULL, egress__event_cb, t);
    bufferevent_setwatermark(t->bev, EV_READ, 0, EGRESS_MAX_ANSWER + 1);
    if ((rv = egress__request(t)) < 0)
        goto fail;
    bufferevent_enable(t->bev, EV_READ | EV_WRITE);
    const char *why = egress__connect(t, dns);
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    if (why != NULL) {
        /* Reported from the loop, like every other outcome. */
        snprintf(t->early, sizeof(t->early), "proxy %s: %s", eg->name, why);
        tv.tv_sec = tv.tv_usec = 0;
    }
    event_add(t->timer, &tv);
    *out = t;
    return 0;
fail:
    if (t != NULL)
        egress__free(t, 0);
    return rv;
}

void egress_cancel(struct egress_tunnel *t)
{
    if (t != NULL)
        egress__free(t, 0);
}
