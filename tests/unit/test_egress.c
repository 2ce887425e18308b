/*
 * test_egress.c - relay/egress.c: which provider hosts go through the proxy
 * (no_proxy rules), the CONNECT request it sends, and how it reads each kind
 * of proxy answer, against a scripted one-shot proxy on 127.0.0.1 in this
 * process. (Deliveries through a real proxy: test_egress_proxy.sh.)
 */
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "pushrelay/config.h"
#include "pushrelay/error.h"
#include "egress.h"

static void without_proxy_everything_goes_direct(void **state)
{
    (void)state;
    struct egress *e = (struct egress *)1;
    struct cfg_egress none = { 0 };
    assert_int_equal(egress_new(&none, &e), 0);
    assert_null(e);
    assert_int_equal(egress_new(NULL, &e), 0);
    assert_null(e);
    assert_int_equal(egress_via_proxy(NULL, "api.push.apple.com"), 0);
}

static void no_proxy_patterns_send_hosts_direct(void **state)
{
    (void)state;
    char *patterns[] = { "localhost", "*.internal.example", ".corp.example", "10.0.0.1", "::1" };
    struct cfg_egress cfg = { .proxy = "http://u:p@proxy.example:3128", .no_proxy = patterns,
                              .n_no_proxy = 5, .proxy_addr = { "proxy.example", 3128 },
                              .proxy_auth = "u:p", .proxy_name = "proxy.example:3128" };
    struct egress *e = NULL;
    assert_int_equal(egress_new(&cfg, &e), 0);
    assert_non_null(e);
    assert_string_equal(egress_proxy_name(e), "proxy.example:3128");
    static const struct {
        const char *host;
        int via_proxy;
    } cases[] = {
        { "api.push.apple.com", 1 },
        { "fcm.googleapis.com", 1 },
        { "localhost", 0 },
        { "LOCALHOST", 0 },
        { "x.localhost", 1 },                 /* exact names match only themselves */
        { "a.internal.example", 0 },
        { "a.b.internal.example", 0 },
        { "internal.example", 1 },            /* "*.suffix": below it only */
        { "xinternal.example", 1 },
        { "corp.example", 0 },                /* ".suffix": the domain itself too */
        { "push.corp.example", 0 },
        { "evilcorp.example", 1 },
        { "10.0.0.1", 0 },
        { "10.0.0.10", 1 },
        { "::1", 0 },
        { "*.corp.example", 0 },              /* how cfg_load checks "*.suffix" */
        { "*.other.example", 1 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (egress_via_proxy(e, cases[i].host) != cases[i].via_proxy)
            fail_msg("egress_via_proxy(\"%s\") != %d", cases[i].host, cases[i].via_proxy);
    egress_free(e);
}

/* ------------------------------------------------------------------------
 * A scripted proxy: reads one request head, answers 'answer' (NULL: never
 * answers), then closes when 'close_after' is set.
 * ------------------------------------------------------------------------ */

struct script {
    const char *answer;
    int close_after;
    char request[2048];             /* the request head as received */
    struct bufferevent *peer;
    /* the outcome egress reported */
    int done;
    evutil_socket_t fd;
    char error[1024];
};

static void proxy_read_cb(struct bufferevent *bev, void *arg)
{
    struct script *sc = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    if (end.pos < 0 || sc->request[0] != '\0')
        return;
    size_t n = (size_t)end.pos + 4 < sizeof(sc->request) ? (size_t)end.pos + 4
                                                         : sizeof(sc->request) - 1;
    evbuffer_remove(in, sc->request, n);
    if (sc->answer != NULL)
        bufferevent_write(bev, sc->answer, strlen(sc->answer));
    if (sc->close_after && sc->answer == NULL) {
        bufferevent_free(bev);
        sc->peer = NULL;
    }
}

/* Close once the answer is written, when the script says so. */
static void proxy_write_cb(struct bufferevent *bev, void *arg)
{
    struct script *sc = arg;
    if (sc->close_after && sc->request[0] != '\0' &&
        evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        bufferevent_free(bev);
        sc->peer = NULL;
    }
}

static void proxy_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                            int len, void *arg)
{
    struct script *sc = arg;
    (void)sa;
    (void)len;
    sc->peer = bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(sc->peer, proxy_read_cb, proxy_write_cb, NULL, sc);
    bufferevent_enable(sc->peer, EV_READ | EV_WRITE);
}

static void tunnel_done(void *arg, evutil_socket_t fd, const char *error)
{
    struct script *sc = arg;
    sc->done = 1;
    sc->fd = fd;
    snprintf(sc->error, sizeof(sc->error), "%s", error != NULL ? error : "");
}

/*
 * run_tunnel opens a tunnel to api.example:443 through the scripted proxy
 * and runs the loop until egress reports. 'auth' is the proxy's user:pass.
 */
static void run_tunnel(struct script *sc, const char *auth, int timeout_ms)
{
    struct event_base *base = event_base_new();
    assert_non_null(base);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
    struct evconnlistener *l = evconnlistener_new_bind(
        base, proxy_accept_cb, sc, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 8,
        (struct sockaddr *)&sin, sizeof(sin));
    assert_non_null(l);
    struct sockaddr_in bound;
    socklen_t blen = sizeof(bound);
    assert_int_equal(getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&bound, &blen), 0);

    struct cfg_egress cfg = { .proxy = "http://127.0.0.1", .proxy_addr = { "127.0.0.1", 0 },
                              .proxy_auth = (char *)auth };
    cfg.proxy_addr.port = ntohs(bound.sin_port);
    snprintf(cfg.proxy_name, sizeof(cfg.proxy_name), "127.0.0.1:%u", cfg.proxy_addr.port);
    struct egress *e = NULL;
    assert_int_equal(egress_new(&cfg, &e), 0);
    struct egress_tunnel *t = NULL;
    sc->fd = -1;
    assert_int_equal(egress_open(base, NULL, e, "api.example", 443, timeout_ms, tunnel_done, sc,
                                 &t), 0);
    assert_non_null(t);
    assert_int_equal(sc->done, 0);          /* never reported from inside egress_open */
    while (!sc->done)
        assert_true(event_base_loop(base, EVLOOP_ONCE) >= 0);
    if (sc->peer != NULL)
        bufferevent_free(sc->peer);
    evconnlistener_free(l);
    egress_free(e);
    event_base_free(base);
}

