/*
 * test_stats.c - the stats buffer (relay/stats.c): which Redis hashes and
 * fields each increment and latency sample becomes, that nothing is sent
 * until a flush, that a Redis outage delays increments without losing
 * them, that an increment Redis refuses is sent again and one whose reply
 * was lost is not. The Redis connection is a recording stand-in (stats.c
 * only sends through rconn_cmd), so each test sees the exact commands.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pushrelay/error.h"
#include "pushrelay/notif.h"
#include "stats.h"

#include "rconn_recorder.h"

/* sent: 1 if exactly 'cmd' was sent. */
static int sent(const struct rconn *rc, const char *cmd)
{
    for (int i = 0; i < rc->n; i++)
        if (strcmp(rc->cmds[i], cmd) == 0)
            return 1;
    return 0;
}

static int count_prefix(const struct rconn *rc, const char *prefix)
{
    int c = 0;
    for (int i = 0; i < rc->n; i++)
        if (strncmp(rc->cmds[i], prefix, strlen(prefix)) == 0)
            c++;
    return c;
}

/* ---- fixture ------------------------------------------------------------- */

struct fx {
    struct event_base *base;
    struct rconn rc;
    struct keys keys;
    struct stats *s;
    char minute[64];            /* "pr:stats:min:<epoch minute>" */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->base = event_base_new();
    f->rc.connected = 1;
    keys_init(&f->keys, "pr:");
    assert_int_equal(stats_new(f->base, &f->rc, &f->keys, 48, &f->s), 0);
    snprintf(f->minute, sizeof(f->minute), "pr:stats:min:%lld", (long long)(pr_now_ms() / 60000));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    stats_free(f->s);
    recorder_answer(&f->rc, NULL);      /* replies after stats_free find no stats */
    event_base_free(f->base);
    free(f);
    return 0;
}

/* ---- tests --------------------------------------------------------------- */

static void nothing_is_sent_before_a_flush(void **state)
{
    struct fx *f = *state;
    stats_incr(f->s, PR_PROVIDER_APNS, "contoso.com", STATS_DELIVERED, 1);
    stats_observe(f->s, PR_PROVIDER_APNS, STATS_HIST_E2E, 12);
    assert_int_equal(f->rc.n, 0);
}

static void an_increment_lands_in_total_minute_and_domain_hashes(void **state)
{
    struct fx *f = *state;
    stats_incr(f->s, PR_PROVIDER_APNS, "contoso.com", STATS_DELIVERED, 1);
    stats_incr(f->s, PR_PROVIDER_APNS, "contoso.com", STATS_DELIVERED, 2);
    stats_incr(f->s, PR_PROVIDER_FCM, "contoso.com", STATS_DELIVERED, 1);
    /*
     * The flush names the minute by the clock: read it before and after, so
     * that a flush which crosses a minute boundary (a busy machine) is not a
     * failure. Whichever minute the flush saw, all its commands must use it.
     */
    long long m0 = pr_now_ms() / 60000;
    stats_flush(f->s);
    long long m1 = pr_now_ms() / 60000;
    char probe[96];
    snprintf(probe, sizeof(probe), "HINCRBY pr:stats:min:%lld ", m1);
    snprintf(f->minute, sizeof(f->minute), "pr:stats:min:%lld",
             count_prefix(&f->rc, probe) > 0 ? m1 : m0);

    assert_true(sent(&f->rc, "HINCRBY pr:stats:total apns:delivered 3"));
    assert_true(sent(&f->rc, "HINCRBY pr:stats:total fcm:delivered 1"));
    assert_true(sent(&f->rc, "HINCRBY pr:stats:total all:delivered 4"));
    assert_true(sent(&f->rc, "HINCRBY pr:stats:domain:contoso.com delivered 4"));
    assert_true(sent(&f->rc, "HINCRBY pr:stats:domain:contoso.com apns:delivered 3"));
    assert_true(sent(&f->rc, "HINCRBY pr:stats:domain:contoso.com fcm:delivered 1"));
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "HINCRBY %s apns:delivered 3", f->minute);
    assert_true(sent(&f->rc, cmd));
    snprintf(cmd, sizeof(cmd), "HINCRBY %s all:delivered 4", f->minute);
    assert_true(sent(&f->rc, cmd));
    /* 3 total + 3 minute + 3 domain fields, and the minute bucket's TTL. */
    assert_int_equal(count_prefix(&f->rc, "HINCRBY "), 9);
    snprintf(cmd, sizeof(cmd), "EXPIRE %s %d", f->minute, 48 * 3600);
    assert_true(sent(&f->rc, cmd));
}

static void a_flush_sends_each_increment_once(void **state)
{
    struct fx *f = *state;
    stats_incr(f->s, PR_PROVIDER_MPNS, NULL, STATS_EXPIRED, 1);
    stats_flush(f->s);
    int first = f->rc.n;
    assert_true(first > 0);
    stats_flush(f->s);
    assert_int_equal(f->rc.n, first);
    /* No domain: only total and minute hashes. */
    assert_int_equal(count_prefix(&f->rc, "HINCRBY pr:stats:domain:"), 0);
    assert_true(sent(&f->rc, "HINCRBY pr:stats:total mpns:expired 1"));
}

