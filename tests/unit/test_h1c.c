/*
 * test_h1c.c - relay/h1c.c: reading one HTTP/1.1 answer as the MPNS/WNS
 * client gets it, whole or in pieces: its status and fields, where its
 * body ends (Content-Length, chunked, the close), whether the connection
 * may be reused, and the answers it refuses. (The client over real TLS and
 * a real proxy: test_pclient_mpns.sh, test_egress_proxy.sh.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/http.h>

#include "pushrelay/error.h"
#include "h1c.h"

#define MAX_BODY 64

/*
 * feed gives 'text' to a fresh answer 'step' bytes at a time (0: all at
 * once), then the close when 'eof'. Returns h1c_feed's last result; what
 * is left unread in '*left'.
 */
static int feed(struct h1c_answer *a, const char *text, size_t step, int eof, size_t *left,
                const char **why)
{
    struct evbuffer *in = evbuffer_new();
    size_t n = strlen(text), off = 0;
    int rv = 0;
    h1c_init(a, MAX_BODY);
    *why = NULL;
    do {
        size_t k = step == 0 || off + step > n ? n - off : step;
        evbuffer_add(in, text + off, k);
        off += k;
        rv = h1c_feed(a, in, 0, why);
    } while (rv == 0 && off < n);
    if (rv == 0 && eof)
        rv = h1c_feed(a, in, 1, why);
    *left = evbuffer_get_length(in);
    evbuffer_free(in);
    return rv;
}

static const char OK_ANSWER[] = "HTTP/1.1 200 OK\r\n"
                                "X-NotificationStatus: Received\r\n"
                                "X-SubscriptionStatus:Active  \r\n"
                                "Content-Length: 5\r\n"
                                "\r\n"
                                "hello";

static void content_length_answer_is_complete_and_reusable(void **state)
{
    (void)state;
    struct h1c_answer a;
    size_t left;
    const char *why;
    assert_int_equal(feed(&a, OK_ANSWER, 0, 0, &left, &why), 1);
    assert_int_equal(a.status, 200);
    assert_true(a.keep_alive);
    assert_int_equal(a.body_bytes, 5);
    assert_int_equal(left, 0);
    assert_string_equal(evhttp_find_header(&a.headers, "x-notificationstatus"), "Received");
    assert_string_equal(evhttp_find_header(&a.headers, "X-SubscriptionStatus"), "Active");
    h1c_clear(&a);
}

static void answer_in_one_byte_pieces_reads_the_same(void **state)
{
    (void)state;
    struct h1c_answer a;
    size_t left;
    const char *why;
    assert_int_equal(feed(&a, OK_ANSWER, 1, 0, &left, &why), 1);
    assert_int_equal(a.status, 200);
    assert_int_equal(a.body_bytes, 5);
    assert_string_equal(evhttp_find_header(&a.headers, "X-SubscriptionStatus"), "Active");
    h1c_clear(&a);
}

static void bytes_after_the_answer_stay_unread(void **state)
{
    (void)state;
    struct h1c_answer a;
    size_t left;
    const char *why;
    char text[256];
    snprintf(text, sizeof(text), "%sHTTP/1.1 200 OK\r\n", OK_ANSWER);
    assert_int_equal(feed(&a, text, 0, 0, &left, &why), 1);
    assert_int_equal(left, strlen("HTTP/1.1 200 OK\r\n"));
    h1c_clear(&a);
}

static void chunked_body_with_trailers_ends_at_the_last_chunk(void **state)
{
    (void)state;
    struct h1c_answer a;
    size_t left;
    const char *why;
    const char *text = "HTTP/1.1 406 Not Acceptable\r\n"
                       "Transfer-Encoding: gzip, chunked\r\n"
                       "X-WNS-Status: channelthrottled\r\n"
                       "\r\n"
                       "4;ext=1\r\nabcd\r\n"
                       "A\r\n0123456789\r\n"
                       "0\r\n"
                       "X-Trailer: t\r\n"
                       "\r\n";
    for (size_t step = 0; step < 4; step++) {
        assert_int_equal(feed(&a, text, step, 0, &left, &why), 1);
        assert_int_equal(a.status, 406);
        assert_int_equal(a.body_bytes, 14);
        assert_true(a.keep_alive);
        assert_int_equal(left, 0);
        assert_string_equal(evhttp_find_header(&a.headers, "X-WNS-Status"), "channelthrottled");
        assert_null(evhttp_find_header(&a.headers, "X-Trailer"));
        h1c_clear(&a);
    }
}