static void tunnel_opens_on_2xx_and_hands_over_the_socket(void **state)
{
    (void)state;
    struct script sc = { .answer = "HTTP/1.1 200 Connection established\r\nVia: test\r\n\r\n" };
    run_tunnel(&sc, "user:pass", 60000);
    assert_string_equal(sc.error, "");
    assert_true(sc.fd >= 0);
    assert_string_equal(sc.request, "CONNECT api.example:443 HTTP/1.1\r\n"
                                    "Host: api.example:443\r\n"
                                    "Proxy-Authorization: Basic dXNlcjpwYXNz\r\n\r\n");
    close(sc.fd);
}

static void refusal_names_the_proxy_and_its_status(void **state)
{
    (void)state;
    struct script sc = { .answer = "HTTP/1.1 407 Proxy Authentication Required\r\n"
                                   "Proxy-Authenticate: Basic realm=\"x\"\r\n\r\n",
                         .close_after = 1 };
    run_tunnel(&sc, NULL, 60000);
    assert_int_equal(sc.fd, -1);
    assert_non_null(strstr(sc.error, "proxy 127.0.0.1:"));
    assert_non_null(strstr(sc.error, " refused the tunnel to api.example:443: 407 Proxy "
                                     "Authentication Required"));
    assert_null(strstr(sc.request, "Proxy-Authorization"));
}

static void bad_answers_fail_the_tunnel(void **state)
{
    (void)state;
    static char huge[9000 + 64];
    snprintf(huge, sizeof(huge), "HTTP/1.1 200 OK\r\nX: %0*d", 9000, 0);
    static const struct {
        const char *answer;
        int close_after;
        const char *want;
    } cases[] = {
        { "SSH-2.0-OpenSSH\r\n\r\n", 1, "unreadable answer to CONNECT api.example:443" },
        { "HTTP/1.1 200 OK\r\n\r\n\x16\x03", 0, "data after its answer" },
        { "HTTP/1.1 502 Bad Gateway\r\n\r\n", 1, "refused the tunnel to api.example:443: 502" },
        { NULL, 1, "closed the connection before answering CONNECT api.example:443" },
        { huge, 0, "longer than 8192 bytes" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct script sc = { .answer = cases[i].answer, .close_after = cases[i].close_after };
        run_tunnel(&sc, NULL, 60000);
        assert_int_equal(sc.fd, -1);
        if (strstr(sc.error, cases[i].want) == NULL)
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, sc.error, cases[i].want);
    }
}

static void silent_proxy_hits_the_deadline(void **state)
{
    (void)state;
    struct script sc = { .answer = NULL };
    run_tunnel(&sc, NULL, 200);
    assert_int_equal(sc.fd, -1);
    assert_non_null(strstr(sc.error, "no answer to CONNECT api.example:443 in time"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(without_proxy_everything_goes_direct),
        cmocka_unit_test(no_proxy_patterns_send_hosts_direct),
        cmocka_unit_test(tunnel_opens_on_2xx_and_hands_over_the_socket),
        cmocka_unit_test(refusal_names_the_proxy_and_its_status),
        cmocka_unit_test(bad_answers_fail_the_tunnel),
        cmocka_unit_test(silent_proxy_hits_the_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
