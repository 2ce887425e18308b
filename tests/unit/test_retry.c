/*
 * test_retry.c - the retry policy (relay/retry.h): full jitter under an
 * exponential cap, Retry-After as a floor, attempt budget and TTL bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "retry.h"

static const struct cfg_retry policy = { .max_attempts = 8, .base_delay_ms = 500,
                                         .max_delay_ms = 300000 };
#define NOW 1732480000000LL
#define NO_TTL (NOW + 86400000LL)

static void first_retry_waits_between_zero_and_base(void **state)
{
    (void)state;
    assert_int_equal(retry_next_due(&policy, 1, -1, NOW, NO_TTL, 0), NOW);
    assert_int_equal(retry_next_due(&policy, 1, -1, NOW, NO_TTL, 500), NOW + 500);
    assert_int_equal(retry_next_due(&policy, 1, -1, NOW, NO_TTL, 501), NOW + 0);
    assert_int_equal(retry_next_due(&policy, 1, -1, NOW, NO_TTL, 1234), NOW + 1234 % 501);
}

static void ceiling_doubles_per_attempt(void **state)
{
    (void)state;
    /* rnd = ceiling hits the top of the range exactly: base * 2^(attempts-1). */
    assert_int_equal(retry_next_due(&policy, 2, -1, NOW, NO_TTL, 1000), NOW + 1000);
    assert_int_equal(retry_next_due(&policy, 2, -1, NOW, NO_TTL, 1001), NOW + 0);
    assert_int_equal(retry_next_due(&policy, 3, -1, NOW, NO_TTL, 2000), NOW + 2000);
    assert_int_equal(retry_next_due(&policy, 7, -1, NOW, NO_TTL, 32000), NOW + 32000);
    assert_int_equal(retry_next_due(&policy, 7, -1, NOW, NO_TTL, 32001), NOW + 0);
}

static void delay_never_exceeds_the_cap(void **state)
{
    (void)state;
    struct cfg_retry many = { .max_attempts = 1000, .base_delay_ms = 500, .max_delay_ms = 300000 };
    for (int attempts = 1; attempts < 1000; attempts += 7) {
        for (uint32_t rnd = 0; rnd < 4000000000u; rnd += 99991u * 7) {
            int64_t due = retry_next_due(&many, attempts, -1, NOW, NO_TTL, rnd);
            assert_true(due >= NOW);
            assert_true(due <= NOW + 300000);
        }
    }
    /* The capped range is 0..300000 inclusive. */
    assert_int_equal(retry_next_due(&many, 999, -1, NOW, NO_TTL, 300000), NOW + 300000);
    assert_int_equal(retry_next_due(&many, 999, -1, NOW, NO_TTL, 300001), NOW);
    assert_int_equal(retry_next_due(&many, 999, -1, NOW, NO_TTL, UINT32_MAX),
                     NOW + (int64_t)(UINT32_MAX % 300001u));
}

static void full_jitter_spans_zero_to_cap_across_rnd_values(void **state)
{
    (void)state;
    int64_t lo = INT64_MAX, hi = 0;
    int buckets[10] = { 0 };
    uint32_t x = 2463534242u;   /* xorshift32: a spread of rnd values */
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        int64_t d = retry_next_due(&policy, 5, -1, NOW, NO_TTL, x) - NOW;  /* ceiling 8000 */
        assert_true(d >= 0 && d <= 8000);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        buckets[d * 10 / 8001]++;
    }
    assert_true(lo < 100);
    assert_true(hi > 7900);
    for (int b = 0; b < 10; b++)
        assert_true(buckets[b] > 1500);   /* about 2000 each when uniform */
}

static void retry_after_is_a_floor(void **state)
{
    (void)state;
    assert_int_equal(retry_next_due(&policy, 1, 30, NOW, NO_TTL, 0), NOW + 30000);
    assert_int_equal(retry_next_due(&policy, 1, 30, NOW, NO_TTL, 500), NOW + 30000);
    /* Above the cap too: the provider's word wins over our ceiling. */
    assert_int_equal(retry_next_due(&policy, 8 - 1, 600, NOW, NO_TTL, 7), NOW + 600000);
    /* A jittered delay already above the floor is kept. */
    assert_int_equal(retry_next_due(&policy, 7, 1, NOW, NO_TTL, 5000), NOW + 5000);
    assert_int_equal(retry_next_due(&policy, 1, 0, NOW, NO_TTL, 400), NOW + 400);
}

static void exhausted_attempts_return_minus_one(void **state)
{
    (void)state;
    assert_int_equal(retry_next_due(&policy, 8, -1, NOW, NO_TTL, 0), -1);
    assert_int_equal(retry_next_due(&policy, 9, -1, NOW, NO_TTL, 0), -1);
    assert_true(retry_next_due(&policy, 7, -1, NOW, NO_TTL, 0) >= NOW);
    /* Exhausted wins over expired. */
    assert_int_equal(retry_next_due(&policy, 8, -1, NOW, NOW, 0), -1);
}

static void due_at_or_past_ttl_returns_minus_two(void **state)
{
    (void)state;
    assert_int_equal(retry_next_due(&policy, 1, -1, NOW, NOW + 500, 500), -2);
    assert_int_equal(retry_next_due(&policy, 1, -1, NOW, NOW + 501, 500), NOW + 500);
    assert_int_equal(retry_next_due(&policy, 1, 60, NOW, NOW + 60000, 0), -2);
    assert_int_equal(retry_next_due(&policy, 1, -1, NOW, NOW - 1, 0), -2);
}

static void zero_expiry_means_no_ttl_bound(void **state)
{
    (void)state;
    assert_int_equal(retry_next_due(&policy, 1, 3600, NOW, 0, 0), NOW + 3600000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(first_retry_waits_between_zero_and_base),
        cmocka_unit_test(ceiling_doubles_per_attempt),
        cmocka_unit_test(delay_never_exceeds_the_cap),
        cmocka_unit_test(full_jitter_spans_zero_to_cap_across_rnd_values),
        cmocka_unit_test(retry_after_is_a_floor),
        cmocka_unit_test(exhausted_attempts_return_minus_one),
        cmocka_unit_test(due_at_or_past_ttl_returns_minus_two),
        cmocka_unit_test(zero_expiry_means_no_ttl_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
