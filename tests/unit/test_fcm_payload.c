/*
 * test_fcm_payload.c - the FCM HTTP v1 body (relay/fcm_payload.c): message
 * layout, priority and remaining TTL, collapse key, data values converted to
 * strings, reserved keys dropped, and the size limit.
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
#define KOREAN "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4"
#define EMOJI "\xf0\x9f\x98\x80"
#define NOW 1732480000000LL

static void base_notif(struct pr_notif *n)
{
    notif_init(n);
    n->id = "msg-1";
    n->domain = "contoso.com";
    n->app = "lync-android";
    n->provider = PR_PROVIDER_FCM;
    n->token = "fcm-token:APA91b";
    n->event = PR_EVENT_IM;
    n->from = "sip:alice@contoso.com";
    n->priority = PR_PRIORITY_HIGH;
    n->ttl_s = 60;
    n->accepted_ms = NOW;
    n->expires_ms = NOW + 60000;
}

static json_t *build(const struct pr_notif *n, int64_t now_ms)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(fcm_payload_build_at(n, now_ms, &out, &len), 0);
    assert_int_equal(strlen(out), len);
    json_t *o = json_loadb(out, len, 0, NULL);
    assert_non_null(o);
    free(out);
    return o;
}

static void assert_json(json_t *got, const char *want_text)
{
    json_t *w = json_loads(want_text, 0, NULL);
    assert_non_null(w);
    if (!json_equal(got, w)) {
        char *g = json_dumps(got, JSON_COMPACT);
        print_error("got  %s\nwant %s\n", g, want_text);
        free(g);
    }
    assert_true(json_equal(got, w));
    json_decref(w);
}

static void message_carries_token_notification_android_and_data(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.title = "Alice";
    n.body = "Lunch?";
    n.sound = "default";
    n.collapse_id = "conv-42";
    json_t *o = build(&n, NOW);
    assert_json(o, "{\"message\":{\"token\":\"fcm-token:APA91b\","
                   "\"notification\":{\"title\":\"Alice\",\"body\":\"Lunch?\"},"
                   "\"android\":{\"priority\":\"HIGH\",\"ttl\":\"60s\",\"collapse_key\":\"conv-42\","
                   "\"notification\":{\"sound\":\"default\",\"tag\":\"conv-42\","
                   "\"channel_id\":\"pushrelay_im\"}},"
                   "\"data\":{\"pr_id\":\"msg-1\",\"pr_event\":\"im\","
                   "\"pr_from\":\"sip:alice@contoso.com\"}}}");
    json_decref(o);
}

static void defaults_normal_priority_and_no_optional_fields(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.from = NULL;
    n.priority = PR_PRIORITY_NORMAL;
    n.event = PR_EVENT_MISSED_CALL;
    json_t *o = build(&n, NOW);
    assert_json(o, "{\"message\":{\"token\":\"fcm-token:APA91b\","
                   "\"notification\":{\"title\":\"Missed call\",\"body\":\"Missed call\"},"
                   "\"android\":{\"priority\":\"NORMAL\",\"ttl\":\"60s\","
                   "\"notification\":{\"channel_id\":\"pushrelay_missed_call\"}},"
                   "\"data\":{\"pr_id\":\"msg-1\",\"pr_event\":\"missed-call\"}}}");
    json_decref(o);
}

static const char *ttl_at(const struct pr_notif *n, int64_t now_ms, char *buf)
{
    json_t *o = build(n, now_ms);
    json_t *ttl = json_object_get(json_object_get(json_object_get(o, "message"), "android"), "ttl");
    strcpy(buf, ttl != NULL ? json_string_value(ttl) : "(none)");
    json_decref(o);
    return buf;
}

static void ttl_is_the_time_left_rounded_up(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    char buf[32];
    assert_string_equal(ttl_at(&n, NOW, buf), "60s");
    assert_string_equal(ttl_at(&n, NOW + 20000, buf), "40s");
    assert_string_equal(ttl_at(&n, NOW + 20001, buf), "40s");
    assert_string_equal(ttl_at(&n, NOW + 20999, buf), "40s");
    assert_string_equal(ttl_at(&n, NOW + 21000, buf), "39s");
    assert_string_equal(ttl_at(&n, NOW + 59999, buf), "1s");
    assert_string_equal(ttl_at(&n, NOW + 60000, buf), "0s");
    assert_string_equal(ttl_at(&n, NOW + 90000, buf), "0s");
    n.expires_ms = 0;
    assert_string_equal(ttl_at(&n, NOW, buf), "(none)");
}

static void data_values_become_strings(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.data = json_loads("{\"s\":\"text\",\"i\":42,\"neg\":-7,\"big\":12345678901234,"
                        "\"r\":1.5,\"t\":true,\"f\":false,\"z\":null,"
                        "\"o\":{\"a\":1,\"b\":[1,\"x\"]},\"a\":[true,null],\"k\":\"" KOREAN EMOJI "\"}",
                        0, NULL);
    assert_non_null(n.data);
    json_t *o = build(&n, NOW);
    assert_json(json_object_get(json_object_get(o, "message"), "data"),
                "{\"s\":\"text\",\"i\":\"42\",\"neg\":\"-7\",\"big\":\"12345678901234\","
                "\"r\":\"1.5\",\"t\":\"true\",\"f\":\"false\",\"z\":\"\","
                "\"o\":\"{\\\"a\\\":1,\\\"b\\\":[1,\\\"x\\\"]}\",\"a\":\"[true,null]\","
                "\"k\":\"" KOREAN EMOJI "\","
                "\"pr_id\":\"msg-1\",\"pr_event\":\"im\",\"pr_from\":\"sip:alice@contoso.com\"}");
    json_decref(o);
    json_decref(n.data);
}

static void reserved_data_keys_are_dropped_and_pr_keys_are_ours(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "from", "x", "notification", "x",
                       "message_type", "x", "google.sent_time", "x", "gcm.n.e", "x",
                       "pr_id", "spoofed", "keep", "yes");
    json_t *o = build(&n, NOW);
    assert_json(json_object_get(json_object_get(o, "message"), "data"),
                "{\"keep\":\"yes\",\"pr_id\":\"msg-1\",\"pr_event\":\"im\","
                "\"pr_from\":\"sip:alice@contoso.com\"}");
    json_decref(o);
    json_decref(n.data);
}

static void body_bytes_are_compact_with_jansson_escaping_and_data_in_order(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.title = "Q\"uote\\ a/b " KOREAN;
    n.body = "line\nnext\x01" EMOJI;
    n.collapse_id = "c/1";
    /* pr_* keys of theirs keep their place but carry our values, as with a jansson tree. */
    n.data = json_loads("{\"first\":1,\"pr_event\":\"x\",\"k\\\"ey\":{\"a\":\"\\\"/\"},"
                        "\"gcm.x\":1,\"pr_id\":\"spoofed\",\"last\":null}", 0, NULL);
    assert_non_null(n.data);
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(fcm_payload_build_at(&n, NOW, &out, &len), 0);
    assert_string_equal(out,
                        "{\"message\":{\"token\":\"fcm-token:APA91b\","
                        "\"notification\":{\"title\":\"Q\\\"uote\\\\ a/b " KOREAN "\","
                        "\"body\":\"line\\nnext\\u0001" EMOJI "\"},"
                        "\"android\":{\"priority\":\"HIGH\",\"ttl\":\"60s\",\"collapse_key\":\"c/1\","
                        "\"notification\":{\"tag\":\"c/1\",\"channel_id\":\"pushrelay_im\"}},"
                        "\"data\":{\"first\":\"1\",\"pr_event\":\"im\","
                        "\"k\\\"ey\":\"{\\\"a\\\":\\\"\\\\\\\"/\\\"}\",\"pr_id\":\"msg-1\","
                        "\"last\":\"\",\"pr_from\":\"sip:alice@contoso.com\"}}}");
    assert_int_equal(strlen(out), len);
    free(out);

    /* Without a sender their pr_from stays theirs. */
    json_decref(n.data);
    n.data = json_pack("{s:s}", "pr_from", "theirs");
    n.from = NULL;
    assert_int_equal(fcm_payload_build_at(&n, NOW, &out, &len), 0);
    assert_non_null(strstr(out, "\"data\":{\"pr_from\":\"theirs\",\"pr_id\":\"msg-1\","
                                "\"pr_event\":\"im\"}}}"));
    free(out);
    json_decref(n.data);

    n.data = NULL;
    n.body = "\xc0\xaf";   /* overlong '/' */
    out = (char *)"untouched";
    assert_int_equal(fcm_payload_build_at(&n, NOW, &out, &len), PR_EINVAL);
    assert_null(out);
}

