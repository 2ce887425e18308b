/*
 * test_fed_request.c - what the listener answers before touching Redis
 * (federation/fed_request.c): each rule of design section 5 that needs no
 * Redis, as request in, verdict out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>

#include "fed_request.h"
#include "sip_parse.h"

#define TOKEN "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
#define NOW 1732480000000LL

static char *wp_hosts[] = { "*.notify.live.net" };
static char *web_hosts[] = { "push.example.org" };
static struct cfg_app apps[] = {
    { .id = "lync-ios", .provider = PR_PROVIDER_APNS, .topic = "com.example.lync", .team_id = "ABCDE12345" },
    { .id = "lync-android", .provider = PR_PROVIDER_FCM, .project_id = "example-lync" },
    { .id = "lync-wp", .provider = PR_PROVIDER_MPNS, .allowed_hosts = wp_hosts, .n_allowed_hosts = 1 },
    { .id = "lync-web", .provider = PR_PROVIDER_WEBPUSH, .allowed_hosts = web_hosts, .n_allowed_hosts = 1 },
};
static struct cfg cfg = { .apps = apps, .n_apps = 4 };

struct fixture {
    char raw[8192];
    struct sip_msg msg;
    struct pr_notif n;
    struct fed_verdict v;
    struct fed_strs strs;
};

/* run builds a request, parses it, and checks it; the verdict lands in 'f'. */
static void run(struct fixture *f, const char *method, const char *ruri, const char *ctype,
                const char *body, const char *extra_hdrs)
{
    int len = snprintf(f->raw, sizeof(f->raw),
                       "%s %s SIP/2.0\r\n"
                       "Via: SIP/2.0/TLS edge.contoso.com:5061;branch=z9hG4bK776asdhds\r\n"
                       "Max-Forwards: 70\r\n"
                       "From: <sip:mcx@Contoso.COM>;tag=49583\r\n"
                       "To: <sip:push@push.example.net>\r\n"
                       "Call-ID: a84b4c76e66710@edge.contoso.com\r\n"
                       "CSeq: 7 %s\r\n"
                       "%s"
                       "Content-Type: %s\r\n"
                       "Content-Length: %zu\r\n\r\n%s",
                       method, ruri, method, extra_hdrs ? extra_hdrs : "", ctype, strlen(body), body);
    const char *why = NULL;
    assert_int_equal(sip_parse(f->raw, (size_t)len, &f->msg, &why), 0);
    assert_int_equal(fed_request_check(&cfg, &f->msg, NOW, &f->strs, &f->n, &f->v), 0);
}

static void run_message(struct fixture *f, const char *ruri, const char *body)
{
    run(f, "MESSAGE", ruri, "application/json", body, NULL);
}

static void assert_refused(struct fixture *f, int status, const char *why_part)
{
    assert_int_equal(f->v.action, FED_RESPOND);
    assert_int_equal(f->v.status, status);
    if (why_part != NULL && strstr(f->v.why, why_part) == NULL)
        fail_msg("Warning \"%s\" does not mention \"%s\"", f->v.why, why_part);
    assert_null(f->n.token);
}

#define APNS_URI "sip:push@push.example.net;pn-provider=apns;pn-prid=" TOKEN ";pn-param=ABCDE12345.com.example.lync"
#define IM_BODY "{\"id\":\"5f0c\",\"event\":\"im\",\"title\":\"Alice\",\"body\":\"Lunch?\"}"

static void options_is_answered_200(void **state)
{
    (void)state;
    struct fixture f;
    run(&f, "OPTIONS", "sip:push@push.example.net", "application/json", "", NULL);
    assert_int_equal(f.v.action, FED_RESPOND);
    assert_int_equal(f.v.status, 200);
}

static void other_methods_get_405(void **state)
{
    (void)state;
    struct fixture f;
    run(&f, "INVITE", "sip:push@push.example.net", "application/sdp", "", NULL);
    assert_refused(&f, 405, "MESSAGE");
}

static void ack_gets_no_response(void **state)
{
    (void)state;
    struct fixture f;
    run(&f, "ACK", "sip:push@push.example.net", "application/json", "", NULL);
    assert_int_equal(f.v.action, FED_IGNORE);
}

static void non_json_content_type_gets_415(void **state)
{
    (void)state;
    struct fixture f;
    run(&f, "MESSAGE", APNS_URI, "text/plain", "hello", NULL);
    assert_refused(&f, 415, "application/json");
}

