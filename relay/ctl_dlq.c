/*
 * ctl_dlq.c - pushrelayctl dlq: the dead-letter stream <p>{q}:dead (its
 * entry fields are drawn in relay/disp_outcome.c).
 *
 *   dlq list [--page N]                  newest first, 50 a page
 *   dlq replay ID [ID...] | --all        queue again for delivery
 *   dlq purge [--older-than DURATION]    delete (all, or older than 7d, 12h, ...)
 *
 * An ID is the dead-letter entry id shown by list (1732480000000-0) or the
 * notification's push id. Replay puts the notification back at the end of
 * its provider stream as a new one: attempts reset, its last answer
 * cleared, its TTL counting again from now (a replay is a decision to send
 * it now); the re-queue, the XDEL from dead letters and the "replayed"
 * count land in one MULTI/EXEC. Entries whose notification cannot be read
 * stay where they are and are reported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pushrelay/error.h"
#include "pushrelay/notif.h"
#include "ctl.h"
#include "ctl_time.h"
#include "stats.h"

#define DLQ_PAGE 50
#define DLQ_CHUNK "200"

static int dlq_redis_failed(struct ctl *ctl, const char *what)
{
    char addr[300];
    ctl_err(what, "Redis at %s: %s", ctl_redis_addr(ctl, addr, sizeof(addr)),
            ctl->redis->err ? ctl->redis->errstr : "unexpected reply");
    return CTL_EXIT_FAIL;
}

/* dlq_field returns the value of 'name' in an entry's field array, or "". */
static const char *dlq_field(const redisReply *fields, const char *name, size_t *len)
{
    if (len != NULL)
        *len = 0;
    if (fields == NULL || fields->type != REDIS_REPLY_ARRAY)
        return "";
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING && strcmp(fields->element[i]->str, name) == 0 &&
            fields->element[i + 1]->type == REDIS_REPLY_STRING) {
            if (len != NULL)
                *len = fields->element[i + 1]->len;
            return fields->element[i + 1]->str;
        }
    return "";
}

/* ---------------------------------------------------------------------------
 * list
 * ------------------------------------------------------------------------- */

static int dlq_list(struct ctl *ctl, long long page)
{
    char key[KEYS_MAX], count[24], age[32];
    keys_dead(&ctl->keys, key, sizeof(key));
    /* One more than the page to know whether another page follows. */
    snprintf(count, sizeof(count), "%lld", page * DLQ_PAGE + 1);
    const char *argv[] = { "XREVRANGE", key, "+", "-", "COUNT", count };
    redisReply *r = redisCommandArgv(ctl->redis, 6, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        if (r != NULL)
            freeReplyObject(r);
        return dlq_redis_failed(ctl, "dlq list");
    }
    size_t first = (size_t)((page - 1) * DLQ_PAGE), shown = 0;
    int64_t now = pr_now_ms();
    for (size_t i = first; i < r->elements && shown < DLQ_PAGE; i++, shown++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
            continue;
        const redisReply *f = e->element[1];
        if (shown == 0)
            printf("%-20s %-36s %-20s %-8s %-6s %-8s %-8s %s\n", "ENTRY", "PUSH ID", "DOMAIN",
                   "PROVIDER", "STATUS", "ATTEMPTS", "AGE", "REASON");
        const char *status = dlq_field(f, "last_status", NULL);
        printf("%-20s %-36s %-20s %-8s %-6s %-8s %-8s %s\n", e->element[0]->str,
               dlq_field(f, "id", NULL), dlq_field(f, "domain", NULL), dlq_field(f, "provider", NULL),
               strcmp(status, "0") == 0 ? "none" : strcmp(status, "-1") == 0 ? "local" : status,
               dlq_field(f, "attempts", NULL),
               ctl_time_age(strtoll(e->element[0]->str, NULL, 10), now, age, sizeof(age)),
               dlq_field(f, "reason", NULL));
    }
    if (shown == 0)
        printf(page > 1 ? "no dead letters on this page\n" : "no dead letters\n");
    else if (r->elements > first + DLQ_PAGE)
        printf("(page %lld; more on --page %lld)\n", page, page + 1);
    freeReplyObject(r);
    return CTL_EXIT_OK;
}

/* ---------------------------------------------------------------------------
 * replay
 * ------------------------------------------------------------------------- */

/*
 * dlq_replay_entry re-queues one dead letter ('eid', 'fields'). Returns 0
 * when replayed, 1 when it cannot be (reported), or PR_EREDIS.
 */
