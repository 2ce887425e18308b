/*
 * test_sip_frame.c - specification of federation/sip_frame.c: how a TLS byte
 * stream splits into SIP requests, keep-alives and errors.
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
#include "sip_frame.h"

#define MAX 16384

#define REQ_HEAD                                                    \
    "MESSAGE sip:push@push.example.net;pn-provider=apns SIP/2.0\r\n" \
    "Via: SIP/2.0/TLS edge.contoso.com:5061;branch=z9hG4bK776\r\n"  \
    "From: <sip:mcx@contoso.com>;tag=49583\r\n"                     \
    "To: <sip:push@push.example.net>\r\n"                           \
    "Call-ID: a84b4c76e66710@edge.contoso.com\r\n"                  \
    "CSeq: 1 MESSAGE\r\n"                                           \
    "Content-Type: application/json\r\n"

#define REQ_S REQ_HEAD "Content-Length: 13\r\n\r\n{\"badge\":3}\r\n"
static const char REQ[] = REQ_S;
#define REQ_HDR_LEN (sizeof(REQ) - 1 - 13)

static struct sip_frame scan(const char *s, size_t len, size_t max)
{
    struct sip_frame f;
    assert_int_equal(sip_frame_scan(s, len, max, &f), 0);
    return f;
}

static struct sip_frame scan_str(const char *s)
{
    return scan(s, strlen(s), MAX);
}

/*
 * Plays the listener: feeds 'len' bytes 'chunk' at a time into a buffer,
 * scans after each feed, consumes what each verdict says, and records the
 * verdicts (up to 'max_out'); stops at the first ERROR. Returns the count.
 */
static size_t feed(const char *s, size_t len, size_t chunk, size_t max_bytes,
                   struct sip_frame *outv, size_t max_out)
{
    char *buf = malloc(len + 1);
    size_t have = 0, fed = 0, n = 0;
    assert_non_null(buf);
    while (fed < len && n < max_out) {
        size_t k = len - fed < chunk ? len - fed : chunk;
        memcpy(buf + have, s + fed, k);
        have += k;
        fed += k;
        for (;;) {
            struct sip_frame f = scan(buf, have, max_bytes);
            if (f.kind == SIP_FRAME_NEED_MORE)
                break;
            outv[n++] = f;
            if (f.kind == SIP_FRAME_ERROR || n == max_out)
                goto done;
            assert_true(f.len > 0 && f.len <= have);
            memmove(buf, buf + f.len, have - f.len);
            have -= f.len;
        }
    }
done:
    free(buf);
    return n;
}

static void assert_same_verdicts(const char *s, size_t len, size_t max_bytes)
{
    struct sip_frame whole[32], bytes[32], sevens[32];
    size_t nw = feed(s, len, SIZE_MAX, max_bytes, whole, 32);
    size_t nb = feed(s, len, 1, max_bytes, bytes, 32);
    size_t ns = feed(s, len, 7, max_bytes, sevens, 32);
    assert_int_equal(nw, nb);
    assert_int_equal(nw, ns);
    for (size_t i = 0; i < nw; i++) {
        assert_int_equal(whole[i].kind, bytes[i].kind);
        assert_int_equal(whole[i].len, bytes[i].len);
        assert_int_equal(whole[i].hdr_len, bytes[i].hdr_len);
        assert_int_equal(whole[i].body_len, bytes[i].body_len);
        assert_int_equal(whole[i].status, bytes[i].status);
        assert_int_equal(whole[i].can_respond, bytes[i].can_respond);
        assert_ptr_equal(whole[i].why, bytes[i].why);
        assert_int_equal(whole[i].kind, sevens[i].kind);
        assert_int_equal(whole[i].len, sevens[i].len);
        assert_ptr_equal(whole[i].why, sevens[i].why);
    }
}

static void assert_error(struct sip_frame f, int status, const char *why, int can_respond)
{
    assert_int_equal(f.kind, SIP_FRAME_ERROR);
    assert_int_equal(f.status, status);
    assert_string_equal(f.why, why);
    assert_int_equal(f.can_respond, can_respond);
}

/* ---- requests ----------------------------------------------------------- */

static void test_complete_request_is_framed_with_its_body(void **state)
{
    (void)state;
    struct sip_frame f = scan_str(REQ);
    assert_int_equal(f.kind, SIP_FRAME_REQUEST);
    assert_int_equal(f.len, sizeof(REQ) - 1);
    assert_int_equal(f.hdr_len, REQ_HDR_LEN);
    assert_int_equal(f.body_len, 13);
}

