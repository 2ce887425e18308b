/*
 * test_jbuf.c - the JSON writer (relay/jbuf.c): commas and nesting, string
 * escaping byte-for-byte as jansson's json_dumps(JSON_COMPACT), UTF-8
 * validation, raw jansson values, and errors that stick.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pushrelay/error.h"
#include "jbuf.h"

#define KOREAN "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4"   /* 한국어 */
#define EMOJI "\xf0\x9f\x98\x80"                        /* 😀 */

/* finish: the text 'b' holds, checked to be as long as it says. */
static char *finish(struct jbuf *b)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(jbuf_finish(b, &out, &len), 0);
    assert_int_equal(strlen(out), len);
    return out;
}

/* jansson_text: what json_dumps(JSON_COMPACT) writes for {"k":'s'}. */
static char *jansson_text(const char *s, size_t len)
{
    json_t *o = json_object();
    assert_int_equal(json_object_set_new(o, "k", json_stringn(s, len)), 0);
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

static void a_reset_writer_starts_a_new_text_in_its_kept_buffer(void **state)
{
    (void)state;
    struct jbuf b = JBUF_INIT;
    jbuf_open(&b, NULL);
    jbuf_str(&b, "first", "one");
    jbuf_str(&b, "bad", "\xff");      /* an error, to see that reset forgets it */
    assert_int_equal(b.err, PR_EINVAL);
    char *kept = b.p;
    jbuf_reset(&b);
    jbuf_open(&b, NULL);
    jbuf_str(&b, "k", "plain, then \"quoted\" and " KOREAN " and a tab\t");
    jbuf_close(&b);
    assert_int_equal(b.err, 0);
    assert_ptr_equal(b.p, kept);
    const char *want = "{\"k\":\"plain, then \\\"quoted\\\" and " KOREAN " and a tab\\t\"}";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.p, want, b.len);
    jbuf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
}

static void members_are_comma_separated_and_objects_nest(void **state)
{
    (void)state;
    struct jbuf b = JBUF_INIT;
    jbuf_open(&b, NULL);
    jbuf_open(&b, "empty");
    jbuf_close(&b);
    jbuf_open(&b, "aps");
    jbuf_open(&b, "alert");
    jbuf_str(&b, "title", "T");
    jbuf_close(&b);
    jbuf_int(&b, "badge", 3);
    jbuf_close(&b);
    jbuf_int(&b, "neg", -9223372036854775807LL - 1);
    jbuf_key(&b, "raw");
    jbuf_raw(&b, "[1]", 3);
    jbuf_str(&b, "last", "");
    jbuf_close(&b);
    char *text = finish(&b);
    assert_string_equal(text, "{\"empty\":{},\"aps\":{\"alert\":{\"title\":\"T\"},\"badge\":3},"
                              "\"neg\":-9223372036854775808,\"raw\":[1],\"last\":\"\"}");
    free(text);
}

static void every_ascii_byte_is_escaped_as_jansson_escapes_it(void **state)
{
    (void)state;
    /* Controls get \b \f \n \r \t or \u00XX in upper case; '/' and DEL stay. */
    char all[128];
    for (int i = 1; i < 128; i++)
        all[i - 1] = (char)i;
    all[127] = '\0';
    struct jbuf b = JBUF_INIT;
    jbuf_open(&b, NULL);
    jbuf_str(&b, "k", all);
    jbuf_close(&b);
    char *text = finish(&b);
    char *want = jansson_text(all, 127);
    assert_string_equal(text, want);
    assert_non_null(strstr(text, "\\u001F"));
    assert_non_null(strstr(text, "\\n\\u000B\\f\\r"));
    free(text);
    free(want);
}

static void utf8_is_copied_raw_and_nul_is_escaped_in_counted_strings(void **state)
{
    (void)state;
    const char s[] = "a\0" KOREAN EMOJI "\xc3\xa9\xef\xbf\xbf\xf4\x8f\xbf\xbf\xe2\x80\xa8";
    struct jbuf b = JBUF_INIT;
    jbuf_open(&b, NULL);
    jbuf_strn(&b, "k", s, sizeof(s) - 1);
    jbuf_close(&b);
    char *text = finish(&b);
    char *want = jansson_text(s, sizeof(s) - 1);
    assert_string_equal(text, want);
    assert_string_equal(text, "{\"k\":\"a\\u0000" KOREAN EMOJI
                              "\xc3\xa9\xef\xbf\xbf\xf4\x8f\xbf\xbf\xe2\x80\xa8\"}");
    free(text);
    free(want);
}

