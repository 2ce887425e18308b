/*
 * test_stats_names.c - every counter of STATS_COUNTER_MAP (relay/stats.h)
 * is visible everywhere a user looks for it. The daemon can only count
 * through that list (stats_incr takes its enum), so for each counter this
 * writes one increment through the real writer (relay/stats.c, Redis
 * recorded), reads the recorded hashes back through the real readers and
 * renderers (relay/stats_view.c: the rows of `pushrelayctl stats` and the
 * /metrics series), and looks the name up in README.md's counter table,
 * which must not name a counter the code does not have either.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <event2/buffer.h>

#include "pushrelay/error.h"
#include "pushrelay/notif.h"
#include "stats.h"
#include "stats_view.h"

#include "rconn_recorder.h"

#define REJECTED_STATUS 403     /* the status a per-status counter is written with here */

/* field_of: the Redis field counter 'c' is written as ("rejected_403"). */
static const char *field_of(enum stats_counter c, char *buf, size_t len)
{
    assert_true(stats_counter_field(c, REJECTED_STATUS, buf, len) > 0);
    return buf;
}

/* ---- the hashes the writer produced, as HGETALL replies ------------------ */

#define MAX_FIELDS 128

struct hash {
    redisReply top;
    redisReply el[MAX_FIELDS];
    redisReply *ptr[MAX_FIELDS];
    char str[MAX_FIELDS][128];
};

/* hash_of collects "HINCRBY 'key' <field> <n>" commands of 'rc' into 'h'. */
static const redisReply *hash_of(struct hash *h, const struct rconn *rc, const char *key)
{
    memset(h, 0, sizeof(*h));
    h->top.type = REDIS_REPLY_ARRAY;
    h->top.element = h->ptr;
    char want[256];
    snprintf(want, sizeof(want), "HINCRBY %s ", key);
    for (int i = 0; i < rc->n; i++) {
        if (strncmp(rc->cmds[i], want, strlen(want)) != 0)
            continue;
        char field[128], num[32];
        assert_int_equal(sscanf(rc->cmds[i] + strlen(want), "%127s %31s", field, num), 2);
        assert_true(h->top.elements + 2 <= MAX_FIELDS);
        const char *kv[2] = { field, num };
        for (int j = 0; j < 2; j++) {
            size_t e = h->top.elements++;
            snprintf(h->str[e], sizeof(h->str[e]), "%s", kv[j]);
            h->el[e].type = REDIS_REPLY_STRING;
            h->el[e].str = h->str[e];
            h->el[e].len = strlen(h->str[e]);
            h->ptr[e] = &h->el[e];
        }
    }
    return &h->top;
}

/* ---- fixture: one increment of every counter, flushed -------------------- */

struct fx {
    struct event_base *base;
    struct rconn rc;
    struct keys keys;
    char minute[64];
    struct hash total, min, domain;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct stats *s;
    f->base = event_base_new();
    f->rc.connected = 1;
    keys_init(&f->keys, "pr:");
    assert_int_equal(stats_new(f->base, &f->rc, &f->keys, 48, &s), 0);
    /* One flush right after the increments: they all land in this minute. */
    long long minute;
    do {
        minute = pr_now_ms() / 60000;
        f->rc.n = 0;
        recorder_answer(&f->rc, NULL);  /* the previous round's flush, if any */
        for (int c = 0; c < STATS_COUNTER_COUNT; c++) {
            if (stats_counter_per_status((enum stats_counter)c))
                stats_incr_status(s, PR_PROVIDER_APNS, "contoso.com", (enum stats_counter)c, REJECTED_STATUS, 1);
            else
                stats_incr(s, PR_PROVIDER_APNS, "contoso.com", (enum stats_counter)c, 1);
        }
        stats_flush(s);
    } while (pr_now_ms() / 60000 != minute);
    stats_free(s);
    recorder_answer(&f->rc, NULL);
    event_base_free(f->base);
    assert_true(keys_stats_minute(&f->keys, minute, f->minute, sizeof(f->minute)) > 0);

