/*
 * test_dnsname.c - host name syntax (relay/dnsname.c): what is a name the
 * relay will store for a domain, an edge FQDN or an allowed host.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pushrelay/error.h"
#include "dnsname.h"

static void valid_names_are_accepted_and_others_refused(void **state)
{
    (void)state;
    char label63[64], label64[65], long254[256];
    memset(label63, 'a', 63);
    label63[63] = '\0';
    memset(label64, 'a', 64);
    label64[64] = '\0';
    /* 4 labels of 63 + 3 dots = 255 bytes > 253 */
    snprintf(long254, sizeof(long254), "%s.%s.%s.%s", label63, label63, label63, label63);

    static const struct {
        const char *name;
        int valid;
    } cases[] = {
        { "contoso.com", 1 },
        { "edge-1.Contoso.COM", 1 },
        { "localhost", 1 },
        { "127.0.0.1", 1 },
        { "xn--bcher-kva.example", 1 },
        { "a", 1 },
        { "", 0 },
        { ".contoso.com", 0 },
        { "contoso.com.", 0 },
        { "contoso..com", 0 },
        { "-edge.contoso.com", 0 },
        { "edge-.contoso.com", 0 },
        { "contoso_com", 0 },
        { "*.contoso.com", 0 },
        { "edge contoso.com", 0 },
        { "contoso.com:5061", 0 },
        { "b\xc3\xbc" "cher.example", 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (dnsname_valid(cases[i].name) != cases[i].valid)
            fail_msg("dnsname_valid(\"%s\") != %d", cases[i].name, cases[i].valid);
    assert_int_equal(dnsname_valid(label63), 1);
    assert_int_equal(dnsname_valid(label64), 0);
    assert_int_equal(dnsname_valid(long254), 0);
    assert_int_equal(dnsname_valid(NULL), 0);
}

static void lower_copies_valid_names_in_lower_case(void **state)
{
    (void)state;
    char buf[32];
    assert_int_equal(dnsname_lower("Edge.Contoso.COM", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "edge.contoso.com");
    assert_int_equal(dnsname_lower("bad_name", buf, sizeof(buf)), PR_EINVAL);
    assert_int_equal(dnsname_lower("edge.contoso.com", buf, 16), PR_ETOOBIG);
    assert_int_equal(dnsname_lower("edge.contoso.com", buf, 17), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_names_are_accepted_and_others_refused),
        cmocka_unit_test(lower_copies_valid_names_in_lower_case),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