static void korean_and_emoji_text_is_kept_intact(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.title = KOREAN;
    n.body = "\xec\x95\x88\xeb\x85\x95 " EMOJI;   /* 안녕 😀 */
    json_t *o = build(&n, NOW);
    json_t *nt = json_object_get(json_object_get(o, "message"), "notification");
    assert_string_equal(json_string_value(json_object_get(nt, "title")), KOREAN);
    assert_string_equal(json_string_value(json_object_get(nt, "body")),
                        "\xec\x95\x88\xeb\x85\x95 " EMOJI);
    json_decref(o);
}

static void long_body_is_cut_to_fit_on_a_character_boundary(void **state)
{
    (void)state;
    char body[13 * 500 + 1] = "";
    for (int i = 0; i < 500; i++)
        strcat(body, KOREAN EMOJI);
    struct pr_notif n;
    base_notif(&n);
    n.body = body;
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(fcm_payload_build_at(&n, NOW, &out, &len), 0);
    assert_true(len <= FCM_PAYLOAD_MAX + strlen(n.token));
    json_t *o = json_loadb(out, len, 0, NULL);
    assert_non_null(o);
    const char *b = json_string_value(
        json_object_get(json_object_get(json_object_get(o, "message"), "notification"), "body"));
    size_t kept = strlen(b) - 3;
    assert_string_equal(b + kept, ELLIPSIS);
    assert_memory_equal(b, body, kept);
    assert_true(kept > 3000);
    json_decref(o);
    free(out);
}

