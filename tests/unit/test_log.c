/*
 * test_log.c - specification of pr_redact (relay/log.c): what of a device
 * token or secret may reach a log line. Design rule: never log device
 * tokens or secrets in full.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "pushrelay/log.h"

#define ELLIPSIS "\xe2\x80\xa6"

static void a_long_secret_keeps_four_bytes_each_end_and_its_length(void **state)
{
    (void)state;
    char buf[64];
    const char *tok = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7ee5f6";
    assert_ptr_equal(pr_redact(tok, buf, sizeof(buf)), buf);
    assert_string_equal(buf, "a1b2" ELLIPSIS "e5f6/64");
    /* the middle never shows */
    assert_null(strstr(buf, "c3d4"));
}

static void a_secret_of_twelve_bytes_or_less_or_null_shows_no_byte_of_it(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(pr_redact("0123456789ab", buf, sizeof(buf)), ELLIPSIS "/12");
    assert_string_equal(pr_redact("x", buf, sizeof(buf)), ELLIPSIS "/1");
    assert_string_equal(pr_redact("", buf, sizeof(buf)), ELLIPSIS "/0");
    /* thirteen: the first length that shows ends, which then cannot overlap */
    assert_string_equal(pr_redact("0123456789abc", buf, sizeof(buf)), "0123" ELLIPSIS "9abc/13");
    /* and no secret at all */
    assert_string_equal(pr_redact(NULL, buf, sizeof(buf)), "(null)");
}

static void a_short_buffer_is_cut_not_overrun(void **state)
{
    (void)state;
    char buf[8];
    memset(buf, 'z', sizeof(buf));
    pr_redact("https://db5.notify.live.net/throttledthirdparty/01.00/AAF", buf, 6);
    assert_int_equal(strlen(buf), 5);
    assert_int_equal(buf[6], 'z');
    assert_int_equal(buf[7], 'z');
    /* a zero-length buffer is left alone */
    buf[0] = 'q';
    assert_ptr_equal(pr_redact("secret-secret-secret", buf, 0), buf);
    assert_int_equal(buf[0], 'q');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_long_secret_keeps_four_bytes_each_end_and_its_length),
        cmocka_unit_test(a_secret_of_twelve_bytes_or_less_or_null_shows_no_byte_of_it),
        cmocka_unit_test(a_short_buffer_is_cut_not_overrun),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
