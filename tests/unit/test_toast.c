/*
 * test_toast.c - toast text (relay/toast.c): default texts per event, the
 * sender's user part as title, UTF-8-safe truncation, fitting text into a
 * size limit with "…", and XML escaping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "pushrelay/error.h"
#include "payload.h"

#define ELLIPSIS "\xe2\x80\xa6"
#define KOREAN "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4"   /* 한국어: 3 x 3 bytes */
#define EMOJI "\xf0\x9f\x98\x80"                        /* 😀: 4 bytes */
#define E_ACUTE "\xc3\xa9"                              /* é: 2 bytes */

static void truncate_keeps_whole_text_that_fits(void **state)
{
    (void)state;
    assert_int_equal(utf8_truncate("hello", 5, 5), 5);
    assert_int_equal(utf8_truncate("hello", 5, 100), 5);
    assert_int_equal(utf8_truncate("hello", 5, 3), 3);
    assert_int_equal(utf8_truncate("hello", 5, 0), 0);
}

static void truncate_never_splits_a_two_byte_character(void **state)
{
    (void)state;
    const char *s = "a" E_ACUTE "b";   /* a c3 a9 b */
    assert_int_equal(utf8_truncate(s, 4, 1), 1);
    assert_int_equal(utf8_truncate(s, 4, 2), 1);
    assert_int_equal(utf8_truncate(s, 4, 3), 3);
}

static void truncate_never_splits_korean(void **state)
{
    (void)state;
    const size_t want[] = { 0, 0, 0, 3, 3, 3, 6, 6, 6, 9 };
    for (size_t max = 0; max <= 9; max++)
        assert_int_equal(utf8_truncate(KOREAN, 9, max), want[max]);
}

static void truncate_never_splits_a_four_byte_emoji(void **state)
{
    (void)state;
    const char *s = "x" EMOJI EMOJI;   /* 1 + 4 + 4 */
    const size_t want[] = { 0, 1, 1, 1, 1, 5, 5, 5, 5, 9 };
    for (size_t max = 0; max <= 9; max++)
        assert_int_equal(utf8_truncate(s, 9, max), want[max]);
}

static void default_texts_follow_the_event(void **state)
{
    (void)state;
    const char *phrases[PR_EVENT_COUNT] = { "New message", "Incoming call", "Missed call",
                                            "New voicemail", "Conference invitation" };
    struct pr_notif n;
    notif_init(&n);
    for (int e = 0; e < PR_EVENT_COUNT; e++) {
        n.event = (enum pr_event)e;
        const char *title, *body;
        toast_default_text(&n, &title, &body);
        assert_string_equal(title, phrases[e]);
        assert_string_equal(body, phrases[e]);
    }
}

static void given_texts_win_over_defaults_and_empty_counts_as_absent(void **state)
{
    (void)state;
    struct pr_notif n;
    notif_init(&n);
    n.title = "Alice";
    n.body = "";
    const char *title, *body;
    toast_default_text(&n, &title, &body);
    assert_string_equal(title, "Alice");
    assert_string_equal(body, "New message");
}

static void toast_title_is_the_senders_user_part(void **state)
{
    (void)state;
    const struct { const char *from; const char *title; } rows[] = {
        { "sip:alice@contoso.com", "alice" },
        { "sips:bob.smith@contoso.com;transport=tls", "bob.smith" },
        { "<sip:carol@contoso.com>", "carol" },
        { "SIP:dave@contoso.com", "dave" },
        { "tel:+15551234567", "+15551234567" },
        { "sip:" KOREAN "@contoso.com", KOREAN },
        { "sip:contoso.com", "Missed call" },
        { "mailto:eve@contoso.com", "Missed call" },
        { "sip:@contoso.com", "Missed call" },
        { NULL, "Missed call" },
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct pr_notif n;
        notif_init(&n);
        n.event = PR_EVENT_MISSED_CALL;
        n.from = (char *)rows[i].from;
        struct toast t;
        toast_text(&n, &t);
        assert_string_equal(t.title, rows[i].title);
        assert_string_equal(t.body, "Missed call");
    }
}

