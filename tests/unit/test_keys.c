/*
 * test_keys.c - specification of relay/keys.c, the one home of the Redis
 * key layout (design section 7): every key builder's output, the prefix
 * limit, and buffers that are too small.
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
#include "keys.h"

#define KOREAN "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4"

static void keys_follow_the_documented_layout(void **state)
{
    (void)state;
    struct keys k;
    char buf[KEYS_MAX];
    assert_int_equal(keys_init(&k, NULL), 0);
#define KEY(call, want)                          \
    do {                                         \
        int n = (call);                          \
        assert_string_equal(buf, want);          \
        assert_int_equal(n, strlen(want));       \
    } while (0)
    KEY(keys_stream(&k, PR_PROVIDER_APNS, buf, sizeof(buf)), "pr:{q}:in:apns");
    KEY(keys_stream(&k, PR_PROVIDER_FCM, buf, sizeof(buf)), "pr:{q}:in:fcm");
    KEY(keys_stream(&k, PR_PROVIDER_MPNS, buf, sizeof(buf)), "pr:{q}:in:mpns");
    KEY(keys_retry(&k, buf, sizeof(buf)), "pr:{q}:retry");
    KEY(keys_dead(&k, buf, sizeof(buf)), "pr:{q}:dead");
    KEY(keys_dedup(&k, "contoso.com", "5f0c-42", buf, sizeof(buf)), "pr:dedup:contoso.com:5f0c-42");
    KEY(keys_tenant(&k, "contoso.com", buf, sizeof(buf)), "pr:tenant:contoso.com");
    KEY(keys_tenants(&k, buf, sizeof(buf)), "pr:tenants");
    KEY(keys_rate(&k, "contoso.com", 1732480000LL, buf, sizeof(buf)), "pr:rate:contoso.com:1732480000");
    KEY(keys_token(&k, PR_PROVIDER_APNS, "ab12", buf, sizeof(buf)), "pr:token:apns:ab12");
    KEY(keys_tokens(&k, buf, sizeof(buf)), "pr:tokens");
    KEY(keys_stats_total(&k, buf, sizeof(buf)), "pr:stats:total");
    KEY(keys_stats_minute(&k, 28874666LL, buf, sizeof(buf)), "pr:stats:min:28874666");
    KEY(keys_stats_domain(&k, "contoso.com", buf, sizeof(buf)), "pr:stats:domain:contoso.com");
    KEY(keys_stats_hist(&k, PR_PROVIDER_FCM, "rtt", buf, sizeof(buf)), "pr:stats:hist:fcm:rtt");
#undef KEY
}

static void shard_keys_carry_the_shard_tag(void **state)
{
    (void)state;
    struct keys k;
    char buf[KEYS_MAX];
    assert_int_equal(keys_init(&k, NULL), 0);
    assert_int_equal(k.shards, 1);
    assert_int_equal(keys_set_shards(&k, 64), 0);
#define KEY(call, want)                          \
    do {                                         \
        int n = (call);                          \
        assert_string_equal(buf, want);          \
        assert_int_equal(n, strlen(want));       \
    } while (0)
    KEY(keys_q_stream(&k, 0, PR_PROVIDER_APNS, buf, sizeof(buf)), "pr:{q0}:in:apns");
    KEY(keys_q_stream(&k, 63, PR_PROVIDER_WEBPUSH, buf, sizeof(buf)), "pr:{q63}:in:webpush");
    KEY(keys_q_retry(&k, 7, buf, sizeof(buf)), "pr:{q7}:retry");
    KEY(keys_q_dead(&k, 7, buf, sizeof(buf)), "pr:{q7}:dead");
    KEY(keys_q_dedup(&k, 3, "contoso.com", "5f0c-42", buf, sizeof(buf)),
        "pr:{q3}:dedup:contoso.com:5f0c-42");
    KEY(keys_q_token(&k, 3, PR_PROVIDER_FCM, "ab12", buf, sizeof(buf)), "pr:{q3}:token:fcm:ab12");
    KEY(keys_q_tokens(&k, 3, buf, sizeof(buf)), "pr:{q3}:tokens");
    KEY(keys_q_tenant(&k, 12, "contoso.com", buf, sizeof(buf)), "pr:{q12}:tenant:contoso.com");
    KEY(keys_q_rate(&k, 12, "contoso.com", 1732480000LL, buf, sizeof(buf)),
        "pr:{q12}:rate:contoso.com:1732480000");
    /* the longest second, which the listener sizes its rate keys by */
    KEY(keys_q_rate(&k, 4294967295u, "contoso.com", -9223372036854775807LL - 1, buf, sizeof(buf)),
        "pr:{q4294967295}:rate:contoso.com:-9223372036854775808");
    KEY(keys_q_outcome(&k, 5, "contoso.com", "id-1", buf, sizeof(buf)), "pr:{q5}:outcome:contoso.com:id-1");
