/*
 * ctl_dlq.c - pushrelayctl dlq: the dead-letter streams <p>{q<k>}:dead of
 * every queue shard, and on a single Redis also <p>{q}:dead from before
 * shards (its entry fields are drawn in relay/disp_outcome.c). Each command
 * goes to the connection serving its stream (ctl_redis_at).
 *
 *   dlq list [--page N]                  newest first, 50 a page
 *   dlq replay ID [ID...] | --all        queue again for delivery
 *   dlq purge [--older-than DURATION]    delete (all, or older than 7d, 12h, ...)
 *
 * An ID is the dead-letter entry as list shows it, "q<k>:<entry id>"
 * (q3:1732480000000-0; "q:" for the pre-shard stream: entry ids are unique
 * only within one stream), the bare entry id (every stream's entry with
 * that id), or the
 * notification's push id. Replay puts the notification back at the end of
 * its provider stream as a new one: attempts reset, its last answer
 * cleared, its TTL counting again from now (a replay is a decision to send
 * it now); the re-queue and the XDEL from dead letters land in one
 * MULTI/EXEC on the dead letter's own shard (an old dead letter goes to
 * the shard of its provider and token), and the "replayed" count (a global
 * stats key, outside every shard) follows it. Entries whose notification
 * cannot be read stay where they are and are reported.
 *
 * list merges the streams newest first by entry id (the time of death).
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

static int dlq_redis_failed(struct ctl *ctl, redisContext *c, const char *what)
{
    char addr[300];
    if (c == NULL)
        return CTL_EXIT_FAIL;   /* ctl_redis_at said which node */
    ctl_err(what, "Redis at %s: %s", ctl_redis_addr(ctl, addr, sizeof(addr)),
            c->err ? c->errstr : "unexpected reply");
    return CTL_EXIT_FAIL;
}

/*
 * The dead-letter streams: 0 .. S-1 the shards', then (one Redis only: a
 * cluster has no pre-shard deployment to upgrade from) the old one.
 */
static size_t dlq_n_streams(const struct ctl *ctl)
{
    return ctl->keys.shards + (ctl->cfg->redis.n_cluster == 0 ? 1 : 0);
}

static void dlq_key(const struct ctl *ctl, size_t i, char *buf, size_t len)
{
    if (i < ctl->keys.shards)
        keys_q_dead(&ctl->keys, (unsigned)i, buf, len);
    else
        keys_dead(&ctl->keys, buf, len);
}

/* dlq_label writes "q<k>:<entry id>" ("q:<entry id>" for the old stream) of stream 'src'. */
static const char *dlq_label(const struct ctl *ctl, size_t src, const char *eid, char *buf, size_t len)
{
    if (src < ctl->keys.shards)
        snprintf(buf, len, "q%zu:%s", src, eid);
    else
        snprintf(buf, len, "q:%s", eid);
    return buf;
}