static void valid_apns_message_is_queued_with_every_field(void **state)
{
    (void)state;
    struct fixture f;
    run_message(&f, APNS_URI,
                "{\"id\":\"5f0c\",\"event\":\"im\",\"from\":\"sip:alice@contoso.com\",\"to\":\"sip:bob@contoso.com\","
                "\"title\":\"Alice Smith\",\"body\":\"Lunch at 12?\",\"badge\":3,\"sound\":\"default\",\"ttl\":60,"
                "\"priority\":\"normal\",\"collapse_id\":\"conv-42\",\"data\":{\"conversation\":\"42\"}}");
    assert_int_equal(f.v.action, FED_QUEUE);
    assert_string_equal(f.n.id, "5f0c");
    assert_string_equal(f.n.domain, "contoso.com");
    assert_int_equal(f.n.provider, PR_PROVIDER_APNS);
    assert_string_equal(f.n.app, "lync-ios");
    assert_string_equal(f.n.token, TOKEN);
    assert_int_equal(f.n.voip, 0);
    assert_int_equal(f.n.event, PR_EVENT_IM);
    assert_string_equal(f.n.from, "sip:alice@contoso.com");
    assert_string_equal(f.n.title, "Alice Smith");
    assert_string_equal(f.n.body, "Lunch at 12?");
    assert_int_equal(f.n.badge, 3);
    assert_string_equal(f.n.sound, "default");
    assert_int_equal(f.n.priority, PR_PRIORITY_NORMAL);
    assert_string_equal(f.n.collapse_id, "conv-42");
    assert_int_equal(f.n.ttl_s, 60);
    assert_true(f.n.accepted_ms == NOW);
    assert_true(f.n.expires_ms == NOW + 60000);
    assert_string_equal(json_string_value(json_object_get(f.n.data, "conversation")), "42");
    fed_request_release(&f.n, &f.strs);
}

static void uppercase_apns_token_is_stored_lowercase(void **state)
{
    (void)state;
    struct fixture f;
    run_message(&f, "sip:push@push.example.net;pn-provider=apns;pn-prid=A1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90;pn-param=ABCDE12345.com.example.lync", IM_BODY);
    assert_int_equal(f.v.action, FED_QUEUE);
    assert_string_equal(f.n.token, TOKEN);
    fed_request_release(&f.n, &f.strs);
}

static void voip_param_selects_voip_push(void **state)
{
    (void)state;
    struct fixture f;
    run_message(&f, "sip:push@push.example.net;pn-provider=apns;pn-prid=" TOKEN ";pn-param=ABCDE12345.com.example.lync.voip",
                "{\"event\":\"call\"}");
    assert_int_equal(f.v.action, FED_QUEUE);
    assert_int_equal(f.n.voip, 1);
    assert_int_equal(f.n.priority, PR_PRIORITY_HIGH); /* calls wake the phone */
    assert_int_equal(f.n.ttl_s, FED_TTL_DEFAULT_S);
    fed_request_release(&f.n, &f.strs);
}

static void missing_id_falls_back_to_call_id_and_cseq(void **state)
{
    (void)state;
    struct fixture f;
    run_message(&f, APNS_URI, "{\"event\":\"voicemail\"}");
    assert_int_equal(f.v.action, FED_QUEUE);
    assert_string_equal(f.n.id, "a84b4c76e66710@edge.contoso.com:7");
    assert_int_equal(f.n.priority, PR_PRIORITY_NORMAL);
    fed_request_release(&f.n, &f.strs);
}

static void korean_and_emoji_text_is_kept_byte_exact(void **state)
{
    (void)state;
    struct fixture f;
    run_message(&f, APNS_URI, "{\"event\":\"im\",\"title\":\"김민준\",\"body\":\"점심 먹을래요? 🍜🎉\"}");
    assert_int_equal(f.v.action, FED_QUEUE);
    assert_string_equal(f.n.title, "김민준");
    assert_string_equal(f.n.body, "점심 먹을래요? 🍜🎉");
    fed_request_release(&f.n, &f.strs);
}

static void each_missing_push_parameter_is_named(void **state)
{
    (void)state;
    struct fixture f;
    run_message(&f, "sip:push@push.example.net;pn-provider=apns;pn-param=ABCDE12345.com.example.lync", IM_BODY);
    assert_refused(&f, 400, "pn-prid");
    run_message(&f, "sip:push@push.example.net;pn-prid=" TOKEN ";pn-param=x", IM_BODY);
    assert_refused(&f, 400, "pn-provider");
    run_message(&f, "sip:push@push.example.net;pn-provider=apns;pn-prid=" TOKEN, IM_BODY);
    assert_refused(&f, 400, "pn-param");
}

static void unknown_provider_is_400_and_unknown_app_is_404(void **state)
{
    (void)state;
    struct fixture f;
    run_message(&f, "sip:push@push.example.net;pn-provider=gcm;pn-prid=x;pn-param=y", IM_BODY);
    assert_refused(&f, 400, "gcm");
    run_message(&f, "sip:push@push.example.net;pn-provider=apns;pn-prid=" TOKEN ";pn-param=ABCDE12345.com.other", IM_BODY);
    assert_refused(&f, 404, "ABCDE12345.com.other");
}

