/*
 * test_hms_payload.c - the HMS Push Kit request (relay/hms_payload.c): the
 * :path, the exact Android notification message, data as a JSON string,
 * Korean and emoji intact, collapse key and tag, the size limit, and what
 * is refused.
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
#include "payload_ext.h"

#define KOREAN "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4"
#define EMOJI "\xf0\x9f\x98\x80"
#define NOW_MS 1764500000000LL
#define APP_ID "101234567"
#define TOKEN "IQAAAACy0kYkAAA_hms-token"

static void base_notif(struct pr_notif *n)
{
    notif_init(n);
    n->id = "msg-1";
    n->token = TOKEN;
    n->event = PR_EVENT_IM;
    n->from = "sip:alice@contoso.com";
    n->ttl_s = 60;
    n->expires_ms = NOW_MS + 60000;
}

static void build(const struct pr_notif *n, struct hms_request *r)
{
    assert_int_equal(hms_payload_build(n, APP_ID, NOW_MS, r), 0);
    assert_int_equal(strlen(r->body), r->body_len);
}

static void path_names_the_app(void **state)
{
    (void)state;
    struct pr_notif n;
    struct hms_request r;
    base_notif(&n);
    build(&n, &r);
    assert_string_equal(r.path, "/v1/101234567/messages:send");
    hms_request_clear(&r);
    assert_null(r.path);
    assert_null(r.body);
}

static void message_is_exactly_the_documented_body(void **state)
{
    (void)state;
    struct pr_notif n;
    struct hms_request r;
    base_notif(&n);
    n.title = "Alice Smith";
    n.body = "Lunch at 12?";
    n.priority = PR_PRIORITY_HIGH;
    n.data = json_pack("{s:s, s:i}", "conversation", "42", "pr_id", 7);
    build(&n, &r);
    assert_string_equal(r.body,
        "{\"validate_only\":false,\"message\":{"
        "\"data\":\"{\\\"pr_id\\\":\\\"msg-1\\\",\\\"pr_event\\\":\\\"im\\\","
        "\\\"pr_from\\\":\\\"sip:alice@contoso.com\\\",\\\"conversation\\\":\\\"42\\\"}\","
        "\"android\":{\"urgency\":\"HIGH\",\"ttl\":\"60s\","
        "\"notification\":{\"title\":\"Alice Smith\",\"body\":\"Lunch at 12?\","
        "\"click_action\":{\"type\":3}}},"
        "\"token\":[\"" TOKEN "\"]}}");
    /* The data string is itself JSON an app can parse. */
    json_t *body = json_loads(r.body, 0, NULL);
    const char *data = json_string_value(json_object_get(json_object_get(body, "message"), "data"));
    json_t *inner = json_loads(data, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(inner, "pr_id")), "msg-1");
    json_decref(inner);
    json_decref(body);
    hms_request_clear(&r);
    json_decref(n.data);
}

static void collapse_id_gives_collapse_key_and_tag(void **state)
{
    (void)state;
    struct pr_notif n;
    struct hms_request r;
    base_notif(&n);
    n.collapse_id = "conv-42";
    assert_int_equal(hms_payload_build(&n, APP_ID, NOW_MS + 45200, &r), 0);
    json_t *body = json_loads(r.body, 0, NULL);
    json_t *android = json_object_get(json_object_get(body, "message"), "android");
    json_int_t key = json_integer_value(json_object_get(android, "collapse_key"));
    assert_true(json_is_integer(json_object_get(android, "collapse_key")));
    assert_true(key >= 0 && key <= 100);
    assert_string_equal(json_string_value(json_object_get(android, "urgency")), "NORMAL");
    assert_string_equal(json_string_value(json_object_get(android, "ttl")), "15s");
    assert_string_equal(json_string_value(json_object_get(json_object_get(android, "notification"), "tag")),
                        "conv-42");
    json_decref(body);
    hms_request_clear(&r);

    /* The same id, the same group, on every attempt. */
    char *first = NULL;
    assert_int_equal(hms_payload_build(&n, APP_ID, NOW_MS, &r), 0);
    first = r.body;
    r.body = NULL;
    hms_request_clear(&r);
    assert_int_equal(hms_payload_build(&n, APP_ID, NOW_MS, &r), 0);
    assert_string_equal(r.body, first);
    free(first);
    hms_request_clear(&r);
}

static void korean_and_emoji_arrive_intact(void **state)
{
    (void)state;
    struct pr_notif n;
    struct hms_request r;
    base_notif(&n);
    n.title = KOREAN;
    n.body = EMOJI " \"hi\"";
    build(&n, &r);
    assert_non_null(strstr(r.body, "\"title\":\"" KOREAN "\",\"body\":\"" EMOJI " \\\"hi\\\"\""));
    hms_request_clear(&r);
}

static void long_body_is_cut_to_the_limit(void **state)
{
    (void)state;
    struct pr_notif n;
    struct hms_request r;
    base_notif(&n);
    size_t reps = 3000;
    char *body = malloc(reps * strlen(EMOJI) + 1);
    for (size_t i = 0; i < reps; i++)
        memcpy(body + i * strlen(EMOJI), EMOJI, strlen(EMOJI));
    body[reps * strlen(EMOJI)] = '\0';
    n.body = body;
    build(&n, &r);
    assert_true(r.body_len <= HMS_PAYLOAD_MAX + strlen(TOKEN));
    assert_true(r.body_len > HMS_PAYLOAD_MAX + strlen(TOKEN) - 8);
    assert_non_null(strstr(r.body, EMOJI "\xe2\x80\xa6\""));
    hms_request_clear(&r);
    free(body);
}

static void missing_fields_and_unsafe_app_id_are_refused(void **state)
{
    (void)state;
    struct pr_notif n;
    struct hms_request r;
    base_notif(&n);
    assert_int_equal(hms_payload_build(&n, "101/../x", NOW_MS, &r), PR_EINVAL);
    assert_null(r.path);
    assert_int_equal(hms_payload_build(&n, "", NOW_MS, &r), PR_EINVAL);
    assert_int_equal(hms_payload_build(&n, NULL, NOW_MS, &r), PR_EINVAL);
    n.token = "";
    assert_int_equal(hms_payload_build(&n, APP_ID, NOW_MS, &r), PR_EINVAL);
    base_notif(&n);
    n.id = NULL;
    assert_int_equal(hms_payload_build(&n, APP_ID, NOW_MS, &r), PR_EINVAL);
    assert_null(r.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(path_names_the_app),
        cmocka_unit_test(message_is_exactly_the_documented_body),
        cmocka_unit_test(collapse_id_gives_collapse_key_and_tag),
        cmocka_unit_test(korean_and_emoji_arrive_intact),
        cmocka_unit_test(long_body_is_cut_to_the_limit),
        cmocka_unit_test(missing_fields_and_unsafe_app_id_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
