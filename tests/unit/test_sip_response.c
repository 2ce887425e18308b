/*
 * test_sip_response.c - specification of federation/sip_response.c: the
 * bytes of a response to a parsed request, reason phrases and Warning
 * values.
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

#include "pushrelay/error.h"
#include "sip_parse.h"
#include "sip_response.h"

#define REQ_LINES(to, cid)                                                      \
    "MESSAGE sip:push@push.example.net;pn-provider=apns SIP/2.0\r\n"           \
    "Via: SIP/2.0/TLS edge.contoso.com:5061;branch=z9hG4bK1;received=10.0.0.1\r\n" \
    "v: SIP/2.0/TLS  pool.contoso.com;branch=z9hG4bK2 , SIP/2.0/TLS c;branch=z9hG4bK3\r\n" \
    "VIA: SIP/2.0/TLS fe.contoso.com;branch=z9hG4bK4\r\n"                      \
    "Max-Forwards: 68\r\n"                                                     \
    "f: \"Mc X\" <sip:mcx@contoso.com>;tag=49583\r\n"                          \
    "To: " to "\r\n"                                                           \
    "i: " cid "\r\n"                                                           \
    "CSeq: 12 MESSAGE\r\n"                                                     \
    "Content-Length: 2\r\n\r\n{}"

struct req {
    char buf[2048];
    struct sip_msg msg;
};

static void parse_req(struct req *r, const char *s)
{
    snprintf(r->buf, sizeof(r->buf), "%s", s);
    const char *why = NULL;
    assert_int_equal(sip_parse(r->buf, strlen(r->buf), &r->msg, &why), 0);
}

/* Drains 'b' into a NUL-terminated string the test frees. */
static char *drain(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    assert_non_null(s);
    assert_int_equal(evbuffer_remove(b, s, n), (int)n);
    s[n] = '\0';
    return s;
}

static char *respond(const struct sip_msg *m, int status, const char *reason,
                     const struct sip_hdr *extra, size_t n_extra)
{
    struct evbuffer *b = evbuffer_new();
    assert_non_null(b);
    assert_int_equal(sip_response_write(b, m, status, reason, extra, n_extra), 0);
    char *s = drain(b);
    evbuffer_free(b);
    return s;
}

static void test_response_copies_request_headers_byte_exact_and_in_order(void **state)
{
    (void)state;
    struct req r;
    parse_req(&r, REQ_LINES("<sip:push@push.example.net>", "a84b4c76e66710@edge.contoso.com"));
    char tag[17];
    sip_to_tag(&r.msg, tag);
    struct sip_hdr extra[] = { { "Push-Id", "5f0c-1" }, { "Warning", "399 push.example.net \"x\"" } };
    char *got = respond(&r.msg, 202, NULL, extra, 2);
    char want[2048];
    snprintf(want, sizeof(want),
             "SIP/2.0 202 Accepted\r\n"
             "Via: SIP/2.0/TLS edge.contoso.com:5061;branch=z9hG4bK1;received=10.0.0.1\r\n"
             "Via: SIP/2.0/TLS  pool.contoso.com;branch=z9hG4bK2 , SIP/2.0/TLS c;branch=z9hG4bK3\r\n"
             "Via: SIP/2.0/TLS fe.contoso.com;branch=z9hG4bK4\r\n"
             "From: \"Mc X\" <sip:mcx@contoso.com>;tag=49583\r\n"
             "To: <sip:push@push.example.net>;tag=%s\r\n"
             "Call-ID: a84b4c76e66710@edge.contoso.com\r\n"
             "CSeq: 12 MESSAGE\r\n"
             "Server: pushrelay/0.1\r\n"
             "Push-Id: 5f0c-1\r\n"
             "Warning: 399 push.example.net \"x\"\r\n"
             "Content-Length: 0\r\n\r\n",
             tag);
    assert_string_equal(got, want);
    free(got);
}

