/*
 * outcome_log.c - per-notification outcome records (layout in
 * outcome_log.h). The dispatcher queues the write inside its outcome
 * transaction; pushrelayctl test-push reads it back. Nothing here counts
 * or decides: stats.c counts, disp_outcome.c decides.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pushrelay/error.h"
#include "outcome_log.h"

int outcome_log_send(struct rconn *rc, const struct keys *k, unsigned shard,
                     const struct pr_notif *n, enum pr_outcome o, const char *reason,
                     int last_status)
{
    char key[KEYS_MAX], status[16], attempts[16], at[24], ttl[16];
    if (n == NULL || n->id == NULL || n->domain == NULL)
        return 0;
    if (o == PR_OUTCOME_DELIVERED && !n->trace)
        return 0;
    if (keys_q_outcome(k, shard, n->domain, n->id, key, sizeof(key)) < 0)
        return PR_ETOOBIG;
    snprintf(status, sizeof(status), "%d", last_status);
    snprintf(attempts, sizeof(attempts), "%d", n->attempts);
    snprintf(at, sizeof(at), "%lld", (long long)pr_now_ms());
    snprintf(ttl, sizeof(ttl), "%d", OUTCOME_LOG_TTL_S);
    const char *hset[] = { "HSET", key,
                           "outcome", pr_outcome_name(o),
                           "reason", reason != NULL ? reason : "",
                           "last_status", status,
                           "last", n->last != NULL ? n->last : "",
                           "attempts", attempts,
                           "at_ms", at };
    const char *expire[] = { "EXPIRE", key, ttl };
    if (rconn_cmd(rc, NULL, NULL, sizeof(hset) / sizeof(hset[0]), hset, NULL) != 0 ||
        rconn_cmd(rc, NULL, NULL, 3, expire, NULL) != 0)
        return PR_EREDIS;
    return 0;
}

static void outcome__copy(char *dst, size_t len, const redisReply *r)
{
    dst[0] = '\0';
    if (r != NULL && r->type == REDIS_REPLY_STRING)
        snprintf(dst, len, "%.*s", (int)r->len, r->str);
}

/* outcome__parse reads a name pr_outcome_name wrote back into its enum; -1 if none. */
static int outcome__parse(const redisReply *r, enum pr_outcome *o)
{
    for (int i = 0; i < PR_OUTCOME_COUNT; i++)
        if (strlen(pr_outcome_name((enum pr_outcome)i)) == r->len &&
            memcmp(pr_outcome_name((enum pr_outcome)i), r->str, r->len) == 0) {
            *o = (enum pr_outcome)i;
            return 0;
        }
    return -1;
}

int outcome_log_get(redisContext *c, const struct keys *k, const char *domain, const char *id,
                    struct outcome_info *out)
{
    int rc = PR_ENOTFOUND;
    for (unsigned s = 0; s < k->shards && rc == PR_ENOTFOUND; s++)
        rc = outcome_log_get_shard(c, k, s, domain, id, out);
    return rc;
}

int outcome_log_get_shard(redisContext *c, const struct keys *k, unsigned shard,
                          const char *domain, const char *id, struct outcome_info *out)
{
    char key[KEYS_MAX], num[32];
    if (keys_q_outcome(k, shard, domain, id, key, sizeof(key)) < 0)
        return PR_ETOOBIG;
    const char *argv[] = { "HMGET", key, "outcome", "reason", "last_status", "last", "attempts",
                           "at_ms" };
    redisReply *r = redisCommandArgv(c, 8, argv, NULL);
    if (r == NULL)
        return PR_EREDIS;
    int rc = PR_EREDIS;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 6)
        goto out;
    rc = PR_ENOTFOUND;
    if (r->element[0]->type != REDIS_REPLY_STRING)
        goto out;
    memset(out, 0, sizeof(*out));
    rc = PR_EREDIS;
    if (outcome__parse(r->element[0], &out->outcome) != 0)
        goto out;
    outcome__copy(out->reason, sizeof(out->reason), r->element[1]);
    outcome__copy(num, sizeof(num), r->element[2]);
    out->last_status = atoi(num);
    outcome__copy(out->last, sizeof(out->last), r->element[3]);
    outcome__copy(num, sizeof(num), r->element[4]);
    out->attempts = atoi(num);
    outcome__copy(num, sizeof(num), r->element[5]);
    out->at_ms = strtoll(num, NULL, 10);
    rc = 0;
out:
    freeReplyObject(r);
    return rc;
}
