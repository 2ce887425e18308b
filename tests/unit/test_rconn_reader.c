/*
 * test_rconn_reader.c - specification of rconn's reply reader
 * (rconn_reader_arena): from the same protocol bytes it builds the tree
 * hiredis' own reader builds (types, strings with their lengths, integers,
 * nils, nested and empty arrays), however the bytes arrive, with strings
 * larger than a chunk and replies that span many chunks; a reply cut short
 * or refused is freed with the reader (the ASan build sees a leak).
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

#include "rconn.h"

/* same_tree fails unless 'a' and 'b' are equal trees; returns how many objects it compared. */
static size_t same_tree(const redisReply *a, const redisReply *b)
{
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->type, b->type);
    switch (a->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        assert_int_equal(a->len, b->len);
        assert_memory_equal(a->str, b->str, a->len);
        assert_int_equal(a->str[a->len], '\0');
        return 1;
    case REDIS_REPLY_INTEGER:
        assert_true(a->integer == b->integer);
        return 1;
    case REDIS_REPLY_NIL:
        assert_null(a->str);
        return 1;
    case REDIS_REPLY_ARRAY: {
        assert_int_equal(a->elements, b->elements);
        size_t n = 1;
        for (size_t i = 0; i < a->elements; i++)
            n += same_tree(a->element[i], b->element[i]);
        return n;
    }
    default:
        fail_msg("unexpected reply type %d", a->type);
    }
    return 0;
}

/* read_all feeds 'len' bytes of 'proto' to 'r', 'step' bytes at a time, and returns the reply. */
static void *read_all(redisReader *r, const char *proto, size_t len, size_t step)
{
    void *reply = NULL;
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        assert_int_equal(redisReaderFeed(r, proto + off, n), REDIS_OK);
        assert_int_equal(redisReaderGetReply(r, &reply), REDIS_OK);
        if (reply != NULL)
            assert_int_equal(off + n, len);     /* complete only with its last byte */
    }
    assert_non_null(reply);
    return reply;
}

/* bulk appends 's' to 'p' at '*n' as a bulk string. */
static void bulk(char *p, size_t cap, size_t *n, const char *s)
{
    *n += (size_t)snprintf(p + *n, cap - *n, "$%zu\r\n%s\r\n", strlen(s), s);
}

/* An XREADGROUP answer as the dispatcher reads it: two streams, entries of three fields. */
static char *xreadgroup_proto(int entries, size_t *len)
{
    size_t cap = 256 + (size_t)entries * 512, n = 0;
    char *p = malloc(cap), id[32], v[8];
    assert_non_null(p);
    n += (size_t)snprintf(p + n, cap - n, "*2\r\n*2\r\n");
    bulk(p, cap, &n, "pr:{q0}:in:apns");
    n += (size_t)snprintf(p + n, cap - n, "*%d\r\n", entries);
    for (int i = 0; i < entries; i++) {
        snprintf(id, sizeof(id), "1732480000000-%d", i);
        snprintf(v, sizeof(v), "%d", i % 1000);
        n += (size_t)snprintf(p + n, cap - n, "*2\r\n");
        bulk(p, cap, &n, id);
        n += (size_t)snprintf(p + n, cap - n, "*6\r\n");
        bulk(p, cap, &n, "n");
        bulk(p, cap, &n, "{\"v\":1,\"id\":\"x\",\"dom\":\"contoso.com\"}");
        bulk(p, cap, &n, "id");
        bulk(p, cap, &n, v);
        bulk(p, cap, &n, "domain");
        bulk(p, cap, &n, "contoso.com");
    }
    /* The second stream: an entry deleted since (nil fields), one with no fields. */
    n += (size_t)snprintf(p + n, cap - n, "*2\r\n");
    bulk(p, cap, &n, "pr:{q0}:in:fcm");
    n += (size_t)snprintf(p + n, cap - n, "*2\r\n*2\r\n$3\r\n1-0\r\n*-1\r\n*2\r\n$3\r\n2-0\r\n*0\r\n");
    assert_true(n < cap);
    *len = n;
    return p;
}

static void compare(const char *proto, size_t len, size_t step, size_t min_objects)
{
    redisReader *mine = redisReaderCreate(), *theirs = redisReaderCreate();
    assert_non_null(mine);
    assert_non_null(theirs);
    rconn_reader_arena(mine);
    void *a = read_all(mine, proto, len, step);
    void *b = read_all(theirs, proto, len, len);
    assert_true(same_tree(a, b) >= min_objects);
    mine->fn->freeObject(a);
    freeReplyObject(b);
    redisReaderFree(mine);
    redisReaderFree(theirs);
}

static void an_xreadgroup_answer_reads_as_hiredis_reads_it_whatever_the_chunks(void **state)
{
    (void)state;
    size_t len;
    char *p = xreadgroup_proto(1000, &len);    /* 9 objects an entry, ~100 KB: many chunks */
    compare(p, len, len, 1000 * 9);
    compare(p, len, 7, 1000 * 9);             /* in pieces that cut every token */
    compare(p, len, 1, 1000 * 9);
    free(p);
}

static void every_reply_type_reads_as_hiredis_reads_it(void **state)
{
    (void)state;
#define PROTO(s) { s, sizeof(s) - 1 }
    const struct {
        const char *p;
        size_t len;
    } simple[] = { PROTO("+OK\r\n"), PROTO("-ERR wrong\r\n"), PROTO(":-42\r\n"), PROTO("$-1\r\n"),
                   PROTO("*-1\r\n"), PROTO("*0\r\n"), PROTO("$0\r\n\r\n"), PROTO("$3\r\na\0b\r\n"),
                   PROTO("*3\r\n:1\r\n*2\r\n+QUEUED\r\n$-1\r\n*1\r\n*1\r\n*0\r\n") };
#undef PROTO
    for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++)
        compare(simple[i].p, simple[i].len, 1, 1);
    /* A string larger than any chunk, alone and inside an array. */
    size_t big = 300 * 1024;
    char *p = malloc(big + 64);
    assert_non_null(p);
    for (int nested = 0; nested < 2; nested++) {
        size_t n = (size_t)sprintf(p, "%s$%zu\r\n", nested ? "*2\r\n:7\r\n" : "", big);
        memset(p + n, 'x', big);
        memcpy(p + n + big, "\r\n", 2);
        compare(p, n + big + 2, 4096, nested ? 3 : 1);
    }
    free(p);
}

/* A reply cut short, or refused mid-way, is the reader's to free (ASan: no leak). */
static void a_partial_or_refused_reply_is_freed_with_the_reader(void **state)
{
    (void)state;
    size_t len;
    char *p = xreadgroup_proto(100, &len);
    redisReader *r = redisReaderCreate();
    rconn_reader_arena(r);
    void *reply = NULL;
    assert_int_equal(redisReaderFeed(r, p, len / 2), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &reply), REDIS_OK);
    assert_null(reply);
    redisReaderFree(r);

    r = redisReaderCreate();
    rconn_reader_arena(r);
    assert_int_equal(redisReaderFeed(r, p, len / 2), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &reply), REDIS_OK);
    assert_int_equal(redisReaderFeed(r, "!bogus\r\n", 8), REDIS_OK);    /* not a type byte */
    assert_int_equal(redisReaderGetReply(r, &reply), REDIS_ERR);
    assert_null(reply);
    redisReaderFree(r);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_xreadgroup_answer_reads_as_hiredis_reads_it_whatever_the_chunks),
        cmocka_unit_test(every_reply_type_reads_as_hiredis_reads_it),
        cmocka_unit_test(a_partial_or_refused_reply_is_freed_with_the_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