static void test_to_tag_is_16_hex_digits_and_stable_across_retransmissions(void **state)
{
    (void)state;
    struct req a, b, c;
    parse_req(&a, REQ_LINES("<sip:push@push.example.net>", "call-1@edge"));
    parse_req(&b, REQ_LINES("<sip:push@push.example.net>", "call-1@edge"));
    parse_req(&c, REQ_LINES("<sip:push@push.example.net>", "call-2@edge"));
    char ta[17], tb[17], tc[17];
    sip_to_tag(&a.msg, ta);
    sip_to_tag(&b.msg, tb);
    sip_to_tag(&c.msg, tc);
    assert_int_equal(strlen(ta), 16);
    assert_int_equal(strspn(ta, "0123456789abcdef"), 16);
    assert_string_equal(ta, tb);
    assert_string_not_equal(ta, tc);

    char *ra = respond(&a.msg, 202, NULL, NULL, 0);
    char *rb = respond(&b.msg, 202, NULL, NULL, 0);
    assert_string_equal(ra, rb);
    free(ra);
    free(rb);
}

static void test_existing_to_tag_is_kept_and_none_added(void **state)
{
    (void)state;
    struct req r;
    parse_req(&r, REQ_LINES("<sip:push@push.example.net>;tag=abc", "c@e"));
    char *got = respond(&r.msg, 400, NULL, NULL, 0);
    assert_non_null(strstr(got, "\r\nTo: <sip:push@push.example.net>;tag=abc\r\n"));
    assert_null(strstr(got, "tag=abc;tag="));
    assert_int_equal(strncmp(got, "SIP/2.0 400 Bad Request\r\n", 25), 0);
    free(got);
}

static void test_reason_overrides_the_standard_phrase(void **state)
{
    (void)state;
    struct req r;
    parse_req(&r, REQ_LINES("<sip:push@push.example.net>", "c@e"));
    char *got = respond(&r.msg, 503, "Queue Full", NULL, 0);
    assert_int_equal(strncmp(got, "SIP/2.0 503 Queue Full\r\n", 24), 0);
    free(got);
}

static void test_response_ends_with_content_length_zero_and_blank_line(void **state)
{
    (void)state;
    struct req r;
    parse_req(&r, REQ_LINES("<sip:push@push.example.net>", "c@e"));
    char *got = respond(&r.msg, 200, NULL, NULL, 0);
    size_t n = strlen(got);
    const char *tail = "\r\nContent-Length: 0\r\n\r\n";
    assert_true(n > strlen(tail));
    assert_string_equal(got + n - strlen(tail), tail);
    free(got);
}

static void test_headers_missing_from_a_bad_request_are_left_out(void **state)
{
    (void)state;
    char buf[] = "MESSAGE sip:p SIP/2.0\r\nVia: SIP/2.0/TLS a\r\nFrom: <sip:a@b>;tag=1\r\n"
                 "To: <sip:p@q>\r\nCSeq: 1 MESSAGE\r\nl: 0\r\n\r\n";
    struct sip_msg m;
    const char *why;
    assert_int_equal(sip_parse(buf, strlen(buf), &m, &why), PR_EPROTO);
    assert_string_equal(why, "missing Call-ID header");
    char *got = respond(&m, 400, NULL, NULL, 0);
    assert_null(strstr(got, "Call-ID"));
    assert_non_null(strstr(got, "\r\nVia: SIP/2.0/TLS a\r\n"));
    assert_non_null(strstr(got, "\r\nCSeq: 1 MESSAGE\r\n"));
    free(got);
}

static void test_response_is_appended_after_existing_bytes(void **state)
{
    (void)state;
    struct req r;
    parse_req(&r, REQ_LINES("<sip:push@push.example.net>", "c@e"));
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, "\r\n", 2);
    assert_int_equal(sip_response_write(b, &r.msg, 200, NULL, NULL, 0), 0);
    char *got = drain(b);
    assert_int_equal(strncmp(got, "\r\nSIP/2.0 200 OK\r\n", 18), 0);
    free(got);
    evbuffer_free(b);
}

