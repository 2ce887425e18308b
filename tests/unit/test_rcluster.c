/*
 * test_rcluster.c - specification of relay/rcluster.c: key slots and hash
 * tags as the Redis Cluster specification gives them, the key that routes
 * each command, slot maps read from CLUSTER SLOTS replies (as Redis sends
 * them, parsed from protocol bytes by hiredis' own reader), and MOVED / ASK
 * redirections, well-formed and not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "pushrelay/error.h"
#include "rcluster.h"

#define SLOT(s) rcluster_key_slot((s), strlen(s))

static void crc16_is_the_specifications_xmodem(void **state)
{
    (void)state;
    /* The specification's check value. */
    assert_int_equal(rcluster_crc16("123456789", 9), 0x31C3);
    assert_int_equal(rcluster_crc16("", 0), 0);
}

static void slots_match_what_redis_computes(void **state)
{
    (void)state;
    /* CLUSTER KEYSLOT on Redis 7 gives these. */
    assert_int_equal(SLOT("foo"), 12182);
    assert_int_equal(SLOT("bar"), 5061);
    assert_int_equal(SLOT("123456789"), 0x31C3 & 16383);
    assert_int_equal(SLOT(""), 0);
}

static void hash_tags_follow_the_specification(void **state)
{
    (void)state;
    /* {user1000}.following and {user1000}.followers: same slot, "user1000"'s */
    assert_int_equal(SLOT("{user1000}.following"), SLOT("user1000"));
    assert_int_equal(SLOT("{user1000}.followers"), SLOT("user1000"));
    /* foo{}{bar}: the first '{' has an empty tag, so the whole key is hashed */
    assert_int_equal(SLOT("foo{}{bar}"), rcluster_crc16("foo{}{bar}", 10) & 16383);
    assert_int_not_equal(SLOT("foo{}{bar}"), SLOT("bar"));
    /* foo{{bar}}zap: the tag is "{bar" (from the first '{' to the first '}') */
    assert_int_equal(SLOT("foo{{bar}}zap"), SLOT("{bar"));
    /* foo{bar}{zap}: only the first tag counts */
    assert_int_equal(SLOT("foo{bar}{zap}"), SLOT("bar"));
    /* edges: "{}" alone, an unclosed '{', a '}' before any '{' */
    assert_int_equal(SLOT("{}"), rcluster_crc16("{}", 2) & 16383);
    assert_int_equal(SLOT("{"), rcluster_crc16("{", 1) & 16383);
    assert_int_equal(SLOT("abc{def"), rcluster_crc16("abc{def", 7) & 16383);
    assert_int_equal(SLOT("}abc{x}"), SLOT("x"));
    assert_int_equal(SLOT("{}{x}"), rcluster_crc16("{}{x}", 5) & 16383);
    /* the relay's shard keys: every key of shard k in one slot */
    assert_int_equal(SLOT("pr:{q7}:in:apns"), SLOT("pr:{q7}:retry"));
    assert_int_equal(SLOT("pr:{q7}:dedup:contoso.com:5f0c"), SLOT("q7"));
    /* a tag holding a NUL byte is hashed as bytes */
    assert_int_equal(rcluster_key_slot("a{b\0c}", 6), rcluster_crc16("b\0c", 3) & 16383);
}

/* keyidx: rcluster_cmd_key of the NULL-terminated argument list. */
static int keyidx(const char *first, ...)
{
    const char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a != NULL && argc < 32; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    return rcluster_cmd_key(argc, argv, NULL);
}