static int dlq_replay_entry(struct ctl *ctl, const char *eid, const redisReply *fields)
{
    size_t nlen;
    const char *raw = dlq_field(fields, "n", &nlen);
    struct pr_notif n;
    char *enc = NULL, stream[KEYS_MAX], dead[KEYS_MAX];
    size_t enclen;
    if (notif_decode(raw, nlen, &n) != 0) {
        notif_clear(&n);
        printf("not replayed %s: its notification record cannot be read (%s)\n", eid,
               dlq_field(fields, "reason", NULL));
        return 1;
    }
    n.attempts = 0;
    notif_set_str(&n.last, NULL);
    n.accepted_ms = pr_now_ms();
    n.expires_ms = n.accepted_ms + (int64_t)n.ttl_s * 1000;
    if (notif_encode(&n, &enc, &enclen) != 0 || keys_stream(&ctl->keys, n.provider, stream, sizeof(stream)) < 0) {
        printf("not replayed %s: its notification record cannot be re-encoded\n", eid);
        notif_clear(&n);
        free(enc);
        return 1;
    }
    keys_dead(&ctl->keys, dead, sizeof(dead));
    const char *multi[] = { "MULTI" }, *exec[] = { "EXEC" };
    const char *xadd[] = { "XADD", stream, "*", "id", n.id, "domain", n.domain, "n", enc };
    size_t xlens[] = { 4, strlen(stream), 1, 2, strlen(n.id), 6, strlen(n.domain), 1, enclen };
    const char *xdel[] = { "XDEL", dead, eid };
    redisAppendCommandArgv(ctl->redis, 1, multi, NULL);
    redisAppendCommandArgv(ctl->redis, 9, xadd, xlens);
    redisAppendCommandArgv(ctl->redis, 3, xdel, NULL);
    int counted = stats_append_incr(ctl->redis, &ctl->keys, ctl->cfg->monitoring.stats_window_h, n.provider,
                                    n.domain, STATS_REPLAYED, 1);
    int queued = 3 + (counted > 0 ? counted : 0);
    redisAppendCommandArgv(ctl->redis, 1, exec, NULL);
    queued++;
    redisReply *r = NULL;
    int rc = 0;
    for (int i = 0; i < queued; i++) {
        if (r != NULL)
            freeReplyObject(r);
        r = NULL;
        if (redisGetReply(ctl->redis, (void **)&r) != REDIS_OK) {
            rc = PR_EREDIS;
            break;
        }
    }
    if (rc == 0 && (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
                    r->element[0]->type != REDIS_REPLY_STRING))
        rc = PR_EREDIS;
    if (rc == 0)
        printf("replayed %s (push id %s, %s, %s) as %s\n", eid, n.id, n.domain,
               pr_provider_name(n.provider), r->element[0]->str);
    if (r != NULL)
        freeReplyObject(r);
    free(enc);
    notif_clear(&n);
    return rc;
}

/* dlq_matches: 1 when entry 'e' is selected by 'ids' (entry ids or push ids). */
static int dlq_matches(const redisReply *e, const char **ids, size_t n_ids, int *hit)
{
    for (size_t i = 0; i < n_ids; i++)
        if (strcmp(e->element[0]->str, ids[i]) == 0 || strcmp(dlq_field(e->element[1], "id", NULL), ids[i]) == 0) {
            hit[i] = 1;
            return 1;
        }
    return 0;
}

