/*
 * test_notif.c - the notification record (relay/notif.c): encode/decode
 * round trip with Korean and emoji text, tolerated absences, refused corrupt
 * records. The Redis key builders are test_keys.c's.
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
#include "pushrelay/notif.h"
#include "../notif_same.h"

#define KOREAN "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4"
#define EMOJI "\xf0\x9f\x98\x80"

static void full_notif(struct pr_notif *n)
{
    notif_init(n);
    assert_int_equal(notif_set_str(&n->id, "5f0c1d2e-42"), 0);
    notif_set_str(&n->domain, "contoso.com");
    n->provider = PR_PROVIDER_FCM;
    notif_set_str(&n->app, "lync-android");
    notif_set_str(&n->token, "fcm:APA91b-token");
    n->voip = 1;
    n->event = PR_EVENT_MISSED_CALL;
    notif_set_str(&n->from, "sip:alice@contoso.com");
    notif_set_str(&n->to, "sip:bob@contoso.com");
    notif_set_str(&n->title, KOREAN " " EMOJI);
    notif_set_str(&n->body, "\xec\x95\x88\xeb\x85\x95 \"quoted\" \\ " EMOJI "\n");
    n->badge = 3;
    notif_set_str(&n->sound, "default");
    n->priority = PR_PRIORITY_HIGH;
    notif_set_str(&n->collapse_id, "conv-42");
    n->ttl_s = 60;
    n->accepted_ms = 1732480000000;
    n->expires_ms = 1732480060000;
    n->attempts = 2;
    n->data = json_pack("{s:s, s:i, s:{s:b}}", "conv", KOREAN, "n", 7, "o", "x", 1);
    notif_set_str(&n->last, "503 ServiceUnavailable");
    n->trace = 1;
}

static void round_trip_keeps_every_field_including_korean_and_emoji(void **state)
{
    (void)state;
    struct pr_notif n, d;
    full_notif(&n);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(notif_encode(&n, &text, &len), 0);
    assert_int_equal(strlen(text), len);
    assert_int_equal(notif_decode(text, len, &d), 0);

    assert_string_equal(d.id, "5f0c1d2e-42");
    assert_string_equal(d.domain, "contoso.com");
    assert_int_equal(d.provider, PR_PROVIDER_FCM);
    assert_string_equal(d.app, "lync-android");
    assert_string_equal(d.token, "fcm:APA91b-token");
    assert_int_equal(d.voip, 1);
    assert_int_equal(d.event, PR_EVENT_MISSED_CALL);
    assert_string_equal(d.from, "sip:alice@contoso.com");
    assert_string_equal(d.to, "sip:bob@contoso.com");
    assert_string_equal(d.title, KOREAN " " EMOJI);
    assert_string_equal(d.body, "\xec\x95\x88\xeb\x85\x95 \"quoted\" \\ " EMOJI "\n");
    assert_int_equal(d.badge, 3);
    assert_string_equal(d.sound, "default");
    assert_int_equal(d.priority, PR_PRIORITY_HIGH);
    assert_string_equal(d.collapse_id, "conv-42");
    assert_int_equal(d.ttl_s, 60);
    assert_int_equal(d.accepted_ms, 1732480000000);
    assert_int_equal(d.expires_ms, 1732480060000);
    assert_int_equal(d.attempts, 2);
    assert_true(json_equal(d.data, n.data));
    assert_string_equal(d.last, "503 ServiceUnavailable");
    assert_int_equal(d.trace, 1);

    /* Encoding the decoded record again gives the same text. */
    char *again = NULL;
    size_t again_len = 0;
    assert_int_equal(notif_encode(&d, &again, &again_len), 0);
    assert_string_equal(again, text);
    free(again);
    free(text);
    notif_clear(&n);
    notif_clear(&d);
}