static void missing_token_is_invalid(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.token = NULL;
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(fcm_payload_build_at(&n, NOW, &out, &len), PR_EINVAL);
    assert_null(out);
}

static void build_uses_the_wall_clock(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    int64_t before = pr_now_ms();
    n.expires_ms = before + 30000;
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(fcm_payload_build(&n, &out, &len), 0);
    int64_t elapsed = pr_now_ms() - before;
    /*
     * The time left is 30 s minus however long the build took by the wall
     * clock, rounded up: bounded by the clock read around the call, so that
     * a stalled (busy, sanitized) run is not a failure.
     */
    const char *t = strstr(out, "\"ttl\":\"");
    assert_non_null(t);
    long ttl = strtol(t + 7, NULL, 10);
    long least = (long)((30000 - elapsed + 999) / 1000);
    assert_true(ttl <= 30 && ttl >= least);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(message_carries_token_notification_android_and_data),
        cmocka_unit_test(defaults_normal_priority_and_no_optional_fields),
        cmocka_unit_test(ttl_is_the_time_left_rounded_up),
        cmocka_unit_test(data_values_become_strings),
        cmocka_unit_test(reserved_data_keys_are_dropped_and_pr_keys_are_ours),
        cmocka_unit_test(body_bytes_are_compact_with_jansson_escaping_and_data_in_order),
        cmocka_unit_test(korean_and_emoji_text_is_kept_intact),
        cmocka_unit_test(long_body_is_cut_to_fit_on_a_character_boundary),
        cmocka_unit_test(missing_token_is_invalid),
        cmocka_unit_test(build_uses_the_wall_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
