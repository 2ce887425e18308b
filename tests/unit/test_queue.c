/*
 * test_queue.c - the listener's ingest batching (relay/queue.c) with queue
 * shards: one script call per shard per loop turn, each naming the keys of
 * one shard only ({q<k>}), every request of the turn counted in the same
 * rate second, and each verdict handed to its own request whatever order
 * the shards' replies come back in. The Redis connection is a stand-in
 * defined here that keeps each command's arguments and its callback, so a
 * test plays Redis's replies itself. test_shards_ingest.sh runs the same
 * against a real redis-server.
 *
 * The last test hands the recorded script calls to a private redis-server
 * (a Unix socket in a temporary directory) and its replies back: the
 * script's own decisions inside one call (a repeat of an id, a dead token,
 * the high water mark counted across the call's own appends).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <event2/event.h>

#include "pushrelay/error.h"
#include "queue.h"
#include "tenant.h"

/* ------------------------------------------------------------------------
 * The stand-in connection
 * ------------------------------------------------------------------------ */

#define REC_MAX 16
#define REC_ARGS 256

struct rec_cmd {
    int argc;
    char *argv[REC_ARGS];
    rconn_reply_cb cb;
    void *arg;
};

struct rconn {
    struct cfg_redis cfg;
    struct rec_cmd cmds[REC_MAX];
    int n;
};

int rconn_connected(const struct rconn *rc)
{
    (void)rc;
    return 1;
}

const struct cfg_redis *rconn_cfg(const struct rconn *rc)
{
    return &rc->cfg;
}

void rconn_saw_error(struct rconn *rc, const char *err)
{
    (void)rc;
    (void)err;
}

void rconn_flush(struct rconn *rc)
{
    (void)rc;
}

int rconn_cmd(struct rconn *rc, rconn_reply_cb cb, void *arg, int argc, const char **argv,
              const size_t *argvlen)
{
    assert_true(rc->n < REC_MAX);
    assert_true(argc <= REC_ARGS);
    struct rec_cmd *c = &rc->cmds[rc->n++];
    c->argc = argc;
    for (int i = 0; i < argc; i++)
        c->argv[i] = strndup(argv[i], argvlen != NULL ? argvlen[i] : strlen(argv[i]));
    c->cb = cb;
    c->arg = arg;
    return 0;
}

static void rec_clear(struct rconn *rc)
{
    for (int i = 0; i < rc->n; i++)
        for (int j = 0; j < rc->cmds[i].argc; j++)
            free(rc->cmds[i].argv[j]);
    rc->n = 0;
}

/* ------------------------------------------------------------------------
 * Fixtures
 * ------------------------------------------------------------------------ */

#define SHARDS 8
#define QUEUE_TEST_MAX 32

static void on_verdict(void *arg, const struct queue_verdict *v)
{
    int *slot = arg;
    *slot = v->duplicate ? 2020 : v->status;     /* 2020: 202 "dup" */
}

/* token_in writes the first FCM token "tok-<i>", i >= 'from', of shard 'shard'; returns i. */
static int token_in(const struct keys *k, unsigned shard, int from, char *buf, size_t len)
{
    for (int i = from; i < 100000; i++) {
        snprintf(buf, len, "tok-%d", i);
        if (keys_shard_of(k, PR_PROVIDER_FCM, buf, strlen(buf)) == shard)
            return i;
    }
    fail_msg("no token in shard %u", shard);
    return -1;
}

static void ingest(struct queue *q, const char *token, const char *id, int *slot)
{
    struct pr_notif n;
    notif_init(&n);
    n.id = (char *)id;
    n.domain = "contoso.com";
    n.provider = PR_PROVIDER_FCM;
    n.app = "lync-android";
    n.token = (char *)token;
    n.event = PR_EVENT_IM;
    n.ttl_s = 60;
    const char *sans[] = { "edge.contoso.com" };
    assert_int_equal(queue_ingest(q, &n, sans, 1, on_verdict, slot), 0);
}

/* The script call's layout (relay/queue.c): argv[3 + i] are the keys. */
static int call_nkeys(const struct rec_cmd *c)
{
    return atoi(c->argv[2]);
}

static const char *call_argv(const struct rec_cmd *c, int i)     /* ARGV[i], 1-based */
{
    return c->argv[2 + call_nkeys(c) + i];
}