static void quotes_backslashes_and_control_characters_survive_a_round_trip(void **state)
{
    (void)state;
    struct pr_notif n, d;
    char *text;
    size_t len;
    notif_init(&n);
    notif_set_str(&n.id, "id\"1\\");
    notif_set_str(&n.domain, "contoso.com");
    notif_set_str(&n.app, "lync-ios");
    notif_set_str(&n.token, "ab");
    notif_set_str(&n.body, "line1\nline2\ttab \x01 \"quoted\" back\\slash \xed\x95\x9c");
    n.accepted_ms = -5;  /* the integer writer handles signs */
    assert_int_equal(notif_encode(&n, &text, &len), 0);
    assert_int_equal(strlen(text), len);
    /* Escaped as jansson escapes: short forms where JSON has them, else \u00XX. */
    assert_non_null(strstr(text, "\"line1\\nline2\\ttab \\u0001 \\\"quoted\\\" back\\\\slash "));
    assert_int_equal(notif_decode(text, len, &d), 0);
    assert_string_equal(d.id, n.id);
    assert_string_equal(d.body, n.body);
    assert_true(d.accepted_ms == -5);
    free(text);
    notif_clear(&n);
    notif_clear(&d);
}

/* A Web Push record carries its subscription keys as "wpk" and "wpa", through both decoders. */
static void webpush_keys_round_trip_as_wpk_and_wpa(void **state)
{
    (void)state;
    struct pr_notif n, d;
    full_notif(&n);
    n.provider = PR_PROVIDER_WEBPUSH;
    notif_set_str(&n.wp_p256dh, "BCVxsr7N_eNgVRqvHtD0zTZsEc6");
    notif_set_str(&n.wp_auth, "BTBZMqHH6r4Tts7J_aSIgg");
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(notif_encode(&n, &text, &len), 0);
    json_t *o = json_loads(text, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "wpk")), "BCVxsr7N_eNgVRqvHtD0zTZsEc6");
    assert_string_equal(json_string_value(json_object_get(o, "wpa")), "BTBZMqHH6r4Tts7J_aSIgg");
    json_decref(o);
    assert_int_equal(notif_decode(text, len, &d), 0);
    assert_int_equal(d.provider, PR_PROVIDER_WEBPUSH);
    assert_string_equal(d.wp_p256dh, "BCVxsr7N_eNgVRqvHtD0zTZsEc6");
    assert_string_equal(d.wp_auth, "BTBZMqHH6r4Tts7J_aSIgg");
    notif_clear(&d);
    /* Written by someone else (spaces, another order): jansson's path reads them too. */
    const char *other = "{ \"wpa\": \"BTBZ\", \"v\":1,\"id\":\"x\",\"dom\":\"d\",\"prov\":\"webpush\","
                        "\"app\":\"a\",\"tok\":\"https://p/s\",\"ev\":\"im\",\"prio\":\"high\",\"ttl\":60,"
                        "\"acc\":1,\"exp\":2,\"att\":0,\"voip\":0,\"wpk\":\"BCVx\" }";
    assert_int_equal(notif_decode(other, strlen(other), &d), 0);
    assert_string_equal(d.wp_p256dh, "BCVx");
    assert_string_equal(d.wp_auth, "BTBZ");
    notif_clear(&d);
    free(text);
    notif_clear(&n);
}

static void encoding_uses_the_documented_short_keys(void **state)
{
    (void)state;
    struct pr_notif n;
    full_notif(&n);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(notif_encode(&n, &text, &len), 0);
    json_t *o = json_loads(text, 0, NULL);
    json_t *want = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s,"
                             " s:i, s:s, s:s, s:s, s:i, s:I, s:I, s:i, s:O, s:s, s:i}",
                             "v", 1, "id", "5f0c1d2e-42", "dom", "contoso.com", "prov", "fcm",
                             "app", "lync-android", "tok", "fcm:APA91b-token", "voip", 1,
                             "ev", "missed-call", "from", "sip:alice@contoso.com",
                             "to", "sip:bob@contoso.com", "title", KOREAN " " EMOJI,
                             "body", "\xec\x95\x88\xeb\x85\x95 \"quoted\" \\ " EMOJI "\n",
                             "badge", 3, "sound", "default", "prio", "high", "coll", "conv-42",
                             "ttl", 60, "acc", (json_int_t)1732480000000,
                             "exp", (json_int_t)1732480060000, "att", 2, "data", n.data,
                             "last", "503 ServiceUnavailable", "trace", 1);
    assert_true(json_equal(o, want));
    json_decref(o);
    json_decref(want);
    free(text);
    notif_clear(&n);
}

