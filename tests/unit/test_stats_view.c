/*
 * test_stats_view.c - reading the stats hashes back (relay/stats_view.h):
 * per-bucket fields become cumulative Prometheus buckets over a stable
 * bound set, quantiles interpolate inside a bucket, counters sort by stage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pushrelay/error.h"
#include "stats_view.h"

/* A fake HGETALL reply built from "field", "value" pairs. */
struct fake {
    redisReply top;
    redisReply el[32];
    redisReply *ptr[32];
};

static const redisReply *hash(struct fake *f, const char *const *kv, size_t n)
{
    memset(f, 0, sizeof(*f));
    f->top.type = REDIS_REPLY_ARRAY;
    f->top.elements = n;
    f->top.element = f->ptr;
    for (size_t i = 0; i < n; i++) {
        f->el[i].type = REDIS_REPLY_STRING;
        f->el[i].str = (char *)kv[i];
        f->el[i].len = strlen(kv[i]);
        f->ptr[i] = &f->el[i];
    }
    return &f->top;
}

static long long cum_at(const struct stats_view_hist *h, int64_t le)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->le[i] == le)
            return h->cum[i];
    return -1;
}

static void buckets_become_cumulative_in_bound_order(void **state)
{
    (void)state;
    struct fake f;
    struct stats_view_hist h;
    /* Fields arrive in hash order, not bound order; "le_inf" holds the tail. */
    const char *kv[] = { "le_50", "3", "le_1", "2", "le_1000", "1", "le_inf", "4", "count", "10",
                         "sum_ms", "123456" };
    assert_int_equal(stats_view_hist_parse(hash(&f, kv, 12), &h), 0);
    assert_int_equal(cum_at(&h, 1), 2);
    assert_int_equal(cum_at(&h, 2), 2);
    assert_int_equal(cum_at(&h, 50), 5);
    assert_int_equal(cum_at(&h, 500), 5);
    assert_int_equal(cum_at(&h, 1000), 6);
    assert_int_equal(cum_at(&h, 300000), 6);
    assert_int_equal(h.count, 10);
    assert_int_equal(h.sum_ms, 123456);
    for (size_t i = 1; i < h.n; i++) {
        assert_true(h.le[i] > h.le[i - 1]);
        assert_true(h.cum[i] >= h.cum[i - 1]);
    }
}

static void empty_hash_shows_every_known_bucket_at_zero(void **state)
{
    (void)state;
    struct fake f;
    struct stats_view_hist h;
    assert_int_equal(stats_view_hist_parse(hash(&f, NULL, 0), &h), 0);
    assert_int_equal(h.n, 16);
    assert_int_equal(h.le[0], 1);
    assert_int_equal(h.le[15], 300000);
    assert_int_equal(h.cum[15], 0);
    assert_int_equal(h.count, 0);
    assert_true(stats_view_quantile(&h, 0.5) < 0);
}

static void unknown_bound_is_shown_not_hidden(void **state)
{
    (void)state;
    struct fake f;
    struct stats_view_hist h;
    const char *kv[] = { "le_3", "7", "count", "7", "le_x", "9" };
    assert_int_equal(stats_view_hist_parse(hash(&f, kv, 6), &h), 0);
    assert_int_equal(h.n, 17);
    assert_int_equal(cum_at(&h, 2), 0);
    assert_int_equal(cum_at(&h, 3), 7);
    assert_int_equal(cum_at(&h, 5), 7);
    assert_int_equal(h.count, 7);
}

static void count_never_below_bucket_sum(void **state)
{
    (void)state;
    struct fake f;
    struct stats_view_hist h;
    /* A flush cut between the buckets and "count": +Inf must stay >= every bucket. */
    const char *kv[] = { "le_10", "5", "count", "3" };
    assert_int_equal(stats_view_hist_parse(hash(&f, kv, 4), &h), 0);
    assert_int_equal(h.count, 5);
}

static void not_an_array_is_einval(void **state)
{
    (void)state;
    redisReply r = { .type = REDIS_REPLY_NIL };
    struct stats_view_hist h;
    assert_int_equal(stats_view_hist_parse(&r, &h), PR_EINVAL);
    assert_int_equal(stats_view_hist_parse(NULL, &h), PR_EINVAL);
}

static void quantiles_interpolate_inside_the_bucket(void **state)
{
    (void)state;
    struct fake f;
    struct stats_view_hist h;
    /* 10 samples in (10, 20]: the median sits half way, p99 near the top. */
    const char *kv[] = { "le_20", "10", "count", "10" };
    stats_view_hist_parse(hash(&f, kv, 4), &h);
    assert_true(stats_view_quantile(&h, 0.5) > 14.99 && stats_view_quantile(&h, 0.5) < 15.01);
    assert_true(stats_view_quantile(&h, 0.99) > 19.89 && stats_view_quantile(&h, 0.99) < 19.91);
    /* Samples above the last bound report that bound. */
    const char *kv2[] = { "le_inf", "4", "count", "4" };
    stats_view_hist_parse(hash(&f, kv2, 4), &h);
    assert_true(stats_view_quantile(&h, 0.5) == 300000.0);
}

static void counters_sort_by_life_stage(void **state)
{
    (void)state;
    assert_true(stats_view_counter_rank("received") < stats_view_counter_rank("queued"));
    assert_true(stats_view_counter_rank("queued") < stats_view_counter_rank("rejected_403"));
    assert_int_equal(stats_view_counter_rank("rejected_403"), stats_view_counter_rank("rejected_503"));
    assert_true(stats_view_counter_rank("rejected_410") < stats_view_counter_rank("delivered"));
    assert_true(stats_view_counter_rank("dead_lettered") < stats_view_counter_rank("replayed"));
    assert_true(stats_view_counter_rank("replayed") < stats_view_counter_rank("something_new"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buckets_become_cumulative_in_bound_order),
        cmocka_unit_test(empty_hash_shows_every_known_bucket_at_zero),
        cmocka_unit_test(unknown_bound_is_shown_not_hidden),
        cmocka_unit_test(count_never_below_bucket_sum),
        cmocka_unit_test(not_an_array_is_einval),
        cmocka_unit_test(quantiles_interpolate_inside_the_bucket),
        cmocka_unit_test(counters_sort_by_life_stage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
