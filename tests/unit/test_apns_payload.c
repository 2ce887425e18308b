/*
 * test_apns_payload.c - the APNs request (relay/apns_payload.c): payload
 * JSON, path and header values, VoIP, the apns-id, and the 4096/5120-byte
 * limits with text cut on UTF-8 boundaries.
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
#define KOREAN "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4"   /* 한국어 */
#define EMOJI "\xf0\x9f\x98\x80"                        /* 😀 */
#define TOKEN "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"

static const struct cfg_app app = { .id = "lync-ios", .provider = PR_PROVIDER_APNS,
                                    .topic = "com.example.lync" };

static void base_notif(struct pr_notif *n)
{
    notif_init(n);
    n->id = "msg-1";
    n->domain = "contoso.com";
    n->app = "lync-ios";
    n->token = TOKEN;
    n->event = PR_EVENT_IM;
    n->from = "sip:alice@contoso.com";
    n->to = "sip:bob@contoso.com";
    n->priority = PR_PRIORITY_HIGH;
    n->ttl_s = 60;
    n->accepted_ms = 1732480000000;
    n->expires_ms = 1732480060000;
}

static void assert_json_text(const char *got, size_t len, const char *want_text)
{
    json_t *g = json_loadb(got, len, 0, NULL);
    json_t *w = json_loads(want_text, 0, NULL);
    assert_non_null(g);
    assert_non_null(w);
    if (!json_equal(g, w))
        print_error("got  %.*s\nwant %s\n", (int)len, got, want_text);
    assert_true(json_equal(g, w));
    json_decref(g);
    json_decref(w);
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

static void alert_push_carries_text_badge_sound_category_and_pr(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.title = "Alice";
    n.body = "Lunch?";
    n.badge = 3;
    n.sound = "default";
    n.collapse_id = "conv-42";
    struct apns_request r;
    assert_int_equal(apns_payload_build(&n, &app, &r), 0);
    assert_json_text(r.payload, r.payload_len,
                     "{\"aps\":{\"alert\":{\"title\":\"Alice\",\"body\":\"Lunch?\"},\"badge\":3,"
                     "\"sound\":\"default\",\"category\":\"IM\",\"thread-id\":\"conv-42\","
                     "\"mutable-content\":1},"
                     "\"pr\":{\"id\":\"msg-1\",\"event\":\"im\",\"from\":\"sip:alice@contoso.com\"}}");
    assert_int_equal(strlen(r.payload), r.payload_len);
    assert_string_equal(r.path, "/3/device/" TOKEN);
    assert_string_equal(r.push_type, "alert");
    assert_string_equal(r.topic, "com.example.lync");
    assert_int_equal(r.priority, 10);
    assert_int_equal(r.expiration_s, 1732480060);
    assert_string_equal(r.collapse_id, "conv-42");
    assert_ptr_equal(r.collapse_id, n.collapse_id);
    apns_request_clear(&r);
    assert_null(r.path);
    assert_null(r.payload);
}

static void absent_texts_default_to_sender_and_event_phrase(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.event = PR_EVENT_MISSED_CALL;
    n.priority = PR_PRIORITY_NORMAL;
    struct apns_request r;
    assert_int_equal(apns_payload_build(&n, &app, &r), 0);
    assert_json_text(r.payload, r.payload_len,
                     "{\"aps\":{\"alert\":{\"title\":\"alice\",\"body\":\"Missed call\"},"
                     "\"category\":\"MISSED_CALL\",\"thread-id\":\"sip:alice@contoso.com\","
                     "\"mutable-content\":1},"
                     "\"pr\":{\"id\":\"msg-1\",\"event\":\"missed-call\",\"from\":\"sip:alice@contoso.com\"}}");
    assert_int_equal(r.priority, 5);
    assert_null(r.collapse_id);
    apns_request_clear(&r);
}

static void category_follows_the_event(void **state)
{
    (void)state;
    const char *cats[PR_EVENT_COUNT] = { "IM", "CALL", "MISSED_CALL", "VOICEMAIL", "CONFERENCE" };
    for (int e = 0; e < PR_EVENT_COUNT; e++) {
        struct pr_notif n;
        base_notif(&n);
        n.event = (enum pr_event)e;
        struct apns_request r;
        assert_int_equal(apns_payload_build(&n, &app, &r), 0);
        json_t *o = json_loadb(r.payload, r.payload_len, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(json_object_get(o, "aps"), "category")),
                            cats[e]);
        assert_string_equal(json_string_value(json_object_get(json_object_get(o, "pr"), "event")),
                            pr_event_name((enum pr_event)e));
        json_decref(o);
        apns_request_clear(&r);
    }
}