/* reply_of builds the script's reply: per notification {status, text, 0}. */
static redisReply *reply_of(int n, const int *status, const char *const *text)
{
    redisReply *r = calloc(1, sizeof(*r));
    r->type = REDIS_REPLY_ARRAY;
    r->elements = (size_t)(3 * n);
    r->element = calloc(r->elements, sizeof(*r->element));
    for (int i = 0; i < n; i++) {
        redisReply *st = calloc(1, sizeof(*st)), *tx = calloc(1, sizeof(*tx)), *ra = calloc(1, sizeof(*ra));
        st->type = REDIS_REPLY_INTEGER;
        st->integer = status[i];
        tx->type = REDIS_REPLY_STRING;
        tx->str = strdup(text[i]);
        tx->len = strlen(text[i]);
        ra->type = REDIS_REPLY_INTEGER;
        r->element[3 * i] = st;
        r->element[3 * i + 1] = tx;
        r->element[3 * i + 2] = ra;
    }
    return r;
}

static void reply_free(redisReply *r)
{
    for (size_t i = 0; i < r->elements; i++) {
        free(r->element[i]->str);
        free(r->element[i]);
    }
    free(r->element);
    free(r);
}

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------ */

static void one_loop_turn_sends_one_script_call_per_shard_naming_only_that_shards_keys(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct rconn rc = { .n = 0 };
    struct keys keys;
    struct queue *q = NULL;
    char ta1[32], tb[32], ta2[32], tag_a[16], tag_b[16];
    int s1 = 0, s2 = 0, s3 = 0;

    keys_init(&keys, "pr:");
    keys_set_shards(&keys, SHARDS);
    assert_int_equal(queue_new(base, &rc, &keys, 1000, 300, &q), 0);
    token_in(&keys, 2, token_in(&keys, 2, 0, ta1, sizeof(ta1)) + 1, ta2, sizeof(ta2));
    token_in(&keys, 5, 0, tb, sizeof(tb));

    /* shard 2, shard 5, shard 2 in one loop turn */
    ingest(q, ta1, "id-1", &s1);
    ingest(q, tb, "id-2", &s2);
    ingest(q, ta2, "id-3", &s3);
    assert_int_equal(rc.n, 0);          /* nothing before the turn ends */
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(rc.n, 2);

    snprintf(tag_a, sizeof(tag_a), "pr:{q2}:");
    snprintf(tag_b, sizeof(tag_b), "pr:{q5}:");
    const struct rec_cmd *a = &rc.cmds[0], *b = &rc.cmds[1];
    assert_string_equal(a->argv[0], "EVALSHA");
    assert_int_equal(call_nkeys(a), 10);    /* two notifications, 5 keys each */
    assert_int_equal(call_nkeys(b), 5);
    for (int i = 0; i < 10; i++)
        assert_memory_equal(a->argv[3 + i], tag_a, strlen(tag_a));
    for (int i = 0; i < 5; i++)
        assert_memory_equal(b->argv[3 + i], tag_b, strlen(tag_b));
    assert_string_equal(a->argv[3], "pr:{q2}:tenant:contoso.com");
    assert_string_equal(a->argv[5], "pr:{q2}:in:fcm");
    assert_string_equal(a->argv[6], "pr:{q2}:dedup:contoso.com:id-1");
    assert_string_equal(a->argv[11], "pr:{q2}:dedup:contoso.com:id-3");
    /* ARGV: high water, dedup window, count, shards */
    assert_string_equal(call_argv(a, 1), "1000");
    assert_string_equal(call_argv(a, 2), "300");
    assert_string_equal(call_argv(a, 3), "2");
    assert_string_equal(call_argv(a, 4), "8");
    assert_string_equal(call_argv(a, 5), "0");      /* copies not checked yet */
    assert_string_equal(call_argv(b, 3), "1");

    /* Every request of the turn counts in one second: the same rate key tail. */
    const char *r1 = strrchr(a->argv[7], ':'), *r3 = strrchr(a->argv[12], ':'),
               *r2 = strrchr(b->argv[7], ':');
    assert_memory_equal(a->argv[7], "pr:{q2}:rate:contoso.com:", strlen("pr:{q2}:rate:contoso.com:"));
    assert_memory_equal(b->argv[7], "pr:{q5}:rate:contoso.com:", strlen("pr:{q5}:rate:contoso.com:"));
    assert_string_equal(r1, r3);
    assert_string_equal(r1, r2);

    /* Shard 5 answers first: each verdict still reaches its own request. */
    redisReply *rb = reply_of(1, (const int[]){ 202 }, (const char *const[]){ "1-1" });
    b->cb(&rc, rb, b->arg);
    reply_free(rb);
    assert_int_equal(s2, 202);
    assert_int_equal(s1, 0);
    assert_int_equal(s3, 0);
    redisReply *ra = reply_of(2, (const int[]){ 403, 202 }, (const char *const[]){ "no", "dup" });
    a->cb(&rc, ra, a->arg);
    reply_free(ra);
    assert_int_equal(s1, 403);
    assert_int_equal(s3, 2020);

    queue_free(q);
    rec_clear(&rc);
    event_base_free(base);
}

