/*
 * test_classify_ext.c - the Web Push, WNS and HMS error tables
 * (relay/webpush_errors.c, wns_errors.c, hms_errors.c), row by row as
 * classify_ext.h documents them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "classify_ext.h"

struct row {
    int status;
    const char *reason;
    enum pr_outcome want;
};

static void check_rows(enum pr_outcome (*classify)(struct pr_result *), const struct row *rows,
                       size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct pr_result res;
        pr_result_init(&res);
        res.status = rows[i].status;
        snprintf(res.reason, sizeof(res.reason), "%s", rows[i].reason);
        enum pr_outcome got = classify(&res);
        if (got != rows[i].want)
            fail_msg("row %zu: %d \"%s\" gave %s, want %s", i, rows[i].status, rows[i].reason,
                     pr_outcome_name(got), pr_outcome_name(rows[i].want));
    }
}

#define CHECK_ROWS(fn, rows) check_rows(fn, rows, sizeof(rows) / sizeof(rows[0]))

static void no_answer_retries_and_local_refusal_dead_letters(void **state)
{
    (void)state;
    static const struct row rows[] = {
        { PR_STATUS_NO_ANSWER, "timeout", PR_OUTCOME_RETRY },
        { 42, "", PR_OUTCOME_RETRY },
        { PR_STATUS_LOCAL, "host not allowed", PR_OUTCOME_DEAD_LETTER },
    };
    CHECK_ROWS(webpush_classify, rows);
    CHECK_ROWS(wns_classify, rows);
    CHECK_ROWS(hms_classify, rows);
}

static void webpush_rows(void **state)
{
    (void)state;
    static const struct row rows[] = {
        { 200, "", PR_OUTCOME_DELIVERED },
        { 201, "", PR_OUTCOME_DELIVERED },
        { 202, "", PR_OUTCOME_DELIVERED },
        { 404, "", PR_OUTCOME_TOKEN_DEAD },
        { 410, "push subscription has unsubscribed or expired", PR_OUTCOME_TOKEN_DEAD },
        { 401, "", PR_OUTCOME_REAUTH },
        { 413, "", PR_OUTCOME_DEAD_LETTER },
        { 429, "", PR_OUTCOME_RETRY },
        { 500, "", PR_OUTCOME_RETRY },
        { 502, "", PR_OUTCOME_RETRY },
        { 503, "", PR_OUTCOME_RETRY },
        { 400, "", PR_OUTCOME_DEAD_LETTER },
        { 403, "", PR_OUTCOME_DEAD_LETTER },
        { 301, "", PR_OUTCOME_DEAD_LETTER },
        { 600, "", PR_OUTCOME_DEAD_LETTER },
    };
    CHECK_ROWS(webpush_classify, rows);
}

static void webpush_413_names_its_reason_and_keeps_retry_after(void **state)
{
    (void)state;
    struct pr_result res;
    pr_result_init(&res);
    res.status = 413;
    assert_int_equal(webpush_classify(&res), PR_OUTCOME_DEAD_LETTER);
    assert_string_equal(res.reason, "PayloadTooLarge");
    snprintf(res.reason, sizeof(res.reason), "Payload exceeds 4096 bytes");
    assert_int_equal(webpush_classify(&res), PR_OUTCOME_DEAD_LETTER);
    assert_string_equal(res.reason, "Payload exceeds 4096 bytes");     /* theirs kept */

    pr_result_init(&res);
    res.status = 429;
    res.retry_after_s = 120;
    assert_int_equal(webpush_classify(&res), PR_OUTCOME_RETRY);
    assert_int_equal(res.retry_after_s, 120);
}

static void wns_rows(void **state)
{
    (void)state;
    static const struct row rows[] = {
        { 200, "received/connected/", PR_OUTCOME_DELIVERED },
        { 200, "Received/Disconnected/", PR_OUTCOME_DELIVERED },
        { 200, "", PR_OUTCOME_DELIVERED },
        { 200, "channelthrottled/connected/", PR_OUTCOME_RETRY },
        { 200, "dropped/connected/", PR_OUTCOME_DEAD_LETTER },
        { 200, "droppedx//", PR_OUTCOME_DELIVERED },          /* whole word only */
        { 404, "", PR_OUTCOME_TOKEN_DEAD },
        { 410, "//The channel expired.", PR_OUTCOME_TOKEN_DEAD },
        { 401, "//Token expired", PR_OUTCOME_REAUTH },
        { 406, "channelthrottled//", PR_OUTCOME_RETRY },
        { 429, "", PR_OUTCOME_RETRY },
        { 500, "", PR_OUTCOME_RETRY },
        { 503, "", PR_OUTCOME_RETRY },
        { 400, "//Invalid header", PR_OUTCOME_DEAD_LETTER },
        { 403, "", PR_OUTCOME_DEAD_LETTER },
        { 405, "", PR_OUTCOME_DEAD_LETTER },
        { 413, "", PR_OUTCOME_DEAD_LETTER },
        { 302, "", PR_OUTCOME_DEAD_LETTER },
    };
    CHECK_ROWS(wns_classify, rows);
}

static void hms_rows(void **state)
{
    (void)state;
    static const struct row rows[] = {
        { 200, "80000000", PR_OUTCOME_DELIVERED },
        { 200, "80100000", PR_OUTCOME_TOKEN_DEAD },
        { 200, "80300007", PR_OUTCOME_TOKEN_DEAD },
        { 200, "80200003", PR_OUTCOME_REAUTH },
        { 401, "80200003", PR_OUTCOME_REAUTH },
        { 200, "80300008", PR_OUTCOME_DEAD_LETTER },
        { 500, "81000001", PR_OUTCOME_RETRY },
        { 200, "81000001", PR_OUTCOME_RETRY },
        { 200, "80100003", PR_OUTCOME_DEAD_LETTER },
        { 200, "80300002", PR_OUTCOME_DEAD_LETTER },
        { 200, "", PR_OUTCOME_DEAD_LETTER },                /* no code: nothing says delivered */
        { 401, "80200001", PR_OUTCOME_REAUTH },
        { 401, "", PR_OUTCOME_REAUTH },
        { 429, "", PR_OUTCOME_RETRY },
        { 502, "", PR_OUTCOME_RETRY },
        { 503, "80600003", PR_OUTCOME_RETRY },
        { 400, "80100001", PR_OUTCOME_DEAD_LETTER },
        { 404, "", PR_OUTCOME_DEAD_LETTER },
    };
    CHECK_ROWS(hms_classify, rows);
}

static void hms_other_code_stays_as_the_reason(void **state)
{
    (void)state;
    struct pr_result res;
    pr_result_init(&res);
    res.status = 200;
    snprintf(res.reason, sizeof(res.reason), "80100016");
    assert_int_equal(hms_classify(&res), PR_OUTCOME_DEAD_LETTER);
    assert_string_equal(res.reason, "80100016");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_answer_retries_and_local_refusal_dead_letters),
        cmocka_unit_test(webpush_rows),
        cmocka_unit_test(webpush_413_names_its_reason_and_keeps_retry_after),
        cmocka_unit_test(wns_rows),
        cmocka_unit_test(hms_rows),
        cmocka_unit_test(hms_other_code_stays_as_the_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