static void custom_data_sits_beside_aps_but_cannot_replace_it(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.from = NULL;
    n.data = json_pack("{s:s, s:i, s:{s:b}, s:s, s:s}", "conv", "c-9", "n", 7, "nested", "x", 1,
                       "aps", "evil", "pr", "evil");
    struct apns_request r;
    assert_int_equal(apns_payload_build(&n, &app, &r), 0);
    assert_json_text(r.payload, r.payload_len,
                     "{\"aps\":{\"alert\":{\"title\":\"New message\",\"body\":\"New message\"},"
                     "\"category\":\"IM\",\"mutable-content\":1},"
                     "\"conv\":\"c-9\",\"n\":7,\"nested\":{\"x\":true},"
                     "\"pr\":{\"id\":\"msg-1\",\"event\":\"im\"}}");
    apns_request_clear(&r);
    json_decref(n.data);
}

static void payload_bytes_are_compact_with_jansson_escaping_and_data_keys_in_order(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.title = "Q\"uote\\ a/b " KOREAN EMOJI;
    n.body = "line\nnext\ttab\r\b\f\x01\x1f\x7f";
    n.badge = 0;
    n.sound = "ring/1";
    n.collapse_id = "conv\"42";
    n.data = json_loads("{\"k\\\"ey\":\"v/\\\\\",\"n\":{\"a\":[1,2.5,null]},\"aps\":\"x\","
                        "\"" KOREAN "\":false,\"pr\":1,\"ctl\\u0001\":\"\\n\"}", 0, NULL);
    assert_non_null(n.data);
    struct apns_request r;
    assert_int_equal(apns_payload_build(&n, &app, &r), 0);
    assert_string_equal(r.payload,
                        "{\"aps\":{\"alert\":{\"title\":\"Q\\\"uote\\\\ a/b " KOREAN EMOJI "\","
                        "\"body\":\"line\\nnext\\ttab\\r\\b\\f\\u0001\\u001F\x7f\"},"
                        "\"badge\":0,\"sound\":\"ring/1\",\"category\":\"IM\","
                        "\"thread-id\":\"conv\\\"42\",\"mutable-content\":1},"
                        "\"k\\\"ey\":\"v/\\\\\",\"n\":{\"a\":[1,2.5,null]},\"" KOREAN "\":false,"
                        "\"ctl\\u0001\":\"\\n\","
                        "\"pr\":{\"id\":\"msg-1\",\"event\":\"im\",\"from\":\"sip:alice@contoso.com\"}}");
    assert_int_equal(strlen(r.payload), r.payload_len);
    apns_request_clear(&r);

    /* VoIP: aps stays an empty object and the text moves to pr. */
    n.voip = 1;
    json_decref(n.data);
    n.data = NULL;
    assert_int_equal(apns_payload_build(&n, &app, &r), 0);
    assert_string_equal(r.payload,
                        "{\"aps\":{},\"pr\":{\"id\":\"msg-1\",\"event\":\"im\","
                        "\"from\":\"sip:alice@contoso.com\",\"title\":\"Q\\\"uote\\\\ a/b " KOREAN
                        EMOJI "\",\"body\":\"line\\nnext\\ttab\\r\\b\\f\\u0001\\u001F\x7f\"}}");
    apns_request_clear(&r);
}

static void text_that_is_not_utf8_is_invalid_wherever_it_is(void **state)
{
    (void)state;
    struct pr_notif n;
    struct apns_request r;
    char **fields[] = { &n.title, &n.body, &n.sound, &n.collapse_id, &n.from, &n.id };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        base_notif(&n);
        *fields[i] = "ok \xed\xa0\x80";   /* a UTF-16 surrogate */
        assert_int_equal(apns_payload_build(&n, &app, &r), PR_EINVAL);
        assert_null(r.payload);
    }
}

