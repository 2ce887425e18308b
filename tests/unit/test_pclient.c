/*
 * test_pclient.c - the provider-client contract that needs no server:
 * endpoint parsing, Retry-After, credentials refused at pclient_new, local
 * refusals answered from the event loop (never inside pclient_send), and
 * pclient_free completing what is still waiting. The wire behaviour is in
 * tests/integration/test_pclient_*.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <event2/event.h>

#include "pclient_impl.h"
#include "pushrelay/error.h"
#include "pushrelay/log.h"

static void endpoint_gives_host_and_port(void **state)
{
    char host[64];
    uint16_t port = 0;
    (void)state;
    assert_int_equal(pclient_endpoint("a", "https://api.push.apple.com", NULL, host,
                                      sizeof(host), &port), 0);
    assert_string_equal(host, "api.push.apple.com");
    assert_int_equal(port, 443);
    assert_int_equal(pclient_endpoint("a", "https://127.0.0.1:8443/", NULL, host, sizeof(host),
                                      &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8443);
    assert_int_equal(pclient_endpoint("a", "https://[::1]:9000", NULL, host, sizeof(host), &port),
                     0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 9000);
}

static void endpoint_falls_back_to_the_provider_default(void **state)
{
    char host[64];
    uint16_t port = 0;
    (void)state;
    assert_int_equal(pclient_endpoint("a", NULL, "https://fcm.googleapis.com", host, sizeof(host),
                                      &port), 0);
    assert_string_equal(host, "fcm.googleapis.com");
    assert_int_equal(port, 443);
}

static void endpoint_must_be_https_with_a_host(void **state)
{
    char host[64];
    uint16_t port;
    (void)state;
    assert_int_equal(pclient_endpoint("a", "http://api.push.apple.com", NULL, host, sizeof(host),
                                      &port), PR_ECONFIG);
    assert_int_equal(pclient_endpoint("a", "https://", NULL, host, sizeof(host), &port),
                     PR_ECONFIG);
    assert_int_equal(pclient_endpoint("a", "api.push.apple.com", NULL, host, sizeof(host), &port),
                     PR_ECONFIG);
}

static void retry_after_reads_seconds_only(void **state)
{
    (void)state;
    assert_int_equal(pclient_parse_retry_after("120"), 120);
    assert_int_equal(pclient_parse_retry_after(" 7"), 7);
    assert_int_equal(pclient_parse_retry_after(NULL), -1);
    assert_int_equal(pclient_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), -1);
    assert_int_equal(pclient_parse_retry_after("99999999"), 7 * 86400);
}

static void apns_without_credentials_is_refused(void **state)
{
    struct event_base *base = event_base_new();
    struct cfg_app app = { .id = "ios", .provider = PR_PROVIDER_APNS, .topic = "com.example" };
    struct pclient *pc = NULL;
    (void)state;
    assert_int_equal(pclient_new(base, &app, &pc), PR_ECONFIG);
    app.key_file = "/nonexistent/AuthKey.p8";
    app.team_id = "TEAM123456";
    app.key_id = "KEY1234567";
    assert_int_equal(pclient_new(base, &app, &pc), PR_ECRYPTO);
    assert_null(pc);
    event_base_free(base);
}

static void fcm_without_a_service_account_is_refused(void **state)
{
    struct event_base *base = event_base_new();
    struct cfg_app app = { .id = "android", .provider = PR_PROVIDER_FCM, .project_id = "p" };
    struct pclient *pc = NULL;
    (void)state;
    assert_int_equal(pclient_new(base, &app, &pc), PR_ECONFIG);
    app.service_account = "/nonexistent/sa.json";
    assert_int_equal(pclient_new(base, &app, &pc), PR_ECONFIG);
    event_base_free(base);
}

struct answer {
    int calls;
    struct pr_result res;
};

static void record_answer(void *arg, const struct pr_result *res)
{
    struct answer *a = arg;
    a->calls++;
    a->res = *res;
}

static void notif_for(struct pr_notif *n, const char *token)
{
    notif_init(n);
    n->id = strdup("5f0c2a1e-1b2c-4d3e-8f90-000000000001");
    n->domain = strdup("contoso.com");
    n->app = strdup("wp");
    n->token = strdup(token);
    n->provider = PR_PROVIDER_MPNS;
    n->title = strdup("Alice");
    n->body = strdup("Hello");
    n->ttl_s = 60;
    n->accepted_ms = pr_now_ms();
    n->expires_ms = n->accepted_ms + 60000;
}

static void mpns_refuses_other_hosts_from_the_loop(void **state)
{
    struct event_base *base = event_base_new();
    char *allowed[] = { "*.notify.live.net" };
    struct cfg_app app = { .id = "wp", .provider = PR_PROVIDER_MPNS,
                           .allowed_hosts = allowed, .n_allowed_hosts = 1 };
    struct pclient *pc = NULL;
    struct pr_notif n;
    struct answer a = { 0 };
    (void)state;
    assert_int_equal(pclient_new(base, &app, &pc), 0);
    notif_for(&n, "https://evil.example.com/steal");
    assert_int_equal(pclient_send(pc, &n, 1000, record_answer, &a), 0);
    notif_clear(&n);
    assert_int_equal(a.calls, 0);      /* never from inside pclient_send */
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.res.status, PR_STATUS_LOCAL);
    assert_string_equal(a.res.reason, "host not allowed");

    /* A lookalike host does not match the pattern either. */
    notif_for(&n, "https://db3.notify.live.net.evil.com/x");
    assert_int_equal(pclient_send(pc, &n, 1000, record_answer, &a), 0);
    notif_clear(&n);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(a.calls, 2);
    assert_string_equal(a.res.reason, "host not allowed");
    pclient_free(pc);
    event_base_free(base);
}

static void free_completes_what_is_waiting(void **state)
{
    struct event_base *base = event_base_new();
    char *allowed[] = { "127.0.0.1" };
    struct cfg_app app = { .id = "wp", .provider = PR_PROVIDER_MPNS,
                           .allowed_hosts = allowed, .n_allowed_hosts = 1 };
    struct pclient *pc = NULL;
    struct pclient_stats st;
    struct pr_notif n;
    struct answer a = { 0 };
    (void)state;
    assert_int_equal(pclient_new(base, &app, &pc), 0);
    notif_for(&n, "https://127.0.0.1:9/never-opened");
    /* The loop never runs: the request is still waiting for a connection. */
    assert_int_equal(pclient_send(pc, &n, 1000, record_answer, &a), 0);
    notif_clear(&n);
    pclient_get_stats(pc, &st);
    assert_int_equal(st.queued, 1);
    assert_int_equal(st.in_flight, 0);
    pclient_free(pc);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.res.status, PR_STATUS_NO_ANSWER);
    assert_string_equal(a.res.reason, "shutdown");
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(endpoint_gives_host_and_port),
        cmocka_unit_test(endpoint_falls_back_to_the_provider_default),
        cmocka_unit_test(endpoint_must_be_https_with_a_host),
        cmocka_unit_test(retry_after_reads_seconds_only),
        cmocka_unit_test(apns_without_credentials_is_refused),
        cmocka_unit_test(fcm_without_a_service_account_is_refused),
        cmocka_unit_test(mpns_refuses_other_hosts_from_the_loop),
        cmocka_unit_test(free_completes_what_is_waiting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
