/*
 * test_mpns_payload.c - the MPNS toast XML (relay/mpns_payload.c): the
 * exact document, escaping of & < > " ', control characters dropped,
 * Korean and emoji intact, and the size limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pushrelay/error.h"
#include "payload.h"

#define KOREAN "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4"
#define EMOJI "\xf0\x9f\x98\x80"
#define HEAD "<?xml version=\"1.0\" encoding=\"utf-8\"?><wp:Notification xmlns:wp=\"WPNotification\">" \
             "<wp:Toast><wp:Text1>"
#define TAIL "</wp:Param></wp:Toast></wp:Notification>"

static void base_notif(struct pr_notif *n)
{
    notif_init(n);
    n->id = "msg-1";
    n->provider = PR_PROVIDER_MPNS;
    n->token = "https://db3.notify.live.net/throttledthirdparty/01.00/AQG";
    n->event = PR_EVENT_IM;
    n->from = "sip:alice@contoso.com";
}

static char *build(const struct pr_notif *n)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(mpns_payload_build(n, &out, &len), 0);
    assert_int_equal(strlen(out), len);
    return out;
}

static void toast_is_exactly_the_documented_xml(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.title = "Alice";
    n.body = "Lunch?";
    char *x = build(&n);
    assert_string_equal(x, HEAD "Alice</wp:Text1><wp:Text2>Lunch?</wp:Text2>"
                           "<wp:Param>/pushrelay?event=im&amp;id=msg-1" TAIL);
    free(x);
}

static void absent_text_uses_sender_and_event_phrase(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.event = PR_EVENT_VOICEMAIL;
    char *x = build(&n);
    assert_string_equal(x, HEAD "alice</wp:Text1><wp:Text2>New voicemail</wp:Text2>"
                           "<wp:Param>/pushrelay?event=voicemail&amp;id=msg-1" TAIL);
    free(x);
}

static void specials_are_escaped_as_entities(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.title = "Tom & \"Jerry\"";
    n.body = "<b>it's</b> 1 > 0";
    char *x = build(&n);
    assert_string_equal(x, HEAD "Tom &amp; &quot;Jerry&quot;</wp:Text1>"
                           "<wp:Text2>&lt;b&gt;it&apos;s&lt;/b&gt; 1 &gt; 0</wp:Text2>"
                           "<wp:Param>/pushrelay?event=im&amp;id=msg-1" TAIL);
    free(x);
}

static void control_characters_are_dropped_but_tab_lf_cr_kept(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.title = "a\x01" "b\x08" "c\x1b";
    n.body = "l1\nl2\r\n\tx\x7f";
    char *x = build(&n);
    assert_string_equal(x, HEAD "abc</wp:Text1><wp:Text2>l1\nl2\r\n\tx\x7f</wp:Text2>"
                           "<wp:Param>/pushrelay?event=im&amp;id=msg-1" TAIL);
    free(x);
}

static void korean_and_emoji_pass_through_intact(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.title = KOREAN;
    n.body = "\xec\x95\x88\xeb\x85\x95 " EMOJI " & " KOREAN;
    char *x = build(&n);
    assert_string_equal(x, HEAD KOREAN "</wp:Text1><wp:Text2>\xec\x95\x88\xeb\x85\x95 " EMOJI
                           " &amp; " KOREAN "</wp:Text2>"
                           "<wp:Param>/pushrelay?event=im&amp;id=msg-1" TAIL);
    free(x);
}

static void id_in_param_is_percent_encoded(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.event = PR_EVENT_MISSED_CALL;
    n.title = "t";
    n.body = "b";
    n.id = "a&b<c> d/e=f";
    char *x = build(&n);
    assert_string_equal(x, HEAD "t</wp:Text1><wp:Text2>b</wp:Text2>"
                           "<wp:Param>/pushrelay?event=missed-call&amp;id=a%26b%3Cc%3E%20d%2Fe%3Df" TAIL);
    free(x);
}

static void long_text_is_cut_to_the_limit_on_a_character_boundary(void **state)
{
    (void)state;
    char body[16 * 400 + 1] = "";
    for (int i = 0; i < 400; i++)
        strcat(body, KOREAN "&" EMOJI "<");
    struct pr_notif n;
    base_notif(&n);
    n.body = body;
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(mpns_payload_build(&n, &out, &len), 0);
    assert_true(len <= MPNS_PAYLOAD_MAX);
    assert_true(len > MPNS_PAYLOAD_MAX - 8);
    const char *b = strstr(out, "<wp:Text2>") + strlen("<wp:Text2>");
    const char *e = strstr(out, "</wp:Text2>");
    assert_memory_equal(e - 3, "\xe2\x80\xa6", 3);
    assert_memory_equal(b, KOREAN "&amp;" EMOJI "&lt;" KOREAN, 9 + 5 + 4 + 4 + 9);
    free(out);
}

static void missing_id_is_invalid(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.id = NULL;
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(mpns_payload_build(&n, &out, &len), PR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(toast_is_exactly_the_documented_xml),
        cmocka_unit_test(absent_text_uses_sender_and_event_phrase),
        cmocka_unit_test(specials_are_escaped_as_entities),
        cmocka_unit_test(control_characters_are_dropped_but_tab_lf_cr_kept),
        cmocka_unit_test(korean_and_emoji_pass_through_intact),
        cmocka_unit_test(id_in_param_is_percent_encoded),
        cmocka_unit_test(long_text_is_cut_to_the_limit_on_a_character_boundary),
        cmocka_unit_test(missing_id_is_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
