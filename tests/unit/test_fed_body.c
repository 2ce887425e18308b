/*
 * test_fed_body.c - the MESSAGE body's scanner reads a body exactly as
 * jansson does, or leaves it to jansson (federation/fed_body.c).
 *
 * Every body is loaded twice, scanned when the scanner can and forced
 * through jansson, and every member body_parse reads must come out the
 * same; bodies the scanner must handle are checked to have been scanned,
 * so that a scanner that always gave up would fail here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "fed_body.h"

static const char *const keys[] = { "id", "event", "from", "to", "title", "body", "badge",
                                    "sound", "ttl", "priority", "collapse_id", "data", "trace",
                                    "webpush", "other", "" };

/* same_as_jansson loads 'json' both ways and asserts they agree; returns 1 if it was scanned. */
static int same_as_jansson(const char *json)
{
    struct fed_body a, b;
    char wa[200] = "", wb[200] = "";
    size_t len = strlen(json);
    int ra = fed_body_load(&a, json, len, 0, wa, sizeof(wa));
    int rb = fed_body_load(&b, json, len, 1, wb, sizeof(wb));
    assert_int_equal(ra, rb);
    assert_string_equal(wa, wb);
    assert_false(fed_body_scanned(&b));
    int scanned = fed_body_scanned(&a);
    for (size_t k = 0; ra == 0 && k < sizeof(keys) / sizeof(keys[0]); k++) {
        struct fed_jv x = fed_body_get(&a, keys[k]), y = fed_body_get(&b, keys[k]);
        assert_int_equal(x.type, y.type);
        if (x.type == FED_JV_STR) {
            assert_int_equal(x.len, y.len);
            assert_memory_equal(x.s, y.s, x.len);
            assert_int_equal(x.s[x.len], '\0');
        } else if (x.type == FED_JV_INT || x.type == FED_JV_BOOL) {
            assert_true(x.i == y.i);
        } else if (x.type == FED_JV_OBJECT) {
            assert_true(json_equal(x.obj, y.obj));
        }
    }
    fed_body_clear(&a);
    fed_body_clear(&b);
    return scanned;
}

static void test_plain_bodies_are_scanned_as_jansson_reads_them(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "{\"id\":\"5f0c-1\",\"event\":\"im\",\"from\":\"sip:alice@contoso.com\","
        "\"to\":\"sip:bob@contoso.com\",\"title\":\"Alice Smith\",\"body\":\"Lunch at 12?\","
        "\"badge\":3,\"sound\":\"default\",\"ttl\":60,\"priority\":\"high\","
        "\"collapse_id\":\"conv-42\",\"data\":{\"conversation\":\"42\"}}",
        "{}",
        " \r\n\t{ \"event\" : \"call\" , \"trace\" : true , \"badge\" : null } \n",
        "{\"event\":\"im\",\"trace\":false,\"ttl\":-0,\"badge\":-17}",
        "{\"body\":\"quote \\\" backslash \\\\ slash \\/ \\b\\f\\n\\r\\t end\"}",
        "{\"title\":\"\xea\xb9\x80\xec\xb2\xa0\xec\x88\x98 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80 "
        "\xc3\xa9\xdf\xbf\xed\x9f\xbf\xee\x80\x80\xf4\x8f\xbf\xbf\"}",
        "{\"badge\":999999999999999999,\"ttl\":0}",
        "{\"data\":{\"a\":{\"b\":[1,2,{\"c\":\"}\"}]},\"s\":\"{\\\"\"}}",
        "{\"data\":{},\"other\":{\"x\":1}}",
        "{\"event\":1,\"title\":true,\"data\":\"x\",\"priority\":\"urgent\"}",
        "{\"\":\"empty key\"}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        assert_true(same_as_jansson(bodies[i]));
}

static void test_what_the_scanner_does_not_read_goes_to_jansson(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        /* valid JSON the scanner leaves to jansson */
        "{\"title\":\"\\u00e9\\ud83d\\ude00\"}",
        "{\"badge\":1.0}",
        "{\"badge\":1e3}",
        "{\"badge\":1234567890123456789}",
        "{\"other\":[1,2,3]}",
        "{\"data\":{\"d\":[{\"e\":1}]}, \"x\":[]}",
        /* invalid: jansson says why */
        "",
        "   ",
        "[1]",
        "\"just a string\"",
        "{\"id\":\"a\",\"id\":\"b\"}",
        "{\"data\":{\"k\":1,\"k\":2}}",
        "{\"title\":\"\\u0000\"}",
        "{\"title\":\"bad \\x escape\"}",
        "{\"title\":\"tab\tinside\"}",
        "{\"title\":\"\xc0\xaf overlong\"}",
        "{\"title\":\"\xed\xa0\x80 surrogate\"}",
        "{\"title\":\"\xf4\x90\x80\x80 past U+10FFFF\"}",
        "{\"title\":\"\xe6\x97 truncated\"}",
        "{\"title\":\"unterminated}",
        "{\"badge\":01}",
        "{\"badge\":-}",
        "{\"badge\":12abc}",
        "{\"trace\":tru}",
        "{\"trace\":truex}",
        "{\"event\":\"im\",}",
        "{\"event\" \"im\"}",
        "{\"event\":\"im\"} trailing",
        "{\"event\":\"im\"}}",
        "{\"data\":{\"a\":\"\\",
        "{\"data\":{\"a\":1}",
        "{'event':'im'}",
        "\xef\xbb\xbf{\"event\":\"im\"}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        assert_false(same_as_jansson(bodies[i]));
}

static void test_more_members_than_the_table_goes_to_jansson(void **state)
{
    (void)state;
    char json[4096], *p = json;
    p += sprintf(p, "{");
    for (int i = 0; i < FED_BODY_MEMBERS + 1; i++)
        p += sprintf(p, "%s\"k%d\":%d", i > 0 ? "," : "", i, i);
    sprintf(p, ",\"event\":\"im\"}");
    assert_false(same_as_jansson(json));
}

static void test_a_deep_data_object_goes_to_jansson(void **state)
{
    (void)state;
    char json[1024], *p = json;
    p += sprintf(p, "{\"data\":");
    for (int i = 0; i < 70; i++)
        p += sprintf(p, "{\"a\":");
    p += sprintf(p, "1");
    for (int i = 0; i < 70; i++)
        p += sprintf(p, "}");
    sprintf(p, "}");
    assert_false(same_as_jansson(json));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_bodies_are_scanned_as_jansson_reads_them),
        cmocka_unit_test(test_what_the_scanner_does_not_read_goes_to_jansson),
        cmocka_unit_test(test_more_members_than_the_table_goes_to_jansson),
        cmocka_unit_test(test_a_deep_data_object_goes_to_jansson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
