/*
 * test_classify.c - every row of the APNs, FCM and MPNS error tables
 * (relay/classify.h): the provider's answer in, the dispatcher's next step out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "classify.h"

struct row {
    int status;
    const char *reason;
    int64_t provider_ts_ms;
    enum pr_outcome want;
};

static struct pr_result result(int status, const char *reason, int64_t ts)
{
    struct pr_result r;
    pr_result_init(&r);
    r.status = status;
    snprintf(r.reason, sizeof(r.reason), "%s", reason);
    r.provider_ts_ms = ts;
    return r;
}

/* Each row is checked through the provider's own classifier and pr_classify. */
static void check_rows(enum pr_provider p, const struct row *rows, size_t n, int64_t accepted_ms)
{
    for (size_t i = 0; i < n; i++) {
        struct pr_result r = result(rows[i].status, rows[i].reason, rows[i].provider_ts_ms);
        struct pr_result r2 = r;
        enum pr_outcome got;
        switch (p) {
        case PR_PROVIDER_APNS: got = apns_classify(&r, accepted_ms); break;
        case PR_PROVIDER_FCM: got = fcm_classify(&r); break;
        default: got = mpns_classify(&r); break;
        }
        if (got != rows[i].want)
            print_error("%s row %zu: %d \"%s\" gave %s, want %s\n", pr_provider_name(p), i,
                        rows[i].status, rows[i].reason, pr_outcome_name(got),
                        pr_outcome_name(rows[i].want));
        assert_int_equal(got, rows[i].want);
        assert_int_equal(pr_classify(p, &r2, accepted_ms), rows[i].want);
    }
}

#define ROWS(p, rows, acc) check_rows((p), (rows), sizeof(rows) / sizeof((rows)[0]), (acc))

static void no_answer_retries_and_local_refusal_dead_letters_for_every_provider(void **state)
{
    (void)state;
    const struct row rows[] = {
        { PR_STATUS_NO_ANSWER, "timeout", 0, PR_OUTCOME_RETRY },
        { PR_STATUS_NO_ANSWER, "", 0, PR_OUTCOME_RETRY },
        { PR_STATUS_LOCAL, "payload too large", 0, PR_OUTCOME_DEAD_LETTER },
    };
    ROWS(PR_PROVIDER_APNS, rows, 1000);
    ROWS(PR_PROVIDER_FCM, rows, 1000);
    ROWS(PR_PROVIDER_MPNS, rows, 1000);
}

static void apns_table(void **state)
{
    (void)state;
    const struct row rows[] = {
        { 200, "", 0, PR_OUTCOME_DELIVERED },
        { 410, "Unregistered", 0, PR_OUTCOME_TOKEN_DEAD },
        { 410, "ExpiredToken", 0, PR_OUTCOME_TOKEN_DEAD },
        { 400, "BadDeviceToken", 0, PR_OUTCOME_TOKEN_DEAD },
        { 400, "DeviceTokenNotForTopic", 0, PR_OUTCOME_TOKEN_DEAD },
        { 400, "BadCollapseId", 0, PR_OUTCOME_DEAD_LETTER },
        { 400, "PayloadEmpty", 0, PR_OUTCOME_DEAD_LETTER },
        { 403, "ExpiredProviderToken", 0, PR_OUTCOME_REAUTH },
        { 403, "InvalidProviderToken", 0, PR_OUTCOME_REAUTH },
        { 403, "BadCertificate", 0, PR_OUTCOME_DEAD_LETTER },
        { 405, "MethodNotAllowed", 0, PR_OUTCOME_DEAD_LETTER },
        { 413, "PayloadTooLarge", 0, PR_OUTCOME_DEAD_LETTER },
        { 429, "TooManyRequests", 0, PR_OUTCOME_RETRY },
        { 429, "TooManyProviderTokenUpdates", 0, PR_OUTCOME_RETRY },
        { 500, "InternalServerError", 0, PR_OUTCOME_RETRY },
        { 503, "ServiceUnavailable", 0, PR_OUTCOME_RETRY },
        { 503, "Shutdown", 0, PR_OUTCOME_RETRY },
        { 502, "", 0, PR_OUTCOME_RETRY },
        { 404, "BadPath", 0, PR_OUTCOME_DEAD_LETTER },
    };
    ROWS(PR_PROVIDER_APNS, rows, 1732480000000);
}

