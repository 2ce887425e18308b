/*
 * test_wns_payload.c - the WNS toast request (relay/wns_payload.c): the
 * exact XML, escaping of & < > " ' and dropped control characters, Korean
 * and emoji intact, the id percent-encoded in launch, the 5 KB limit, and
 * the X-WNS-TTL and X-WNS-Tag values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pushrelay/error.h"
#include "payload_ext.h"

#define KOREAN "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4"
#define EMOJI "\xf0\x9f\x98\x80"
#define NOW_MS 1764500000000LL
#define HEAD "<toast launch=\"pushrelay?event="
#define VISUAL "\"><visual><binding template=\"ToastGeneric\"><text>"
#define TAIL "</text></binding></visual></toast>"

static void base_notif(struct pr_notif *n)
{
    notif_init(n);
    n->id = "msg-1";
    n->token = "https://wns2-by3p.notify.windows.com/w/?token=AwYAAAB";
    n->event = PR_EVENT_IM;
    n->from = "sip:alice@contoso.com";
    n->ttl_s = 60;
    n->expires_ms = NOW_MS + 60000;
}

static void build(const struct pr_notif *n, struct wns_request *r)
{
    assert_int_equal(wns_payload_build(n, NOW_MS, r), 0);
    assert_int_equal(strlen(r->body), r->body_len);
}

static void toast_is_exactly_the_documented_xml(void **state)
{
    (void)state;
    struct pr_notif n;
    struct wns_request r;
    base_notif(&n);
    n.title = "Alice";
    n.body = "Lunch?";
    build(&n, &r);
    assert_string_equal(r.body, HEAD "im&amp;id=msg-1" VISUAL "Alice</text><text>Lunch?" TAIL);
    wns_request_clear(&r);
    assert_null(r.body);
}

static void absent_text_uses_sender_and_event_phrase(void **state)
{
    (void)state;
    struct pr_notif n;
    struct wns_request r;
    base_notif(&n);
    n.event = PR_EVENT_CONFERENCE;
    build(&n, &r);
    assert_string_equal(r.body, HEAD "conference&amp;id=msg-1" VISUAL
                                "alice</text><text>Conference invitation" TAIL);
    wns_request_clear(&r);
}

static void specials_are_escaped_and_controls_dropped(void **state)
{
    (void)state;
    struct pr_notif n;
    struct wns_request r;
    base_notif(&n);
    n.title = "Tom & \"Jerry\"";
    n.body = "<b>it's</b>\x01 1 > 0";
    n.id = "a&b \"c\"";
    build(&n, &r);
    assert_string_equal(r.body, HEAD "im&amp;id=a%26b%20%22c%22" VISUAL
                                "Tom &amp; &quot;Jerry&quot;</text>"
                                "<text>&lt;b&gt;it&apos;s&lt;/b&gt; 1 &gt; 0" TAIL);
    wns_request_clear(&r);
}

static void korean_and_emoji_arrive_intact(void **state)
{
    (void)state;
    struct pr_notif n;
    struct wns_request r;
    base_notif(&n);
    n.title = KOREAN;
    n.body = EMOJI " " KOREAN;
    build(&n, &r);
    assert_non_null(strstr(r.body, "<text>" KOREAN "</text><text>" EMOJI " " KOREAN "</text>"));
    wns_request_clear(&r);
}

static void long_body_is_cut_to_5_kb_on_a_character_boundary(void **state)
{
    (void)state;
    struct pr_notif n;
    struct wns_request r;
    base_notif(&n);
    size_t reps = 3000;                         /* 15000 bytes once escaped */
    char *body = malloc(reps + 1);
    memset(body, '&', reps);
    body[reps] = '\0';
    n.body = body;
    build(&n, &r);
    assert_true(r.body_len <= WNS_PAYLOAD_MAX);
    assert_true(r.body_len > WNS_PAYLOAD_MAX - 8);
    assert_non_null(strstr(r.body, "&amp;\xe2\x80\xa6</text>"));    /* no entity cut in half */
    wns_request_clear(&r);
    free(body);
}

static void ttl_and_tag_headers(void **state)
{
    (void)state;
    struct pr_notif n;
    struct wns_request r;
    base_notif(&n);
    n.collapse_id = "conv-42";
    assert_int_equal(wns_payload_build(&n, NOW_MS + 30000, &r), 0);
    assert_int_equal(r.ttl_s, 30);
    assert_string_equal(r.tag, "conv-42");
    wns_request_clear(&r);

    n.collapse_id = "conv with " KOREAN;
    assert_int_equal(wns_payload_build(&n, NOW_MS, &r), 0);
    assert_int_equal(strlen(r.tag), 32);        /* hashed to a header-safe form */
    assert_int_equal(strspn(r.tag, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 32);
    wns_request_clear(&r);

    n.collapse_id = NULL;
    assert_int_equal(wns_payload_build(&n, NOW_MS, &r), 0);
    assert_string_equal(r.tag, "");
    assert_int_equal(r.ttl_s, 60);
    wns_request_clear(&r);
}

static void fixed_headers_are_the_toast_type(void **state)
{
    (void)state;
    assert_string_equal(WNS_TYPE, "wns/toast");
    assert_string_equal(WNS_REQUEST_FOR_STATUS, "true");
    assert_string_equal(WNS_CONTENT_TYPE, "text/xml");
}

static void missing_id_is_refused(void **state)
{
    (void)state;
    struct pr_notif n;
    struct wns_request r;
    base_notif(&n);
    n.id = NULL;
    assert_int_equal(wns_payload_build(&n, NOW_MS, &r), PR_EINVAL);
    assert_null(r.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(toast_is_exactly_the_documented_xml),
        cmocka_unit_test(absent_text_uses_sender_and_event_phrase),
        cmocka_unit_test(specials_are_escaped_and_controls_dropped),
        cmocka_unit_test(korean_and_emoji_arrive_intact),
        cmocka_unit_test(long_body_is_cut_to_5_kb_on_a_character_boundary),
        cmocka_unit_test(ttl_and_tag_headers),
        cmocka_unit_test(fixed_headers_are_the_toast_type),
        cmocka_unit_test(missing_id_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
