/*
 * test_ctl_time.c - pushrelayctl's durations and ages (relay/ctl_time.h):
 * "7d", "12h", "1d12h" read as milliseconds; anything else refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pushrelay/error.h"
#include "ctl_time.h"

static void durations_read_in_milliseconds(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(ctl_time_parse_duration("7d", &ms), 0);
    assert_int_equal(ms, 7LL * 86400 * 1000);
    assert_int_equal(ctl_time_parse_duration("12h", &ms), 0);
    assert_int_equal(ms, 12LL * 3600 * 1000);
    assert_int_equal(ctl_time_parse_duration("1d12h", &ms), 0);
    assert_int_equal(ms, 36LL * 3600 * 1000);
    assert_int_equal(ctl_time_parse_duration("30m", &ms), 0);
    assert_int_equal(ms, 1800000);
    assert_int_equal(ctl_time_parse_duration("2w", &ms), 0);
    assert_int_equal(ms, 14LL * 86400 * 1000);
    assert_int_equal(ctl_time_parse_duration("90", &ms), 0);
    assert_int_equal(ms, 90000);
}

static void bad_durations_are_refused(void **state)
{
    (void)state;
    int64_t ms = 42;
    const char *bad[] = { "", "d", "7x", "-1d", "1.5h", "0s", "7 d", "99999999999999d" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(ctl_time_parse_duration(bad[i], &ms), PR_EINVAL);
    assert_int_equal(ctl_time_parse_duration(NULL, &ms), PR_EINVAL);
    assert_int_equal(ms, 42);
}

static void ages_pick_two_units(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(ctl_time_age(0, 45000, b, sizeof(b)), "45s");
    assert_string_equal(ctl_time_age(0, 200000, b, sizeof(b)), "3m20s");
    assert_string_equal(ctl_time_age(0, 7500000, b, sizeof(b)), "2h5m");
    assert_string_equal(ctl_time_age(0, 349200000, b, sizeof(b)), "4d1h");
    assert_string_equal(ctl_time_age(5000, 0, b, sizeof(b)), "0s");
}

static void utc_times_are_iso8601(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(ctl_time_utc(1732480000000LL, b, sizeof(b)), "2024-11-24T20:26:40Z");
    assert_string_equal(ctl_time_utc(0, b, sizeof(b)), "-");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(durations_read_in_milliseconds),
        cmocka_unit_test(bad_durations_are_refused),
        cmocka_unit_test(ages_pick_two_units),
        cmocka_unit_test(utc_times_are_iso8601),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