static void with_one_shard_a_turn_is_one_script_call_in_shard_0_and_says_if_copies_were_checked(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct rconn rc = { .n = 0 };
    struct keys keys;
    struct queue *q = NULL;
    int s[3] = { 0 };

    keys_init(&keys, "pr:");
    assert_int_equal(queue_new(base, &rc, &keys, 10, 60, &q), 0);
    ingest(q, "tok-a", "a", &s[0]);
    ingest(q, "tok-b", "b", &s[1]);
    ingest(q, "tok-c", "c", &s[2]);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(rc.n, 1);
    assert_int_equal(call_nkeys(&rc.cmds[0]), 15);
    for (int i = 0; i < 15; i++)
        assert_memory_equal(rc.cmds[0].argv[3 + i], "pr:{q0}:", 8);
    assert_string_equal(call_argv(&rc.cmds[0], 4), "1");
    assert_string_equal(call_argv(&rc.cmds[0], 5), "0");
    /* Redis gone before it answered: every request is answered 503. */
    rc.cmds[0].cb(&rc, NULL, rc.cmds[0].arg);
    for (int i = 0; i < 3; i++)
        assert_int_equal(s[i], 503);
    /* Once the listener checked the tenant copies, the script hears of it. */
    queue_copies_checked(q);
    int s4 = 0;
    ingest(q, "tok-d", "d", &s4);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(rc.n, 2);
    assert_string_equal(call_argv(&rc.cmds[1], 5), "1");
    rc.cmds[1].cb(&rc, NULL, rc.cmds[1].arg);
    assert_int_equal(s4, 503);
    queue_free(q);
    rec_clear(&rc);
    event_base_free(base);
}

/* ingest_n makes 'n' requests "<id>-<i>" with statuses in 'slots'. */
static void ingest_n(struct queue *q, const char *id, int n, int *slots)
{
    for (int i = 0; i < n; i++) {
        char tok[32], rid[32];
        snprintf(tok, sizeof(tok), "tok-%s-%d", id, i);
        snprintf(rid, sizeof(rid), "%s-%d", id, i);
        ingest(q, tok, rid, &slots[i]);
    }
}

/* answer_all answers recorded call 'i' with 202 for each of its notifications. */
static void answer_all(struct rconn *rc, int i)
{
    int n = call_nkeys(&rc->cmds[i]) / 5, st[QUEUE_TEST_MAX];
    const char *tx[QUEUE_TEST_MAX];
    assert_true(n <= QUEUE_TEST_MAX);
    for (int k = 0; k < n; k++) {
        st[k] = 202;
        tx[k] = "1-1";
    }
    redisReply *r = reply_of(n, st, tx);
    rc->cmds[i].cb(rc, r, rc->cmds[i].arg);
    reply_free(r);
}