static void commands_are_routed_by_their_key(void **state)
{
    (void)state;
#define KEYIDX(...) keyidx(__VA_ARGS__, (const char *)NULL)
    assert_int_equal(KEYIDX("XADD", "k", "*", "f", "v"), 1);
    assert_int_equal(KEYIDX("hset", "k", "f", "v"), 1);
    assert_int_equal(KEYIDX("EVALSHA", "abc", "2", "k1", "k2", "a"), 3);
    assert_int_equal(KEYIDX("eval", "return 1", "1", "k1"), 3);
    assert_int_equal(KEYIDX("EVAL", "return 1", "0", "a"), -1);
    assert_int_equal(KEYIDX("EVAL", "return 1", "x1", "a"), -1);
    assert_int_equal(KEYIDX("XREADGROUP", "GROUP", "g", "c", "COUNT", "10", "BLOCK", "100",
                            "STREAMS", "s1", "s2", ">", ">"), 9);
    /* a group or consumer named "streams" is not the keyword */
    assert_int_equal(KEYIDX("XREADGROUP", "GROUP", "streams", "streams", "STREAMS", "s", ">"), 5);
    assert_int_equal(KEYIDX("XREAD", "streams", "s", "0"), 2);
    assert_int_equal(KEYIDX("XREAD", "COUNT", "1"), -1);
    assert_int_equal(KEYIDX("XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"), 2);
    assert_int_equal(KEYIDX("XINFO", "CONSUMERS", "s", "g"), 2);
    assert_int_equal(KEYIDX("PING"), -1);
    assert_int_equal(KEYIDX("WAIT", "1", "100"), -1);
    assert_int_equal(KEYIDX("SCRIPT", "LOAD", "return 1"), -1);
    assert_int_equal(KEYIDX("multi"), -1);
    assert_int_equal(KEYIDX("EXEC"), -1);
    assert_int_equal(KEYIDX("TIME"), -1);
    assert_int_equal(KEYIDX("CLUSTER", "SLOTS"), -1);
#undef KEYIDX
    /* binary-safe lengths */
    const char *argv[] = { "GETxx", "key" };
    size_t lens[] = { 3, 3 };
    assert_int_equal(rcluster_cmd_key(2, argv, lens), 1);
}

/* parse: RESP bytes -> a reply tree, with the reader hiredis uses on the wire */
static redisReply *parse(const char *resp)
{
    redisReader *rd = redisReaderCreate();
    void *reply = NULL;
    assert_non_null(rd);
    assert_int_equal(redisReaderFeed(rd, resp, strlen(resp)), REDIS_OK);
    assert_int_equal(redisReaderGetReply(rd, &reply), REDIS_OK);
    assert_non_null(reply);
    redisReaderFree(rd);
    return reply;
}

/* Three primaries and their replicas, as Redis 7.0 answers CLUSTER SLOTS (RESP2). */
static const char three_primaries[] =
    "*3\r\n"
    "*4\r\n:0\r\n:5460\r\n"
    "*4\r\n$9\r\n127.0.0.1\r\n:30001\r\n$40\r\n1111111111111111111111111111111111111111\r\n*0\r\n"
    "*4\r\n$9\r\n127.0.0.1\r\n:30005\r\n$40\r\n5555555555555555555555555555555555555555\r\n*0\r\n"
    "*4\r\n:5461\r\n:10922\r\n"
    "*4\r\n$9\r\n127.0.0.1\r\n:30002\r\n$40\r\n2222222222222222222222222222222222222222\r\n*0\r\n"
    "*4\r\n$9\r\n127.0.0.1\r\n:30006\r\n$40\r\n6666666666666666666666666666666666666666\r\n*0\r\n"
    "*4\r\n:10923\r\n:16383\r\n"
    "*4\r\n$9\r\n127.0.0.1\r\n:30003\r\n$40\r\n3333333333333333333333333333333333333333\r\n*0\r\n"
    "*4\r\n$9\r\n127.0.0.1\r\n:30004\r\n$40\r\n4444444444444444444444444444444444444444\r\n*0\r\n";

static void slot_map_keeps_the_primaries_only(void **state)
{
    (void)state;
    redisReply *r = parse(three_primaries);
    struct rcluster_map *m = NULL;
    assert_int_equal(rcluster_map_parse(r, "127.0.0.1", &m), 0);
    assert_int_equal(m->n_nodes, 3);
    assert_int_equal(m->covered, 16384);
    assert_string_equal(m->nodes[m->owner[0]].host, "127.0.0.1");
    assert_int_equal(m->nodes[m->owner[0]].port, 30001);
    assert_int_equal(m->nodes[m->owner[5460]].port, 30001);
    assert_int_equal(m->nodes[m->owner[5461]].port, 30002);
    assert_int_equal(m->nodes[m->owner[16383]].port, 30003);
    assert_int_equal(rcluster_map_node(m, "127.0.0.1", 30002), m->owner[6000]);
    assert_int_equal(rcluster_map_node(m, "127.0.0.1", 30004), -1);  /* a replica */
    rcluster_map_free(m);
    freeReplyObject(r);
}