static void test_every_strict_prefix_of_a_request_needs_more(void **state)
{
    (void)state;
    for (size_t n = 0; n < sizeof(REQ) - 1; n++)
        assert_int_equal(scan(REQ, n, MAX).kind, SIP_FRAME_NEED_MORE);
}

static void test_need_more_for_body_reports_header_and_body_length(void **state)
{
    (void)state;
    struct sip_frame f = scan(REQ, REQ_HDR_LEN + 2, MAX);
    assert_int_equal(f.kind, SIP_FRAME_NEED_MORE);
    assert_int_equal(f.len, 0);
    assert_int_equal(f.hdr_len, REQ_HDR_LEN);
    assert_int_equal(f.body_len, 13);
}

static void test_request_without_body_has_zero_body_len(void **state)
{
    (void)state;
    const char *s = "OPTIONS sip:push.example.net SIP/2.0\r\nVia: x\r\nContent-Length: 0\r\n\r\n";
    struct sip_frame f = scan_str(s);
    assert_int_equal(f.kind, SIP_FRAME_REQUEST);
    assert_int_equal(f.len, strlen(s));
    assert_int_equal(f.hdr_len, strlen(s));
    assert_int_equal(f.body_len, 0);
}

static void test_pipelined_requests_in_one_buffer_are_framed_one_by_one(void **state)
{
    (void)state;
    const char *opt = "OPTIONS sip:p SIP/2.0\r\nl: 0\r\n\r\n";
    char buf[2048];
    int n = snprintf(buf, sizeof(buf), "%s%s%s", REQ, opt, REQ);
    struct sip_frame v[8];
    size_t nv = feed(buf, (size_t)n, SIZE_MAX, MAX, v, 8);
    assert_int_equal(nv, 3);
    assert_int_equal(v[0].kind, SIP_FRAME_REQUEST);
    assert_int_equal(v[0].len, sizeof(REQ) - 1);
    assert_int_equal(v[1].kind, SIP_FRAME_REQUEST);
    assert_int_equal(v[1].len, strlen(opt));
    assert_int_equal(v[2].kind, SIP_FRAME_REQUEST);
    assert_int_equal(v[2].len, sizeof(REQ) - 1);
}

static void test_body_bytes_after_content_length_start_the_next_message(void **state)
{
    (void)state;
    const char s[] = "OPTIONS sip:p SIP/2.0\r\nContent-Length: 2\r\n\r\nabNEXT";
    struct sip_frame f = scan(s, sizeof(s) - 1, MAX);
    assert_int_equal(f.kind, SIP_FRAME_REQUEST);
    assert_int_equal(f.len, sizeof(s) - 1 - 4);
}

static void test_utf8_body_is_counted_in_bytes(void **state)
{
    (void)state;
    /* "안녕 😀" is 11 bytes in UTF-8. */
    const char s[] = "MESSAGE sip:p SIP/2.0\r\nContent-Length: 11\r\n\r\n\xec\x95\x88\xeb\x85\x95 \xf0\x9f\x98\x80";
    struct sip_frame f = scan(s, sizeof(s) - 1, MAX);
    assert_int_equal(f.kind, SIP_FRAME_REQUEST);
    assert_int_equal(f.body_len, 11);
    assert_int_equal(f.len, sizeof(s) - 1);
}

/* ---- Content-Length ----------------------------------------------------- */

static void test_compact_content_length_is_understood(void **state)
{
    (void)state;
    const char s[] = "MESSAGE sip:p SIP/2.0\r\nL :  3\r\n\r\nabc";
    struct sip_frame f = scan(s, sizeof(s) - 1, MAX);
    assert_int_equal(f.kind, SIP_FRAME_REQUEST);
    assert_int_equal(f.body_len, 3);
}

static void test_folded_content_length_is_understood(void **state)
{
    (void)state;
    const char s[] = "MESSAGE sip:p SIP/2.0\r\ncontent-length:\r\n   4\r\nX-A: 1\r\n\r\nabcd";
    struct sip_frame f = scan(s, sizeof(s) - 1, MAX);
    assert_int_equal(f.kind, SIP_FRAME_REQUEST);
    assert_int_equal(f.body_len, 4);
    assert_int_equal(f.len, sizeof(s) - 1);
}

