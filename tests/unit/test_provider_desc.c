/*
 * test_provider_desc.c - the provider descriptors (relay/provider_desc.c and
 * the *_desc.c of each provider): every provider has a complete one, the
 * names and the list in messages come from one list, each provider's
 * pn-prid shape, and the allowed-host rule that keeps channel URIs from
 * pointing the relay anywhere else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pushrelay/config.h"
#include "pushrelay/provider.h"
#include "provider_desc.h"

static void every_provider_has_a_complete_descriptor(void **state)
{
    (void)state;
    int n = 0;
    for (int p = 0; p < PR_PROVIDER_COUNT; p++) {
        const struct provider_desc *d = provider_desc((enum pr_provider)p);
        enum pr_provider back;
        assert_non_null(d);
        assert_non_null(d->match_param);
        assert_non_null(d->app_param);
        assert_non_null(d->check_token);
        assert_non_null(d->client_new);
        assert_non_null(d->classify);
        assert_int_equal(pr_provider_parse(pr_provider_name((enum pr_provider)p), &back), 0);
        assert_int_equal(back, p);
        n++;
    }
    assert_int_equal(n, 6); /* refuses to pass over an empty provider list */
    assert_null(provider_desc(PR_PROVIDER_COUNT));
    assert_string_equal(pr_provider_name(PR_PROVIDER_COUNT), "?");
}

static void names_and_their_list_come_from_one_list(void **state)
{
    (void)state;
    assert_string_equal(pr_provider_name(PR_PROVIDER_APNS), "apns");
    assert_string_equal(pr_provider_name(PR_PROVIDER_FCM), "fcm");
    assert_string_equal(pr_provider_name(PR_PROVIDER_MPNS), "mpns");
    assert_string_equal(pr_provider_name(PR_PROVIDER_WNS), "wns");
    assert_string_equal(pr_provider_name(PR_PROVIDER_HMS), "hms");
    assert_string_equal(pr_provider_name(PR_PROVIDER_WEBPUSH), "webpush");
    assert_string_equal(pr_provider_list(), "apns, fcm, mpns, wns, hms, webpush");
}

static void default_endpoints_are_the_providers_own(void **state)
{
    (void)state;
    assert_string_equal(provider_desc(PR_PROVIDER_APNS)->default_endpoint,
                        "https://api.push.apple.com");
    assert_string_equal(provider_desc(PR_PROVIDER_FCM)->default_endpoint,
                        "https://fcm.googleapis.com");
    assert_null(provider_desc(PR_PROVIDER_MPNS)->default_endpoint); /* the token names it */
    assert_null(provider_desc(PR_PROVIDER_WNS)->default_endpoint);
    assert_string_equal(provider_desc(PR_PROVIDER_WNS)->default_token_endpoint,
                        "https://login.live.com/accesstoken.srf");
    assert_string_equal(provider_desc(PR_PROVIDER_WNS)->default_allowed_host,
                        "*.notify.windows.com");
    assert_string_equal(provider_desc(PR_PROVIDER_HMS)->default_endpoint,
                        "https://push-api.cloud.huawei.com");
    assert_string_equal(provider_desc(PR_PROVIDER_HMS)->default_token_endpoint,
                        "https://oauth-login.cloud.huawei.com/oauth2/v3/token");
}

/* What test-push sends as pn-param is what the listener routes to the app. */
static void app_param_routes_back_to_its_app(void **state)
{
    (void)state;
    char param[300];
    struct cfg_app apps[] = {
        { .id = "ios", .provider = PR_PROVIDER_APNS, .topic = "com.example.lync",
          .team_id = "ABCDE12345" },
        { .id = "ios-legacy", .provider = PR_PROVIDER_APNS, .topic = "com.example.old" },
        { .id = "android", .provider = PR_PROVIDER_FCM, .project_id = "example-lync" },
        { .id = "wp", .provider = PR_PROVIDER_MPNS },
    };
    struct cfg cfg = { .apps = apps, .n_apps = sizeof(apps) / sizeof(apps[0]) };
    static const char *const want[] = { "ABCDE12345.com.example.lync", ".com.example.old",
                                        "example-lync", "wp" };

    for (size_t i = 0; i < cfg.n_apps; i++) {
        int voip = -1;
        provider_desc(apps[i].provider)->app_param(&apps[i], param, sizeof(param));
        assert_string_equal(param, want[i]);
        if (i == 1) /* certificate auth: the edge puts its team in front */
            snprintf(param, sizeof(param), "TEAM999999.com.example.old");
        assert_ptr_equal(cfg_find_app(&cfg, apps[i].provider, param, &voip), &apps[i]);
        assert_int_equal(voip, 0);
    }
}

