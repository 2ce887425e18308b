/*
 * test_ptoken.c - relay/ptoken.c as a specification: which Redis commands
 * the shared APNs provider token costs, and which token a request gets, for
 * each answer Redis can give. A scripted stand-in replaces relay/rconn.c:
 * it records each command (arguments joined by spaces) and the test answers
 * them in order. test_workers_apns_token.sh runs the module against a real
 * redis-server and the sandbox.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "pushrelay/error.h"
#include "ptoken.h"
#include "rconn.h"

#define KEY "pr:ptoken:apns:TEAM123456:KEY1234567"

/* ---- the scripted rconn ---------------------------------------------------- */

#define FAKE_MAX 32
struct rconn {
    int connected;
    rconn_state_cb state_cb;
    void *state_arg;
    char cmd[FAKE_MAX][2048];
    rconn_reply_cb cb[FAKE_MAX];
    void *arg[FAKE_MAX];
    int n, answered;
};
static struct rconn *fake;      /* the one connection the module under test made */

int rconn_new(struct event_base *base, const struct cfg_redis *redis, const char *name,
              rconn_state_cb state_cb, void *state_arg, struct rconn **out)
{
    (void)base;
    (void)redis;
    (void)name;
    struct rconn *rc = calloc(1, sizeof(*rc));
    rc->state_cb = state_cb;
    rc->state_arg = state_arg;
    fake = rc;
    *out = rc;
    return 0;
}

int rconn_connected(const struct rconn *rc) { return rc->connected; }

int rconn_cmd(struct rconn *rc, rconn_reply_cb cb, void *arg, int argc, const char **argv,
              const size_t *argvlen)
{
    (void)argvlen;
    if (!rc->connected)
        return PR_EREDIS;
    assert_true(rc->n < FAKE_MAX);
    char *out = rc->cmd[rc->n];
    out[0] = '\0';
    for (int i = 0; i < argc; i++) {
        strncat(out, argv[i], sizeof(rc->cmd[0]) - 2 - strlen(out));
        if (i + 1 < argc)
            strcat(out, " ");
    }
    rc->cb[rc->n] = cb;
    rc->arg[rc->n] = arg;
    rc->n++;
    return 0;
}

int rconn_pending(const struct rconn *rc) { return rc->n - rc->answered; }

void rconn_free(struct rconn *rc)
{
    if (rc == NULL)
        return;
    while (rc->answered < rc->n) {
        int i = rc->answered++;
        if (rc->cb[i] != NULL)
            rc->cb[i](rc, NULL, rc->arg[i]);
    }
    free(rc);
    fake = NULL;
}

static void connect_now(void)
{
    fake->connected = 1;
    fake->state_cb(fake, 1, fake->state_arg);
}

/* The command waiting for an answer (the oldest unanswered one). */
static const char *next_cmd(void)
{
    assert_true(fake->answered < fake->n);
    return fake->cmd[fake->answered];
}

static void answer(int type, const char *str)
{
    redisReply r;
    memset(&r, 0, sizeof(r));
    r.type = type;
    r.str = (char *)str;
    r.len = str != NULL ? strlen(str) : 0;
    int i = fake->answered++;
    if (fake->cb[i] != NULL)
        fake->cb[i](fake, &r, fake->arg[i]);
}

/* ---- fixtures --------------------------------------------------------------- */

