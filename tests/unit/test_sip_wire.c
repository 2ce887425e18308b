/*
 * test_sip_wire.c - specification of federation/sip_wire.c: header names
 * with compact forms, finding a header in a block, framing a response.
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
#include "sip_wire.h"

#define RESP_202                                                        \
    "SIP/2.0 202 Accepted\r\n"                                          \
    "Via: SIP/2.0/TLS edge.contoso.com:5061;branch=z9hG4bK776\r\n"      \
    "f: <sip:mcx@contoso.com>;tag=49583\r\n"                            \
    "To: <sip:push@push.example.net>;tag=8f2a\r\n"                      \
    "i: a84b4c76e66710@edge.contoso.com\r\n"                            \
    "CSeq: 1 MESSAGE\r\n"                                               \
    "Push-Id:   5f0c8a2e  \r\n"                                         \
    "l: 5\r\n"                                                          \
    "\r\n"                                                              \
    "hello"

static void assert_value(struct sip_str got, const char *want)
{
    assert_non_null(got.p);
    char buf[256];
    snprintf(buf, sizeof(buf), "%.*s", (int)got.len, got.p);
    assert_string_equal(buf, want);
}

static void full_and_compact_names_match_in_any_case(void **state)
{
    (void)state;
    assert_int_equal(sip_wire_hdr_id("Call-ID", 7), SIP_WIRE_HDR_CALL_ID);
    assert_int_equal(sip_wire_hdr_id("call-id", 7), SIP_WIRE_HDR_CALL_ID);
    assert_int_equal(sip_wire_hdr_id("I", 1), SIP_WIRE_HDR_CALL_ID);
    assert_int_equal(sip_wire_hdr_id("l", 1), SIP_WIRE_HDR_CONTENT_LENGTH);
    assert_int_equal(sip_wire_hdr_id("CONTENT-LENGTH", 14), SIP_WIRE_HDR_CONTENT_LENGTH);
    assert_int_equal(sip_wire_hdr_id("v", 1), SIP_WIRE_HDR_VIA);
    assert_int_equal(sip_wire_hdr_id("f", 1), SIP_WIRE_HDR_FROM);
    assert_int_equal(sip_wire_hdr_id("t", 1), SIP_WIRE_HDR_TO);
    assert_int_equal(sip_wire_hdr_id("c", 1), SIP_WIRE_HDR_CONTENT_TYPE);
    assert_int_equal(sip_wire_hdr_id("push-id", 7), SIP_WIRE_HDR_PUSH_ID);
    /* compact forms of headers nobody reads, prefixes and empty names are OTHER */
    assert_int_equal(sip_wire_hdr_id("m", 1), SIP_WIRE_HDR_OTHER);
    assert_int_equal(sip_wire_hdr_id("Contact", 7), SIP_WIRE_HDR_OTHER);
    assert_int_equal(sip_wire_hdr_id("Content", 7), SIP_WIRE_HDR_OTHER);
    assert_int_equal(sip_wire_hdr_id("Call-IDs", 8), SIP_WIRE_HDR_OTHER);
    assert_int_equal(sip_wire_hdr_id("", 0), SIP_WIRE_HDR_OTHER);
    assert_string_equal(sip_wire_hdr_name(SIP_WIRE_HDR_CALL_ID), "Call-ID");
    assert_string_equal(sip_wire_hdr_name(SIP_WIRE_HDR_OTHER), "");
    assert_string_equal(sip_wire_hdr_name(SIP_WIRE_HDR_COUNT), "");
}

static void header_lookup_finds_compact_lines_and_trims_the_value(void **state)
{
    (void)state;
    const char *hdrs = strchr(RESP_202, '\n') + 1, *end = strstr(RESP_202, "\r\n\r\n") + 2;
    assert_value(sip_wire_header(hdrs, end, SIP_WIRE_HDR_CALL_ID), "a84b4c76e66710@edge.contoso.com");
    assert_value(sip_wire_header(hdrs, end, SIP_WIRE_HDR_FROM), "<sip:mcx@contoso.com>;tag=49583");
    assert_value(sip_wire_header(hdrs, end, SIP_WIRE_HDR_PUSH_ID), "5f0c8a2e");
    assert_value(sip_wire_header(hdrs, end, SIP_WIRE_HDR_CONTENT_LENGTH), "5");
    assert_null(sip_wire_header(hdrs, end, SIP_WIRE_HDR_WARNING).p);
    assert_null(sip_wire_header(hdrs, end, SIP_WIRE_HDR_OTHER).p);
}

