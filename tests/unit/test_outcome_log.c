/*
 * test_outcome_log.c - the per-notification outcome record
 * (relay/outcome_log.h): the commands queued inside the dispatcher's
 * MULTI/EXEC. The Redis connection is a recording stand-in defined here
 * (outcome_log_send only sends through rconn_cmd).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "pushrelay/error.h"
#include "outcome_log.h"

#include "rconn_recorder.h"

/* The at_ms field is the wall clock: cut the record at it for comparison. */
static void assert_hset_prefix(const char *cmd, const char *want)
{
    const char *at = strstr(cmd, " at_ms ");
    assert_non_null(at);
    assert_int_equal((size_t)(at - cmd), strlen(want));
    assert_memory_equal(cmd, want, strlen(want));
}

static void a_retry_is_recorded_with_the_providers_last_answer(void **state)
{
    (void)state;
    struct rconn rc = { .connected = 1 };
    struct keys keys;
    keys_init(&keys, "pr:");
    struct pr_notif n;
    notif_init(&n);
    n.id = "push-1";
    n.domain = "contoso.com";
    n.attempts = 2;
    n.last = "503 ServiceUnavailable";
    assert_int_equal(outcome_log_send(&rc, &keys, 0, &n, PR_OUTCOME_RETRY, NULL, 503), 0);
    assert_int_equal(rc.n, 2);
    assert_hset_prefix(rc.cmds[0], "HSET pr:{q0}:outcome:contoso.com:push-1 outcome retry reason "
                                   " last_status 503 last 503 ServiceUnavailable attempts 2");
    assert_string_equal(rc.cmds[1], "EXPIRE pr:{q0}:outcome:contoso.com:push-1 86400");
}

static void a_dead_letter_keeps_its_reason(void **state)
{
    (void)state;
    struct rconn rc = { .connected = 1 };
    struct keys keys;
    keys_init(&keys, "x:");
    keys_set_shards(&keys, 16);
    struct pr_notif n;
    notif_init(&n);
    n.id = "p2";
    n.domain = "fabrikam.com";
    n.attempts = 1;
    assert_int_equal(outcome_log_send(&rc, &keys, 11, &n, PR_OUTCOME_DEAD_LETTER, "413 PayloadTooLarge", 413), 0);
    assert_hset_prefix(rc.cmds[0], "HSET x:{q11}:outcome:fabrikam.com:p2 outcome dead_letter reason "
                                   "413 PayloadTooLarge last_status 413 last  attempts 1");
}

static void a_record_without_id_is_skipped(void **state)
{
    (void)state;
    struct rconn rc = { .connected = 1 };
    struct keys keys;
    keys_init(&keys, "pr:");
    struct pr_notif n;
    notif_init(&n);
    assert_int_equal(outcome_log_send(&rc, &keys, 0, &n, PR_OUTCOME_DELIVERED, NULL, 200), 0);
    assert_int_equal(outcome_log_send(&rc, &keys, 0, NULL, PR_OUTCOME_DELIVERED, NULL, 200), 0);
    assert_int_equal(rc.n, 0);
}

static void a_delivery_is_recorded_only_when_traced(void **state)
{
    (void)state;
    struct rconn rc = { .connected = 1 };
    struct keys keys;
    keys_init(&keys, "pr:");
    struct pr_notif n;
    notif_init(&n);
    n.domain = "contoso.com";
    n.attempts = 1;
    n.id = "test-push-0123456789ab";    /* an id says nothing: only the field does */
    assert_int_equal(outcome_log_send(&rc, &keys, 0, &n, PR_OUTCOME_DELIVERED, NULL, 200), 0);
    assert_int_equal(rc.n, 0);
    n.id = "im-4711";
    n.trace = 1;
    assert_int_equal(outcome_log_send(&rc, &keys, 0, &n, PR_OUTCOME_DELIVERED, NULL, 200), 0);
    assert_int_equal(rc.n, 2);
    assert_hset_prefix(rc.cmds[0], "HSET pr:{q0}:outcome:contoso.com:im-4711 outcome "
                                   "delivered reason  last_status 200 last  attempts 1");
}

static void not_connected_is_eredis(void **state)
{
    (void)state;
    struct rconn rc = { .connected = 0 };
    struct keys keys;
    keys_init(&keys, "pr:");
    struct pr_notif n;
    notif_init(&n);
    n.id = "p3";
    n.domain = "contoso.com";
    assert_int_equal(outcome_log_send(&rc, &keys, 0, &n, PR_OUTCOME_EXPIRED, NULL, 0), PR_EREDIS);
}

static void an_id_too_long_for_a_key_is_etoobig_and_sends_nothing(void **state)
{
    (void)state;
    struct rconn rc = { .connected = 1 };
    struct keys keys;
    keys_init(&keys, "pr:");
    static char big[KEYS_MAX + 10];
    memset(big, 'x', sizeof(big) - 1);
    struct pr_notif n;
    notif_init(&n);
    n.id = big;
    n.domain = "contoso.com";
    assert_int_equal(outcome_log_send(&rc, &keys, 0, &n, PR_OUTCOME_TOKEN_DEAD, "Unregistered", 410),
                     PR_ETOOBIG);
    assert_int_equal(rc.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_retry_is_recorded_with_the_providers_last_answer),
        cmocka_unit_test(a_dead_letter_keeps_its_reason),
        cmocka_unit_test(a_record_without_id_is_skipped),
        cmocka_unit_test(a_delivery_is_recorded_only_when_traced),
        cmocka_unit_test(not_connected_is_eredis),
        cmocka_unit_test(an_id_too_long_for_a_key_is_etoobig_and_sends_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