static void absent_optional_fields_are_omitted_and_decode_as_absent(void **state)
{
    (void)state;
    struct pr_notif n, d;
    notif_init(&n);
    notif_set_str(&n.id, "i");
    notif_set_str(&n.domain, "contoso.com");
    notif_set_str(&n.app, "lync-ios");
    notif_set_str(&n.token, "ab12");
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(notif_encode(&n, &text, &len), 0);
    assert_string_equal(text, "{\"v\":1,\"id\":\"i\",\"dom\":\"contoso.com\",\"prov\":\"apns\","
                              "\"app\":\"lync-ios\",\"tok\":\"ab12\",\"voip\":0,\"ev\":\"im\","
                              "\"prio\":\"normal\",\"ttl\":0,\"acc\":0,\"exp\":0,\"att\":0}");
    assert_int_equal(notif_decode(text, len, &d), 0);
    assert_null(d.from);
    assert_null(d.to);
    assert_null(d.title);
    assert_null(d.body);
    assert_null(d.sound);
    assert_null(d.collapse_id);
    assert_null(d.last);
    assert_null(d.data);
    assert_int_equal(d.badge, -1);
    assert_int_equal(d.voip, 0);
    assert_int_equal(d.trace, 0);
    free(text);
    notif_clear(&n);
    notif_clear(&d);
}

static void decode_tolerates_missing_voip_and_unknown_keys(void **state)
{
    (void)state;
    const char *text = "{\"v\":1,\"id\":\"i\",\"dom\":\"d\",\"prov\":\"mpns\",\"app\":\"a\","
                       "\"tok\":\"https://x/y\",\"ev\":\"conference\",\"prio\":\"high\","
                       "\"ttl\":5,\"acc\":1,\"exp\":5001,\"att\":0,\"future\":[1]}";
    struct pr_notif d;
    assert_int_equal(notif_decode(text, strlen(text), &d), 0);
    assert_int_equal(d.provider, PR_PROVIDER_MPNS);
    assert_int_equal(d.event, PR_EVENT_CONFERENCE);
    assert_int_equal(d.voip, 0);
    assert_int_equal(d.expires_ms, 5001);
    notif_clear(&d);
}

static void decode_reads_any_member_order_whitespace_and_escapes(void **state)
{
    (void)state;
    const char *rec =
        " {\r\n \"att\" : 1 ,\t\"acc\":-5,\"exp\":0,\"ttl\":0,\"prio\":\"high\",\"ev\":\"call\","
        "\"prov\":\"mpns\",\"tok\":\"t\",\"app\":\"a\",\"dom\":\"d\",\"id\":\"\\u00e9\\u00E9\","
        "\"title\":\"\\ud83d\\ude00 \\/ \\\"\\\\\\b\\f\\n\\r\\t\\u001f\x7f" KOREAN "\","
        "\"data\":{ \"s\":\"}{\\\"]\", \"o\":{\"a\":[1,{\"b\":null}]} },"
        "\"voip\":-0,\"badge\":0,\"v\":1 } \n";
    struct pr_notif d;
    assert_int_equal(notif_decode(rec, strlen(rec), &d), 0);
    assert_int_equal(d.attempts, 1);
    assert_true(d.accepted_ms == -5);
    assert_int_equal(d.priority, PR_PRIORITY_HIGH);
    assert_int_equal(d.event, PR_EVENT_CALL);
    assert_int_equal(d.provider, PR_PROVIDER_MPNS);
    assert_string_equal(d.id, "\xc3\xa9\xc3\xa9");
    assert_string_equal(d.title, EMOJI " / \"\\\b\f\n\r\t\x1f\x7f" KOREAN);
    json_t *want = json_loads("{\"s\":\"}{\\\"]\",\"o\":{\"a\":[1,{\"b\":null}]}}", 0, NULL);
    assert_true(json_equal(d.data, want));
    json_decref(want);
    assert_int_equal(d.voip, 0);
    assert_int_equal(d.badge, 0);
    assert_null(d.body);
    notif_clear(&d);
}