static void test_folded_content_length_as_last_header_is_understood(void **state)
{
    (void)state;
    const char s[] = "MESSAGE sip:p SIP/2.0\r\nContent-Length:\r\n\t2\r\n\r\nab";
    struct sip_frame f = scan(s, sizeof(s) - 1, MAX);
    assert_int_equal(f.kind, SIP_FRAME_REQUEST);
    assert_int_equal(f.body_len, 2);
}

static void test_missing_content_length_is_400_and_can_respond(void **state)
{
    (void)state;
    const char s[] = "MESSAGE sip:p SIP/2.0\r\nVia: x\r\nX-Length: 3\r\n\r\nabc";
    struct sip_frame f = scan(s, sizeof(s) - 1, MAX);
    assert_error(f, 400, "missing Content-Length", 1);
    assert_int_equal(f.hdr_len, sizeof(s) - 1 - 3);
}

static void test_bad_content_lengths_are_400(void **state)
{
    (void)state;
    static const char *bad[] = {
        "abc", "-5", "+5", "12abc", "", "1 2", "5, 5", "0x10", "99999999999999999999999",
        "18446744073709551616",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char s[256];
        snprintf(s, sizeof(s), "MESSAGE sip:p SIP/2.0\r\nContent-Length: %s\r\n\r\n", bad[i]);
        assert_error(scan_str(s), 400, "bad Content-Length", 1);
    }
}

static void test_negative_content_length_is_400(void **state)
{
    (void)state;
    assert_error(scan_str("MESSAGE sip:p SIP/2.0\r\nl: -1\r\n\r\n"), 400, "bad Content-Length", 1);
}

static void test_duplicate_equal_content_lengths_are_accepted(void **state)
{
    (void)state;
    const char s[] = "MESSAGE sip:p SIP/2.0\r\nContent-Length: 2\r\nl: 02\r\n\r\nab";
    struct sip_frame f = scan(s, sizeof(s) - 1, MAX);
    assert_int_equal(f.kind, SIP_FRAME_REQUEST);
    assert_int_equal(f.body_len, 2);
}

static void test_conflicting_content_lengths_are_400(void **state)
{
    (void)state;
    const char s[] = "MESSAGE sip:p SIP/2.0\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc";
    assert_error(scan(s, sizeof(s) - 1, MAX), 400, "conflicting Content-Length", 1);
}

/* ---- limits ------------------------------------------------------------- */

static void test_content_length_over_max_is_413_before_the_body_arrives(void **state)
{
    (void)state;
    const char s[] = "MESSAGE sip:p SIP/2.0\r\nContent-Length: 100000\r\n\r\n";
    struct sip_frame f = scan(s, sizeof(s) - 1, MAX);
    assert_error(f, 413, SIP_FRAME_WHY_TOTAL, 1);
    assert_int_equal(f.hdr_len, sizeof(s) - 1);
    assert_int_equal(f.body_len, 100000);
}

static void test_message_of_exactly_max_bytes_is_accepted(void **state)
{
    (void)state;
    const char s[] = "MESSAGE sip:p SIP/2.0\r\nContent-Length: 3\r\n\r\nabc";
    assert_int_equal(scan(s, sizeof(s) - 1, sizeof(s) - 1).kind, SIP_FRAME_REQUEST);
    assert_error(scan(s, sizeof(s) - 1, sizeof(s) - 2), 413, SIP_FRAME_WHY_TOTAL, 1);
}

static void test_no_blank_line_within_max_is_413_without_response(void **state)
{
    (void)state;
    size_t len = 3000;
    char *s = malloc(len);
    assert_non_null(s);
    memset(s, 'a', len);
    memcpy(s, "MESSAGE sip:p SIP/2.0\r\n", 23);
    for (size_t i = 100; i + 2 < len; i += 100)
        memcpy(s + i, "\r\n", 2);
    assert_int_equal(scan(s, 999, 1000).kind, SIP_FRAME_NEED_MORE);
    assert_error(scan(s, 1000, 1000), 413, SIP_FRAME_WHY_BLOCK, 0);
    assert_error(scan(s, len, 1000), 413, SIP_FRAME_WHY_BLOCK, 0);
    assert_same_verdicts(s, len, 1000);
    free(s);
}

static void test_header_line_over_8192_bytes_is_413(void **state)
{
    (void)state;
    size_t n = 23 + 9000;
    char *s = malloc(n);
    assert_non_null(s);
    memcpy(s, "MESSAGE sip:p SIP/2.0\r\n", 23);
    memset(s + 23, 'x', n - 23);
    assert_int_equal(scan(s, 23 + SIP_FRAME_MAX_LINE + 1, 65536).kind, SIP_FRAME_NEED_MORE);
    assert_error(scan(s, 23 + SIP_FRAME_MAX_LINE + 2, 65536), 413, SIP_FRAME_WHY_LINE, 0);
    assert_error(scan(s, n, 65536), 413, SIP_FRAME_WHY_LINE, 0);
    free(s);
}