static int dlq_replay(struct ctl *ctl, const char **ids, size_t n_ids, int all)
{
    char key[KEYS_MAX], start[64] = "-";
    int hit[CTL_STRS_MAX] = { 0 };
    long replayed = 0, refused = 0;
    keys_dead(&ctl->keys, key, sizeof(key));
    /* Walk the stream oldest first in chunks; replayed entries leave it as we go. */
    for (;;) {
        const char *argv[] = { "XRANGE", key, start, "+", "COUNT", DLQ_CHUNK };
        redisReply *r = redisCommandArgv(ctl->redis, 6, argv, NULL);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
            if (r != NULL)
                freeReplyObject(r);
            return dlq_redis_failed(ctl, "dlq replay");
        }
        size_t got = r->elements;
        for (size_t i = 0; i < got; i++) {
            const redisReply *e = r->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
                continue;
            if (!all && !dlq_matches(e, ids, n_ids, hit))
                continue;
            int rc = dlq_replay_entry(ctl, e->element[0]->str, e->element[1]);
            if (rc < 0) {
                freeReplyObject(r);
                return dlq_redis_failed(ctl, "dlq replay");
            }
            rc == 0 ? replayed++ : refused++;
        }
        if (got > 0) /* exclusive start after the last entry seen */
            snprintf(start, sizeof(start), "(%s", r->element[got - 1]->element[0]->str);
        freeReplyObject(r);
        if (got < (size_t)atoi(DLQ_CHUNK))
            break;
    }
    int missing = 0;
    for (size_t i = 0; i < n_ids; i++)
        if (!hit[i]) {
            ctl_err("dlq replay", "no dead letter with entry or push id %s", ids[i]);
            missing++;
        }
    printf("replayed %ld dead letter%s", replayed, replayed == 1 ? "" : "s");
    if (refused > 0)
        printf(", %ld not replayable", refused);
    printf("\n");
    return missing > 0 || refused > 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}

/* ---------------------------------------------------------------------------
 * purge
 * ------------------------------------------------------------------------- */

static int dlq_purge(struct ctl *ctl, const char *older_than)
{
    char key[KEYS_MAX], minid[32];
    int64_t ms = 0;
    if (older_than != NULL && ctl_time_parse_duration(older_than, &ms) != 0)
        return ctl_usage_error(ctl, "--older-than '%s': a duration like 7d, 12h, 30m or 1d12h",
                               older_than);
    int rc = ctl_redis(ctl);
    if (rc != 0)
        return rc;
    keys_dead(&ctl->keys, key, sizeof(key));
    /* MINID trims entries whose id (their time of death, ms) is below the cutoff. */
    snprintf(minid, sizeof(minid), "%lld", older_than != NULL ? (long long)(pr_now_ms() - ms) : 0LL);
    const char *trim[] = { "XTRIM", key, "MINID", minid };
    const char *all[] = { "XTRIM", key, "MAXLEN", "0" };
    redisReply *r = older_than != NULL ? redisCommandArgv(ctl->redis, 4, trim, NULL)
                                       : redisCommandArgv(ctl->redis, 4, all, NULL);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        if (r != NULL)
            freeReplyObject(r);
        return dlq_redis_failed(ctl, "dlq purge");
    }
    printf("purged %lld dead letter%s%s%s\n", r->integer, r->integer == 1 ? "" : "s",
           older_than ? " older than " : "", older_than ? older_than : "");
    freeReplyObject(r);
    return CTL_EXIT_OK;
}

int ctl_dlq(struct ctl *ctl, int argc, char **argv)
{
    const char *older = NULL, *pos[CTL_STRS_MAX];
    long long page = 1;
    int all = 0;
    size_t npos = 0;
    if (argc < 1)
        return ctl_usage_error(ctl, "needs list, replay or purge");
    const char *sub = argv[0];
    int rc;
    if (strcmp(sub, "list") == 0) {
        const struct ctl_opt o[] = { { "--page", CTL_OPT_INT, &page, 1, 1000000 } };
        if ((rc = ctl_parse_opts(ctl, argc - 1, argv + 1, o, 1, NULL, 0, NULL)) != 0 ||
            (rc = ctl_redis(ctl)) != 0)
            return rc;
        return dlq_list(ctl, page);
    }
    if (strcmp(sub, "replay") == 0) {
        const struct ctl_opt o[] = { { "--all", CTL_OPT_FLAG, &all, 0, 0 } };
        if ((rc = ctl_parse_opts(ctl, argc - 1, argv + 1, o, 1, pos, CTL_STRS_MAX, &npos)) != 0)
            return rc;
        if (all == (npos > 0))
            return ctl_usage_error(ctl, "dlq replay needs dead-letter ids or --all (not both)");
        if ((rc = ctl_redis(ctl)) != 0)
            return rc;
        return dlq_replay(ctl, pos, npos, all);
    }
    if (strcmp(sub, "purge") == 0) {
        const struct ctl_opt o[] = { { "--older-than", CTL_OPT_STR, &older, 0, 0 } };
        if ((rc = ctl_parse_opts(ctl, argc - 1, argv + 1, o, 1, NULL, 0, NULL)) != 0)
            return rc;
        return dlq_purge(ctl, older);
    }
    return ctl_usage_error(ctl, "unknown subcommand '%s' (list, replay, purge)", sub);
}