/* dlq_id_cmp orders stream entry ids "ms-seq" numerically. */
static int dlq_id_cmp(const char *a, const char *b)
{
    unsigned long long ams = strtoull(a, NULL, 10), bms = strtoull(b, NULL, 10);
    if (ams != bms)
        return ams < bms ? -1 : 1;
    const char *ad = strchr(a, '-'), *bd = strchr(b, '-');
    unsigned long long as = ad ? strtoull(ad + 1, NULL, 10) : 0, bs = bd ? strtoull(bd + 1, NULL, 10) : 0;
    return as < bs ? -1 : as > bs;
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
    char key[KEYS_MAX], count[24], age[32], label[96];
    size_t n = dlq_n_streams(ctl);
    redisReply **rs = calloc(n, sizeof(*rs));
    size_t *at = calloc(n, sizeof(*at));
    int rc = CTL_EXIT_FAIL;
    if (rs == NULL || at == NULL) {
        ctl_err("dlq list", "out of memory");
        goto out;
    }
    /* Each stream's newest page * DLQ_PAGE + 1 (to know whether another page follows), merged. */
    snprintf(count, sizeof(count), "%lld", page * DLQ_PAGE + 1);
    for (size_t s = 0; s < n; s++) {
        dlq_key(ctl, s, key, sizeof(key));
        const char *argv[] = { "XREVRANGE", key, "+", "-", "COUNT", count };
        redisContext *c = ctl_redis_at(ctl, key);
        rs[s] = c != NULL ? redisCommandArgv(c, 6, argv, NULL) : NULL;
        if (rs[s] == NULL || rs[s]->type != REDIS_REPLY_ARRAY) {
            rc = dlq_redis_failed(ctl, c, "dlq list");
            goto out;
        }
    }
    size_t first = (size_t)((page - 1) * DLQ_PAGE), shown = 0, skipped = 0;
    int more = 0;
    int64_t now = pr_now_ms();
    for (;;) {
        /* the newest head among the streams */
        const redisReply *e = NULL;
        size_t from = 0;
        for (size_t s = 0; s < n; s++) {
            while (at[s] < rs[s]->elements && (rs[s]->element[at[s]]->type != REDIS_REPLY_ARRAY ||
                                              rs[s]->element[at[s]]->elements != 2 ||
                                              rs[s]->element[at[s]]->element[0]->type != REDIS_REPLY_STRING))
                at[s]++;
            if (at[s] >= rs[s]->elements)
                continue;
            const redisReply *h = rs[s]->element[at[s]];
            if (e == NULL || dlq_id_cmp(h->element[0]->str, e->element[0]->str) > 0) {
                e = h;
                from = s;
            }
        }
        if (e == NULL)
            break;
        at[from]++;
        if (skipped < first) {
            skipped++;
            continue;
        }
        if (shown == DLQ_PAGE) {
            more = 1;
            break;
        }
        const redisReply *f = e->element[1];
        if (shown == 0)
            printf("%-24s %-36s %-20s %-8s %-6s %-8s %-8s %s\n", "ENTRY", "PUSH ID", "DOMAIN",
                   "PROVIDER", "STATUS", "ATTEMPTS", "AGE", "REASON");
        const char *status = dlq_field(f, "last_status", NULL);
        printf("%-24s %-36s %-20s %-8s %-6s %-8s %-8s %s\n",
               dlq_label(ctl, from, e->element[0]->str, label, sizeof(label)),
               dlq_field(f, "id", NULL), dlq_field(f, "domain", NULL), dlq_field(f, "provider", NULL),
               strcmp(status, "0") == 0 ? "none" : strcmp(status, "-1") == 0 ? "local" : status,
               dlq_field(f, "attempts", NULL),
               ctl_time_age(strtoll(e->element[0]->str, NULL, 10), now, age, sizeof(age)),
               dlq_field(f, "reason", NULL));
        shown++;
    }
    if (shown == 0)
        printf(page > 1 ? "no dead letters on this page\n" : "no dead letters\n");
    else if (more)
        printf("(page %lld; more on --page %lld)\n", page, page + 1);
    rc = CTL_EXIT_OK;
out:
    for (size_t s = 0; rs != NULL && s < n; s++)
        if (rs[s] != NULL)
            freeReplyObject(rs[s]);
    free(rs);
    free(at);
    return rc;
}

/* ---------------------------------------------------------------------------
 * replay
 * ------------------------------------------------------------------------- */

/*
 * dlq_replay_entry re-queues one dead letter ('eid', 'fields') of dead-letter
 * stream 'dead' (stream number 'src', dlq_key). Returns 0 when replayed, 1
 * when it cannot be (reported), or PR_EREDIS.
 */
static int dlq_replay_entry(struct ctl *ctl, size_t src, const char *dead, const char *eid,
                            const redisReply *fields)
{
    size_t nlen;
    const char *raw = dlq_field(fields, "n", &nlen);
    struct pr_notif n;
    char *enc = NULL, stream[KEYS_MAX], stats_key[KEYS_MAX];
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
    /* Back into its own shard: one transaction names one shard (an old one: its hash's). */
    unsigned shard = src < ctl->keys.shards
                         ? (unsigned)src
                         : keys_shard_of(&ctl->keys, n.provider, n.token ? n.token : "",
                                         n.token ? strlen(n.token) : 0);
    if (notif_encode(&n, &enc, &enclen) != 0 ||
        keys_q_stream(&ctl->keys, shard, n.provider, stream, sizeof(stream)) < 0) {
        printf("not replayed %s: its notification record cannot be re-encoded\n", eid);
        notif_clear(&n);
        free(enc);
        return 1;
    }
    redisContext *c = ctl_redis_at(ctl, stream);
    if (c == NULL) {
        notif_clear(&n);
        free(enc);
        return PR_EREDIS;
    }
    const char *multi[] = { "MULTI" }, *exec[] = { "EXEC" };
    const char *xadd[] = { "XADD", stream, "*", "id", n.id, "domain", n.domain, "n", enc };
    size_t xlens[] = { 4, strlen(stream), 1, 2, strlen(n.id), 6, strlen(n.domain), 1, enclen };
    const char *xdel[] = { "XDEL", dead, eid };
    redisAppendCommandArgv(c, 1, multi, NULL);
    redisAppendCommandArgv(c, 9, xadd, xlens);
    redisAppendCommandArgv(c, 3, xdel, NULL);
    redisAppendCommandArgv(c, 1, exec, NULL);
    redisReply *r = NULL;
    int rc = 0;
    for (int i = 0; i < 4; i++) {
        if (r != NULL)
            freeReplyObject(r);
        r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK) {
            rc = PR_EREDIS;
            break;
        }
    }
    if (rc == 0 && (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
                    r->element[0]->type != REDIS_REPLY_STRING))
        rc = PR_EREDIS;
    if (rc == 0) {
        char was[96];
        printf("replayed %s (push id %s, %s, %s) as q%u:%s\n",
               dlq_label(ctl, src, eid, was, sizeof(was)), n.id, n.domain,
               pr_provider_name(n.provider), shard, r->element[0]->str);
        /*
         * The count is a stats key outside every shard: sent after the
         * replay landed. Lost, it undercounts one replay; the replay stands.
         */
        redisContext *sc = keys_stats_total(&ctl->keys, stats_key, sizeof(stats_key)) >= 0
                               ? ctl_redis_at(ctl, stats_key) : NULL;
        int counted = sc != NULL ? stats_append_incr(sc, &ctl->keys,
                                                     ctl->cfg->monitoring.stats_window_h,
                                                     n.provider, n.domain, STATS_REPLAYED, 1)
                                 : 0;
        for (int i = 0; i < counted; i++) {
            redisReply *sr = NULL;
            if (redisGetReply(sc, (void **)&sr) != REDIS_OK)
                break;
            freeReplyObject(sr);
        }
    }
    if (r != NULL)
        freeReplyObject(r);
    free(enc);
    notif_clear(&n);
    return rc;
}