/* check_token: 0, or the status with a reason; never the token in full. */
static void tokens_are_checked_per_provider(void **state)
{
    (void)state;
    char why[200], hex64[65], patterns0[] = "*.notify.live.net";
    char *patterns[] = { patterns0 };
    struct cfg_app wp = { .id = "wp", .provider = PR_PROVIDER_MPNS, .allowed_hosts = patterns,
                          .n_allowed_hosts = 1 };
    struct cfg_app other = { .id = "x" };
    const struct provider_desc *apns = provider_desc(PR_PROVIDER_APNS);
    const struct provider_desc *fcm = provider_desc(PR_PROVIDER_FCM);
    const struct provider_desc *mpns = provider_desc(PR_PROVIDER_MPNS);

    memset(hex64, 'A', 64);
    hex64[64] = '\0';
    assert_int_equal(apns->check_token(&other, hex64, why, sizeof(why)), 0);
    hex64[63] = 'g';
    assert_int_equal(apns->check_token(&other, hex64, why, sizeof(why)), 400);
    assert_string_equal(why, "pn-prid is not an APNs device token (64 to 200 hex digits)");
    assert_null(strstr(why, hex64));
    assert_int_equal(apns->check_token(&other, "abcd", why, sizeof(why)), 400);

    assert_int_equal(fcm->check_token(&other, "dGVzdA:APA91b-x_y.z", why, sizeof(why)), 0);
    assert_int_equal(fcm->check_token(&other, "", why, sizeof(why)), 400);
    assert_int_equal(fcm->check_token(&other, "a b", why, sizeof(why)), 400);
    assert_string_equal(why, "pn-prid is not an FCM registration token");

    assert_int_equal(mpns->check_token(&wp, "https://db3.notify.live.net/c/1", why, sizeof(why)), 0);
    assert_int_equal(mpns->check_token(&wp, "http://db3.notify.live.net/c/1", why, sizeof(why)), 403);
    assert_string_equal(why, "pn-prid channel URI must be https");
    assert_int_equal(mpns->check_token(&wp, "https://evil.example/c/1", why, sizeof(why)), 403);
    assert_string_equal(why, "channel host evil.example is not in allowed_hosts of app wp");
    assert_int_equal(mpns->check_token(&wp, "not a uri", why, sizeof(why)), 400);

    assert_true(apns->token_fold_case);
    assert_false(fcm->token_fold_case);
    assert_false(mpns->token_fold_case);
}

/* Channel URIs (MPNS, WNS, Web Push) share one length limit: at it accepted, past it 400. */
static void channel_uris_end_at_one_limit(void **state)
{
    (void)state;
    static const enum pr_provider channel[] = { PR_PROVIDER_MPNS, PR_PROVIDER_WNS,
                                                PR_PROVIDER_WEBPUSH };
    static const char prefix[] = "https://db3.notify.live.net/c/";
    char why[200], patterns0[] = "*.notify.live.net";
    char *patterns[] = { patterns0 };
    char uri[PROVIDER_CHANNEL_MAX + 2];
    memcpy(uri, prefix, sizeof(prefix) - 1);
    memset(uri + sizeof(prefix) - 1, 'x', sizeof(uri) - sizeof(prefix));
    uri[PROVIDER_CHANNEL_MAX] = '\0';
    for (size_t i = 0; i < sizeof(channel) / sizeof(channel[0]); i++) {
        struct cfg_app app = { .id = "ch", .provider = channel[i], .allowed_hosts = patterns,
                               .n_allowed_hosts = 1 };
        const struct provider_desc *d = provider_desc(channel[i]);
        uri[PROVIDER_CHANNEL_MAX] = '\0';
        assert_int_equal(d->check_token(&app, uri, why, sizeof(why)), 0);
        uri[PROVIDER_CHANNEL_MAX] = 'x';
        uri[PROVIDER_CHANNEL_MAX + 1] = '\0';
        assert_int_equal(d->check_token(&app, uri, why, sizeof(why)), 400);
        assert_string_equal(why, "pn-prid channel URI longer than 2048 bytes");
    }
}

static void host_allowed_matches_patterns(void **state)
{
    (void)state;
    char *patterns[] = { "*.notify.live.net", "mpns.example.com" };
    struct cfg_app app = { .provider = PR_PROVIDER_MPNS, .allowed_hosts = patterns,
                           .n_allowed_hosts = 2 };
    /* one or more labels before a "*." suffix, any case; nothing else */
    static const char *const allowed[] = {
        "db3.notify.live.net", "a.b.notify.live.net", "DB3.Notify.Live.NET",
        "mpns.example.com", "MPNS.example.COM",
    };
    static const char *const refused[] = {
        "notify.live.net", "evilnotify.live.net", ".notify.live.net", "a..notify.live.net",
        "db3.notify.live.net.evil.com", "x.mpns.example.com", "mpns.example.com.evil",
        "example.com", "",
    };
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        if (!provider_host_allowed(&app, allowed[i]))
            fail_msg("provider_host_allowed(\"%s\"): refused, want allowed", allowed[i]);
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (provider_host_allowed(&app, refused[i]))
            fail_msg("provider_host_allowed(\"%s\"): allowed, want refused", refused[i]);
    assert_int_equal(provider_host_allowed(&app, NULL), 0);
    assert_int_equal(provider_host_allowed(NULL, "db3.notify.live.net"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_provider_has_a_complete_descriptor),
        cmocka_unit_test(names_and_their_list_come_from_one_list),
        cmocka_unit_test(default_endpoints_are_the_providers_own),
        cmocka_unit_test(app_param_routes_back_to_its_app),
        cmocka_unit_test(tokens_are_checked_per_provider),
        cmocka_unit_test(channel_uris_end_at_one_limit),
        cmocka_unit_test(host_allowed_matches_patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