#undef KEY
    assert_int_equal(keys_set_shards(&k, 0), PR_EINVAL);
    assert_int_equal(keys_set_shards(&k, 16385), PR_EINVAL);
    assert_int_equal(keys_set_shards(&k, 16384), 0);
}

/* The shard function is part of the data layout: pinned values, and spread. */
static void shard_of_is_fixed_and_spreads(void **state)
{
    (void)state;
    struct keys k;
    keys_init(&k, NULL);
    assert_int_equal(keys_shard_of(&k, PR_PROVIDER_APNS, "ab12", 4), 0);   /* S = 1 */
    keys_set_shards(&k, 16384);
    /* FNV-1a 32 of "apns\0ab12" = 0xce9479a9 (computed independently), mod 16384 */
    assert_int_equal(keys_shard_of(&k, PR_PROVIDER_APNS, "ab12", 4), 14761);
    /* the provider is part of the input */
    assert_true(keys_shard_of(&k, PR_PROVIDER_APNS, "ab12", 4) !=
                keys_shard_of(&k, PR_PROVIDER_FCM, "ab12", 4));
    keys_set_shards(&k, 16);
    unsigned seen[16] = { 0 };
    char tok[16];
    for (int i = 0; i < 1600; i++) {
        int n = snprintf(tok, sizeof(tok), "tok%d", i);
        unsigned s = keys_shard_of(&k, PR_PROVIDER_FCM, tok, (size_t)n);
        assert_true(s < 16);
        seen[s]++;
    }
    for (int s = 0; s < 16; s++)
        assert_in_range(seen[s], 50, 150);   /* 100 each on average */
}

static void keys_begin_with_the_configured_prefix(void **state)
{
    (void)state;
    struct keys k;
    char buf[KEYS_MAX];
    assert_int_equal(keys_init(&k, "staging:"), 0);
    assert_int_equal(keys_stream(&k, PR_PROVIDER_FCM, buf, sizeof(buf)), strlen("staging:{q}:in:fcm"));
    assert_string_equal(buf, "staging:{q}:in:fcm");
    /* user data goes in byte for byte */
    keys_dedup(&k, "d", KOREAN, buf, sizeof(buf));
    assert_string_equal(buf, "staging:dedup:d:" KOREAN);
}

static void keys_refuse_a_prefix_that_does_not_fit(void **state)
{
    (void)state;
    struct keys k;
    char prefix[KEYS_PREFIX_MAX + 1];
    memset(prefix, 'p', sizeof(prefix) - 1);
    prefix[KEYS_PREFIX_MAX] = '\0';
    assert_int_equal(keys_init(&k, prefix), PR_EINVAL);
    prefix[KEYS_PREFIX_MAX - 1] = '\0';
    assert_int_equal(keys_init(&k, prefix), 0);
}

static void keys_report_a_buffer_too_small(void **state)
{
    (void)state;
    struct keys k;
    keys_init(&k, NULL);
    char buf[16];
    assert_int_equal(keys_tenants(&k, buf, 11), 10);   /* "pr:tenants" + NUL fits exactly */
    assert_string_equal(buf, "pr:tenants");
    assert_int_equal(keys_tenants(&k, buf, 10), PR_ETOOBIG);
    assert_int_equal(keys_retry(&k, buf, 5), PR_ETOOBIG);
}

static void keys_fit_a_4k_mpns_channel_uri_in_keys_max(void **state)
{
    (void)state;
    struct keys k;
    char prefix[KEYS_PREFIX_MAX];
    memset(prefix, 'p', sizeof(prefix) - 1);
    prefix[KEYS_PREFIX_MAX - 1] = '\0';
    keys_init(&k, prefix);
    char *uri = malloc(4097);
    memset(uri, 'u', 4096);
    uri[4096] = '\0';
    char *buf = malloc(KEYS_MAX);
    int n = keys_token(&k, PR_PROVIDER_MPNS, uri, buf, KEYS_MAX);
    assert_int_equal(n, 63 + strlen("token:mpns:") + 4096);
    free(buf);
    free(uri);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_follow_the_documented_layout),
        cmocka_unit_test(shard_keys_carry_the_shard_tag),
        cmocka_unit_test(shard_of_is_fixed_and_spreads),
        cmocka_unit_test(keys_begin_with_the_configured_prefix),
        cmocka_unit_test(keys_refuse_a_prefix_that_does_not_fit),
        cmocka_unit_test(keys_report_a_buffer_too_small),
        cmocka_unit_test(keys_fit_a_4k_mpns_channel_uri_in_keys_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