/*
 * dlq_matches: 1 when entry 'e' of stream 'src' is selected by 'ids' (as
 * listed, bare entry ids or push ids).
 */
static int dlq_matches(const struct ctl *ctl, size_t src, const redisReply *e, const char **ids,
                       size_t n_ids, int *hit)
{
    char label[96];
    dlq_label(ctl, src, e->element[0]->str, label, sizeof(label));
    for (size_t i = 0; i < n_ids; i++)
        if (strcmp(label, ids[i]) == 0 || strcmp(e->element[0]->str, ids[i]) == 0 ||
            strcmp(dlq_field(e->element[1], "id", NULL), ids[i]) == 0) {
            hit[i] = 1;
            return 1;
        }
    return 0;
}

static int dlq_replay(struct ctl *ctl, const char **ids, size_t n_ids, int all)
{
    char key[KEYS_MAX];
    int hit[CTL_STRS_MAX] = { 0 };
    long replayed = 0, refused = 0;
    for (size_t src = 0; src < dlq_n_streams(ctl); src++) {
        char start[64] = "-";
        dlq_key(ctl, src, key, sizeof(key));
        redisContext *c = ctl_redis_at(ctl, key);
        if (c == NULL)
            return CTL_EXIT_FAIL;
        /* Walk the stream oldest first in chunks; replayed entries leave it as we go. */
        for (;;) {
            const char *argv[] = { "XRANGE", key, start, "+", "COUNT", DLQ_CHUNK };
            redisReply *r = redisCommandArgv(c, 6, argv, NULL);
            if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
                if (r != NULL)
                    freeReplyObject(r);
                return dlq_redis_failed(ctl, c, "dlq replay");
            }
            size_t got = r->elements;
            for (size_t i = 0; i < got; i++) {
                const redisReply *e = r->element[i];
                if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
                    continue;
                if (!all && !dlq_matches(ctl, src, e, ids, n_ids, hit))
                    continue;
                int rc = dlq_replay_entry(ctl, src, key, e->element[0]->str, e->element[1]);
                if (rc < 0) {
                    freeReplyObject(r);
                    return dlq_redis_failed(ctl, c, "dlq replay");
                }
                rc == 0 ? replayed++ : refused++;
            }
            if (got > 0) /* exclusive start after the last entry seen */
                snprintf(start, sizeof(start), "(%s", r->element[got - 1]->element[0]->str);
            freeReplyObject(r);
            if (got < (size_t)atoi(DLQ_CHUNK))
                break;
        }
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
    long long purged = 0;
    if (older_than != NULL && ctl_time_parse_duration(older_than, &ms) != 0)
        return ctl_usage_error(ctl, "--older-than '%s': a duration like 7d, 12h, 30m or 1d12h",
                               older_than);
    int rc = ctl_redis(ctl);
    if (rc != 0)
        return rc;
    /* MINID trims entries whose id (their time of death, ms) is below the cutoff. */
    snprintf(minid, sizeof(minid), "%lld", older_than != NULL ? (long long)(pr_now_ms() - ms) : 0LL);
    for (size_t src = 0; src < dlq_n_streams(ctl); src++) {
        dlq_key(ctl, src, key, sizeof(key));
        redisContext *c = ctl_redis_at(ctl, key);
        const char *trim[] = { "XTRIM", key, "MINID", minid };
        const char *all[] = { "XTRIM", key, "MAXLEN", "0" };
        redisReply *r = c == NULL ? NULL
                        : older_than != NULL ? redisCommandArgv(c, 4, trim, NULL)
                                             : redisCommandArgv(c, 4, all, NULL);
        if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
            if (r != NULL)
                freeReplyObject(r);
            return dlq_redis_failed(ctl, c, "dlq purge");
        }
        purged += r->integer;
        freeReplyObject(r);
    }
    printf("purged %lld dead letter%s%s%s\n", purged, purged == 1 ? "" : "s",
           older_than ? " older than " : "", older_than ? older_than : "");
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