static void voip_push_has_no_alert_and_uses_the_voip_topic(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.voip = 1;
    n.event = PR_EVENT_CALL;
    n.badge = 1;
    n.sound = "ring";
    n.data = json_pack("{s:s}", "call_id", "abc@host");
    struct apns_request r;
    assert_int_equal(apns_payload_build(&n, &app, &r), 0);
    assert_json_text(r.payload, r.payload_len,
                     "{\"aps\":{},\"call_id\":\"abc@host\","
                     "\"pr\":{\"id\":\"msg-1\",\"event\":\"call\",\"from\":\"sip:alice@contoso.com\","
                     "\"title\":\"alice\",\"body\":\"Incoming call\"}}");
    assert_string_equal(r.push_type, "voip");
    assert_string_equal(r.topic, "com.example.lync.voip");
    assert_int_equal(r.priority, 10);
    apns_request_clear(&r);
    json_decref(n.data);
}

static void apns_id_is_the_id_when_it_is_a_uuid(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.id = "123e4567-E89B-12d3-a456-426614174000";
    struct apns_request r;
    assert_int_equal(apns_payload_build(&n, &app, &r), 0);
    assert_string_equal(r.apns_id, "123e4567-E89B-12d3-a456-426614174000");
    apns_request_clear(&r);
}

static void apns_id_is_derived_from_sha1_of_the_id_and_stable(void **state)
{
    (void)state;
    const struct { const char *id, *uuid; } rows[] = {
        { "msg-1", "04b21047-e111-5dbf-ae48-7b4f23471f2f" },
        { "5f0c1d2e-call-42", "ebb1c839-1825-5309-91c4-09b6b68508b9" },
        /* almost a UUID: 'g' is not hex */
        { "123e4567-e89b-12d3-a456-42661417400g", NULL },
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct pr_notif n;
        base_notif(&n);
        n.id = (char *)rows[i].id;
        struct apns_request r1, r2;
        assert_int_equal(apns_payload_build(&n, &app, &r1), 0);
        assert_int_equal(apns_payload_build(&n, &app, &r2), 0);
        if (rows[i].uuid != NULL)
            assert_string_equal(r1.apns_id, rows[i].uuid);
        assert_string_not_equal(r1.apns_id, rows[i].id);
        assert_string_equal(r1.apns_id, r2.apns_id);
        assert_int_equal(strlen(r1.apns_id), 36);
        assert_int_equal(r1.apns_id[14], '5');
        assert_non_null(strchr("89ab", r1.apns_id[19]));
        apns_request_clear(&r1);
        apns_request_clear(&r2);
    }
}

/* The payload is within 'limit', is JSON, and its body is the original's prefix + "…". */
static void assert_cut(const struct apns_request *r, size_t limit, const char *field_parent,
                       const char *orig_body)
{
    assert_true(r->payload_len <= limit);
    assert_true(r->payload_len > limit - 8);   /* cut no more than a character and the ellipsis */
    json_t *o = json_loadb(r->payload, r->payload_len, 0, NULL);  /* refuses broken UTF-8 */
    assert_non_null(o);
    json_t *parent = strcmp(field_parent, "alert") == 0
                         ? json_object_get(json_object_get(o, "aps"), "alert")
                         : json_object_get(o, "pr");
    const char *body = json_string_value(json_object_get(parent, "body"));
    size_t kept = strlen(body) - 3;
    assert_string_equal(body + kept, ELLIPSIS);
    assert_memory_equal(body, orig_body, kept);
    assert_true(kept > 0);
    json_decref(o);
}

static void long_korean_and_emoji_body_is_cut_to_4096_on_a_character_boundary(void **state)
{
    (void)state;
    char *body = repeat(KOREAN " " EMOJI "\xc3\xa9", 400);   /* 16 bytes x 400 */
    struct pr_notif n;
    base_notif(&n);
    n.title = "Alice " EMOJI;
    n.body = body;
    struct apns_request r;
    assert_int_equal(apns_payload_build(&n, &app, &r), 0);
    assert_cut(&r, APNS_PAYLOAD_MAX, "alert", body);
    apns_request_clear(&r);
    free(body);
}

static void every_cut_point_keeps_characters_whole(void **state)
{
    (void)state;
    /* Shift the cut point through all byte offsets of 2-, 3- and 4-byte characters. */
    for (int pad = 0; pad < 16; pad++) {
        char *body = repeat("\xc3\xa9" KOREAN EMOJI, 300);
        char *title = repeat("t", pad + 1);
        struct pr_notif n;
        base_notif(&n);
        n.title = title;
        n.body = body;
        struct apns_request r;
        assert_int_equal(apns_payload_build(&n, &app, &r), 0);
        assert_cut(&r, APNS_PAYLOAD_MAX, "alert", body);
        apns_request_clear(&r);
        free(body);
        free(title);
    }
}

