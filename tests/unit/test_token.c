/*
 * test_token.c - the dead-token record (relay/token.h): the commands that
 * record a token the provider reported dead, as sent inside the
 * dispatcher's MULTI/EXEC. The Redis connection is a recording stand-in
 * defined here (token_send_dead only sends through rconn_cmd).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "pushrelay/error.h"
#include "token.h"

#include "rconn_recorder.h"

#define TOKEN "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
#define KEY "pr:{q0}:token:apns:" TOKEN

static const struct token_dead dead = {
    .provider = PR_PROVIDER_APNS, .token = TOKEN, .reason = "Unregistered",
    .since_ms = 1732480000000LL, .provider_ts_ms = 1732470000000LL,
    .domain = "contoso.com", .app = "lync-ios",
};

static void a_dead_token_becomes_a_hash_with_a_ttl_and_an_index_entry(void **state)
{
    (void)state;
    struct rconn rc = { .connected = 1 };
    struct keys keys;
    keys_init(&keys, "pr:");
    assert_int_equal(token_send_dead(&rc, &keys, 0, &dead), 0);
    assert_int_equal(rc.n, 4);
    assert_string_equal(rc.cmds[0], "HSET " KEY " reason Unregistered since_ms 1732480000000"
                                    " provider_ts_ms 1732470000000 domain contoso.com app lync-ios");
    assert_string_equal(rc.cmds[1], "EXPIRE " KEY " 2592000");
    assert_string_equal(rc.cmds[2], "ZADD pr:{q0}:tokens 1732480000000 " KEY);
    /* Index entries older than the records' TTL are trimmed (exclusive bound). */
    assert_string_equal(rc.cmds[3], "ZREMRANGEBYSCORE pr:{q0}:tokens -inf (1729888000000");
}

static void absent_optional_fields_are_written_empty(void **state)
{
    (void)state;
    struct rconn rc = { .connected = 1 };
    struct keys keys;
    keys_init(&keys, "x:");
    keys_set_shards(&keys, 8);
    struct token_dead t = { .provider = PR_PROVIDER_FCM, .token = "fcmtok", .since_ms = 5 };
    assert_int_equal(token_send_dead(&rc, &keys, 3, &t), 0);
    assert_string_equal(rc.cmds[0], "HSET x:{q3}:token:fcm:fcmtok reason  since_ms 5 provider_ts_ms 0"
                                    " domain  app ");
    assert_string_equal(rc.cmds[2], "ZADD x:{q3}:tokens 5 x:{q3}:token:fcm:fcmtok");
}

static void nothing_is_sent_for_a_token_too_long_for_a_key(void **state)
{
    (void)state;
    struct rconn rc = { .connected = 1 };
    struct keys keys;
    keys_init(&keys, "pr:");
    static char huge[KEYS_MAX + 10];
    memset(huge, 'a', sizeof(huge) - 1);
    struct token_dead t = dead;
    t.token = huge;
    assert_int_equal(token_send_dead(&rc, &keys, 0, &t), PR_ETOOBIG);
    assert_int_equal(rc.n, 0);
}

static void a_lost_connection_is_reported(void **state)
{
    (void)state;
    struct rconn rc = { .connected = 0 };
    struct keys keys;
    keys_init(&keys, "pr:");
    assert_int_equal(token_send_dead(&rc, &keys, 0, &dead), PR_EREDIS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_dead_token_becomes_a_hash_with_a_ttl_and_an_index_entry),
        cmocka_unit_test(absent_optional_fields_are_written_empty),
        cmocka_unit_test(nothing_is_sent_for_a_token_too_long_for_a_key),
        cmocka_unit_test(a_lost_connection_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