static void a_burst_waits_while_two_calls_are_unanswered_and_leaves_grown_a_lone_request_never_waits(
    void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct rconn rc = { .n = 0 };
    struct keys keys;
    struct queue *q = NULL;
    int s[5][QUEUE_TEST_MAX] = { { 0 } }, lone = 0;

    keys_init(&keys, "pr:");
    assert_int_equal(queue_new(base, &rc, &keys, 1000, 300, &q), 0);
    /* Two bursts of 9 (more than a lone turn's 8): two calls in flight. */
    ingest_n(q, "a", 9, s[0]);
    event_base_loop(base, EVLOOP_NONBLOCK);
    ingest_n(q, "b", 9, s[1]);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(rc.n, 2);
    /* Two more bursts while both are unanswered: held, whatever the clock. */
    ingest_n(q, "c", 9, s[2]);
    event_base_loop(base, EVLOOP_NONBLOCK);
    ingest_n(q, "d", 9, s[3]);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(rc.n, 2);
    /* One answer: the held 18 leave as one call. */
    answer_all(&rc, 0);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(rc.n, 3);
    assert_int_equal(call_nkeys(&rc.cmds[2]), 5 * 18);
    assert_string_equal(rc.cmds[2].argv[3 + 2 * 5 + 3], "pr:{q0}:dedup:contoso.com:c-2");
    assert_string_equal(rc.cmds[2].argv[3 + 9 * 5 + 3], "pr:{q0}:dedup:contoso.com:d-0");
    /* Calls 1 and 2 unanswered again, yet a lone request leaves in its own turn. */
    ingest(q, "tok-lone", "lone", &lone);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(rc.n, 4);
    assert_int_equal(call_nkeys(&rc.cmds[3]), 5);
    for (int i = 1; i < 4; i++)
        answer_all(&rc, i);
    for (int b = 0; b < 4; b++)
        for (int i = 0; i < 9; i++)
            assert_int_equal(s[b][i], 202);
    assert_int_equal(lone, 202);

    /* A burst held when the queue is freed is answered 503, not lost. */
    ingest_n(q, "e", 9, s[4]);
    event_base_loop(base, EVLOOP_NONBLOCK);
    ingest_n(q, "f", 9, s[4]);          /* the same slots: only 503 or 0 matters */
    event_base_loop(base, EVLOOP_NONBLOCK);
    int held[QUEUE_TEST_MAX] = { 0 };
    ingest_n(q, "g", 9, held);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(rc.n, 6);
    queue_free(q);
    for (int i = 0; i < 9; i++)
        assert_int_equal(held[i], 503);
    for (int i = 4; i < 6; i++)         /* what the connection answers after the queue is gone */
        rc.cmds[i].cb(&rc, NULL, rc.cmds[i].arg);
    rec_clear(&rc);
    event_base_free(base);
}

/* ------------------------------------------------------------------------
 * A private redis-server for the script's own decisions
 * ------------------------------------------------------------------------ */

struct live {
    pid_t pid;
    char dir[64];
    char sock[128];
    redisContext *c;
};

/* live_setup starts redis-server on a Unix socket and waits (up to 60 s) until it answers PING. */
static int live_setup(void **state)
{
    struct live *l = calloc(1, sizeof(*l));
    assert_non_null(l);
    snprintf(l->dir, sizeof(l->dir), "/tmp/pr-test-queue.XXXXXX");
    assert_non_null(mkdtemp(l->dir));
    snprintf(l->sock, sizeof(l->sock), "%s/redis.sock", l->dir);
    *state = l;
    l->pid = fork();
    assert_true(l->pid >= 0);
    if (l->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);   /* never outlive the test */
        if (freopen("/dev/null", "w", stdout) == NULL)
            _exit(127);
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", l->sock,
               "--save", "", "--appendonly", "no", "--dir", l->dir, "--loglevel", "warning",
               (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 6000; i++) {        /* 6000 x 10 ms */
        redisContext *c = redisConnectUnix(l->sock);
        if (c != NULL && c->err == 0) {
            redisReply *r = redisCommand(c, "PING");
            int up = r != NULL && r->type == REDIS_REPLY_STATUS;
            freeReplyObject(r);
            if (up) {
                l->c = c;
                return 0;
            }
        }
        redisFree(c);
        int st;
        assert_int_equal(waitpid(l->pid, &st, WNOHANG), 0);   /* redis-server must not have exited */
        nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
    }
    fail_msg("redis-server did not answer on %s within 60 s", l->sock);
    return -1;
}

static int live_teardown(void **state)
{
    struct live *l = *state;
    if (l == NULL)
        return 0;
    redisFree(l->c);
    if (l->pid > 0) {
        kill(l->pid, SIGTERM);
        waitpid(l->pid, NULL, 0);
    }
    unlink(l->sock);
    rmdir(l->dir);
    free(l);
    return 0;
}