static void toast_title_given_beats_the_sender(void **state)
{
    (void)state;
    struct pr_notif n;
    notif_init(&n);
    n.from = "sip:alice@contoso.com";
    n.title = "Alice Liddell";
    n.body = "hi";
    struct toast t;
    toast_text(&n, &t);
    assert_string_equal(t.title, "Alice Liddell");
    assert_string_equal(t.body, "hi");
}

static void xml_escape_replaces_the_five_specials_and_drops_controls(void **state)
{
    (void)state;
    char *s = xml_escape("<a href=\"x\">Tom & Jerry's</a>");
    assert_string_equal(s, "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&apos;s&lt;/a&gt;");
    free(s);
    s = xml_escape("a\x01" "b\tc\nd\re\x1f" "f\x7f");
    assert_string_equal(s, "ab\tc\nd\ref\x7f");
    free(s);
    s = xml_escape(KOREAN " " EMOJI);
    assert_string_equal(s, KOREAN " " EMOJI);
    free(s);
}

/* ---- toast_fit ----------------------------------------------------------- */

/* A renderer like the builders': {"t":title,"b":body} through jansson. */
static int json_render(void *arg, const char *title, const char *body, char **out, size_t *outlen)
{
    int *calls = arg;
    (*calls)++;
    json_t *o = json_pack("{s:s, s:s}", "t", title, "b", body);
    if (o == NULL)
        return PR_EINVAL;
    *out = json_dumps(o, JSON_COMPACT);
    *outlen = strlen(*out);
    json_decref(o);
    return 0;
}

static json_t *fit_json(const char *title, const char *body, size_t limit, size_t *len)
{
    int calls = 0;
    char *out = NULL;
    assert_int_equal(toast_fit(title, body, TOAST_ESC_JSON, limit, json_render, &calls, &out, len), 0);
    assert_true(*len <= limit);
    assert_int_equal(strlen(out), *len);
    json_t *o = json_loads(out, 0, NULL);   /* jansson refuses broken UTF-8 */
    assert_non_null(o);
    free(out);
    return o;
}

static char *repeat(const char *unit, int times)
{
    size_t ul = strlen(unit);
    char *s = malloc(ul * (size_t)times + 1);
    for (int i = 0; i < times; i++)
        memcpy(s + ul * (size_t)i, unit, ul);
    s[ul * (size_t)times] = '\0';
    return s;
}

static void fit_leaves_text_that_fits_alone(void **state)
{
    (void)state;
    int calls = 0;
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(toast_fit("Alice", "hi", TOAST_ESC_JSON, 100, json_render, &calls, &out, &len), 0);
    assert_string_equal(out, "{\"t\":\"Alice\",\"b\":\"hi\"}");
    assert_int_equal(calls, 1);
    free(out);
}

static void fit_cuts_ascii_body_to_exactly_the_limit_with_ellipsis(void **state)
{
    (void)state;
    char *body = repeat("x", 200);
    size_t len;
    /* {"t":"T","b":"…"} is 17 bytes + 3 for the ellipsis... */
    json_t *o = fit_json("T", body, 100, &len);
    assert_int_equal(len, 100);
    const char *b = json_string_value(json_object_get(o, "b"));
    assert_int_equal(strlen(b), 100 - strlen("{\"t\":\"T\",\"b\":\"\"}"));
    assert_memory_equal(b, body, strlen(b) - 3);
    assert_string_equal(b + strlen(b) - 3, ELLIPSIS);
    assert_string_equal(json_string_value(json_object_get(o, "t")), "T");
    json_decref(o);
    free(body);
}

static void fit_never_splits_korean_or_emoji(void **state)
{
    (void)state;
    char *body = repeat(KOREAN EMOJI E_ACUTE "a", 100);   /* 16 bytes per unit */
    for (size_t limit = 60; limit < 140; limit++) {
        size_t len;
        json_t *o = fit_json("T", body, limit, &len);
        const char *b = json_string_value(json_object_get(o, "b"));
        size_t kept = strlen(b) - 3;
        assert_string_equal(b + kept, ELLIPSIS);
        assert_memory_equal(b, body, kept);
        /* The longest prefix: one more character would not have fitted. */
        size_t next = kept + 1;
        while (((unsigned char)body[next] & 0xc0) == 0x80)
            next++;
        assert_true(len + (next - kept) > limit);
        json_decref(o);
    }
    free(body);
}