static void test_bad_arguments_are_einval_and_write_nothing(void **state)
{
    (void)state;
    struct req r;
    parse_req(&r, REQ_LINES("<sip:push@push.example.net>", "c@e"));
    struct evbuffer *b = evbuffer_new();
    assert_int_equal(sip_response_write(NULL, &r.msg, 200, NULL, NULL, 0), PR_EINVAL);
    assert_int_equal(sip_response_write(b, NULL, 200, NULL, NULL, 0), PR_EINVAL);
    assert_int_equal(sip_response_write(b, &r.msg, 99, NULL, NULL, 0), PR_EINVAL);
    assert_int_equal(sip_response_write(b, &r.msg, 700, NULL, NULL, 0), PR_EINVAL);
    assert_int_equal(sip_response_write(b, &r.msg, 200, NULL, NULL, 1), PR_EINVAL);
    assert_int_equal(evbuffer_get_length(b), 0);
    evbuffer_free(b);
}

static void test_reason_phrases_follow_rfc_3261(void **state)
{
    (void)state;
    assert_string_equal(sip_reason_phrase(200), "OK");
    assert_string_equal(sip_reason_phrase(202), "Accepted");
    assert_string_equal(sip_reason_phrase(400), "Bad Request");
    assert_string_equal(sip_reason_phrase(403), "Forbidden");
    assert_string_equal(sip_reason_phrase(404), "Not Found");
    assert_string_equal(sip_reason_phrase(405), "Method Not Allowed");
    assert_string_equal(sip_reason_phrase(410), "Gone");
    assert_string_equal(sip_reason_phrase(413), "Request Entity Too Large");
    assert_string_equal(sip_reason_phrase(415), "Unsupported Media Type");
    assert_string_equal(sip_reason_phrase(483), "Too Many Hops");
    assert_string_equal(sip_reason_phrase(500), "Server Internal Error");
    assert_string_equal(sip_reason_phrase(503), "Service Unavailable");
    assert_string_equal(sip_reason_phrase(499), "Request Failure");
    assert_string_equal(sip_reason_phrase(42), "Unknown");
}

/* ---- Warning ------------------------------------------------------------ */

static void test_warning_is_399_agent_quoted_text(void **state)
{
    (void)state;
    char buf[128];
    int n = sip_warning(buf, sizeof(buf), "push.example.net", "missing Call-ID header");
    assert_string_equal(buf, "399 push.example.net \"missing Call-ID header\"");
    assert_int_equal(n, (int)strlen(buf));
}

static void test_warning_escapes_quotes_and_backslashes(void **state)
{
    (void)state;
    char buf[128];
    sip_warning(buf, sizeof(buf), "relay", "bad \"pn-prid\" a\\b");
    assert_string_equal(buf, "399 relay \"bad \\\"pn-prid\\\" a\\\\b\"");
}

static void test_warning_drops_cr_lf_and_control_bytes(void **state)
{
    (void)state;
    char buf[128];
    sip_warning(buf, sizeof(buf), "relay", "a\r\nInjected: 1\x01\x7f\tz");
    assert_string_equal(buf, "399 relay \"aInjected: 1z\"");
}

static void test_warning_drops_broken_utf8_without_swallowing_cr_lf(void **state)
{
    (void)state;
    char buf[128];
    /* A 3-byte lead followed by CR LF: the CR LF must not ride along. */
    sip_warning(buf, sizeof(buf), "relay", "a\xe0\r\nX-Injected: 1");
    assert_string_equal(buf, "399 relay \"aX-Injected: 1\"");
    assert_null(strpbrk(buf, "\r\n"));
    /* Stray continuation byte, bad lead bytes, truncated sequence at the end. */
    sip_warning(buf, sizeof(buf), "relay", "\x80" "b\xc0\xff" "c\xe3\x81");
    assert_string_equal(buf, "399 relay \"bc\"");
}