static void header_lookup_reads_lf_only_lines_and_a_name_with_space_before_the_colon(void **state)
{
    (void)state;
    const char block[] = "Warning : 399 relay \"no\"\nl:0\n";
    const char *end = block + sizeof(block) - 1;
    assert_value(sip_wire_header(block, end, SIP_WIRE_HDR_WARNING), "399 relay \"no\"");
    assert_value(sip_wire_header(block, end, SIP_WIRE_HDR_CONTENT_LENGTH), "0");
    /* the first of two lines wins */
    const char two[] = "Push-Id: a\r\nPush-Id: b\r\n";
    assert_value(sip_wire_header(two, two + sizeof(two) - 1, SIP_WIRE_HDR_PUSH_ID), "a");
}

static void a_whole_response_is_framed_with_its_body(void **state)
{
    (void)state;
    struct sip_wire_resp r;
    size_t len = sizeof(RESP_202) - 1;
    assert_int_equal(sip_wire_resp_scan(RESP_202, len, 65536, &r), 0);
    assert_int_equal(r.len, len);
    assert_int_equal(r.status, 202);
    assert_int_equal(r.content_length, 5);
    assert_value(r.reason, "Accepted");
    assert_value(sip_wire_header(r.hdrs, r.hdrs_end, SIP_WIRE_HDR_PUSH_ID), "5f0c8a2e");
    /* what follows belongs to the next response */
    char two[2 * sizeof(RESP_202)];
    snprintf(two, sizeof(two), "%s%s", RESP_202, RESP_202);
    assert_int_equal(sip_wire_resp_scan(two, 2 * len, 65536, &r), 0);
    assert_int_equal(r.len, len);
}

static void every_split_short_of_the_whole_needs_more(void **state)
{
    (void)state;
    struct sip_wire_resp r;
    size_t len = sizeof(RESP_202) - 1;
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(sip_wire_resp_scan(RESP_202, cut, 65536, &r), 0);
        assert_int_equal(r.len, 0);
    }
}

static void keep_alive_pongs_are_skipped_before_a_response(void **state)
{
    (void)state;
    assert_int_equal(sip_wire_skip_crlf("\r\n\r\nSIP/2.0", 11), 4);
    assert_int_equal(sip_wire_skip_crlf("SIP/2.0", 7), 0);
    assert_int_equal(sip_wire_skip_crlf("\r\n", 2), 2);
}

static void a_response_without_reason_or_headers_beyond_length_is_framed(void **state)
{
    (void)state;
    struct sip_wire_resp r;
    const char s[] = "SIP/2.0 200\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(sip_wire_resp_scan(s, sizeof(s) - 1, 65536, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.reason.len, 0);
    assert_int_equal(r.len, sizeof(s) - 1);
}

static void what_is_not_a_sip_response_is_eproto(void **state)
{
    (void)state;
    struct sip_wire_resp r;
    const char *bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        "SIP/2.0 2x0 OK\r\nContent-Length: 0\r\n\r\n",
        "SIP/2.0 700 Odd\r\nContent-Length: 0\r\n\r\n",
        "SIP/2.0 200OK\r\nContent-Length: 0\r\n\r\n",
        "SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n",            /* no Content-Length on a stream */
        "SIP/2.0 200 OK\r\nContent-Length: 1x\r\n\r\n",
        "SIP/2.0 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "SIP/2.0 200 OK\r\nContent-Length: 70000\r\n\r\n",  /* over 'max' */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sip_wire_resp_scan(bad[i], strlen(bad[i]), 65536, &r), PR_EPROTO);
    /* a header block that never ends within 'max' */
    char big[300];
    memset(big, 'a', sizeof(big));
    assert_int_equal(sip_wire_resp_scan(big, sizeof(big), 256, &r), PR_EPROTO);
    assert_int_equal(sip_wire_resp_scan(big, sizeof(big), 4096, &r), 0);
    assert_int_equal(sip_wire_resp_scan(NULL, 0, 4096, &r), PR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_and_compact_names_match_in_any_case),
        cmocka_unit_test(header_lookup_finds_compact_lines_and_trims_the_value),
        cmocka_unit_test(header_lookup_reads_lf_only_lines_and_a_name_with_space_before_the_colon),
        cmocka_unit_test(a_whole_response_is_framed_with_its_body),
        cmocka_unit_test(every_split_short_of_the_whole_needs_more),
        cmocka_unit_test(keep_alive_pongs_are_skipped_before_a_response),
        cmocka_unit_test(a_response_without_reason_or_headers_beyond_length_is_framed),
        cmocka_unit_test(what_is_not_a_sip_response_is_eproto),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