static void apns_410_with_timestamp_after_acceptance_kills_the_token(void **state)
{
    (void)state;
    const struct row rows[] = {
        { 410, "Unregistered", 1732480000500, PR_OUTCOME_TOKEN_DEAD },
        { 410, "Unregistered", 1732480000000, PR_OUTCOME_TOKEN_DEAD }, /* equal: not newer */
    };
    ROWS(PR_PROVIDER_APNS, rows, 1732480000000);
}

static void apns_410_older_than_a_newer_registration_dead_letters_and_keeps_the_reason(void **state)
{
    (void)state;
    struct pr_result r = result(410, "Unregistered", 1732479999999);
    assert_int_equal(apns_classify(&r, 1732480000000), PR_OUTCOME_DEAD_LETTER);
    assert_string_equal(r.reason, "Unregistered");
    assert_int_equal(r.status, 410);
}

static void fcm_table(void **state)
{
    (void)state;
    const struct row rows[] = {
        { 200, "", 0, PR_OUTCOME_DELIVERED },
        { 404, "UNREGISTERED", 0, PR_OUTCOME_TOKEN_DEAD },
        { 400, "UNREGISTERED", 0, PR_OUTCOME_TOKEN_DEAD },
        { 404, "NOT_FOUND", 0, PR_OUTCOME_TOKEN_DEAD },
        { 404, "", 0, PR_OUTCOME_TOKEN_DEAD },
        { 400, "INVALID_ARGUMENT", 0, PR_OUTCOME_TOKEN_DEAD },
        { 403, "SENDER_ID_MISMATCH", 0, PR_OUTCOME_DEAD_LETTER },
        { 401, "THIRD_PARTY_AUTH_ERROR", 0, PR_OUTCOME_DEAD_LETTER },
        { 429, "QUOTA_EXCEEDED", 0, PR_OUTCOME_RETRY },
        { 429, "", 0, PR_OUTCOME_RETRY },
        { 503, "UNAVAILABLE", 0, PR_OUTCOME_RETRY },
        { 503, "", 0, PR_OUTCOME_RETRY },
        { 500, "INTERNAL", 0, PR_OUTCOME_RETRY },
        { 500, "", 0, PR_OUTCOME_RETRY },
        { 401, "UNAUTHENTICATED", 0, PR_OUTCOME_REAUTH },
        { 401, "", 0, PR_OUTCOME_REAUTH },
        { 403, "PERMISSION_DENIED", 0, PR_OUTCOME_DEAD_LETTER },
        { 400, "", 0, PR_OUTCOME_DEAD_LETTER },
        { 413, "", 0, PR_OUTCOME_DEAD_LETTER },
        { 502, "", 0, PR_OUTCOME_RETRY },
        { 504, "DEADLINE_EXCEEDED", 0, PR_OUTCOME_RETRY },
    };
    ROWS(PR_PROVIDER_FCM, rows, 0);
}

static void mpns_table(void **state)
{
    (void)state;
    const struct row rows[] = {
        { 200, "Received/Active/Connected", 0, PR_OUTCOME_DELIVERED },
        { 200, "Received/Active/TempDisconnected", 0, PR_OUTCOME_DELIVERED },
        { 200, "QueueFull/Active/Connected", 0, PR_OUTCOME_RETRY },
        { 200, "Suppressed/Active/Connected", 0, PR_OUTCOME_RETRY },
        { 404, "Dropped/Expired/Disconnected", 0, PR_OUTCOME_TOKEN_DEAD },
        { 404, "//", 0, PR_OUTCOME_TOKEN_DEAD },
        { 200, "Dropped/Expired/", 0, PR_OUTCOME_TOKEN_DEAD },
        { 406, "Dropped/Active/Connected", 0, PR_OUTCOME_RETRY },
        { 412, "Dropped/Active/Inactive", 0, PR_OUTCOME_RETRY },
        { 503, "//", 0, PR_OUTCOME_RETRY },
        { 500, "", 0, PR_OUTCOME_RETRY },
        { 400, "//", 0, PR_OUTCOME_DEAD_LETTER },
        { 401, "//", 0, PR_OUTCOME_DEAD_LETTER },
        { 405, "//", 0, PR_OUTCOME_DEAD_LETTER },
        { 403, "//", 0, PR_OUTCOME_DEAD_LETTER },
        { 413, "", 0, PR_OUTCOME_DEAD_LETTER },
    };
    ROWS(PR_PROVIDER_MPNS, rows, 0);
}