static void increments_wait_while_redis_is_down(void **state)
{
    struct fx *f = *state;
    f->rc.connected = 0;
    stats_incr(f->s, PR_PROVIDER_APNS, "fabrikam.com", STATS_TOKEN_DEAD, 1);
    stats_flush(f->s);
    stats_incr(f->s, PR_PROVIDER_APNS, "fabrikam.com", STATS_TOKEN_DEAD, 1);
    assert_int_equal(f->rc.n, 0);
    f->rc.connected = 1;
    stats_flush(f->s);
    assert_true(sent(&f->rc, "HINCRBY pr:stats:total apns:token_dead 2"));
    assert_true(sent(&f->rc, "HINCRBY pr:stats:domain:fabrikam.com token_dead 2"));
}

static void an_increment_redis_refuses_is_sent_again(void **state)
{
    struct fx *f = *state;
    redisReply oom = { .type = REDIS_REPLY_ERROR, .str = "OOM command not allowed", .len = 23 };
    redisReply ok = { .type = REDIS_REPLY_INTEGER, .integer = 1 };
    stats_incr(f->s, PR_PROVIDER_APNS, "contoso.com", STATS_RECEIVED, 1);
    stats_observe(f->s, PR_PROVIDER_APNS, STATS_HIST_E2E, 7);
    stats_flush(f->s);
    assert_true(sent(&f->rc, "HINCRBY pr:stats:total apns:received 1"));
    assert_true(sent(&f->rc, "HINCRBY pr:stats:hist:apns:e2e le_10 1"));
    recorder_answer(&f->rc, &oom);

    /* Refused, so not applied: the next flush sends every one again. */
    stats_incr(f->s, PR_PROVIDER_APNS, "contoso.com", STATS_RECEIVED, 1);
    f->rc.n = 0;
    stats_flush(f->s);
    assert_true(sent(&f->rc, "HINCRBY pr:stats:total apns:received 2"));
    assert_true(sent(&f->rc, "HINCRBY pr:stats:domain:contoso.com received 2"));
    assert_true(sent(&f->rc, "HINCRBY pr:stats:hist:apns:e2e le_10 1"));
    assert_true(sent(&f->rc, "HINCRBY pr:stats:hist:apns:e2e count 1"));
    recorder_answer(&f->rc, &ok);

    /* Taken: nothing is left to send. */
    f->rc.n = 0;
    stats_flush(f->s);
    assert_int_equal(f->rc.n, 0);
}

static void an_increment_whose_reply_is_lost_is_not_sent_again(void **state)
{
    struct fx *f = *state;
    stats_incr(f->s, PR_PROVIDER_APNS, "contoso.com", STATS_QUEUED, 1);
    stats_flush(f->s);
    assert_true(f->rc.n > 0);
    recorder_answer(&f->rc, NULL);      /* it may have landed: counting it again could count it twice */
    f->rc.n = 0;
    stats_flush(f->s);
    assert_int_equal(f->rc.n, 0);
}

static void latency_samples_fill_one_bucket_each(void **state)
{
    struct fx *f = *state;
    stats_observe(f->s, PR_PROVIDER_APNS, STATS_HIST_E2E, 0);       /* le_1 */
    stats_observe(f->s, PR_PROVIDER_APNS, STATS_HIST_E2E, 1);       /* le_1: bounds are inclusive */
    stats_observe(f->s, PR_PROVIDER_APNS, STATS_HIST_E2E, 7);       /* le_10 */
    stats_observe(f->s, PR_PROVIDER_APNS, STATS_HIST_E2E, 999999);  /* le_inf */
    stats_observe(f->s, PR_PROVIDER_FCM, STATS_HIST_RTT, 150);      /* le_200 */
    stats_flush(f->s);

    assert_true(sent(&f->rc, "HINCRBY pr:stats:hist:apns:e2e le_1 2"));
    assert_true(sent(&f->rc, "HINCRBY pr:stats:hist:apns:e2e le_10 1"));
    assert_true(sent(&f->rc, "HINCRBY pr:stats:hist:apns:e2e le_inf 1"));
    assert_true(sent(&f->rc, "HINCRBY pr:stats:hist:apns:e2e count 4"));
    assert_true(sent(&f->rc, "HINCRBY pr:stats:hist:apns:e2e sum_ms 1000007"));
    assert_true(sent(&f->rc, "HINCRBY pr:stats:hist:fcm:rtt le_200 1"));
    assert_true(sent(&f->rc, "HINCRBY pr:stats:hist:fcm:rtt count 1"));
    /* Buckets are not cumulative: le_2 .. le_5 got nothing and are not sent. */
    assert_int_equal(count_prefix(&f->rc, "HINCRBY pr:stats:hist:apns:e2e le_5 "), 0);
    assert_int_equal(count_prefix(&f->rc, "HINCRBY pr:stats:hist:apns:e2e le_"), 3);
}

static void stats_free_flushes_what_is_buffered(void **state)
{
    struct fx *f = *state;
    stats_incr(f->s, PR_PROVIDER_FCM, "contoso.com", STATS_QUEUED, 5);
    stats_free(f->s);
    f->s = NULL;
    assert_true(sent(&f->rc, "HINCRBY pr:stats:total fcm:queued 5"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(nothing_is_sent_before_a_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(an_increment_lands_in_total_minute_and_domain_hashes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_flush_sends_each_increment_once, setup, teardown),
        cmocka_unit_test_setup_teardown(increments_wait_while_redis_is_down, setup, teardown),
        cmocka_unit_test_setup_teardown(an_increment_redis_refuses_is_sent_again, setup, teardown),
        cmocka_unit_test_setup_teardown(an_increment_whose_reply_is_lost_is_not_sent_again, setup, teardown),
        cmocka_unit_test_setup_teardown(latency_samples_fill_one_bucket_each, setup, teardown),
        cmocka_unit_test_setup_teardown(stats_free_flushes_what_is_buffered, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
