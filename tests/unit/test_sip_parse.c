/*
 * test_sip_parse.c - specification of federation/sip_parse.c: what a framed
 * request parses into, what is refused and why, and RFC 8599 push
 * parameters of the Request-URI.
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
#include "sip_parse.h"

#define RURI "sip:push@push.example.net;pn-provider=apns;pn-prid=a1b2c3;pn-param=ABCDE12345.com.example.lync"
#define VIA "Via: SIP/2.0/TLS edge.contoso.com:5061;branch=z9hG4bK776asdhds\r\n"
#define MF "Max-Forwards: 70\r\n"
#define FROM "From: <sip:mcx@contoso.com>;tag=49583\r\n"
#define TO "To: <sip:push@push.example.net>\r\n"
#define CID "Call-ID: a84b4c76e66710@edge.contoso.com\r\n"
#define CSEQ "CSeq: 1 MESSAGE\r\n"
#define CTYPE "Content-Type: application/json; charset=utf-8\r\n"
#define BODY "{\"event\":\"im\",\"title\":\"Alice\"}"
#define CL "Content-Length: 30\r\n"
#define RLINE "MESSAGE " RURI " SIP/2.0\r\n"

/* A writable copy that the test frees; sip_parse works in place. */
struct parsed {
    char *buf;
    size_t len;
    struct sip_msg msg;
    const char *why;
    int rc;
};

static struct parsed *parse_n(const char *s, size_t len)
{
    struct parsed *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    p->buf = malloc(len + 1);
    assert_non_null(p->buf);
    memcpy(p->buf, s, len);
    p->buf[len] = '\0';
    p->len = len;
    p->rc = sip_parse(p->buf, len, &p->msg, &p->why);
    return p;
}

static struct parsed *parse(const char *s)
{
    return parse_n(s, strlen(s));
}

static void parsed_free(struct parsed *p)
{
    free(p->buf);
    free(p);
}

static void assert_str(struct sip_str s, const char *want)
{
    assert_non_null(s.p);
    char *got = strndup(s.p, s.len);
    assert_string_equal(got, want);
    free(got);
}

static void assert_parses(struct parsed *p)
{
    if (p->rc != 0)
        fail_msg("sip_parse failed: %s", p->why != NULL ? p->why : "(no why)");
    assert_null(p->why);
}

static void assert_refused(const char *s, const char *why)
{
    struct parsed *p = parse(s);
    assert_int_equal(p->rc, PR_EPROTO);
    assert_non_null(p->why);
    assert_string_equal(p->why, why);
    parsed_free(p);
}

/* ---- a well-formed request ---------------------------------------------- */

static void test_message_parses_into_every_field(void **state)
{
    (void)state;
    struct parsed *p = parse(RLINE VIA MF FROM TO CID CSEQ CTYPE CL "\r\n" BODY);
    assert_parses(p);
    struct sip_msg *m = &p->msg;
    assert_str(m->method, "MESSAGE");
    assert_str(m->ruri, RURI);
    assert_str(m->version, "SIP/2.0");
    assert_int_equal(m->n_via, 1);
    assert_str(m->via[0], "SIP/2.0/TLS edge.contoso.com:5061;branch=z9hG4bK776asdhds");
    assert_str(m->from, "<sip:mcx@contoso.com>;tag=49583");
    assert_str(m->to, "<sip:push@push.example.net>");
    assert_str(m->call_id, "a84b4c76e66710@edge.contoso.com");
    assert_str(m->cseq, "1 MESSAGE");
    assert_int_equal(m->cseq_num, 1);
    assert_str(m->cseq_method, "MESSAGE");
    assert_str(m->content_type, "application/json");
    assert_int_equal(m->max_forwards, 70);
    assert_str(m->from_host, "contoso.com");
    assert_str(m->from_tag, "49583");
    assert_int_equal(m->to_tag.len, 0);
    assert_int_equal(m->content_length, 30);
    assert_str(m->body, BODY);
    assert_int_equal(sip_msg_can_respond(m), 1);
    parsed_free(p);
}