static void test_header_line_of_exactly_8192_bytes_is_accepted(void **state)
{
    (void)state;
    const char *head = "MESSAGE sip:p SIP/2.0\r\n";
    const char *tail = "\r\nl: 0\r\n\r\n";
    size_t n = strlen(head) + SIP_FRAME_MAX_LINE + strlen(tail);
    char *s = malloc(n);
    assert_non_null(s);
    memcpy(s, head, strlen(head));
    memset(s + strlen(head), 'x', SIP_FRAME_MAX_LINE);
    memcpy(s + strlen(head), "X-Big: ", 7);
    memcpy(s + strlen(head) + SIP_FRAME_MAX_LINE, tail, strlen(tail));
    struct sip_frame f = scan(s, n, 65536);
    assert_int_equal(f.kind, SIP_FRAME_REQUEST);
    assert_int_equal(f.len, n);
    free(s);
}

static char *many_headers(size_t count, size_t *len)
{
    char *s = malloc(64 + count * 16);
    size_t o = (size_t)sprintf(s, "MESSAGE sip:p SIP/2.0\r\n");
    for (size_t i = 0; i + 1 < count; i++)
        o += (size_t)sprintf(s + o, "X-H%zu: v\r\n", i);
    o += (size_t)sprintf(s + o, "l: 0\r\n\r\n");
    *len = o;
    return s;
}

static void test_100_header_lines_are_accepted_101_are_413(void **state)
{
    (void)state;
    size_t len;
    char *s = many_headers(100, &len);
    assert_int_equal(scan(s, len, MAX).kind, SIP_FRAME_REQUEST);
    free(s);
    s = many_headers(101, &len);
    assert_error(scan(s, len, MAX), 413, SIP_FRAME_WHY_COUNT, 0);
    assert_same_verdicts(s, len, MAX);
    free(s);
}

static void test_limit_warnings_name_the_limit(void **state)
{
    (void)state;
    assert_string_equal(SIP_FRAME_WHY_LINE, "header line longer than 8192 bytes");
    assert_string_equal(SIP_FRAME_WHY_COUNT, "more than 100 header lines");
}

/* ---- salvage: addressing the answer to a request too large to frame ----- */

#define ADDR_HDRS                                                   \
    "Via: SIP/2.0/TLS edge.contoso.com:5061;branch=z9hG4bK776\r\n"  \
    "From: <sip:mcx@contoso.com>;tag=49583\r\n"                     \
    "To: <sip:push@push.example.net>\r\n"                           \
    "Call-ID: a84b4c76e66710@edge.contoso.com\r\n"                  \
    "CSeq: 1 MESSAGE\r\n"

/* Builds HEAD, then 'fill' bytes of an X-Big header line, then TAIL. */
static char *with_big_line(const char *head, size_t fill, const char *tail, size_t *len)
{
    size_t hl = strlen(head), tl = strlen(tail);
    char *s = malloc(hl + 7 + fill + 2 + tl);
    assert_non_null(s);
    memcpy(s, head, hl);
    memcpy(s + hl, "X-Big: ", 7);
    memset(s + hl + 7, 'a', fill);
    memcpy(s + hl + 7 + fill, "\r\n", 2);
    memcpy(s + hl + 7 + fill + 2, tail, tl);
    *len = hl + 7 + fill + 2 + tl;
    return s;
}

static void test_salvage_keeps_the_headers_around_an_over_long_line(void **state)
{
    (void)state;
    size_t len;
    char *s = with_big_line("MESSAGE sip:p SIP/2.0\r\nVia: SIP/2.0/TLS e;branch=z9hG4bK1\r\n",
                            9000, "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d\r\n", &len);
    char out[16384];
    size_t n = sip_frame_salvage(s, len, out, sizeof(out));
    const char want[] = "MESSAGE sip:p SIP/2.0\r\nVia: SIP/2.0/TLS e;branch=z9hG4bK1\r\n"
                        "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d\r\n\r\n";
    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(out, want, n);
    /* Cut inside the To line: it is left out, the rest stays. */
    n = sip_frame_salvage(s, len - 3, out, sizeof(out));
    assert_int_equal(n, sizeof(want) - 1 - strlen("To: <sip:c@d\r\n"));
    assert_memory_equal(out + n - 5, "1\r\n\r\n", 5);
    free(s);
}