/* Web Push: the body carries the subscription keys; a bad one is a 400 naming it. */
#define WEB_URI "sip:push@push.example.net;pn-provider=webpush;pn-prid=https%3A%2F%2Fpush.example.org%2Fs%2F1;pn-param=lync-web"
#define WEB_P256DH "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
#define WEB_AUTH "BTBZMqHH6r4Tts7J_aSIgg"
static void webpush_keys_are_checked_at_ingest(void **state)
{
    (void)state;
    struct fixture f;
    run_message(&f, WEB_URI, IM_BODY);
    assert_refused(&f, 400, "\"webpush\" is required");
    run_message(&f, WEB_URI, "{\"event\":\"im\",\"webpush\":{\"p256dh\":\"AAAA\",\"auth\":\"" WEB_AUTH "\"}}");
    assert_refused(&f, 400, "webpush.p256dh");
    run_message(&f, WEB_URI, "{\"event\":\"im\",\"webpush\":{\"p256dh\":\"" WEB_P256DH "\",\"auth\":\"short\"}}");
    assert_refused(&f, 400, "webpush.auth");
    run_message(&f, WEB_URI, "{\"event\":\"im\",\"webpush\":{\"p256dh\":\"" WEB_P256DH "\",\"auth\":\"" WEB_AUTH "\"}}");
    assert_int_equal(f.v.action, FED_QUEUE);
    assert_string_equal(f.n.wp_p256dh, WEB_P256DH);
    assert_string_equal(f.n.wp_auth, WEB_AUTH);
    fed_request_release(&f.n, &f.strs);
    run_message(&f, "sip:push@push.example.net;pn-provider=webpush;pn-prid=https%3A%2F%2Fevil.example.com%2Fs%2F1;pn-param=lync-web",
                "{\"event\":\"im\",\"webpush\":{\"p256dh\":\"" WEB_P256DH "\",\"auth\":\"" WEB_AUTH "\"}}");
    assert_refused(&f, 403, "allowed_hosts");
}

static void malformed_tokens_are_refused_per_provider(void **state)
{
    (void)state;
    struct fixture f;
    run_message(&f, "sip:push@push.example.net;pn-provider=apns;pn-prid=nothex;pn-param=ABCDE12345.com.example.lync", IM_BODY);
    assert_refused(&f, 400, "APNs device token");
    run_message(&f, "sip:push@push.example.net;pn-provider=fcm;pn-prid=bad%20token;pn-param=example-lync", IM_BODY);
    assert_refused(&f, 400, "FCM registration token");
    run_message(&f, "sip:push@push.example.net;pn-provider=fcm;pn-prid=dGVzdA:APA91b-x_y;pn-param=example-lync", IM_BODY);
    assert_int_equal(f.v.action, FED_QUEUE);
    assert_string_equal(f.n.token, "dGVzdA:APA91b-x_y");
    fed_request_release(&f.n, &f.strs);
}

static void mpns_channel_must_be_https_on_an_allowed_host(void **state)
{
    (void)state;
    struct fixture f;
    run_message(&f, "sip:push@push.example.net;pn-provider=mpns;pn-prid=http%3A%2F%2Fdb3.notify.live.net%2Fx;pn-param=lync-wp", IM_BODY);
    assert_refused(&f, 403, "https");
    run_message(&f, "sip:push@push.example.net;pn-provider=mpns;pn-prid=https%3A%2F%2Fevil.example.com%2Fx;pn-param=lync-wp", IM_BODY);
    assert_refused(&f, 403, "allowed_hosts");
    run_message(&f, "sip:push@push.example.net;pn-provider=mpns;pn-prid=https%3A%2F%2Fdb3.notify.live.net%2Fthrottledthirdparty%2F01.00%2FAQHg;pn-param=lync-wp", IM_BODY);
    assert_int_equal(f.v.action, FED_QUEUE);
    assert_string_equal(f.n.token, "https://db3.notify.live.net/throttledthirdparty/01.00/AQHg");
    fed_request_release(&f.n, &f.strs);
}

static void trace_true_marks_the_notification_traced(void **state)
{
    (void)state;
    struct fixture f;
    run_message(&f, APNS_URI, "{\"event\":\"im\",\"trace\":true}");
    assert_int_equal(f.v.action, FED_QUEUE);
    assert_int_equal(f.n.trace, 1);
    fed_request_release(&f.n, &f.strs);
    run_message(&f, APNS_URI, "{\"event\":\"im\",\"trace\":false}");
    assert_int_equal(f.v.action, FED_QUEUE);
    assert_int_equal(f.n.trace, 0);
    fed_request_release(&f.n, &f.strs);
    /* the id is only an id: no prefix turns tracing on */
    run_message(&f, APNS_URI, "{\"event\":\"im\",\"id\":\"test-push-0123\"}");
    assert_int_equal(f.v.action, FED_QUEUE);
    assert_int_equal(f.n.trace, 0);
    fed_request_release(&f.n, &f.strs);
}