static void escaped_characters_count_toward_the_limit(void **state)
{
    (void)state;
    char *body = repeat("\"\\\n\x01", 2000);   /* escapes to 2+2+2+6 bytes */
    struct pr_notif n;
    base_notif(&n);
    n.body = body;
    struct apns_request r;
    assert_int_equal(apns_payload_build(&n, &app, &r), 0);
    assert_true(r.payload_len <= APNS_PAYLOAD_MAX);
    assert_true(r.payload_len > APNS_PAYLOAD_MAX - 9);
    json_t *o = json_loadb(r.payload, r.payload_len, 0, NULL);
    assert_non_null(o);
    json_decref(o);
    apns_request_clear(&r);
    free(body);
}

static void voip_payload_may_reach_5120(void **state)
{
    (void)state;
    char *body = repeat(KOREAN EMOJI, 330);   /* 13 x 330 = 4290 bytes: over 4096, under 5120 */
    struct pr_notif n;
    base_notif(&n);
    n.voip = 1;
    n.event = PR_EVENT_CALL;
    n.body = body;
    struct apns_request r;
    assert_int_equal(apns_payload_build(&n, &app, &r), 0);
    assert_true(r.payload_len > APNS_PAYLOAD_MAX);
    assert_true(r.payload_len <= APNS_PAYLOAD_MAX_VOIP);
    json_t *o = json_loadb(r.payload, r.payload_len, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "pr"), "body")), body);
    json_decref(o);
    apns_request_clear(&r);
    free(body);

    body = repeat(KOREAN EMOJI, 1000);
    n.body = body;
    assert_int_equal(apns_payload_build(&n, &app, &r), 0);
    assert_cut(&r, APNS_PAYLOAD_MAX_VOIP, "pr", body);
    apns_request_clear(&r);
    free(body);
}

static void payload_too_big_without_text_is_refused(void **state)
{
    (void)state;
    char *big = repeat("x", 5000);
    struct pr_notif n;
    base_notif(&n);
    n.data = json_pack("{s:s}", "blob", big);
    struct apns_request r;
    assert_int_equal(apns_payload_build(&n, &app, &r), PR_ETOOBIG);
    assert_null(r.payload);
    assert_null(r.path);
    json_decref(n.data);
    free(big);
}

static void bad_token_or_missing_topic_is_invalid(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    struct apns_request r;
    n.token = "abc/../def";
    assert_int_equal(apns_payload_build(&n, &app, &r), PR_EINVAL);
    n.token = "abc\r\nx: y";
    assert_int_equal(apns_payload_build(&n, &app, &r), PR_EINVAL);
    n.token = "";
    assert_int_equal(apns_payload_build(&n, &app, &r), PR_EINVAL);
    n.token = TOKEN;
    struct cfg_app no_topic = { .id = "x", .provider = PR_PROVIDER_APNS };
    assert_int_equal(apns_payload_build(&n, &no_topic, &r), PR_EINVAL);
    n.body = "\xff\xfe broken";
    assert_int_equal(apns_payload_build(&n, &app, &r), PR_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alert_push_carries_text_badge_sound_category_and_pr),
        cmocka_unit_test(absent_texts_default_to_sender_and_event_phrase),
        cmocka_unit_test(category_follows_the_event),
        cmocka_unit_test(custom_data_sits_beside_aps_but_cannot_replace_it),
        cmocka_unit_test(payload_bytes_are_compact_with_jansson_escaping_and_data_keys_in_order),
        cmocka_unit_test(text_that_is_not_utf8_is_invalid_wherever_it_is),
        cmocka_unit_test(voip_push_has_no_alert_and_uses_the_voip_topic),
        cmocka_unit_test(apns_id_is_the_id_when_it_is_a_uuid),
        cmocka_unit_test(apns_id_is_derived_from_sha1_of_the_id_and_stable),
        cmocka_unit_test(long_korean_and_emoji_body_is_cut_to_4096_on_a_character_boundary),
        cmocka_unit_test(every_cut_point_keeps_characters_whole),
        cmocka_unit_test(escaped_characters_count_toward_the_limit),
        cmocka_unit_test(voip_payload_may_reach_5120),
        cmocka_unit_test(payload_too_big_without_text_is_refused),
        cmocka_unit_test(bad_token_or_missing_topic_is_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