static void test_salvage_drops_a_folded_header_with_an_over_long_line(void **state)
{
    (void)state;
    size_t len;
    char *s = with_big_line("MESSAGE sip:p SIP/2.0\r\nX-A: 1\r\n\t", 9000,
                            "CSeq: 1 MESSAGE\r\n\r\nbody", &len);
    char out[16384];
    size_t n = sip_frame_salvage(s, len, out, sizeof(out));
    const char want[] = "MESSAGE sip:p SIP/2.0\r\nCSeq: 1 MESSAGE\r\n\r\n";
    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(out, want, n);
    free(s);
}

static void test_salvage_needs_a_complete_request_line(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(sip_frame_salvage("MESSAGE sip:p SIP/2.0", 21, out, sizeof(out)), 0);
    assert_int_equal(sip_frame_salvage("\r\n\r\n", 4, out, sizeof(out)), 0);
    assert_int_equal(sip_frame_salvage(NULL, 0, out, sizeof(out)), 0);
    assert_int_equal(sip_frame_salvage("A\r\n", 3, out, 4), 0);     /* no room for the blank line */
    assert_int_equal(sip_frame_salvage("A\r\n", 3, out, 5), 5);
    assert_memory_equal(out, "A\r\n\r\n", 5);
}

static void test_salvage_of_too_many_headers_keeps_them_all(void **state)
{
    (void)state;
    size_t len;
    char *s = many_headers(150, &len);
    struct sip_frame f = scan(s, len, MAX);
    assert_error(f, 413, SIP_FRAME_WHY_COUNT, 0);
    char *out = malloc(len + 2);
    assert_non_null(out);
    assert_int_equal(sip_frame_salvage(s, len, out, len + 2), len);
    assert_memory_equal(out, s, len);
    free(out);
    free(s);
}

/* ---- keep-alives -------------------------------------------------------- */

static void test_double_crlf_is_a_ping_of_4_bytes(void **state)
{
    (void)state;
    struct sip_frame f = scan_str("\r\n\r\n");
    assert_int_equal(f.kind, SIP_FRAME_PING);
    assert_int_equal(f.len, 4);
    f = scan_str("\r\n\r\nOPTIONS");
    assert_int_equal(f.kind, SIP_FRAME_PING);
    assert_int_equal(f.len, 4);
}

static void test_partial_ping_needs_more(void **state)
{
    (void)state;
    assert_int_equal(scan_str("\r").kind, SIP_FRAME_NEED_MORE);
    assert_int_equal(scan_str("\r\n").kind, SIP_FRAME_NEED_MORE);
    assert_int_equal(scan_str("\r\n\r").kind, SIP_FRAME_NEED_MORE);
    assert_int_equal(scan("", 0, MAX).kind, SIP_FRAME_NEED_MORE);
    assert_int_equal(scan(NULL, 0, MAX).kind, SIP_FRAME_NEED_MORE);
}

static void test_lone_crlf_before_a_request_is_skipped(void **state)
{
    (void)state;
    struct sip_frame f = scan_str("\r\nMESSAGE");
    assert_int_equal(f.kind, SIP_FRAME_SKIP);
    assert_int_equal(f.len, 2);
}

static void test_crlf_cr_then_other_byte_skips_the_first_crlf(void **state)
{
    (void)state;
    struct sip_frame f = scan_str("\r\n\rX");
    assert_int_equal(f.kind, SIP_FRAME_SKIP);
    assert_int_equal(f.len, 2);
}

static void test_cr_without_lf_is_400(void **state)
{
    (void)state;
    assert_error(scan_str("\rMESSAGE"), 400, "stray CR", 0);
}

static void test_pings_and_requests_interleave(void **state)
{
    (void)state;
    char buf[2048];
    int n = snprintf(buf, sizeof(buf), "\r\n\r\n%s\r\n\r\n\r\n\r\n%s\r\n", REQ, REQ);
    struct sip_frame v[16];
    size_t nv = feed(buf, (size_t)n, SIZE_MAX, MAX, v, 16);
    enum sip_frame_kind want[] = { SIP_FRAME_PING, SIP_FRAME_REQUEST, SIP_FRAME_PING,
                                   SIP_FRAME_PING, SIP_FRAME_REQUEST };
    assert_int_equal(nv, 5);            /* the last "\r\n" waits for more */
    for (size_t i = 0; i < nv; i++)
        assert_int_equal(v[i].kind, want[i]);
}

