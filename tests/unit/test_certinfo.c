/*
 * test_certinfo.c - certificate expiry dates and warnings (relay/certinfo.h):
 * every certificate the configuration names is read with its label and
 * notAfter; one within 30 days (or past) is "expiring" and described in
 * days; an unreadable or certificate-less file is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "pushrelay/config.h"
#include "pushrelay/error.h"
#include "certinfo.h"

#define DAY 86400

static char relay_pem[512], ca_pem[512], relay_key[512];

/* A config naming only what certinfo reads: the federation TLS files and one app's certificate. */
static void fill_cfg(struct cfg *cfg, struct cfg_app *app, char *app_cert)
{
    memset(cfg, 0, sizeof(*cfg));
    memset(app, 0, sizeof(*app));
    cfg->path = "test.conf";
    cfg->federation.tls.certificate = relay_pem;
    cfg->federation.tls.private_key = relay_key;
    cfg->federation.tls.ca_file = ca_pem;
    app->id = "lync-wp";
    app->provider = PR_PROVIDER_MPNS;
    app->certificate = app_cert;
    cfg->apps = app;
    cfg->n_apps = 1;
}

/* tests/data/cfg/tls/relay.pem and edges-ca.pem expire at 2126-10-31 21:23:54 UTC. */
static int64_t data_not_after(void)
{
    struct tm tm = { .tm_year = 2126 - 1900, .tm_mon = 9, .tm_mday = 31,
                     .tm_hour = 21, .tm_min = 23, .tm_sec = 54 };
    return (int64_t)timegm(&tm);
}

static void every_certificate_is_read_with_its_label_and_not_after(void **state)
{
    (void)state;
    struct cfg cfg;
    struct cfg_app app;
    struct certinfo ci;
    fill_cfg(&cfg, &app, relay_pem);
    assert_int_equal(certinfo_load(&cfg, &ci), 0);
    assert_int_equal(ci.n, 3);
    const char *apps[] = { "federation", "edge-ca", "lync-wp" };
    const char *files[] = { relay_pem, ca_pem, relay_pem };
    const char *subjects[] = { "CN=push.example.net", "CN=pushrelay test-only CA", "CN=push.example.net" };
    for (size_t i = 0; i < ci.n; i++) {
        assert_string_equal(ci.certs[i].app, apps[i]);
        assert_string_equal(ci.certs[i].file, files[i]);
        assert_string_equal(ci.certs[i].subject, subjects[i]);
        assert_true(ci.certs[i].not_after == data_not_after());
    }
    certinfo_clear(&ci);
    assert_int_equal(ci.n, 0);
    assert_null(ci.certs);
}

static void apps_without_certificate_add_nothing(void **state)
{
    (void)state;
    struct cfg cfg;
    struct cfg_app app;
    struct certinfo ci;
    fill_cfg(&cfg, &app, NULL);
    assert_int_equal(certinfo_load(&cfg, &ci), 0);
    assert_int_equal(ci.n, 2);
    certinfo_clear(&ci);
}

static void a_file_without_certificate_is_refused(void **state)
{
    (void)state;
    struct cfg cfg;
    struct cfg_app app;
    struct certinfo ci = { (struct certinfo_cert *)1, 7 };
    fill_cfg(&cfg, &app, relay_key);        /* a key, no certificate */
    assert_int_equal(certinfo_load(&cfg, &ci), PR_EIO);
    assert_int_equal(ci.n, 0);
    assert_null(ci.certs);
    fill_cfg(&cfg, &app, "/nonexistent/cert.pem");
    assert_int_equal(certinfo_load(&cfg, &ci), PR_EIO);
    assert_int_equal(ci.n, 0);
}

static void expiring_means_within_the_days_or_past(void **state)
{
    (void)state;
    struct certinfo_cert c = { "federation", "/etc/pushrelay/tls/relay.pem", "CN=x", 1000 * (int64_t)DAY };
    assert_false(certinfo_expiring(&c, (time_t)(c.not_after - 31 * DAY), CERTINFO_WARN_DAYS));
    assert_false(certinfo_expiring(&c, (time_t)(c.not_after - 30 * DAY), CERTINFO_WARN_DAYS));
    assert_true(certinfo_expiring(&c, (time_t)(c.not_after - 30 * DAY + 1), CERTINFO_WARN_DAYS));
    assert_true(certinfo_expiring(&c, (time_t)(c.not_after - 10 * DAY), CERTINFO_WARN_DAYS));
    assert_true(certinfo_expiring(&c, (time_t)(c.not_after + DAY), CERTINFO_WARN_DAYS));
}

static void warnings_say_days_left_or_days_past(void **state)
{
    (void)state;
    char buf[512];
    struct certinfo_cert c = { "federation", "/etc/pushrelay/tls/relay.pem", "CN=push.example.net",
                               data_not_after() };
    certinfo_describe(&c, (time_t)(c.not_after - 10 * DAY + 60), buf, sizeof(buf));
    assert_string_equal(buf, "certificate /etc/pushrelay/tls/relay.pem (app federation, CN=push.example.net) "
                             "expires in 9 days, on 2126-10-31 21:23:54 UTC");
    certinfo_describe(&c, (time_t)(c.not_after + 2 * DAY + 1), buf, sizeof(buf));
    assert_string_equal(buf, "certificate /etc/pushrelay/tls/relay.pem (app federation, CN=push.example.net) "
                             "expired 2 days ago, on 2126-10-31 21:23:54 UTC");
}

static void print_warnings_prints_only_expiring_certificates(void **state)
{
    (void)state;
    struct cfg cfg;
    struct cfg_app app;
    char *text = NULL;
    size_t len = 0;
    fill_cfg(&cfg, &app, NULL);
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    /* Far from expiry: nothing. 20 days before: both certificates. */
    assert_int_equal(certinfo_print_warnings(&cfg, (time_t)(data_not_after() - 400 * DAY), out), 0);
    assert_int_equal(certinfo_print_warnings(&cfg, (time_t)(data_not_after() - 20 * DAY), out), 2);
    fclose(out);
    assert_non_null(strstr(text, "warning: certificate "));
    assert_non_null(strstr(text, "(app edge-ca, CN=pushrelay test-only CA) expires in 20 days"));
    free(text);
}

int main(void)
{
    const char *data = getenv("PR_TEST_DATA");
    if (data == NULL) {
        fprintf(stderr, "PR_TEST_DATA must point at tests/data\n");
        return 1;
    }
    snprintf(relay_pem, sizeof(relay_pem), "%s/cfg/tls/relay.pem", data);
    snprintf(ca_pem, sizeof(ca_pem), "%s/cfg/tls/edges-ca.pem", data);
    snprintf(relay_key, sizeof(relay_key), "%s/cfg/tls/relay.key", data);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_certificate_is_read_with_its_label_and_not_after),
        cmocka_unit_test(apps_without_certificate_add_nothing),
        cmocka_unit_test(a_file_without_certificate_is_refused),
        cmocka_unit_test(expiring_means_within_the_days_or_past),
        cmocka_unit_test(warnings_say_days_left_or_days_past),
        cmocka_unit_test(print_warnings_prints_only_expiring_certificates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