static void test_parse_leaves_an_unfolded_buffer_unchanged(void **state)
{
    (void)state;
    const char *s = RLINE VIA MF FROM TO CID CSEQ CTYPE CL "\r\n" BODY;
    struct parsed *p = parse(s);
    assert_parses(p);
    assert_memory_equal(p->buf, s, strlen(s));
    parsed_free(p);
}

static void test_utf8_body_is_untouched(void **state)
{
    (void)state;
    /* Korean, Japanese and an emoji: 36 bytes. */
    const char body[] = "{\"title\":\"\xec\x95\x88\xeb\x85\x95 \xe3\x81\x93\xe3\x82\x93 \xf0\x9f\x98\x80\"}";
    char s[1024];
    snprintf(s, sizeof(s), RLINE VIA FROM TO CID CSEQ "Content-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    struct parsed *p = parse(s);
    assert_parses(p);
    assert_int_equal(p->msg.body.len, strlen(body));
    assert_memory_equal(p->msg.body.p, body, strlen(body));
    parsed_free(p);
}

static void test_options_without_body_parses(void **state)
{
    (void)state;
    struct parsed *p = parse("OPTIONS sip:push.example.net SIP/2.0\r\n" VIA FROM TO CID
                             "CSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    assert_parses(p);
    assert_str(p->msg.method, "OPTIONS");
    assert_int_equal(p->msg.cseq_num, 7);
    assert_int_equal(p->msg.body.len, 0);
    assert_int_equal(p->msg.max_forwards, -1);
    assert_int_equal(p->msg.content_type.len, 0);
    assert_null(p->msg.content_type.p);
    parsed_free(p);
}

static void test_header_block_alone_parses_with_empty_body(void **state)
{
    (void)state;
    /* What the listener passes for a 413: the body never arrived. */
    struct parsed *p = parse(RLINE VIA FROM TO CID CSEQ "Content-Length: 100000\r\n\r\n");
    assert_parses(p);
    assert_int_equal(p->msg.content_length, 100000);
    assert_int_equal(p->msg.body.len, 0);
    parsed_free(p);
}

/* ---- header forms ------------------------------------------------------- */

static void test_compact_headers_are_understood(void **state)
{
    (void)state;
    struct parsed *p = parse(RLINE "v: SIP/2.0/TLS a.contoso.com;branch=z9hG4bK1\r\n"
                                   "f: <sip:mcx@contoso.com>;tag=1\r\n"
                                   "t: <sip:push@push.example.net>\r\n"
                                   "i: abc@def\r\n" CSEQ
                                   "c: application/json\r\n"
                                   "m: <sip:mcx@edge.contoso.com>\r\n"
                                   "k: path\r\n"
                                   "s: hello\r\n"
                                   "e: identity\r\n"
                                   "l: 2\r\n\r\n{}");
    assert_parses(p);
    assert_int_equal(p->msg.n_via, 1);
    assert_str(p->msg.via[0], "SIP/2.0/TLS a.contoso.com;branch=z9hG4bK1");
    assert_str(p->msg.from_tag, "1");
    assert_str(p->msg.to, "<sip:push@push.example.net>");
    assert_str(p->msg.call_id, "abc@def");
    assert_str(p->msg.content_type, "application/json");
    assert_int_equal(p->msg.content_length, 2);
    assert_str(p->msg.body, "{}");
    parsed_free(p);
}

static void test_header_names_match_case_insensitively(void **state)
{
    (void)state;
    struct parsed *p = parse(RLINE "VIA: SIP/2.0/TLS a\r\nfRoM: <sip:a@b.c>;tag=9\r\nTO: <sip:x@y>\r\n"
                                   "call-id: q\r\ncseq: 2 MESSAGE\r\nCONTENT-LENGTH : 0\r\n"
                                   "max-forwards:5\r\n\r\n");
    assert_parses(p);
    assert_str(p->msg.call_id, "q");
    assert_int_equal(p->msg.max_forwards, 5);
    assert_str(p->msg.from_host, "b.c");
    parsed_free(p);
}

static void test_folded_headers_are_unfolded_in_place(void **state)
{
    (void)state;
    struct parsed *p = parse(RLINE "Via: SIP/2.0/TLS edge.contoso.com:5061\r\n"
                                   "  ;branch=z9hG4bK1\r\n"
                                   "From:\r\n\t<sip:mcx@contoso.com>\r\n ;tag=77\r\n"
                                   TO CID CSEQ "Subject: a\r\n b\r\n" CL "\r\n" BODY);
    assert_parses(p);
    assert_str(p->msg.via[0], "SIP/2.0/TLS edge.contoso.com:5061    ;branch=z9hG4bK1");
    assert_str(p->msg.from, "<sip:mcx@contoso.com>   ;tag=77");
    assert_str(p->msg.from_tag, "77");
    assert_str(p->msg.from_host, "contoso.com");
    assert_null(strstr(p->buf, "5061\r\n"));
    assert_str(p->msg.body, BODY);
    parsed_free(p);
}

static void test_vias_are_kept_in_order_and_a_comma_line_is_one_value(void **state)
{
    (void)state;
    struct parsed *p = parse(RLINE "Via: SIP/2.0/TLS a;branch=z9hG4bK1\r\n" FROM
                                   "v: SIP/2.0/TLS b;branch=z9hG4bK2, SIP/2.0/TLS c;branch=z9hG4bK3\r\n"
                                   TO CID CSEQ "Via: SIP/2.0/TLS d;branch=z9hG4bK4\r\n" CL "\r\n" BODY);
    assert_parses(p);
    assert_int_equal(p->msg.n_via, 3);
    assert_str(p->msg.via[0], "SIP/2.0/TLS a;branch=z9hG4bK1");
    assert_str(p->msg.via[1], "SIP/2.0/TLS b;branch=z9hG4bK2, SIP/2.0/TLS c;branch=z9hG4bK3");
    assert_str(p->msg.via[2], "SIP/2.0/TLS d;branch=z9hG4bK4");
    parsed_free(p);
}

static void test_more_than_16_vias_are_refused(void **state)
{
    (void)state;
    char s[4096];
    size_t o = (size_t)snprintf(s, sizeof(s), RLINE);
    for (int i = 0; i < SIP_MAX_VIA + 1; i++)
        o += (size_t)snprintf(s + o, sizeof(s) - o, "Via: SIP/2.0/TLS h%d\r\n", i);
    snprintf(s + o, sizeof(s) - o, FROM TO CID CSEQ "l: 0\r\n\r\n");
    assert_refused(s, "too many Via headers");
}

static void test_unknown_headers_are_ignored(void **state)
{
    (void)state;
    struct parsed *p = parse(RLINE VIA "X-Vendor: \xe2\x9c\x93 ok\r\nP-Asserted-Identity: <sip:x@y>\r\n"
                                   FROM TO CID CSEQ CL "\r\n" BODY);
    assert_parses(p);
    parsed_free(p);
}

/* ---- From and To -------------------------------------------------------- */

static void check_from(const char *from, const char *host, const char *tag)
{
    char s[1024];
    snprintf(s, sizeof(s), RLINE VIA "From: %s\r\n" TO CID CSEQ "l: 0\r\n\r\n", from);
    struct parsed *p = parse(s);
    assert_parses(p);
    assert_str(p->msg.from_host, host);
    if (tag == NULL)
        assert_int_equal(p->msg.from_tag.len, 0);
    else
        assert_str(p->msg.from_tag, tag);
    parsed_free(p);
}

static void test_from_forms_give_host_and_tag(void **state)
{
    (void)state;
    check_from("<sip:u@contoso.com>;tag=x", "contoso.com", "x");
    check_from("\"Name\" <sip:u@contoso.com:5061;transport=tls>;tag=x", "contoso.com", "x");
    check_from("\"A \\\"B\\\" <C>\" <sips:u@contoso.com>;TAG=y", "contoso.com", "y");
    check_from("Alice Smith <sip:alice@contoso.com>", "contoso.com", NULL);
    check_from("sip:u@contoso.com;tag=x", "contoso.com", "x");
    check_from("sip:contoso.com:5061", "contoso.com", NULL);
    check_from("<sip:u@contoso.com;tag=inuri>", "contoso.com", NULL);
    check_from("<sip:u@[2001:db8::1]:5061>;tag=v6", "2001:db8::1", "v6");
    check_from("<sip:u@contoso.com> ; tag = 5 ; x=\"q;r\"", "contoso.com", "5");
}

static void test_bad_from_uris_are_refused(void **state)
{
    (void)state;
    static const char *bad[] = {
        "<http://contoso.com>;tag=1", "<sip:u@contoso.com;tag=1", "sip:@contoso.com",
        "<sip:u@>", "<sip:u@contoso.com>;tag=1;tag=2", "<sip:u@contoso.com>;tag=",
        "<sip:u@contoso.com> junk", "\"unterminated <sip:u@contoso.com>", "",
        "<sip:u@conto$o.com>", "<sip:u@contoso.com:50a>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char s[1024];
        snprintf(s, sizeof(s), RLINE VIA "From: %s\r\n" TO CID CSEQ "l: 0\r\n\r\n", bad[i]);
        assert_refused(s, "bad From URI");
    }
}

static void test_to_tag_is_read_when_present(void **state)
{
    (void)state;
    struct parsed *p = parse(RLINE VIA FROM "t: \"Push\" <sip:push@push.example.net>;tag=abc123\r\n"
                                   CID CSEQ CL "\r\n" BODY);
    assert_parses(p);
    assert_str(p->msg.to_tag, "abc123");
    parsed_free(p);
    assert_refused(RLINE VIA FROM "To: push\r\n" CID CSEQ "l: 0\r\n\r\n", "bad To URI");
}

/* ---- what is refused ---------------------------------------------------- */

static void test_missing_mandatory_headers_each_give_their_why(void **state)
{
    (void)state;
    assert_refused(RLINE FROM TO CID CSEQ CL "\r\n" BODY, "missing Via header");
    assert_refused(RLINE VIA TO CID CSEQ CL "\r\n" BODY, "missing From header");
    assert_refused(RLINE VIA FROM CID CSEQ CL "\r\n" BODY, "missing To header");
    assert_refused(RLINE VIA FROM TO CSEQ CL "\r\n" BODY, "missing Call-ID header");
    assert_refused(RLINE VIA FROM TO CID CL "\r\n" BODY, "missing CSeq header");
    assert_refused(RLINE VIA FROM TO CID CSEQ "\r\n" BODY, "missing Content-Length header");
}

static void test_failed_parse_still_fills_what_it_found(void **state)
{
    (void)state;
    struct parsed *p = parse(RLINE VIA FROM TO CSEQ CL "\r\n" BODY);
    assert_int_equal(p->rc, PR_EPROTO);
    assert_str(p->msg.via[0], "SIP/2.0/TLS edge.contoso.com:5061;branch=z9hG4bK776asdhds");
    assert_str(p->msg.from_tag, "49583");
    assert_str(p->msg.cseq, "1 MESSAGE");
    assert_int_equal(sip_msg_can_respond(&p->msg), 0);      /* no Call-ID to copy */
    parsed_free(p);

    p = parse(RLINE VIA FROM TO CID "CSeq: one MESSAGE\r\n" CL "\r\n" BODY);
    assert_int_equal(p->rc, PR_EPROTO);
    assert_string_equal(p->why, "bad CSeq");
    assert_int_equal(sip_msg_can_respond(&p->msg), 1);      /* a 400 can still be sent */
    parsed_free(p);
}

static void test_bad_request_lines_are_refused(void **state)
{
    (void)state;
    static const char *bad[] = {
        "MESSAGE  sip:push@x SIP/2.0", "MESSAGE sip:push@x SIP/3.0", "MESSAGE sip:push@x",
        "SIP/2.0 200 OK", "MESS@GE sip:push@x SIP/2.0", " MESSAGE sip:push@x SIP/2.0",
        "MESSAGE sip:push@x SIP/2.0 ", "\nMESSAGE sip:push@x SIP/2.0", "MESSAGE sip:pu\x01sh SIP/2.0",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char s[1024];
        snprintf(s, sizeof(s), "%s\r\n" VIA FROM TO CID CSEQ "l: 0\r\n\r\n", bad[i]);
        assert_refused(s, "bad request line");
    }
}

static void test_sip_version_is_case_insensitive(void **state)
{
    (void)state;
    struct parsed *p = parse("OPTIONS sip:x sip/2.0\r\n" VIA FROM TO CID "CSeq: 1 OPTIONS\r\nl:0\r\n\r\n");
    assert_parses(p);
    parsed_free(p);
}

static void test_bad_cseqs_are_refused(void **state)
{
    (void)state;
    static const char *bad[] = {
        "abc MESSAGE", "1", "1MESSAGE", "2147483648 MESSAGE", "1 MESSAGE extra", "-1 MESSAGE", "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char s[1024];
        snprintf(s, sizeof(s), RLINE VIA FROM TO CID "CSeq: %s\r\nl: 0\r\n\r\n", bad[i]);
        assert_refused(s, "bad CSeq");
    }
    struct parsed *p = parse(RLINE VIA FROM TO CID "CSeq: 2147483647 \t MESSAGE\r\nl: 0\r\n\r\n");
    assert_parses(p);
    assert_int_equal(p->msg.cseq_num, 2147483647u);
    parsed_free(p);
}

static void test_cseq_method_must_match_the_request_method(void **state)
{
    (void)state;
    assert_refused(RLINE VIA FROM TO CID "CSeq: 1 INVITE\r\nl: 0\r\n\r\n", "CSeq method does not match");
    assert_refused(RLINE VIA FROM TO CID "CSeq: 1 message\r\nl: 0\r\n\r\n", "CSeq method does not match");
}

static void test_duplicate_single_headers_are_refused(void **state)
{
    (void)state;
    assert_refused(RLINE VIA FROM FROM TO CID CSEQ CL "\r\n" BODY, "duplicate From header");
    assert_refused(RLINE VIA FROM TO "t: <sip:a@b>\r\n" CID CSEQ CL "\r\n" BODY, "duplicate To header");
    assert_refused(RLINE VIA FROM TO CID "i: other\r\n" CSEQ CL "\r\n" BODY, "duplicate Call-ID header");
    assert_refused(RLINE VIA FROM TO CID CSEQ CSEQ CL "\r\n" BODY, "duplicate CSeq header");
    assert_refused(RLINE VIA MF MF FROM TO CID CSEQ CL "\r\n" BODY, "duplicate Max-Forwards header");
}

static void test_content_length_must_match_the_body(void **state)
{
    (void)state;
    assert_refused(RLINE VIA FROM TO CID CSEQ "Content-Length: 29\r\n\r\n" BODY,
                   "Content-Length does not match body");
    assert_refused(RLINE VIA FROM TO CID CSEQ "Content-Length: 31\r\n\r\n" BODY,
                   "Content-Length does not match body");
    assert_refused(RLINE VIA FROM TO CID CSEQ "Content-Length: 30\r\nl: 31\r\n\r\n" BODY,
                   "conflicting Content-Length");
    assert_refused(RLINE VIA FROM TO CID CSEQ "Content-Length: -30\r\n\r\n" BODY, "bad Content-Length");
    assert_refused(RLINE VIA FROM TO CID CSEQ "Content-Length: 99999999999999999999999\r\n\r\n" BODY,
                   "bad Content-Length");
}

static void test_content_length_up_to_size_max_is_read_for_a_413(void **state)
{
    (void)state;
    char s[1024];
    snprintf(s, sizeof(s), RLINE VIA FROM TO CID CSEQ "Content-Length: %zu\r\n\r\n", (size_t)SIZE_MAX);
    struct parsed *p = parse(s);
    assert_parses(p);
    assert_true(p->msg.content_length == SIZE_MAX);
    parsed_free(p);
    assert_refused(RLINE VIA FROM TO CID CSEQ "Content-Length: 18446744073709551616\r\n\r\n",
                   "bad Content-Length");
}

static void test_bad_header_lines_are_refused(void **state)
{
    (void)state;
    assert_refused(RLINE VIA "no colon here\r\n" FROM TO CID CSEQ CL "\r\n" BODY, "bad header line");
    assert_refused(RLINE VIA ": empty name\r\n" FROM TO CID CSEQ CL "\r\n" BODY, "bad header line");
    assert_refused(RLINE VIA "Bad Name: x\r\n" FROM TO CID CSEQ CL "\r\n" BODY, "bad header line");
    assert_refused(RLINE VIA "X-A: bare\nLF\r\n" FROM TO CID CSEQ CL "\r\n" BODY, "bad header line");
    assert_refused(RLINE VIA "X-A: bare\rCR\r\n" FROM TO CID CSEQ CL "\r\n" BODY, "bad header line");
    assert_refused(RLINE " folded: onto the request line\r\n" VIA FROM TO CID CSEQ CL "\r\n" BODY,
                   "bad header line");
    /* A NUL byte inside a value. */
    const char s[] = RLINE VIA "X-A: a\0b\r\n" FROM TO CID CSEQ CL "\r\n" BODY;
    struct parsed *p = parse_n(s, sizeof(s) - 1);
    assert_int_equal(p->rc, PR_EPROTO);
    assert_string_equal(p->why, "bad header line");
    parsed_free(p);
}

static void test_nul_in_from_is_refused_and_still_answerable(void **state)
{
    (void)state;
    const char s[] = RLINE VIA "From: <sip:mcx@contoso.com>;tag=49\0" "583\r\n" TO CID CSEQ CL
                     "\r\n" BODY;
    struct parsed *p = parse_n(s, sizeof(s) - 1);
    assert_int_equal(p->rc, PR_EPROTO);
    assert_string_equal(p->why, "bad byte in From header");
    assert_true(sip_msg_can_respond(&p->msg));
    assert_str(p->msg.from, "<sip:mcx@contoso.com>;tag=49");   /* what precedes the NUL */
    parsed_free(p);
}

static void test_bad_bytes_in_read_headers_name_the_header(void **state)
{
    (void)state;
    struct parsed *p = parse(RLINE VIA FROM TO "Call-ID: abc\x01@x\r\n" CSEQ CL "\r\n" BODY);
    assert_string_equal(p->why, "bad byte in Call-ID header");
    assert_true(sip_msg_can_respond(&p->msg));
    assert_str(p->msg.call_id, "abc");
    parsed_free(p);
    p = parse(RLINE VIA FROM TO CID CSEQ "Content-Type: application/json\x7f\r\n" CL "\r\n" BODY);
    assert_string_equal(p->why, "bad byte in Content-Type header");
    assert_true(sip_msg_can_respond(&p->msg));
    assert_null(p->msg.content_type.p);                        /* dropped */
    parsed_free(p);
    const char v[] = RLINE "v: SIP/2.0/TLS e\0;branch=z9hG4bK1\r\n" FROM TO CID CSEQ CL "\r\n" BODY;
    p = parse_n(v, sizeof(v) - 1);
    assert_string_equal(p->why, "bad byte in Via header");
    assert_true(sip_msg_can_respond(&p->msg));
    parsed_free(p);
}

static void test_bad_call_id_and_max_forwards_are_refused(void **state)
{
    (void)state;
    assert_refused(RLINE VIA FROM TO "Call-ID: two words\r\n" CSEQ CL "\r\n" BODY, "bad Call-ID");
    assert_refused(RLINE VIA FROM TO "Call-ID:\r\n" CSEQ CL "\r\n" BODY, "bad Call-ID");
    assert_refused(RLINE VIA "Max-Forwards: seventy\r\n" FROM TO CID CSEQ CL "\r\n" BODY,
                   "bad Max-Forwards");
    assert_refused(RLINE VIA "Max-Forwards: 256\r\n" FROM TO CID CSEQ CL "\r\n" BODY, "bad Max-Forwards");
}

static void test_incomplete_header_block_is_refused(void **state)
{
    (void)state;
    assert_refused(RLINE VIA FROM, "incomplete header block");
    assert_refused("MESSAGE sip:x SIP/2.0", "incomplete header block");
    assert_refused("", "incomplete header block");
}

static void test_first_culprit_is_reported(void **state)
{
    (void)state;
    /* A bad request line comes before missing headers. */
    assert_refused("MESSAGE sip:x SIP/9.9\r\nl: 0\r\n\r\n", "bad request line");
}

static void test_bad_arguments_are_einval(void **state)
{
    (void)state;
    struct sip_msg m;
    char b[] = "x";
    assert_int_equal(sip_parse(NULL, 0, &m, NULL), PR_EINVAL);
    assert_int_equal(sip_parse(b, 1, NULL, NULL), PR_EINVAL);
    assert_int_equal(sip_parse(b, 1, &m, NULL), PR_EPROTO);     /* 'why' is optional */
}

/* ---- RFC 8599 push parameters ------------------------------------------- */

static struct sip_str cs(const char *s)
{
    return (struct sip_str){ s, strlen(s) };
}

static void test_push_params_are_extracted(void **state)
{
    (void)state;
    char scratch[512];
    struct sip_pn pn;
    const char *why = "unset";
    assert_int_equal(sip_uri_pn(cs(RURI), scratch, sizeof(scratch), &pn, &why), 0);
    assert_null(why);
    assert_string_equal(pn.provider, "apns");
    assert_string_equal(pn.prid, "a1b2c3");
    assert_string_equal(pn.param, "ABCDE12345.com.example.lync");
    assert_str(pn.user, "push");
    assert_str(pn.host, "push.example.net");
}

static void test_percent_encoded_mpns_channel_uri_is_decoded(void **state)
{
    (void)state;
    char scratch[512];
    struct sip_pn pn;
    const char *uri = "sips:push@push.example.net:5061;PN-Provider=mpns"
                      ";pn-prid=https%3A%2F%2Fdb3.notify.live.net%2Fthrottledthirdparty%2F01.00%2FAQHgHh6L%2bZ%3d"
                      ";transport=tls;pn-param=lync-wp";
    assert_int_equal(sip_uri_pn(cs(uri), scratch, sizeof(scratch), &pn, NULL), 0);
    assert_string_equal(pn.provider, "mpns");
    assert_string_equal(pn.prid, "https://db3.notify.live.net/throttledthirdparty/01.00/AQHgHh6L+Z=");
    assert_string_equal(pn.param, "lync-wp");
    assert_str(pn.host, "push.example.net");
}

static void test_absent_push_params_are_null_and_empty_ones_empty(void **state)
{
    (void)state;
    char scratch[64];
    struct sip_pn pn;
    assert_int_equal(sip_uri_pn(cs("sip:push@h;pn-provider;pn-param="), scratch, sizeof(scratch), &pn,
                                NULL), 0);
    assert_string_equal(pn.provider, "");
    assert_string_equal(pn.param, "");
    assert_null(pn.prid);
    assert_int_equal(sip_uri_pn(cs("sip:h.example"), scratch, sizeof(scratch), &pn, NULL), 0);
    assert_null(pn.provider);
    assert_int_equal(pn.user.len, 0);
    assert_str(pn.host, "h.example");
}

static void test_uri_headers_after_question_mark_are_not_params(void **state)
{
    (void)state;
    char scratch[64];
    struct sip_pn pn;
    assert_int_equal(sip_uri_pn(cs("sip:push@h;pn-prid=a?pn-provider=fcm"), scratch, sizeof(scratch),
                                &pn, NULL), 0);
    assert_string_equal(pn.prid, "a");
    assert_null(pn.provider);
}

static void check_pn_refused(const char *uri, int rc, const char *why_want)
{
    char scratch[256];
    struct sip_pn pn;
    const char *why = NULL;
    assert_int_equal(sip_uri_pn(cs(uri), scratch, sizeof(scratch), &pn, &why), rc);
    assert_non_null(why);
    assert_string_equal(why, why_want);
    assert_null(pn.provider);
    assert_null(pn.prid);
    assert_null(pn.param);
}

static void test_bad_push_uris_are_refused(void **state)
{
    (void)state;
    check_pn_refused("sip:push@h;pn-prid=a;pn-prid=b", PR_EPROTO, "duplicate pn-prid parameter");
    check_pn_refused("sip:push@h;pn-provider=apns;PN-PROVIDER=fcm", PR_EPROTO,
                     "duplicate pn-provider parameter");
    check_pn_refused("sip:push@h;pn-prid=ab%4", PR_EPROTO, "bad escape in pn-prid");
    check_pn_refused("sip:push@h;pn-prid=ab%zz", PR_EPROTO, "bad escape in pn-prid");
    check_pn_refused("sip:push@h;pn-param=a%00b", PR_EPROTO, "bad escape in pn-param");
    check_pn_refused("tel:+15551234", PR_EPROTO, "Request-URI is not a sip: URI");
    check_pn_refused("https://push.example.net", PR_EPROTO, "Request-URI is not a sip: URI");
    check_pn_refused("sip:push@", PR_EPROTO, "bad Request-URI");
    check_pn_refused("sip:push@h>x", PR_EPROTO, "bad Request-URI");
}

static void test_small_scratch_is_etoobig(void **state)
{
    (void)state;
    char scratch[8];
    struct sip_pn pn;
    const char *uri = "sip:push@h;pn-provider=apns;pn-prid=0123456789";
    assert_int_equal(sip_uri_pn(cs(uri), scratch, sizeof(scratch), &pn, NULL), PR_ETOOBIG);
    assert_null(pn.prid);
    /* ruri.len + 3 always suffices. */
    char *big = malloc(strlen(uri) + 3);
    assert_int_equal(sip_uri_pn(cs(uri), big, strlen(uri) + 3, &pn, NULL), 0);
    assert_string_equal(pn.prid, "0123456789");
    free(big);
    assert_int_equal(sip_uri_pn(cs(uri), NULL, 0, &pn, NULL), PR_ETOOBIG);
}

static void test_sip_str_eq_ignores_case_and_checks_length(void **state)
{
    (void)state;
    assert_true(sip_str_eq(cs("MESSAGE"), "message"));
    assert_false(sip_str_eq(cs("MESSAGES"), "message"));
    assert_false(sip_str_eq(cs("MESSAG"), "message"));
    assert_true(sip_str_eq((struct sip_str){ NULL, 0 }, ""));
    assert_false(sip_str_eq((struct sip_str){ NULL, 0 }, "x"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_parses_into_every_field),
        cmocka_unit_test(test_parse_leaves_an_unfolded_buffer_unchanged),
        cmocka_unit_test(test_utf8_body_is_untouched),
        cmocka_unit_test(test_options_without_body_parses),
        cmocka_unit_test(test_header_block_alone_parses_with_empty_body),
        cmocka_unit_test(test_compact_headers_are_understood),
        cmocka_unit_test(test_header_names_match_case_insensitively),
        cmocka_unit_test(test_folded_headers_are_unfolded_in_place),
        cmocka_unit_test(test_vias_are_kept_in_order_and_a_comma_line_is_one_value),
        cmocka_unit_test(test_more_than_16_vias_are_refused),
        cmocka_unit_test(test_unknown_headers_are_ignored),
        cmocka_unit_test(test_from_forms_give_host_and_tag),
        cmocka_unit_test(test_bad_from_uris_are_refused),
        cmocka_unit_test(test_to_tag_is_read_when_present),
        cmocka_unit_test(test_missing_mandatory_headers_each_give_their_why),
        cmocka_unit_test(test_failed_parse_still_fills_what_it_found),
        cmocka_unit_test(test_bad_request_lines_are_refused),
        cmocka_unit_test(test_sip_version_is_case_insensitive),
        cmocka_unit_test(test_bad_cseqs_are_refused),
        cmocka_unit_test(test_cseq_method_must_match_the_request_method),
        cmocka_unit_test(test_duplicate_single_headers_are_refused),
        cmocka_unit_test(test_content_length_must_match_the_body),
        cmocka_unit_test(test_content_length_up_to_size_max_is_read_for_a_413),
        cmocka_unit_test(test_bad_header_lines_are_refused),
        cmocka_unit_test(test_nul_in_from_is_refused_and_still_answerable),
        cmocka_unit_test(test_bad_bytes_in_read_headers_name_the_header),
        cmocka_unit_test(test_bad_call_id_and_max_forwards_are_refused),
        cmocka_unit_test(test_incomplete_header_block_is_refused),
        cmocka_unit_test(test_first_culprit_is_reported),
        cmocka_unit_test(test_bad_arguments_are_einval),
        cmocka_unit_test(test_push_params_are_extracted),
        cmocka_unit_test(test_percent_encoded_mpns_channel_uri_is_decoded),
        cmocka_unit_test(test_absent_push_params_are_null_and_empty_ones_empty),
        cmocka_unit_test(test_uri_headers_after_question_mark_are_not_params),
        cmocka_unit_test(test_bad_push_uris_are_refused),
        cmocka_unit_test(test_small_scratch_is_etoobig),
        cmocka_unit_test(test_sip_str_eq_ignores_case_and_checks_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