    char key[STATS_KEY_MAX];
    keys_stats_total(&f->keys, key, sizeof(key));
    hash_of(&f->total, &f->rc, key);
    hash_of(&f->min, &f->rc, f->minute);
    keys_stats_domain(&f->keys, "contoso.com", key, sizeof(key));
    hash_of(&f->domain, &f->rc, key);
    /* apns:<c> and all:<c> per counter: else nothing below is tested. */
    assert_int_equal(f->total.top.elements, 2 * 2 * STATS_COUNTER_COUNT);
    assert_int_equal(f->min.top.elements, 2 * 2 * STATS_COUNTER_COUNT);
    assert_int_equal(f->domain.top.elements, 2 * 2 * STATS_COUNTER_COUNT);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

/* ---- the list itself ----------------------------------------------------- */

static void every_counter_has_a_distinct_name_that_parses_back(void **state)
{
    (void)state;
    char a[64], b[64];
    assert_true(STATS_COUNTER_COUNT >= 10);
    for (int c = 0; c < STATS_COUNTER_COUNT; c++) {
        enum stats_counter back;
        assert_int_equal(stats_counter_parse(field_of((enum stats_counter)c, a, sizeof(a)), &back), 0);
        assert_int_equal(back, c);
        for (int d = c + 1; d < STATS_COUNTER_COUNT; d++)
            assert_string_not_equal(a, field_of((enum stats_counter)d, b, sizeof(b)));
    }
    enum stats_counter x;
    assert_int_equal(stats_counter_parse("rejected_", &x), PR_ENOTFOUND);
    assert_int_equal(stats_counter_parse("rejected", &x), PR_ENOTFOUND);
    assert_int_equal(stats_counter_parse("deliveredx", &x), PR_ENOTFOUND);
}

static void every_final_outcome_and_retry_has_a_counter(void **state)
{
    (void)state;
    assert_int_equal(stats_counter_of_outcome(PR_OUTCOME_DELIVERED), STATS_DELIVERED);
    assert_int_equal(stats_counter_of_outcome(PR_OUTCOME_RETRY), STATS_RETRIED);
    assert_int_equal(stats_counter_of_outcome(PR_OUTCOME_EXPIRED), STATS_EXPIRED);
    assert_int_equal(stats_counter_of_outcome(PR_OUTCOME_TOKEN_DEAD), STATS_TOKEN_DEAD);
    assert_int_equal(stats_counter_of_outcome(PR_OUTCOME_DEAD_LETTER), STATS_DEAD_LETTERED);
    /* REAUTH is a step inside one attempt, not counted. */
    assert_int_equal(stats_counter_of_outcome(PR_OUTCOME_REAUTH), STATS_COUNTER_COUNT);
}

/* ---- `pushrelayctl stats` ------------------------------------------------ */

static void every_counter_is_a_row_of_the_stats_table_in_list_order(void **state)
{
    struct fx *f = *state;
    struct stats_view_counters v;
    memset(&v, 0, sizeof(v));
    stats_view_counters_add(&v, &f->total.top, STATS_VIEW_TOTALS, 1);
    stats_view_counters_add(&v, &f->min.top, STATS_VIEW_HOUR, 1);
    stats_view_counters_sort(&v);
    assert_int_equal(v.n, STATS_COUNTER_COUNT);
    char name[64];
    for (int c = 0; c < STATS_COUNTER_COUNT; c++) {
        field_of((enum stats_counter)c, name, sizeof(name));
        assert_string_equal(v.c[c].name, name);
        assert_int_equal(v.c[c].total, 1);
        assert_int_equal(v.c[c].prov[PR_PROVIDER_APNS], 1);
        assert_int_equal(v.c[c].hour, 1);
        assert_int_equal(stats_view_counter_rank(name), c);
    }
}

static void every_counter_is_a_row_of_the_domain_stats_table(void **state)
{
    struct fx *f = *state;
    struct stats_view_counters v;
    memset(&v, 0, sizeof(v));
    stats_view_counters_add(&v, &f->domain.top, STATS_VIEW_TOTALS, 1);
    stats_view_counters_sort(&v);
    assert_int_equal(v.n, STATS_COUNTER_COUNT);
    char name[64];
    for (int c = 0; c < STATS_COUNTER_COUNT; c++) {
        assert_string_equal(v.c[c].name, field_of((enum stats_counter)c, name, sizeof(name)));
        assert_int_equal(v.c[c].total, 1);
        assert_int_equal(v.c[c].prov[PR_PROVIDER_APNS], 1);
    }
}

/* ---- /metrics ------------------------------------------------------------ */

static void every_counter_is_a_metrics_series_and_named_in_its_help(void **state)
{
    struct fx *f = *state;
    struct evbuffer *b = evbuffer_new();
    stats_view_metrics_counters(b, &f->total.top);
    evbuffer_add(b, "", 1);
    const char *page = (const char *)evbuffer_pullup(b, -1);
    const char *help = strstr(page, "# HELP pushrelay_notifications_total ");
    assert_non_null(help);
    const char *help_end = strchr(help, '\n');
    assert_non_null(help_end);
    char want[160], name[64];
    int series = 0;
    for (const char *p = page; (p = strstr(p, "pushrelay_notifications_total{")) != NULL; p++)
        series++;
    assert_int_equal(series, STATS_COUNTER_COUNT);
    for (int c = 0; c < STATS_COUNTER_COUNT; c++) {
        snprintf(want, sizeof(want), "pushrelay_notifications_total{provider=\"apns\",stage=\"%s\"} 1\n",
                 field_of((enum stats_counter)c, name, sizeof(name)));
        if (strstr(page, want) == NULL)
            fail_msg("/metrics lacks %s", want);
        snprintf(want, sizeof(want), "%s%s", stats_counter_name((enum stats_counter)c),
                 stats_counter_per_status((enum stats_counter)c) ? "_<status>" : "");
        const char *at = strstr(help, want);
        if (at == NULL || at > help_end)
            fail_msg("/metrics HELP does not name %s", want);
    }
    evbuffer_free(b);
}

/* ---- README.md ----------------------------------------------------------- */

static char *read_readme(void)
{
    const char *data = getenv("PR_TEST_DATA");
    assert_non_null(data);          /* set by CMake: <source>/tests/data */
    char path[1024];
    snprintf(path, sizeof(path), "%s/../../README.md", data);
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        fail_msg("cannot open %s", path);
    char *text = malloc(1 << 20);
    assert_non_null(text);
    size_t n = fread(text, 1, (1 << 20) - 1, fp);
    fclose(fp);
    text[n] = '\0';
    return text;
}

/*
 * readme_table returns the start of the table whose header line is
 * 'header' (NUL-terminates the copy at the table's end in 'text').
 */
static char *readme_table(char *text, const char *header)
{
    char *t = strstr(text, header);
    if (t == NULL)
        fail_msg("README.md has no table headed '%s'", header);
    char *end = t;
    while ((end = strchr(end, '\n')) != NULL && end[1] == '|')
        end++;
    if (end != NULL)
        end[1] = '\0';
    return t;
}

static void readme_counter_table_lists_exactly_the_counters(void **state)
{
    (void)state;
    char *text = read_readme();
    char *table = readme_table(text, "| counter | counted when |");
    char want[96];
    int rows = 0;
    for (int c = 0; c < STATS_COUNTER_COUNT; c++) {
        snprintf(want, sizeof(want), "\n| `%s%s` |", stats_counter_name((enum stats_counter)c),
                 stats_counter_per_status((enum stats_counter)c) ? "_<status>" : "");
        if (strstr(table, want) == NULL)
            fail_msg("README.md's counter table has no row %s", want + 1);
    }
    /* ...and no row for a counter the code does not have. */
    for (char *row = strstr(table, "\n| `"); row != NULL; row = strstr(row + 1, "\n| `")) {
        char name[64];
        assert_int_equal(sscanf(row, "\n| `%63[^`]`", name), 1);
        char *stem = strstr(name, "_<status>");
        if (stem != NULL)
            snprintf(stem, sizeof(name) - (size_t)(stem - name), "_%d", REJECTED_STATUS);
        enum stats_counter c;
        if (stats_counter_parse(name, &c) != 0)
            fail_msg("README.md's counter table names '%s', which the code does not count", name);
        rows++;
    }
    assert_int_equal(rows, STATS_COUNTER_COUNT);
    free(text);
}

static void readme_stats_key_table_matches_the_key_builders(void **state)
{
    (void)state;
    char *text = read_readme();
    char *table = readme_table(text, "| key | holds |\n|---|---|\n| `pr:stats:");
    struct keys k;
    keys_init(&k, "pr:");
    char key[STATS_KEY_MAX], want[STATS_KEY_MAX + 16];
    keys_stats_total(&k, key, sizeof(key));
    snprintf(want, sizeof(want), "| `%s` |", key);
    assert_non_null(strstr(table, want));
    keys_stats_domain(&k, "<domain>", key, sizeof(key));
    snprintf(want, sizeof(want), "| `%s` |", key);
    assert_non_null(strstr(table, want));
    /* The minute bucket: the builder's key for minute 7 is the documented one with <epoch minute> = 7. */
    keys_stats_minute(&k, 7, key, sizeof(key));
    assert_string_equal(key, "pr:stats:min:7");
    assert_non_null(strstr(table, "| `pr:stats:min:<epoch minute>` |"));
    /* Histograms: the row documents every name of STATS_HIST_MAP. */
    const char *hrow = strstr(table, "| `pr:stats:hist:<provider>:<");
    assert_non_null(hrow);
    const char *hend = strchr(hrow, '\n');
    for (int h = 0; h < STATS_HIST_COUNT; h++) {
        keys_stats_hist(&k, PR_PROVIDER_APNS, stats_hist_name((enum stats_hist)h), key, sizeof(key));
        snprintf(want, sizeof(want), "pr:stats:hist:apns:%s", stats_hist_name((enum stats_hist)h));
        assert_string_equal(key, want);
        snprintf(want, sizeof(want), "`%s`", stats_hist_name((enum stats_hist)h));
        const char *at = strstr(hrow, want);
        if (at == NULL || at > hend)
            fail_msg("README.md's histogram row does not name %s", want);
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_counter_has_a_distinct_name_that_parses_back),
        cmocka_unit_test(every_final_outcome_and_retry_has_a_counter),
        cmocka_unit_test_setup_teardown(every_counter_is_a_row_of_the_stats_table_in_list_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(every_counter_is_a_row_of_the_domain_stats_table, setup, teardown),
        cmocka_unit_test_setup_teardown(every_counter_is_a_metrics_series_and_named_in_its_help, setup,
                                        teardown),
        cmocka_unit_test(readme_counter_table_lists_exactly_the_counters),
        cmocka_unit_test(readme_stats_key_table_matches_the_key_builders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
