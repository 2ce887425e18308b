/*
 * test_webpush_payload.c - the Web Push request (relay/webpush_payload.c):
 * the exact toast JSON, Korean and emoji intact, the size limit left by
 * encryption, the encrypted body read back with the user agent's key, and
 * the TTL, Urgency and Topic values.
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
#include "ece_receiver.h"
#include "payload_ext.h"

#define KOREAN "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4"
#define EMOJI "\xf0\x9f\x98\x80"
#define NOW_MS 1764500000000LL
#define ENDPOINT "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABc"

static void base_notif(struct pr_notif *n)
{
    notif_init(n);
    n->id = "msg-1";
    n->token = ENDPOINT;
    n->event = PR_EVENT_IM;
    n->from = "sip:alice@contoso.com";
    n->ttl_s = 60;
    n->accepted_ms = NOW_MS;
    n->expires_ms = NOW_MS + 60000;
}

static char *json_of(const struct pr_notif *n)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(webpush_payload_json(n, &out, &len), 0);
    assert_int_equal(strlen(out), len);
    return out;
}

static void toast_json_is_exactly_the_documented_object(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.title = "Alice Smith";
    n.body = "Lunch at 12?";
    n.collapse_id = "conv-42";
    n.badge = 3;
    n.data = json_pack("{s:s}", "conversation", "42");
    char *j = json_of(&n);
    assert_string_equal(j, "{\"title\":\"Alice Smith\",\"body\":\"Lunch at 12?\",\"tag\":\"conv-42\","
                           "\"badge\":3,\"data\":{\"conversation\":\"42\"},"
                           "\"pr\":{\"id\":\"msg-1\",\"event\":\"im\",\"from\":\"sip:alice@contoso.com\"}}");
    free(j);
    json_decref(n.data);
}

static void absent_text_uses_sender_and_event_phrase(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.event = PR_EVENT_MISSED_CALL;
    n.from = NULL;
    char *j = json_of(&n);
    assert_string_equal(j, "{\"title\":\"Missed call\",\"body\":\"Missed call\","
                           "\"pr\":{\"id\":\"msg-1\",\"event\":\"missed-call\"}}");
    free(j);
}

static void korean_and_emoji_arrive_intact(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    n.title = KOREAN;
    n.body = "\"" EMOJI "\" & <ok>";
    char *j = json_of(&n);
    assert_non_null(strstr(j, "\"title\":\"" KOREAN "\",\"body\":\"\\\"" EMOJI "\\\" & <ok>\""));
    free(j);
}

static void long_body_is_cut_to_what_encryption_leaves(void **state)
{
    (void)state;
    struct pr_notif n;
    base_notif(&n);
    size_t reps = 2000;
    char *body = malloc(reps * strlen(KOREAN) + 1);
    for (size_t i = 0; i < reps; i++)
        memcpy(body + i * strlen(KOREAN), KOREAN, strlen(KOREAN));
    body[reps * strlen(KOREAN)] = '\0';
    n.body = body;
    char *j = json_of(&n);
    assert_true(strlen(j) <= ECE_PLAINTEXT_MAX);
    assert_true(strlen(j) > ECE_PLAINTEXT_MAX - 16);   /* cut, not emptied */
    assert_non_null(strstr(j, KOREAN "\xe2\x80\xa6\""));   /* whole characters, then "…" */
    json_t *parsed = json_loads(j, 0, NULL);
    assert_non_null(parsed);                              /* still valid JSON and UTF-8 */
    json_decref(parsed);
    free(j);
    free(body);
}

static void body_decrypts_to_the_toast_json_for_the_subscriber(void **state)
{
    (void)state;
    struct pr_notif n;
    struct ece_sub sub;
    struct webpush_request r;
    const char *field = NULL;
    unsigned char plain[ECE_BODY_MAX];
    base_notif(&n);
    n.title = KOREAN;
    n.body = EMOJI;
    assert_int_equal(ece_sub_parse(RFC_UA_PUBLIC, RFC_AUTH, &sub, &field), 0);
    assert_int_equal(webpush_payload_build(&n, &sub, NOW_MS, &r), 0);
    char *want = json_of(&n);
    assert_int_equal(r.body_len, ECE_HEADER_LEN + strlen(want) + 1 + ECE_TAG_LEN);
    size_t plen = receive(r.body, r.body_len, plain);
    assert_int_equal(plen, strlen(want));
    assert_memory_equal(plain, want, plen);
    free(want);
    webpush_request_clear(&r);
    assert_null(r.body);
}

static void headers_carry_ttl_left_urgency_and_topic(void **state)
{
    (void)state;
    struct pr_notif n;
    struct ece_sub sub;
    struct webpush_request r;
    const char *field = NULL;
    assert_int_equal(ece_sub_parse(RFC_UA_PUBLIC, RFC_AUTH, &sub, &field), 0);

    base_notif(&n);
    n.priority = PR_PRIORITY_HIGH;
    n.collapse_id = "conv-42";
    assert_int_equal(webpush_payload_build(&n, &sub, NOW_MS + 20500, &r), 0);
    assert_int_equal(r.ttl_s, 40);              /* 39.5 s left, rounded up */
    assert_string_equal(r.urgency, "high");
    assert_string_equal(r.topic, "conv-42");
    webpush_request_clear(&r);

    base_notif(&n);
    n.collapse_id = "conversation with bob@contoso.com";   /* not Topic-safe */
    assert_int_equal(webpush_payload_build(&n, &sub, NOW_MS + 61000, &r), 0);
    assert_int_equal(r.ttl_s, 0);               /* past its TTL: the service may still try now */
    assert_string_equal(r.urgency, "normal");
    char want[VAPID_TOPIC_MAX + 1];
    assert_int_equal(vapid_topic(n.collapse_id, want), 0);
    assert_string_equal(r.topic, want);
    assert_int_equal(strlen(r.topic), 32);
    webpush_request_clear(&r);

    base_notif(&n);
    n.expires_ms = 0;                           /* expiry unknown: the TTL as given */
    assert_int_equal(webpush_payload_build(&n, &sub, NOW_MS, &r), 0);
    assert_int_equal(r.ttl_s, 60);
    assert_string_equal(r.topic, "");           /* no collapse id, no Topic */
    webpush_request_clear(&r);
}

static void missing_id_or_endpoint_is_refused(void **state)
{
    (void)state;
    struct pr_notif n;
    struct ece_sub sub;
    struct webpush_request r;
    const char *field = NULL;
    assert_int_equal(ece_sub_parse(RFC_UA_PUBLIC, RFC_AUTH, &sub, &field), 0);
    base_notif(&n);
    n.token = NULL;
    assert_int_equal(webpush_payload_build(&n, &sub, NOW_MS, &r), PR_EINVAL);
    assert_null(r.body);
    base_notif(&n);
    n.id = NULL;
    assert_int_equal(webpush_payload_build(&n, &sub, NOW_MS, &r), PR_EINVAL);
    webpush_request_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(toast_json_is_exactly_the_documented_object),
        cmocka_unit_test(absent_text_uses_sender_and_event_phrase),
        cmocka_unit_test(korean_and_emoji_arrive_intact),
        cmocka_unit_test(long_body_is_cut_to_what_encryption_leaves),
        cmocka_unit_test(body_decrypts_to_the_toast_json_for_the_subscriber),
        cmocka_unit_test(headers_carry_ttl_left_urgency_and_topic),
        cmocka_unit_test(missing_id_or_endpoint_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