static void slot_map_after_a_migration_splits_ranges(void **state)
{
    (void)state;
    /* slot 100 moved to the second primary: three ranges, two nodes, one repeated */
    redisReply *r = parse("*3\r\n"
                          "*3\r\n:0\r\n:99\r\n*3\r\n$9\r\n127.0.0.1\r\n:7001\r\n$1\r\na\r\n"
                          "*3\r\n:100\r\n:100\r\n*3\r\n$9\r\n127.0.0.1\r\n:7002\r\n$1\r\nb\r\n"
                          "*3\r\n:101\r\n:200\r\n*3\r\n$9\r\n127.0.0.1\r\n:7001\r\n$1\r\na\r\n");
    struct rcluster_map *m = NULL;
    assert_int_equal(rcluster_map_parse(r, "127.0.0.1", &m), 0);
    assert_int_equal(m->n_nodes, 2);
    assert_int_equal(m->covered, 201);
    assert_int_equal(m->nodes[m->owner[99]].port, 7001);
    assert_int_equal(m->nodes[m->owner[100]].port, 7002);
    assert_int_equal(m->nodes[m->owner[101]].port, 7001);
    assert_int_equal(m->owner[201], RCLUSTER_NO_NODE);  /* not served: cluster down there */
    rcluster_map_free(m);
    freeReplyObject(r);
}

static void slot_map_unknown_ip_is_the_node_asked(void **state)
{
    (void)state;
    redisReply *r = parse("*2\r\n"
                          "*3\r\n:0\r\n:8191\r\n*2\r\n$0\r\n\r\n:7001\r\n"
                          "*3\r\n:8192\r\n:16383\r\n*2\r\n$1\r\n?\r\n:7002\r\n");
    struct rcluster_map *m = NULL;
    assert_int_equal(rcluster_map_parse(r, "::1", &m), 0);
    assert_string_equal(m->nodes[m->owner[0]].host, "::1");
    assert_string_equal(m->nodes[m->owner[16383]].host, "::1");
    assert_int_equal(m->nodes[m->owner[16383]].port, 7002);
    rcluster_map_free(m);
    freeReplyObject(r);
}

static void slot_map_refuses_other_shapes(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "-ERR This instance has cluster support disabled\r\n",
        ":1\r\n",
        "*1\r\n:0\r\n",                                                     /* range not an array */
        "*1\r\n*2\r\n:0\r\n:10\r\n",                                        /* no node */
        "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\nh\r\n:7001\r\n",          /* slot out of range */
        "*1\r\n*3\r\n:10\r\n:5\r\n*2\r\n$1\r\nh\r\n:7001\r\n",             /* end before start */
        "*1\r\n*3\r\n:-1\r\n:5\r\n*2\r\n$1\r\nh\r\n:7001\r\n",             /* negative slot */
        "*1\r\n*3\r\n:0\r\n:5\r\n*2\r\n$1\r\nh\r\n:0\r\n",                 /* port 0 */
        "*1\r\n*3\r\n:0\r\n:5\r\n*2\r\n$1\r\nh\r\n:65536\r\n",             /* port too big */
        "*1\r\n*3\r\n:0\r\n:5\r\n*2\r\n$1\r\nh\r\n$4\r\n7001\r\n",         /* port as string */
        "*1\r\n*3\r\n:0\r\n:5\r\n*1\r\n$1\r\nh\r\n",                       /* node without port */
        "*1\r\n*3\r\n$1\r\n0\r\n:5\r\n*2\r\n$1\r\nh\r\n:7001\r\n",         /* slot as string */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        redisReply *r = parse(bad[i]);
        struct rcluster_map *m = (struct rcluster_map *)0x1;
        assert_int_equal(rcluster_map_parse(r, "127.0.0.1", &m), PR_EPROTO);
        assert_ptr_equal(m, (struct rcluster_map *)0x1);    /* untouched */
        freeReplyObject(r);
    }
    /* an empty map parses (a cluster with no slots assigned yet), covering nothing */
    redisReply *r = parse("*0\r\n");
    struct rcluster_map *m = NULL;
    assert_int_equal(rcluster_map_parse(r, "127.0.0.1", &m), 0);
    assert_int_equal(m->covered, 0);
    assert_int_equal(m->n_nodes, 0);
    rcluster_map_free(m);
    freeReplyObject(r);
    assert_int_equal(rcluster_map_parse(NULL, "127.0.0.1", &m), PR_EPROTO);
}