static void test_warning_keeps_utf8_and_cuts_on_a_character_boundary(void **state)
{
    (void)state;
    char buf[64];
    sip_warning(buf, sizeof(buf), "relay", "\xec\x95\x88\xeb\x85\x95");
    assert_string_equal(buf, "399 relay \"\xec\x95\x88\xeb\x85\x95\"");
    /* Room for "399 relay \"" (11), 4 text bytes, the quote and the NUL. */
    int n = sip_warning(buf, 11 + 4 + 2, "relay", "\xec\x95\x88\xeb\x85\x95");
    assert_string_equal(buf, "399 relay \"\xec\x95\x88\"");
    assert_int_equal(n, 15);
}

static void test_warning_cuts_long_text_and_never_splits_an_escape(void **state)
{
    (void)state;
    char buf[16];
    int n = sip_warning(buf, sizeof(buf), "r", "abcdefghijklmnop");
    assert_int_equal(n, 15);
    assert_string_equal(buf, "399 r \"abcdefg\"");
    n = sip_warning(buf, sizeof(buf), "r", "abcdef\"gh");
    assert_string_equal(buf, "399 r \"abcdef\"");
    assert_int_equal(n, 14);
}

static void test_warning_agent_defaults_and_is_filtered(void **state)
{
    (void)state;
    char buf[128];
    sip_warning(buf, sizeof(buf), NULL, "x");
    assert_string_equal(buf, "399 pushrelay \"x\"");
    sip_warning(buf, sizeof(buf), "push.example.net:5061 \"evil\r\n", "x");
    assert_string_equal(buf, "399 push.example.net:5061evil \"x\"");
}

static void test_warning_too_small_is_etoobig(void **state)
{
    (void)state;
    char buf[16];
    assert_int_equal(sip_warning(buf, 10, "relay", "x"), PR_ETOOBIG);
    assert_int_equal(sip_warning(buf, 14, "relay", "x"), 13);
    assert_string_equal(buf, "399 relay \"x\"");
    assert_int_equal(sip_warning(buf, 13, "relay", "x"), 12);     /* the text is cut */
    assert_string_equal(buf, "399 relay \"\"");
    assert_int_equal(sip_warning(buf, 12, "relay", "x"), PR_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_response_copies_request_headers_byte_exact_and_in_order),
        cmocka_unit_test(test_to_tag_is_16_hex_digits_and_stable_across_retransmissions),
        cmocka_unit_test(test_existing_to_tag_is_kept_and_none_added),
        cmocka_unit_test(test_reason_overrides_the_standard_phrase),
        cmocka_unit_test(test_response_ends_with_content_length_zero_and_blank_line),
        cmocka_unit_test(test_headers_missing_from_a_bad_request_are_left_out),
        cmocka_unit_test(test_response_is_appended_after_existing_bytes),
        cmocka_unit_test(test_bad_arguments_are_einval_and_write_nothing),
        cmocka_unit_test(test_reason_phrases_follow_rfc_3261),
        cmocka_unit_test(test_warning_is_399_agent_quoted_text),
        cmocka_unit_test(test_warning_escapes_quotes_and_backslashes),
        cmocka_unit_test(test_warning_drops_cr_lf_and_control_bytes),
        cmocka_unit_test(test_warning_drops_broken_utf8_without_swallowing_cr_lf),
        cmocka_unit_test(test_warning_keeps_utf8_and_cuts_on_a_character_boundary),
        cmocka_unit_test(test_warning_cuts_long_text_and_never_splits_an_escape),
        cmocka_unit_test(test_warning_agent_defaults_and_is_filtered),
        cmocka_unit_test(test_warning_too_small_is_etoobig),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