static void body_errors_name_the_field(void **state)
{
    (void)state;
    struct fixture f;
    run_message(&f, APNS_URI, "{\"event\":\"im\"");
    assert_refused(&f, 400, "not valid JSON");
    run_message(&f, APNS_URI, "[1,2]");
    assert_refused(&f, 400, "JSON object");
    run_message(&f, APNS_URI, "{\"title\":\"x\"}");
    assert_refused(&f, 400, "\"event\" is required");
    run_message(&f, APNS_URI, "{\"event\":\"fax\"}");
    assert_refused(&f, 400, "fax");
    run_message(&f, APNS_URI, "{\"event\":\"im\",\"badge\":-1}");
    assert_refused(&f, 400, "\"badge\"");
    run_message(&f, APNS_URI, "{\"event\":\"im\",\"ttl\":0}");
    assert_refused(&f, 400, "\"ttl\"");
    run_message(&f, APNS_URI, "{\"event\":\"im\",\"title\":5}");
    assert_refused(&f, 400, "\"title\" must be a string");
    run_message(&f, APNS_URI, "{\"event\":\"im\",\"priority\":\"urgent\"}");
    assert_refused(&f, 400, "\"priority\"");
    run_message(&f, APNS_URI, "{\"event\":\"im\",\"trace\":1}");
    assert_refused(&f, 400, "\"trace\" must be true or false");
    run_message(&f, APNS_URI, "{\"event\":\"im\",\"data\":[1]}");
    assert_refused(&f, 400, "\"data\"");
    run_message(&f, APNS_URI, "{\"event\":\"im\",\"event\":\"call\"}");
    assert_refused(&f, 400, "duplicate");
    run_message(&f, APNS_URI, "{\"event\":\"im\",\"id\":\"has space\"}");
    assert_refused(&f, 400, "\"id\"");
    run_message(&f, APNS_URI, "{\"event\":\"im\",\"title\":\"a\\u0000b\"}");
    assert_refused(&f, 400, "not valid JSON"); /* jansson refuses \u0000 in strings */
}

static void invalid_utf8_body_is_refused(void **state)
{
    (void)state;
    struct fixture f;
    run_message(&f, APNS_URI, "{\"event\":\"im\",\"title\":\"\xc3\x28\"}");
    assert_refused(&f, 400, "not valid JSON");
}

static void zero_max_forwards_gets_483(void **state)
{
    (void)state;
    struct fixture f;
    /* A second Max-Forwards would be odd; build the request by hand instead. */
    int len = snprintf(f.raw, sizeof(f.raw),
                       "MESSAGE " APNS_URI " SIP/2.0\r\nVia: SIP/2.0/TLS e:5061;branch=z9hG4bKx\r\n"
                       "Max-Forwards: 0\r\nFrom: <sip:mcx@contoso.com>;tag=1\r\nTo: <sip:push@push.example.net>\r\n"
                       "Call-ID: c1\r\nCSeq: 1 MESSAGE\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    const char *why = NULL;
    assert_int_equal(sip_parse(f.raw, (size_t)len, &f.msg, &why), 0);
    assert_int_equal(fed_request_check(&cfg, &f.msg, NOW, &f.strs, &f.n, &f.v), 0);
    assert_refused(&f, 483, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(options_is_answered_200),
        cmocka_unit_test(other_methods_get_405),
        cmocka_unit_test(ack_gets_no_response),
        cmocka_unit_test(non_json_content_type_gets_415),
        cmocka_unit_test(valid_apns_message_is_queued_with_every_field),
        cmocka_unit_test(uppercase_apns_token_is_stored_lowercase),
        cmocka_unit_test(voip_param_selects_voip_push),
        cmocka_unit_test(missing_id_falls_back_to_call_id_and_cseq),
        cmocka_unit_test(korean_and_emoji_text_is_kept_byte_exact),
        cmocka_unit_test(each_missing_push_parameter_is_named),
        cmocka_unit_test(unknown_provider_is_400_and_unknown_app_is_404),
        cmocka_unit_test(malformed_tokens_are_refused_per_provider),
        cmocka_unit_test(webpush_keys_are_checked_at_ingest),
        cmocka_unit_test(mpns_channel_must_be_https_on_an_allowed_host),
        cmocka_unit_test(trace_true_marks_the_notification_traced),
        cmocka_unit_test(body_errors_name_the_field),
        cmocka_unit_test(invalid_utf8_body_is_refused),
        cmocka_unit_test(zero_max_forwards_gets_483),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