static void fit_counts_json_escapes(void **state)
{
    (void)state;
    char *body = repeat("\"\\\x01", 100);   /* 2 + 2 + 6 escaped bytes per unit */
    for (size_t limit = 40; limit < 80; limit++) {
        size_t len;
        json_t *o = fit_json("T", body, limit, &len);
        assert_true(len + 6 > limit);       /* the biggest character costs 6 */
        json_decref(o);
    }
    free(body);
}

static void fit_cuts_the_title_once_the_body_is_gone(void **state)
{
    (void)state;
    char *title = repeat(KOREAN, 20);
    size_t len;
    json_t *o = fit_json(title, "body", 40, &len);
    const char *t = json_string_value(json_object_get(o, "t"));
    assert_string_equal(json_string_value(json_object_get(o, "b")), "");
    assert_string_equal(t + strlen(t) - 3, ELLIPSIS);
    assert_memory_equal(t, title, strlen(t) - 3);
    assert_true(len > 40 - 3);
    json_decref(o);
    free(title);
}

static void fit_is_too_big_when_empty_texts_do_not_fit(void **state)
{
    (void)state;
    int calls = 0;
    char *out = (char *)1;
    size_t len = 0;
    assert_int_equal(toast_fit("T", "B", TOAST_ESC_JSON, 10, json_render, &calls, &out, &len),
                     PR_ETOOBIG);
    assert_null(out);
}

/* A renderer like the MPNS builder's: escaped text between fixed tags. */
static int xml_render(void *arg, const char *title, const char *body, char **out, size_t *outlen)
{
    (void)arg;
    char *t = xml_escape(title), *b = xml_escape(body);
    size_t n = strlen("<t></t><b></b>") + strlen(t) + strlen(b);
    *out = malloc(n + 1);
    strcpy(*out, "<t>");
    strcat(*out, t);
    strcat(*out, "</t><b>");
    strcat(*out, b);
    strcat(*out, "</b>");
    *outlen = n;
    free(t);
    free(b);
    return 0;
}

static void fit_counts_xml_entities(void **state)
{
    (void)state;
    char *body = repeat("<&'", 50);   /* 4 + 5 + 6 escaped bytes per unit */
    for (size_t limit = 30; limit < 90; limit++) {
        char *out = NULL;
        size_t len = 0;
        assert_int_equal(toast_fit("T", body, TOAST_ESC_XML, limit, xml_render, NULL, &out, &len), 0);
        assert_true(len <= limit);
        assert_true(len + 6 > limit);
        assert_non_null(strstr(out, ELLIPSIS "</b>"));
        free(out);
    }
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(truncate_keeps_whole_text_that_fits),
        cmocka_unit_test(truncate_never_splits_a_two_byte_character),
        cmocka_unit_test(truncate_never_splits_korean),
        cmocka_unit_test(truncate_never_splits_a_four_byte_emoji),
        cmocka_unit_test(default_texts_follow_the_event),
        cmocka_unit_test(given_texts_win_over_defaults_and_empty_counts_as_absent),
        cmocka_unit_test(toast_title_is_the_senders_user_part),
        cmocka_unit_test(toast_title_given_beats_the_sender),
        cmocka_unit_test(xml_escape_replaces_the_five_specials_and_drops_controls),
        cmocka_unit_test(fit_leaves_text_that_fits_alone),
        cmocka_unit_test(fit_cuts_ascii_body_to_exactly_the_limit_with_ellipsis),
        cmocka_unit_test(fit_never_splits_korean_or_emoji),
        cmocka_unit_test(fit_counts_json_escapes),
        cmocka_unit_test(fit_cuts_the_title_once_the_body_is_gone),
        cmocka_unit_test(fit_is_too_big_when_empty_texts_do_not_fit),
        cmocka_unit_test(fit_counts_xml_entities),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