static void keys_are_escaped_like_values(void **state)
{
    (void)state;
    struct jbuf b = JBUF_INIT;
    jbuf_open(&b, NULL);
    jbuf_int(&b, "q\"b\\c\n" KOREAN, 1);
    jbuf_close(&b);
    char *text = finish(&b);
    assert_string_equal(text, "{\"q\\\"b\\\\c\\n" KOREAN "\":1}");
    free(text);
}

static void text_that_is_not_utf8_is_invalid_and_the_error_sticks(void **state)
{
    (void)state;
    const char *bad[] = {
        "\xff", "\x80", "\xc0\x80",         /* stray byte, continuation, overlong NUL */
        "\xc1\xbf", "\xe0\x9f\xbf",         /* overlong */
        "\xed\xa0\x80",                     /* surrogate U+D800 */
        "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",   /* above U+10FFFF */
        "\xe2\x80", "ok\xf0\x9f\x98",       /* cut short */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        /* jansson agrees that each is not UTF-8 */
        assert_null(json_string(bad[i]));
        struct jbuf b = JBUF_INIT;
        char *out = (char *)"untouched";
        size_t len = 0;
        jbuf_open(&b, NULL);
        jbuf_str(&b, "k", bad[i]);
        jbuf_str(&b, "later", "fine");
        jbuf_close(&b);
        assert_int_equal(jbuf_finish(&b, &out, &len), PR_EINVAL);
        assert_string_equal(out, "untouched");
        assert_null(b.p);
    }
    struct jbuf b = JBUF_INIT;
    char *out;
    size_t len;
    jbuf_open(&b, NULL);
    jbuf_int(&b, "k\xff", 1);
    assert_int_equal(jbuf_finish(&b, &out, &len), PR_EINVAL);
}

static void json_values_are_dumped_compact_after_their_key(void **state)
{
    (void)state;
    json_t *data = json_loads("{\"s\":\"a/\\\"\\u0001\",\"o\":{\"x\":[1,2.5,true,null]},\"n\":-3}",
                              0, NULL);
    assert_non_null(data);
    struct jbuf b = JBUF_INIT;
    jbuf_open(&b, NULL);
    const char *key;
    json_t *value;
    json_object_foreach(data, key, value)
        jbuf_json(&b, key, value);
    jbuf_json(&b, "all", data);
    jbuf_close(&b);
    char *text = finish(&b);
    assert_string_equal(text, "{\"s\":\"a/\\\"\\u0001\",\"o\":{\"x\":[1,2.5,true,null]},\"n\":-3,"
                              "\"all\":{\"s\":\"a/\\\"\\u0001\",\"o\":{\"x\":[1,2.5,true,null]},"
                              "\"n\":-3}}");
    free(text);
    json_decref(data);
}

static void long_text_grows_the_buffer(void **state)
{
    (void)state;
    size_t n = 100000;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        s[i] = i % 7 == 0 ? '\n' : 'x';
    s[n] = '\0';
    json_t *big = json_string(s);
    struct jbuf b = JBUF_INIT;
    jbuf_open(&b, NULL);
    jbuf_str(&b, "k", s);
    jbuf_json(&b, "j", big);
    jbuf_close(&b);
    char *text = finish(&b);
    char *want = jansson_text(s, n);
    size_t wl = strlen(want);
    assert_memory_equal(text, want, wl - 1);    /* up to the closing brace */
    free(text);
    free(want);
    free(s);
    json_decref(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(members_are_comma_separated_and_objects_nest),
        cmocka_unit_test(a_reset_writer_starts_a_new_text_in_its_kept_buffer),
        cmocka_unit_test(every_ascii_byte_is_escaped_as_jansson_escapes_it),
        cmocka_unit_test(utf8_is_copied_raw_and_nul_is_escaped_in_counted_strings),
        cmocka_unit_test(keys_are_escaped_like_values),
        cmocka_unit_test(text_that_is_not_utf8_is_invalid_and_the_error_sticks),
        cmocka_unit_test(json_values_are_dumped_compact_after_their_key),
        cmocka_unit_test(long_text_grows_the_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