struct fx {
    struct event_base *base;
    struct ptoken *pt;
    EVP_PKEY *key;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->base = event_base_new();
    f->key = EVP_EC_gen("P-256");
    struct cfg_redis redis = { .host = "127.0.0.1", .port = 6379, .prefix = "pr:" };
    assert_int_equal(ptoken_new(f->base, &redis, &f->pt), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    ptoken_free(f->pt);
    EVP_PKEY_free(f->key);
    event_base_free(f->base);
    free(f);
    return 0;
}

static const char *token_now(struct fx *f)
{
    const char *tok = NULL;
    assert_int_equal(ptoken_apns(f->pt, f->key, "TEAM123456", "KEY1234567", (int64_t)time(NULL), &tok), 0);
    assert_non_null(tok);
    return tok;
}

static void watch_and_connect(struct fx *f)
{
    assert_int_equal(ptoken_watch(f->pt, f->key, "TEAM123456", "KEY1234567"), 0);
    connect_now();
    assert_string_equal(next_cmd(), "GET " KEY);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_a_watched_key_is_read_once_redis_connects(void **state)
{
    struct fx *f = *state;
    assert_int_equal(ptoken_watch(f->pt, f->key, "TEAM123456", "KEY1234567"), 0);
    assert_int_equal(fake->n, 0);       /* not connected yet: nothing sent */
    connect_now();
    assert_int_equal(fake->n, 1);
    assert_string_equal(fake->cmd[0], "GET " KEY);
}

static void test_the_shared_token_is_used_as_is(void **state)
{
    struct fx *f = *state;
    watch_and_connect(f);
    char value[64];
    snprintf(value, sizeof(value), "%lld hdr.claims.sig", (long long)time(NULL) - 600);
    answer(REDIS_REPLY_STRING, value);
    assert_string_equal(token_now(f), "hdr.claims.sig");
    assert_int_equal(fake->n, 1);       /* no more commands: nothing signed, nothing offered */
}

static void test_a_missing_key_gets_a_token_signed_here_with_set_nx(void **state)
{
    struct fx *f = *state;
    watch_and_connect(f);
    answer(REDIS_REPLY_NIL, NULL);
    const char *set = next_cmd();
    assert_memory_equal(set, "SET " KEY " ", strlen("SET " KEY " "));
    assert_non_null(strstr(set, " NX EX 3000"));
    /* The offered value is "<iat> <jwt>": the jwt is what requests get once Redis took it. */
    char jwt[1024];
    const char *v = strchr(set + strlen("SET " KEY " "), ' ') + 1;
    snprintf(jwt, sizeof(jwt), "%.*s", (int)(strstr(v, " NX EX") - v), v);
    answer(REDIS_REPLY_STATUS, "OK");
    assert_string_equal(token_now(f), jwt);
    assert_int_equal(fake->n, 2);
}

static void test_losing_the_set_nx_race_adopts_the_winners_token(void **state)
{
    struct fx *f = *state;
    watch_and_connect(f);
    answer(REDIS_REPLY_NIL, NULL);      /* GET: none */
    answer(REDIS_REPLY_NIL, NULL);      /* SET NX: another process was first */
    assert_string_equal(next_cmd(), "GET " KEY);
    char value[64];
    snprintf(value, sizeof(value), "%lld winner.jwt.sig", (long long)time(NULL));
    answer(REDIS_REPLY_STRING, value);
    assert_string_equal(token_now(f), "winner.jwt.sig");
}

static void test_without_redis_a_request_gets_a_token_signed_here(void **state)
{
    struct fx *f = *state;
    const char *tok = token_now(f);
    assert_non_null(strchr(tok, '.'));
    assert_int_equal(fake->n, 0);
    /* The same token while it is young: no signing per request. */
    assert_ptr_equal(token_now(f), tok);
}

static void test_a_token_too_old_to_send_is_not_used(void **state)
{
    struct fx *f = *state;
    watch_and_connect(f);
    char value[64];
    snprintf(value, sizeof(value), "%lld old.jwt.sig", (long long)time(NULL) - PTOKEN_USE_MAX_S - 1);
    answer(REDIS_REPLY_STRING, value);
    assert_string_not_equal(token_now(f), "old.jwt.sig");
}

static void test_a_refused_shared_token_is_deleted_only_if_still_shared(void **state)
{
    struct fx *f = *state;
    watch_and_connect(f);
    char value[64];
    snprintf(value, sizeof(value), "%lld refused.jwt.sig", (long long)time(NULL));
    answer(REDIS_REPLY_STRING, value);
    assert_string_equal(token_now(f), "refused.jwt.sig");
    ptoken_reject(f->pt, "TEAM123456", "KEY1234567");
    const char *eval = next_cmd();
    assert_memory_equal(eval, "EVAL ", 5);
    char tail[128];
    snprintf(tail, sizeof(tail), " 1 " KEY " %s", value);
    assert_string_equal(eval + strlen(eval) - strlen(tail), tail);
    answer(REDIS_REPLY_INTEGER, NULL);
    /* The next request signs anew and asks Redis which token wins. */
    assert_string_not_equal(token_now(f), "refused.jwt.sig");
    assert_string_equal(next_cmd(), "GET " KEY);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_watched_key_is_read_once_redis_connects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_shared_token_is_used_as_is, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_missing_key_gets_a_token_signed_here_with_set_nx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_losing_the_set_nx_race_adopts_the_winners_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_without_redis_a_request_gets_a_token_signed_here, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_token_too_old_to_send_is_not_used, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_refused_shared_token_is_deleted_only_if_still_shared, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