static void decode_gives_what_jansson_gives_for_records_it_did_not_write(void **state)
{
    (void)state;
    const char *base = "\"v\":1,\"id\":\"i\",\"dom\":\"d\",\"prov\":\"apns\",\"app\":\"a\",\"tok\":\"t\","
                       "\"ev\":\"im\",\"prio\":\"normal\",\"ttl\":1,\"acc\":1,\"exp\":2,\"att\":0";
    char buf[512];
    struct pr_notif d;
    /* A repeated key: the last one wins. */
    snprintf(buf, sizeof(buf), "{%s,\"title\":\"first\",\"title\":\"second\",\"ev\":\"call\"}", base);
    assert_int_equal(notif_decode(buf, strlen(buf), &d), 0);
    assert_string_equal(d.title, "second");
    assert_int_equal(d.event, PR_EVENT_CALL);
    notif_clear(&d);
    /* voip that is not an integer reads as 0; escapes in names and keys are fine. */
    snprintf(buf, sizeof(buf), "{%s,\"voip\":true,\"\\u0062ody\":\"b\",\"sound\":\"\\u0073\"}", base);
    assert_int_equal(notif_decode(buf, strlen(buf), &d), 0);
    assert_int_equal(d.voip, 0);
    assert_string_equal(d.body, "b");
    assert_string_equal(d.sound, "s");
    notif_clear(&d);
    /* Integers past 18 digits, and ints out of int range, are jansson's to read. */
    snprintf(buf, sizeof(buf), "{%s,\"badge\":4294967297,\"data\":{\"n\":1234567890123456789}}", base);
    assert_int_equal(notif_decode(buf, strlen(buf), &d), 0);
    assert_int_equal(d.badge, (int)4294967297LL);
    assert_true(json_integer_value(json_object_get(d.data, "n")) == 1234567890123456789LL);
    notif_clear(&d);
    /* Reals, lone surrogates and a record cut before its last brace are refused either way. */
    const char *bad[] = { "\"v\":1.0", "\"title\":\"\\ud800\"", "\"title\":\"\\udc00x\"",
                          "\"data\":{\"a\":1}" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(buf, sizeof(buf), "{%s,%s}", bad[i], base + strlen("\"v\":1,"));
        if (i == 3)
            snprintf(buf, sizeof(buf), "{%s,%s", base, bad[i]);   /* ends with data's '}' */
        int rc = notif_decode(buf, strlen(buf), &d);
        if (rc != PR_EINVAL)
            print_error("accepted: %s\n", buf);
        assert_int_equal(rc, PR_EINVAL);
        notif_clear(&d);
    }
}

static void encode_refuses_a_record_without_required_fields(void **state)
{
    (void)state;
    char **fields[4];
    for (int missing = 0; missing < 4; missing++) {
        struct pr_notif n;
        full_notif(&n);
        fields[0] = &n.id, fields[1] = &n.domain, fields[2] = &n.app, fields[3] = &n.token;
        notif_set_str(fields[missing], NULL);
        char *text = NULL;
        size_t len = 0;
        assert_int_equal(notif_encode(&n, &text, &len), PR_EINVAL);
        assert_null(text);
        notif_clear(&n);
    }
}

static void encode_refuses_text_that_is_not_utf8(void **state)
{
    (void)state;
    struct pr_notif n;
    full_notif(&n);
    notif_set_str(&n.body, "\xff\xfe");
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(notif_encode(&n, &text, &len), PR_EINVAL);
    notif_set_str(&n.body, "ok");
    notif_set_str(&n.id, "\xc3");
    assert_int_equal(notif_encode(&n, &text, &len), PR_EINVAL);
    notif_clear(&n);
}

static void encode_refuses_data_that_is_not_an_object(void **state)
{
    (void)state;
    struct pr_notif n;
    full_notif(&n);
    json_decref(n.data);
    n.data = json_pack("[i]", 1);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(notif_encode(&n, &text, &len), PR_EINVAL);
    notif_clear(&n);
}

static void decode_refuses_records_missing_a_required_field(void **state)
{
    (void)state;
    const char *required[] = { "v", "id", "dom", "prov", "app", "tok", "ev", "prio",
                               "ttl", "acc", "exp", "att" };
    struct pr_notif n;
    full_notif(&n);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(notif_encode(&n, &text, &len), 0);
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        json_t *o = json_loads(text, 0, NULL);
        assert_int_equal(json_object_del(o, required[i]), 0);
        char *broken = json_dumps(o, JSON_COMPACT);
        struct pr_notif d;
        int rc = notif_decode(broken, strlen(broken), &d);
        if (rc != PR_EINVAL)
            print_error("decoded without \"%s\"\n", required[i]);
        assert_int_equal(rc, PR_EINVAL);
        notif_clear(&d);
        free(broken);
        json_decref(o);
    }
    free(text);
    notif_clear(&n);
}