static void interim_answers_are_skipped(void **state)
{
    (void)state;
    struct h1c_answer a;
    size_t left;
    const char *why;
    const char *text = "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
                       "HTTP/1.1 204 No Content\r\nX-Final: 1\r\n\r\n";
    assert_int_equal(feed(&a, text, 0, 0, &left, &why), 1);
    assert_int_equal(a.status, 204);
    assert_int_equal(a.body_bytes, 0);
    assert_null(evhttp_find_header(&a.headers, "X-Interim"));
    assert_non_null(evhttp_find_header(&a.headers, "X-Final"));
    h1c_clear(&a);
}

static void answers_that_end_the_connection_are_not_reused(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct h1c_answer a;
        size_t left;
        const char *why;
        assert_int_equal(feed(&a, texts[i], 0, 0, &left, &why), 1);
        assert_int_equal(a.status, 200);
        if (a.keep_alive)
            fail_msg("case %zu: kept alive", i);
        h1c_clear(&a);
    }
}

static void body_without_length_ends_with_the_connection(void **state)
{
    (void)state;
    struct h1c_answer a;
    size_t left;
    const char *why;
    const char *text = "HTTP/1.1 200 OK\r\nX-A: b\r\n\r\nsome body";
    assert_int_equal(feed(&a, text, 0, 0, &left, &why), 0);   /* not over until the close */
    h1c_clear(&a);
    assert_int_equal(feed(&a, text, 0, 1, &left, &why), 1);
    assert_int_equal(a.body_bytes, 9);
    assert_false(a.keep_alive);
    h1c_clear(&a);
}

static void close_before_the_answer_ends_is_an_error(void **state)
{
    (void)state;
    static const struct {
        const char *text, *why;
    } cases[] = {
        { "", "connection lost" },
        { "HTTP/1.1 200 OK\r\nContent-Le", "answer cut short" },
        { "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", "answer cut short" },
        { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", "answer cut short" },
        { "HTTP/1.1 100 Continue\r\n\r\n", "answer cut short" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct h1c_answer a;
        size_t left;
        const char *why;
        if (feed(&a, cases[i].text, 0, 1, &left, &why) != PR_EPROTO)
            fail_msg("case %zu: not refused", i);
        assert_string_equal(why, cases[i].why);
        h1c_clear(&a);
    }
}

static void malformed_answers_are_refused(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A: b\r\n folded\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-A : b\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n",
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct h1c_answer a;
        size_t left;
        const char *why;
        if (feed(&a, texts[i], 0, 0, &left, &why) != PR_EPROTO)
            fail_msg("case %zu: not refused: %s", i, texts[i]);
        assert_string_equal(why, "invalid answer");
        h1c_clear(&a);
    }
}

static void oversized_heads_and_bodies_are_refused(void **state)
{
    (void)state;
    char big[H1C_MAX_HEAD + 64];
    snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nX-Big: %0*d", H1C_MAX_HEAD, 0);
    char body[MAX_BODY + 2];
    memset(body, 'x', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    char close_body[256];
    snprintf(close_body, sizeof(close_body), "HTTP/1.1 200 OK\r\n\r\n%s", body);
    const char *texts[] = {
        big,
        "HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n"
        "0123456789abcdef0123456789abcdef\r\n21\r\n",
        close_body,
    };
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct h1c_answer a;
        size_t left;
        const char *why;
        if (feed(&a, texts[i], 0, 0, &left, &why) != PR_ETOOBIG)
            fail_msg("case %zu: not refused", i);
        assert_string_equal(why, "answer too long");
        h1c_clear(&a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(content_length_answer_is_complete_and_reusable),
        cmocka_unit_test(answer_in_one_byte_pieces_reads_the_same),
        cmocka_unit_test(bytes_after_the_answer_stay_unread),
        cmocka_unit_test(chunked_body_with_trailers_ends_at_the_last_chunk),
        cmocka_unit_test(interim_answers_are_skipped),
        cmocka_unit_test(answers_that_end_the_connection_are_not_reused),
        cmocka_unit_test(body_without_length_ends_with_the_connection),
        cmocka_unit_test(close_before_the_answer_ends_is_an_error),
        cmocka_unit_test(malformed_answers_are_refused),
        cmocka_unit_test(oversized_heads_and_bodies_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