/* live_forward sends recorded command 'i' to the private Redis and hands its reply to the queue. */
static void live_forward(struct live *l, struct rconn *rc, int i)
{
    struct rec_cmd *c = &rc->cmds[i];
    redisReply *r = redisCommandArgv(l->c, c->argc, (const char **)c->argv, NULL);
    assert_non_null(r);
    c->cb(rc, r, c->arg);
    freeReplyObject(r);
}

static long long live_int(struct live *l, const char *cmd, const char *key)
{
    redisReply *r = redisCommand(l->c, "%s %s", cmd, key);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static void the_script_dedups_refuses_dead_tokens_and_counts_its_own_appends_to_the_high_water(void **state)
{
    struct live *l = *state;
    struct event_base *base = event_base_new();
    struct rconn rc = { .n = 0 };
    struct keys keys;
    struct queue *q = NULL;
    char tenant[KEYS_MAX], dead[KEYS_MAX], stream[KEYS_MAX], dedup_f[KEYS_MAX];
    int s[6] = { 0 }, s7 = 0;

    keys_init(&keys, "pr:");
    assert_int_equal(queue_new(base, &rc, &keys, 3, 60, &q), 0);   /* high water 3 */
    queue_copies_checked(q);
    assert_true(keys_q_tenant(&keys, 0, "contoso.com", tenant, sizeof(tenant)) >= 0);
    assert_true(keys_q_token(&keys, 0, PR_PROVIDER_FCM, "tok-dead", dead, sizeof(dead)) >= 0);
    assert_true(keys_q_stream(&keys, 0, PR_PROVIDER_FCM, stream, sizeof(stream)) >= 0);
    assert_true(keys_q_dedup(&keys, 0, "contoso.com", "f", dedup_f, sizeof(dedup_f)) >= 0);
    redisReply *r = redisCommand(l->c, "HSET %s " TENANT_F_ENABLED " 1 %s 1 " TENANT_F_EDGE_PREFIX
                                 "edge.contoso.com 1", tenant,
                                 pr_provider_name(PR_PROVIDER_FCM));
    freeReplyObject(r);
    freeReplyObject(redisCommand(l->c, "HSET %s reason unregistered", dead));

    /* One loop turn, one script call: */
    ingest(q, "tok-a", "a", &s[0]);     /* appended: 1 in the stream */
    ingest(q, "tok-b", "a", &s[1]);     /* the same id again: 202 "dup" */
    ingest(q, "tok-dead", "d", &s[2]);  /* 410 */
    ingest(q, "tok-c", "c", &s[3]);     /* 2 */
    ingest(q, "tok-e", "e", &s[4]);     /* 3: at the mark */
    ingest(q, "tok-f", "f", &s[5]);     /* over it: 503, no dedup mark */
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(rc.n, 1);
    live_forward(l, &rc, 0);            /* NOSCRIPT: sent again as EVAL */
    assert_int_equal(rc.n, 2);
    assert_string_equal(rc.cmds[1].argv[0], "EVAL");
    live_forward(l, &rc, 1);
    assert_int_equal(s[0], 202);
    assert_int_equal(s[1], 2020);
    assert_int_equal(s[2], 410);
    assert_int_equal(s[3], 202);
    assert_int_equal(s[4], 202);
    assert_int_equal(s[5], 503);
    assert_int_equal(live_int(l, "XLEN", stream), 3);
    assert_int_equal(live_int(l, "EXISTS", dedup_f), 0);

    /* The next call reads the stream's length afresh: still at the mark. */
    ingest(q, "tok-g", "g", &s7);
    event_base_loop(base, EVLOOP_NONBLOCK);
    assert_int_equal(rc.n, 3);
    assert_string_equal(rc.cmds[2].argv[0], "EVALSHA");
    live_forward(l, &rc, 2);
    assert_int_equal(s7, 503);
    assert_int_equal(live_int(l, "XLEN", stream), 3);

    queue_free(q);
    rec_clear(&rc);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_loop_turn_sends_one_script_call_per_shard_naming_only_that_shards_keys),
        cmocka_unit_test(with_one_shard_a_turn_is_one_script_call_in_shard_0_and_says_if_copies_were_checked),
        cmocka_unit_test(
            a_burst_waits_while_two_calls_are_unanswered_and_leaves_grown_a_lone_request_never_waits),
        cmocka_unit_test_setup_teardown(
            the_script_dedups_refuses_dead_tokens_and_counts_its_own_appends_to_the_high_water,
            live_setup, live_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