/* view_matches checks that view 'v' of 'text' equals notif_decode's 'd', every string inside 'store'. */
static void view_matches(const struct pr_notif *v, const struct pr_notif *d, const char *store,
                         size_t len)
{
    const char *vs[NOTIF_SAME_NSTRS];
    notif_same_strs(v, vs);
    int strings = 0;
    for (size_t i = 0; i < NOTIF_SAME_NSTRS; i++) {
        if (vs[i] == NULL)
            continue;
        assert_true(vs[i] >= store && vs[i] + strlen(vs[i]) < store + len);
        strings++;
    }
    assert_true(strings >= 4);      /* id, domain, app and token at least */
    assert_true(notif_same(v, d));
}

/*
 * A view (the dispatcher's decode) gives what notif_decode gives, whether the
 * scanner reads the record or jansson's path does, with every string in the
 * caller's store of exactly the record's length (ASan sees any overrun).
 */
static void a_view_decodes_like_notif_decode_into_a_store_of_the_records_length(void **state)
{
    (void)state;
    struct pr_notif n;
    full_notif(&n);
    char *full = NULL;
    size_t full_len = 0;
    assert_int_equal(notif_encode(&n, &full, &full_len), 0);
    const char *base = "\"v\":1,\"id\":\"i\",\"dom\":\"d\",\"prov\":\"apns\",\"app\":\"a\","
                       "\"tok\":\"t\",\"ev\":\"im\",\"prio\":\"normal\",\"ttl\":1,\"acc\":1,"
                       "\"exp\":2,\"att\":0";
    char repeated[512], escaped[512];
    /* Jansson's path: a repeated key, escapes in key names. */
    snprintf(repeated, sizeof(repeated), "{%s,\"title\":\"first\",\"title\":\"second\"}", base);
    snprintf(escaped, sizeof(escaped),
             "{%s,\"\\u0062ody\":\"\\ud83d\\ude00\\u00e9\",\"sound\":\"\\/\"}", base);
    const char *records[] = { full, repeated, escaped };
    for (size_t i = 0; i < sizeof(records) / sizeof(records[0]); i++) {
        size_t len = strlen(records[i]);
        char *store = malloc(len);
        assert_non_null(store);
        struct pr_notif v, d;
        assert_int_equal(notif_decode(records[i], len, &d), 0);
        assert_int_equal(notif_decode_view(records[i], len, &v, store), 0);
        view_matches(&v, &d, store, len);
        notif_view_clear(&v);
        assert_null(v.id);
        assert_null(v.data);
        notif_clear(&d);
        free(store);
    }
    /*
     * The scanner, not jansson, reads a record its writer could have
     * written in another member order (the last key at the record's very
     * end): its view holds the strings in record order, where jansson's
     * path would have put "id" first.
     */
    static const char order[] = "{\"tok\":\"t\",\"id\":\"i\",\"dom\":\"d\",\"prov\":\"apns\","
                                "\"app\":\"a\",\"ev\":\"im\",\"prio\":\"normal\",\"ttl\":1,\"acc\":1,"
                                "\"exp\":2,\"att\":0,\"badge\":3,\"v\":1}";
    char store[sizeof(order)];
    struct pr_notif v;
    assert_int_equal(notif_decode_view(order, strlen(order), &v, store), 0);
    assert_ptr_equal(v.token, store);
    assert_ptr_equal(v.id, store + 2);
    assert_string_equal(v.domain, "d");
    assert_int_equal(v.badge, 3);
    assert_int_equal(v.attempts, 0);
    notif_view_clear(&v);
    /* Refused as notif_decode refuses, holding nothing afterwards. */
    const char *bad = "{\"v\":1,\"title\":\"a\\u0000b\"}";
    assert_int_equal(notif_decode_view(bad, strlen(bad), &v, store), PR_EINVAL);
    assert_null(v.id);
    assert_null(v.title);
    assert_null(v.data);
    free(full);
    notif_clear(&n);
}