static void redirect(const char *err, int want_rv, enum rcluster_redirect_kind kind,
                     unsigned slot, const char *host, unsigned port)
{
    struct rcluster_redirect r;
    memset(&r, 0xa5, sizeof(r));
    int rv = rcluster_redirect_parse(err, strlen(err), &r);
    if (rv != want_rv)
        fail_msg("\"%s\": got %d, want %d", err, rv, want_rv);
    if (rv != 0)
        return;
    assert_int_equal(r.kind, kind);
    assert_int_equal(r.slot, slot);
    assert_string_equal(r.to.host, host);
    assert_int_equal(r.to.port, port);
}

static void moved_and_ask_name_slot_and_node(void **state)
{
    (void)state;
    redirect("MOVED 3999 127.0.0.1:6381", 0, RCLUSTER_MOVED, 3999, "127.0.0.1", 6381);
    redirect("ASK 3999 127.0.0.1:6381", 0, RCLUSTER_ASK, 3999, "127.0.0.1", 6381);
    redirect("MOVED 0 redis-3.example.net:7000", 0, RCLUSTER_MOVED, 0, "redis-3.example.net", 7000);
    redirect("MOVED 16383 ::1:30002", 0, RCLUSTER_MOVED, 16383, "::1", 30002);
    redirect("ASK 12 fe80::1:2:30002", 0, RCLUSTER_ASK, 12, "fe80::1:2", 30002);
    redirect("MOVED 12 [2001:db8::7]:6379", 0, RCLUSTER_MOVED, 12, "2001:db8::7", 6379);
    redirect("MOVED 12 :6379", 0, RCLUSTER_MOVED, 12, "", 6379);    /* the node that answered */
    redirect("MOVED 12 ?:6379", 0, RCLUSTER_MOVED, 12, "", 6379);
}

static void malformed_redirects_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "MOVED", "MOVED ", "MOVED 3999", "MOVED 3999 ", "MOVED 3999 127.0.0.1",
        "MOVED 16384 127.0.0.1:6381", "MOVED -1 127.0.0.1:6381", "MOVED x 127.0.0.1:6381",
        "MOVED 3999 127.0.0.1:", "MOVED 3999 127.0.0.1:0", "MOVED 3999 127.0.0.1:65536",
        "MOVED 3999 127.0.0.1:63x", "MOVED 3999 [::1:6381", "MOVED 3999 127.0.0.1:6381 extra",
        "MOVED 99999999999 127.0.0.1:6381", "ASKING 1 h:1", "moved 1 h:1",
        "ERR unknown command", "CLUSTERDOWN The cluster is down", "TRYAGAIN Multiple keys",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        redirect(bad[i], PR_EINVAL, RCLUSTER_MOVED, 0, "", 0);
    /* length-bounded: no reading past 'len' */
    struct rcluster_redirect r;
    assert_int_equal(rcluster_redirect_parse("MOVED 1 h:6379", 12, &r), 0);
    assert_int_equal(r.to.port, 63);
}

static void cluster_settling_errors_are_transient(void **state)
{
    (void)state;
    assert_true(rcluster_error_transient("CLUSTERDOWN The cluster is down"));
    assert_true(rcluster_error_transient("CLUSTERDOWN Hash slot not served"));
    assert_true(rcluster_error_transient("TRYAGAIN Multiple keys request during rehashing of slot"));
    assert_false(rcluster_error_transient("ERR wrong number of arguments"));
    assert_false(rcluster_error_transient("MOVED 1 h:1"));
    assert_false(rcluster_error_transient(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc16_is_the_specifications_xmodem),
        cmocka_unit_test(slots_match_what_redis_computes),
        cmocka_unit_test(hash_tags_follow_the_specification),
        cmocka_unit_test(commands_are_routed_by_their_key),
        cmocka_unit_test(slot_map_keeps_the_primaries_only),
        cmocka_unit_test(slot_map_after_a_migration_splits_ranges),
        cmocka_unit_test(slot_map_unknown_ip_is_the_node_asked),
        cmocka_unit_test(slot_map_refuses_other_shapes),
        cmocka_unit_test(moved_and_ask_name_slot_and_node),
        cmocka_unit_test(malformed_redirects_are_refused),
        cmocka_unit_test(cluster_settling_errors_are_transient),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