/* ---- split invariance --------------------------------------------------- */

static void test_byte_by_byte_feed_equals_whole_feed(void **state)
{
    (void)state;
    static const char *streams[] = {
        "\r\n\r\n" REQ_S "\r\n" REQ_S "\r\n\r\n",
        "MESSAGE sip:p SIP/2.0\r\nContent-Length:\r\n 3\r\n\r\nabcOPTIONS sip:p SIP/2.0\r\nl:0\r\n\r\n",
        REQ_HEAD "\r\nabc",                                    /* missing Content-Length */
        REQ_HEAD "Content-Length: 5\r\nl: 6\r\n\r\nabcdef",     /* conflicting */
        REQ_HEAD "Content-Length: 99999\r\n\r\n",               /* 413 */
        REQ_HEAD "Content-Length: x1\r\n\r\n",                  /* bad */
        "\r\n\r\rX",
        "\rX",
        REQ_S REQ_S REQ_S "MESSAGE sip:p SIP/2.0\r\nl: 1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(streams) / sizeof(streams[0]); i++)
        assert_same_verdicts(streams[i], strlen(streams[i]), MAX);
    assert_same_verdicts(REQ_S REQ_S, 2 * (sizeof(REQ) - 1), sizeof(REQ) - 2);
}

static void test_bad_arguments_are_einval(void **state)
{
    (void)state;
    struct sip_frame f;
    assert_int_equal(sip_frame_scan(NULL, 4, MAX, &f), PR_EINVAL);
    assert_int_equal(sip_frame_scan("\r\n\r\n", 4, MAX, NULL), PR_EINVAL);
    assert_int_equal(sip_frame_scan("\r\n\r\n", 4, 0, &f), PR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_complete_request_is_framed_with_its_body),
        cmocka_unit_test(test_every_strict_prefix_of_a_request_needs_more),
        cmocka_unit_test(test_need_more_for_body_reports_header_and_body_length),
        cmocka_unit_test(test_request_without_body_has_zero_body_len),
        cmocka_unit_test(test_pipelined_requests_in_one_buffer_are_framed_one_by_one),
        cmocka_unit_test(test_body_bytes_after_content_length_start_the_next_message),
        cmocka_unit_test(test_utf8_body_is_counted_in_bytes),
        cmocka_unit_test(test_compact_content_length_is_understood),
        cmocka_unit_test(test_folded_content_length_is_understood),
        cmocka_unit_test(test_folded_content_length_as_last_header_is_understood),
        cmocka_unit_test(test_missing_content_length_is_400_and_can_respond),
        cmocka_unit_test(test_bad_content_lengths_are_400),
        cmocka_unit_test(test_negative_content_length_is_400),
        cmocka_unit_test(test_duplicate_equal_content_lengths_are_accepted),
        cmocka_unit_test(test_conflicting_content_lengths_are_400),
        cmocka_unit_test(test_content_length_over_max_is_413_before_the_body_arrives),
        cmocka_unit_test(test_message_of_exactly_max_bytes_is_accepted),
        cmocka_unit_test(test_no_blank_line_within_max_is_413_without_response),
        cmocka_unit_test(test_header_line_over_8192_bytes_is_413),
        cmocka_unit_test(test_header_line_of_exactly_8192_bytes_is_accepted),
        cmocka_unit_test(test_100_header_lines_are_accepted_101_are_413),
        cmocka_unit_test(test_limit_warnings_name_the_limit),
        cmocka_unit_test(test_salvage_keeps_the_headers_around_an_over_long_line),
        cmocka_unit_test(test_salvage_drops_a_folded_header_with_an_over_long_line),
        cmocka_unit_test(test_salvage_needs_a_complete_request_line),
        cmocka_unit_test(test_salvage_of_too_many_headers_keeps_them_all),
        cmocka_unit_test(test_double_crlf_is_a_ping_of_4_bytes),
        cmocka_unit_test(test_partial_ping_needs_more),
        cmocka_unit_test(test_lone_crlf_before_a_request_is_skipped),
        cmocka_unit_test(test_crlf_cr_then_other_byte_skips_the_first_crlf),
        cmocka_unit_test(test_cr_without_lf_is_400),
        cmocka_unit_test(test_pings_and_requests_interleave),
        cmocka_unit_test(test_byte_by_byte_feed_equals_whole_feed),
        cmocka_unit_test(test_bad_arguments_are_einval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