static void decode_refuses_corrupt_input(void **state)
{
    (void)state;
    const char *base = "\"id\":\"i\",\"dom\":\"d\",\"prov\":\"apns\",\"app\":\"a\",\"tok\":\"t\","
                       "\"ev\":\"im\",\"prio\":\"normal\",\"ttl\":1,\"acc\":1,\"exp\":2,\"att\":0";
    char buf[512];
    const char *extra[] = {
        "\"v\":2",                      /* a version we do not know */
        "\"v\":\"1\"",
        "\"v\":1,\"prov\":\"gcm\"",     /* duplicate key wins last: unknown provider */
        "\"v\":1,\"ev\":\"sms\"",
        "\"v\":1,\"prio\":\"urgent\"",
        "\"v\":1,\"badge\":\"3\"",
        "\"v\":1,\"title\":5",
        "\"v\":1,\"data\":[1]",
        "\"v\":1,\"data\":\"x\"",
        "\"v\":1,\"ttl\":\"60\"",
        "\"v\":1,\"title\":\"a\\u0000b\"",  /* NUL inside a C string field */
    };
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
        snprintf(buf, sizeof(buf), "{%s,%s}", base, extra[i]);
        struct pr_notif d;
        int rc = notif_decode(buf, strlen(buf), &d);
        if (rc != PR_EINVAL)
            print_error("accepted: %s\n", buf);
        assert_int_equal(rc, PR_EINVAL);
        notif_clear(&d);
    }
    snprintf(buf, sizeof(buf), "{\"v\":1,%s}", base);
    struct pr_notif d;
    assert_int_equal(notif_decode(buf, strlen(buf), &d), 0);
    notif_clear(&d);

    const char *junk[] = { "", "null", "[]", "\"str\"", "{", "{\"v\":1", "not json",
                           "{\"v\":1}", "{} trailing" };
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        assert_int_equal(notif_decode(junk[i], strlen(junk[i]), &d), PR_EINVAL);
        notif_clear(&d);
    }
    /* A record cut short by its length is corrupt even if the buffer goes on. */
    assert_int_equal(notif_decode(buf, strlen(buf) - 1, &d), PR_EINVAL);
    notif_clear(&d);
}

static void set_str_copies_and_clears(void **state)
{
    (void)state;
    char *field = NULL;
    char src[] = "abc";
    assert_int_equal(notif_set_str(&field, src), 0);
    src[0] = 'x';
    assert_string_equal(field, "abc");
    assert_int_equal(notif_set_str(&field, NULL), 0);
    assert_null(field);
}

static void clear_resets_to_init_state(void **state)
{
    (void)state;
    struct pr_notif n;
    full_notif(&n);
    notif_clear(&n);
    assert_null(n.id);
    assert_null(n.data);
    assert_int_equal(n.badge, -1);
    assert_int_equal(n.attempts, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_keeps_every_field_including_korean_and_emoji),
        cmocka_unit_test(quotes_backslashes_and_control_characters_survive_a_round_trip),
        cmocka_unit_test(encoding_uses_the_documented_short_keys),
        cmocka_unit_test(webpush_keys_round_trip_as_wpk_and_wpa),
        cmocka_unit_test(absent_optional_fields_are_omitted_and_decode_as_absent),
        cmocka_unit_test(decode_tolerates_missing_voip_and_unknown_keys),
        cmocka_unit_test(decode_reads_any_member_order_whitespace_and_escapes),
        cmocka_unit_test(decode_gives_what_jansson_gives_for_records_it_did_not_write),
        cmocka_unit_test(encode_refuses_a_record_without_required_fields),
        cmocka_unit_test(encode_refuses_text_that_is_not_utf8),
        cmocka_unit_test(encode_refuses_data_that_is_not_an_object),
        cmocka_unit_test(decode_refuses_records_missing_a_required_field),
        cmocka_unit_test(decode_refuses_corrupt_input),
        cmocka_unit_test(a_view_decodes_like_notif_decode_into_a_store_of_the_records_length),
        cmocka_unit_test(set_str_copies_and_clears),
        cmocka_unit_test(clear_resets_to_init_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
