/*
 * test_egress.c - relay/egress.c's routing rule: which provider hosts go
 * through the proxy and which no_proxy entries send them direct. (The
 * tunnel itself is exercised against a real proxy by
 * tests/integration/test_egress_proxy.sh.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(without_proxy_everything_goes_direct),
        cmocka_unit_test(no_proxy_patterns_send_hosts_direct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