static void mpns_412_waits_at_least_an_hour(void **state)
{
    (void)state;
    struct pr_result r = result(412, "Dropped/Active/Inactive", 0);
    assert_int_equal(mpns_classify(&r), PR_OUTCOME_RETRY);
    assert_int_equal(r.retry_after_s, 3600);

    r = result(412, "Dropped/Active/Inactive", 0);
    r.retry_after_s = 60;
    assert_int_equal(mpns_classify(&r), PR_OUTCOME_RETRY);
    assert_int_equal(r.retry_after_s, 3600);

    r = result(412, "Dropped/Active/Inactive", 0);
    r.retry_after_s = 7200;
    assert_int_equal(mpns_classify(&r), PR_OUTCOME_RETRY);
    assert_int_equal(r.retry_after_s, 7200);
}

static void other_answers_leave_retry_after_alone(void **state)
{
    (void)state;
    struct pr_result r = result(503, "//", 0);
    assert_int_equal(mpns_classify(&r), PR_OUTCOME_RETRY);
    assert_int_equal(r.retry_after_s, -1);
}

static void unknown_provider_dead_letters(void **state)
{
    (void)state;
    struct pr_result r = result(200, "", 0);
    assert_int_equal(pr_classify(PR_PROVIDER_COUNT, &r, 0), PR_OUTCOME_DEAD_LETTER);
}

static void outcome_names_are_the_wire_names(void **state)
{
    (void)state;
    assert_string_equal(pr_outcome_name(PR_OUTCOME_DELIVERED), "delivered");
    assert_string_equal(pr_outcome_name(PR_OUTCOME_RETRY), "retry");
    assert_string_equal(pr_outcome_name(PR_OUTCOME_EXPIRED), "expired");
    assert_string_equal(pr_outcome_name(PR_OUTCOME_TOKEN_DEAD), "token_dead");
    assert_string_equal(pr_outcome_name(PR_OUTCOME_DEAD_LETTER), "dead_letter");
    assert_string_equal(pr_outcome_name(PR_OUTCOME_REAUTH), "reauth");
    assert_string_equal(pr_outcome_name(PR_OUTCOME_COUNT), "?");
}

static void result_init_zeroes_and_marks_retry_after_absent(void **state)
{
    (void)state;
    struct pr_result r;
    memset(&r, 0x5a, sizeof(r));
    pr_result_init(&r);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.reason, "");
    assert_int_equal(r.retry_after_s, -1);
    assert_int_equal(r.provider_ts_ms, 0);
    assert_string_equal(r.provider_id, "");
    assert_int_equal(r.rtt_us, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_answer_retries_and_local_refusal_dead_letters_for_every_provider),
        cmocka_unit_test(apns_table),
        cmocka_unit_test(apns_410_with_timestamp_after_acceptance_kills_the_token),
        cmocka_unit_test(apns_410_older_than_a_newer_registration_dead_letters_and_keeps_the_reason),
        cmocka_unit_test(fcm_table),
        cmocka_unit_test(mpns_table),
        cmocka_unit_test(mpns_412_waits_at_least_an_hour),
        cmocka_unit_test(other_answers_leave_retry_after_alone),
        cmocka_unit_test(unknown_provider_dead_letters),
        cmocka_unit_test(outcome_names_are_the_wire_names),
        cmocka_unit_test(result_init_zeroes_and_marks_retry_after_absent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
