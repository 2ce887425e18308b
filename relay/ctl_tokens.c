/*
 * ctl_tokens.c - pushrelayctl tokens: the dead device tokens the dispatcher
 * recorded (relay/token.h draws the records and their index).
 *
 *   tokens list [--provider P] [--domain D] [--page N]   newest first, 50 a page
 *   tokens show T [--provider P]                         one record in full
 *   tokens forget T [--provider P]                       delete it: T is accepted again
 *   tokens reshard [--from-shards N]                     move records into their shards
 *
 * show and forget look T up under every provider unless --provider says
 * which; both exit 1 naming T when no record exists. Tokens are printed in
 * full: this is the admin's tool, and forget needs them.
 *
 * Records live in the queue shard of their provider and token (token.h):
 * show and forget compute it and ask the connection serving it
 * (ctl_redis_at); list merges every shard's index newest first. reshard
 * moves the records written under another redis.shards (or before shards
 * existed) into the shard the ingest script now looks in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pushrelay/error.h"
#include "pushrelay/notif.h"
#include "ctl.h"
#include "ctl_time.h"
#include "dnsname.h"
#include "token.h"

#define TOK_PAGE 50
#define TOK_CHUNK 500       /* index entries (and pipelined record reads) per round trip */

static int tok_redis_failed(struct ctl *ctl, redisContext *c)
{
    char addr[300];
    if (c == NULL)
        return CTL_EXIT_FAIL;   /* ctl_redis_at said which node */
    ctl_err("tokens", "cannot read the token records from Redis at %s: %s",
            ctl_redis_addr(ctl, addr, sizeof(addr)), c->err ? c->errstr : "bad reply");
    return CTL_EXIT_FAIL;
}

/*
 * tok_parse_key splits "<prefix>{q<k>}:token:<provider>:<token>" from an
 * index, or the layout before shards, "<prefix>token:<provider>:<token>".
 */
static int tok_parse_key(const struct ctl *ctl, const char *key, enum pr_provider *p, const char **token)
{
    size_t pl = strlen(ctl->keys.prefix);
    if (strncmp(key, ctl->keys.prefix, pl) != 0)
        return PR_EINVAL;
    const char *rest = key + pl;
    if (strncmp(rest, "{q", 2) == 0) {
        const char *tag_end = strstr(rest, "}:");
        if (tag_end == NULL)
            return PR_EINVAL;
        rest = tag_end + 2;
    }
    if (strncmp(rest, "token:", 6) != 0)
        return PR_EINVAL;
    const char *prov = rest + 6, *colon = strchr(prov, ':');
    char name[16];
    if (colon == NULL || (size_t)(colon - prov) >= sizeof(name))
        return PR_EINVAL;
    snprintf(name, sizeof(name), "%.*s", (int)(colon - prov), prov);
    if (pr_provider_parse(name, p) != 0)
        return PR_EINVAL;
    *token = colon + 1;
    return 0;
}

/* One shard's index, read newest first a chunk at a time (tok_list's merge). */
struct tok_cursor {
    char index[KEYS_MAX];
    redisContext *c;
    redisReply *chunk;          /* ZREVRANGE .. WITHSCORES: member, score, ... */
    size_t at;                  /* next member in 'chunk' */
    long long off;              /* rank of the chunk's first member */
    int done;
};

/* tok_cursor_head: the cursor's newest unread member (loading the next chunk), or NULL. */
static const redisReply *tok_cursor_head(struct tok_cursor *t, double *score, int *failed)
{
    char start[24], stop[24];
    while (!t->done) {
        if (t->chunk != NULL && t->at + 1 < t->chunk->elements) {
            *score = strtod(t->chunk->element[t->at + 1]->str, NULL);
            return t->chunk->element[t->at];
        }
        if (t->chunk != NULL) {
            int last = t->chunk->elements < 2 * (size_t)TOK_CHUNK;
            t->off += (long long)t->chunk->elements / 2;
            freeReplyObject(t->chunk);
            t->chunk = NULL;
            if (last) {
                t->done = 1;
                break;
            }
        }
        snprintf(start, sizeof(start), "%lld", t->off);
        snprintf(stop, sizeof(stop), "%lld", t->off + TOK_CHUNK - 1);
        const char *zr[] = { "ZREVRANGE", t->index, start, stop, "WITHSCORES" };
        t->chunk = redisCommandArgv(t->c, 5, zr, NULL);
        t->at = 0;
        if (t->chunk == NULL || t->chunk->type != REDIS_REPLY_ARRAY) {
            *failed = 1;
            return NULL;
        }
    }
    return NULL;
}

static int tok_list(struct ctl *ctl, const char *provider, const char *domain, long long page)
{
    enum pr_provider want = PR_PROVIDER_COUNT;
    char age[32];
    int rc = ctl_provider_arg(ctl, provider, &want);
    if (rc != 0)
        return rc;
    rc = ctl_redis(ctl);
    if (rc != 0)
        return rc;
    unsigned n = ctl->keys.shards;
    struct tok_cursor *cur = calloc(n, sizeof(*cur));
    if (cur == NULL) {
        ctl_err("tokens list", "out of memory");
        return CTL_EXIT_FAIL;
    }
    rc = CTL_EXIT_FAIL;
    for (unsigned s = 0; s < n; s++) {
        keys_q_tokens(&ctl->keys, s, cur[s].index, sizeof(cur[s].index));
        if ((cur[s].c = ctl_redis_at(ctl, cur[s].index)) == NULL)
            goto out;
    }
    long long skip = (page - 1) * TOK_PAGE, shown = 0, matched = 0;
    int64_t now = pr_now_ms();
    int more = 0, failed = 0;
    redisContext *bad = NULL;

    /* Merge the shards' indexes newest first, reading one record per token (filters need it). */
    while (!more) {
        struct tok_cursor *best = NULL;
        double best_score = 0, score;
        for (unsigned s = 0; s < n && !failed; s++) {
            if (tok_cursor_head(&cur[s], &score, &failed) != NULL && (best == NULL || score > best_score)) {
                best = &cur[s];
                best_score = score;
            }
            if (failed)
                bad = cur[s].c;
        }
        if (failed || best == NULL)
            break;
        const redisReply *m = best->chunk->element[best->at];
        best->at += 2;
        enum pr_provider prov;
        const char *tok;
        if (m->type != REDIS_REPLY_STRING || tok_parse_key(ctl, m->str, &prov, &tok) != 0 ||
            (want != PR_PROVIDER_COUNT && prov != want))
            continue;
        const char *hm[] = { "HMGET", m->str, TOKEN_F_DOMAIN, TOKEN_F_REASON, TOKEN_F_SINCE };
        redisReply *h = redisCommandArgv(best->c, 5, hm, NULL);
        if (h == NULL) {
            failed = 1;
            bad = best->c;
            break;
        }
        if (h->type == REDIS_REPLY_ARRAY && h->elements == 3 &&
            h->element[2]->type == REDIS_REPLY_STRING) {   /* else expired, index not trimmed yet */
            const char *dom = h->element[0]->type == REDIS_REPLY_STRING ? h->element[0]->str : "";
            const char *reason = h->element[1]->type == REDIS_REPLY_STRING ? h->element[1]->str : "";
            if ((domain == NULL || strcmp(dom, domain) == 0) && matched++ >= skip) {
                if (shown == TOK_PAGE) {
                    more = 1;
                } else {
                    if (shown++ == 0)
                        printf("%-8s %-24s %-20s %-10s %s\n", "PROVIDER", "DOMAIN", "REASON", "AGE",
                               "TOKEN");
                    printf("%-8s %-24s %-20s %-10s %s\n", pr_provider_name(prov), dom[0] ? dom : "-",
                           reason[0] ? reason : "-",
                           ctl_time_age(strtoll(h->element[2]->str, NULL, 10), now, age, sizeof(age)),
                           tok);
                }
            }
        }
        freeReplyObject(h);
    }
    if (failed) {
        rc = tok_redis_failed(ctl, bad);
        goto out;
    }
    if (shown == 0 && page > 1)
        printf("no dead tokens on page %lld\n", page);
    else if (shown == 0)
        printf("no dead tokens recorded\n");
    else if (more)
        printf("(page %lld; more on --page %lld)\n", page, page + 1);
    rc = CTL_EXIT_OK;
out:
    for (unsigned s = 0; s < n; s++)
        if (cur[s].chunk != NULL)
            freeReplyObject(cur[s].chunk);
    free(cur);
    return rc;
}

/* tok_show prints the record of T under --provider, or under every provider that has one. */
/* tok_redis: the connection serving provider p's record of 'token'; 0, PR_ETOOBIG or PR_EREDIS. */
static int tok_redis(struct ctl *ctl, enum pr_provider p, const char *token, redisContext **out)
{
    char key[KEYS_MAX];
    if (token_key(&ctl->keys, p, token, key, sizeof(key)) < 0)
        return PR_ETOOBIG;
    return (*out = ctl_redis_at(ctl, key)) == NULL ? PR_EREDIS : 0;
}

static int tok_show(struct ctl *ctl, const char *token, const char *provider)
{
    enum pr_provider only = PR_PROVIDER_COUNT;
    char a[32], b[32], c[32];
    int rc = ctl_provider_arg(ctl, provider, &only);
    if (rc != 0)
        return rc;
    int found = 0;
    rc = ctl_redis(ctl);
    if (rc != 0)
        return rc;
    int64_t now = pr_now_ms();
    for (int p = 0; p < PR_PROVIDER_COUNT; p++) {
        if (only != PR_PROVIDER_COUNT && p != (int)only)
            continue;
        struct token_info ti;
        redisContext *at = NULL;
        int g = tok_redis(ctl, (enum pr_provider)p, token, &at);
        if (g == 0)
            g = token_get(at, &ctl->keys, (enum pr_provider)p, token, &ti);
        if (g == PR_ENOTFOUND)
            continue;
        if (g == PR_ETOOBIG) {
            ctl_err("tokens show", "token too long (%zu bytes)", strlen(token));
            return CTL_EXIT_USAGE;
        }
        if (g != 0)
            return tok_redis_failed(ctl, at);
        if (found++)
            printf("\n");
        printf("token:              %s\n", token);
        printf("provider:           %s\n", pr_provider_name((enum pr_provider)p));
        printf("state:              dead (pushes to it are answered 410)\n");
        printf("reason:             %s\n", ti.reason[0] ? ti.reason : "-");
        printf("since:              %s (%s ago)\n", ctl_time_utc(ti.since_ms, a, sizeof(a)),
               ctl_time_age(ti.since_ms, now, b, sizeof(b)));
        /* APNs' 410 timestamp: when the provider last saw the token valid */
        printf("provider timestamp: %s\n", ctl_time_utc(ti.provider_ts_ms, c, sizeof(c)));
        printf("domain:             %s\n", ti.domain[0] ? ti.domain : "-");
        printf("app:                %s\n", ti.app[0] ? ti.app : "-");
        if (ti.ttl_s >= 0)
            printf("record expires in:  %s\n", ctl_time_age(0, ti.ttl_s * 1000, b, sizeof(b)));
    }
    if (found == 0) {
        ctl_err("tokens show", "token %s is not recorded dead%s%s (unknown to the relay)", token,
                provider ? " for " : "", provider ? provider : "");
        return CTL_EXIT_FAIL;
    }
    return CTL_EXIT_OK;
}

static int tok_forget(struct ctl *ctl, const char *token, const char *provider)
{
    enum pr_provider only = PR_PROVIDER_COUNT;
    int rc = ctl_provider_arg(ctl, provider, &only);
    if (rc != 0)
        return rc;
    int found = 0;
    rc = ctl_redis(ctl);
    if (rc != 0)
        return rc;
    for (int p = 0; p < PR_PROVIDER_COUNT; p++) {
        if (only != PR_PROVIDER_COUNT && p != (int)only)
            continue;
        redisContext *c = NULL;
        int g = tok_redis(ctl, (enum pr_provider)p, token, &c);
        if (g == 0)
            g = token_forget(c, &ctl->keys, (enum pr_provider)p, token);
        if (g == PR_ENOTFOUND)
            continue;
        if (g == PR_ETOOBIG) {
            ctl_err("tokens forget", "token too long (%zu bytes)", strlen(token));
            return CTL_EXIT_USAGE;
        }
        if (g != 0)
            return tok_redis_failed(ctl, c);
        printf("forgot dead %s token %s: pushes to it are accepted again\n",
               pr_provider_name((enum pr_provider)p), token);
        found++;
    }
    if (found == 0) {
        ctl_err("tokens forget", "token %s is not recorded dead%s%s (unknown to the relay)", token,
                provider ? " for " : "", provider ? provider : "");
        return CTL_EXIT_FAIL;
    }
    return CTL_EXIT_OK;
}

/*
 * tokens reshard. A record written under another redis.shards, or before
 * shards existed, sits where the ingest script no longer looks: its token
 * is accepted again, and show and forget do not find it. Each index
 * (every shard's up to the larger of S and --from-shards, then the one
 * from before shards) is scanned; a record outside the shard of its
 * provider and token is copied there with its TTL and index score, unless
 * that shard holds a record of its own (newer: it is kept), and only then
 * deleted where it was. A run stopped half way loses nothing; running it
 * again finishes it, and a run with nothing to move changes nothing.
 */
#define TOK_PROGRESS 50000      /* records between progress lines */

/* KEYS: record, index; ARGV: TTL in ms (0: none), index score, field, value, ... */
static const char tok_copy_lua[] =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end\n"
    "redis.call('HSET', KEYS[1], unpack(ARGV, 3))\n"
    "if tonumber(ARGV[1]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end\n"
    "redis.call('ZADD', KEYS[2], 'NX', ARGV[2], KEYS[1])\n"
    "return 1\n";

struct tok_counts {
    long long records, moved, in_place, kept, expired, foreign;    /* per index; totals: moved .. */
};

/* One record of a chunk that is not in its shard. */
struct tok_move {
    const char *key, *score;    /* index member and score (in the ZSCAN reply) */
    char dst[KEYS_MAX], dst_index[KEYS_MAX];
    redisContext *to;
    redisReply *fields, *pttl; /* HGETALL and PTTL of 'key' */
};

/* tok_node_failed: exit status after naming the node 'c' and what it said. */
static int tok_node_failed(const char *doing, redisContext *c, const redisReply *r)
{
    if (ctl_redis_moved("tokens reshard", r))
        return CTL_EXIT_FAIL;
    ctl_err("tokens reshard", "%s at %s:%d: %s; nothing is lost, run it again", doing,
            c->tcp.host ? c->tcp.host : "?", c->tcp.port,
            r != NULL && r->type == REDIS_REPLY_ERROR ? r->str : c->err ? c->errstr : "unexpected reply");
    return CTL_EXIT_FAIL;
}

/* tok_get: the next reply of 'c', or NULL (and *rc set) when it is missing or an error. */
static redisReply *tok_get(redisContext *c, const char *doing, int *rc)
{
    redisReply *r = NULL;
    if (redisGetReply(c, (void **)&r) != REDIS_OK || r == NULL || r->type == REDIS_REPLY_ERROR) {
        *rc = tok_node_failed(doing, c, r);
        if (r != NULL)
            freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* tok_move_chunk moves the records of one ZSCAN page 'page' (member, score, ...) of 'index' on 'c'. */
static int tok_move_chunk(struct ctl *ctl, redisContext *c, const char *index, const redisReply *page,
                          struct tok_counts *n)
{
    size_t total = page->elements / 2, m = 0;
    struct tok_move *mv = calloc(total ? total : 1, sizeof(*mv));
    if (mv == NULL) {
        ctl_err("tokens reshard", "out of memory");
        return CTL_EXIT_FAIL;
    }
    for (size_t i = 0; i < total; i++) {
        const redisReply *mem = page->element[2 * i], *score = page->element[2 * i + 1];
        enum pr_provider p;
        const char *tok;
        n->records++;
        if (mem->type != REDIS_REPLY_STRING || score->type != REDIS_REPLY_STRING ||
            tok_parse_key(ctl, mem->str, &p, &tok) != 0) {
            n->foreign++;       /* not a record key: left alone */
            continue;
        }
        unsigned k = keys_shard_of(&ctl->keys, p, tok, strlen(tok));
        if (keys_q_token(&ctl->keys, k, p, tok, mv[m].dst, sizeof(mv[m].dst)) < 0 ||
            keys_q_tokens(&ctl->keys, k, mv[m].dst_index, sizeof(mv[m].dst_index)) < 0) {
            n->foreign++;       /* a token too long for a key: never written by the relay */
            continue;
        }
        if (strcmp(mem->str, mv[m].dst) == 0) {
            n->in_place++;
            continue;
        }
        mv[m].key = mem->str;
        mv[m].score = score->str;
        m++;
    }

    int rc = 0;
    /* Read every record to move (one round trip), */
    for (size_t i = 0; i < m; i++) {
        const char *hg[] = { "HGETALL", mv[i].key }, *pt[] = { "PTTL", mv[i].key };
        redisAppendCommandArgv(c, 2, hg, NULL);
        redisAppendCommandArgv(c, 2, pt, NULL);
    }
    for (size_t i = 0; i < m && rc == 0; i++)
        if ((mv[i].fields = tok_get(c, "cannot read a dead-token record", &rc)) != NULL)
            mv[i].pttl = tok_get(c, "cannot read a dead-token record", &rc);
    /* copy each into its shard (pipelined per node, replies read in the same order), */
    for (size_t i = 0; i < m && rc == 0; i++) {
        const redisReply *f = mv[i].fields;
        if (f->type != REDIS_REPLY_ARRAY || f->elements == 0 || f->elements % 2 != 0 ||
            mv[i].pttl->type != REDIS_REPLY_INTEGER || mv[i].pttl->integer == -2)
            continue;           /* expired since the index was written */
        if ((mv[i].to = ctl_redis_at(ctl, mv[i].dst)) == NULL) {
            rc = CTL_EXIT_FAIL;
            break;
        }
        size_t argc = 7 + f->elements;
        const char **argv = malloc(argc * sizeof(*argv));
        char ttl[24];
        if (argv == NULL) {
            ctl_err("tokens reshard", "out of memory");
            rc = CTL_EXIT_FAIL;
            break;
        }
        snprintf(ttl, sizeof(ttl), "%lld", mv[i].pttl->integer > 0 ? mv[i].pttl->integer : 0);
        argv[0] = "EVAL";
        argv[1] = tok_copy_lua;
        argv[2] = "2";
        argv[3] = mv[i].dst;
        argv[4] = mv[i].dst_index;
        argv[5] = ttl;
        argv[6] = mv[i].score;
        for (size_t j = 0; j < f->elements; j++)
            argv[7 + j] = f->element[j]->str;
        redisAppendCommandArgv(mv[i].to, (int)argc, argv, NULL);
        free(argv);
    }
    for (size_t i = 0; i < m && rc == 0; i++) {
        if (mv[i].to == NULL) {
            n->expired++;
            continue;
        }
        redisReply *r = tok_get(mv[i].to, "cannot write a dead-token record", &rc);
        if (r != NULL) {
            if (r->type == REDIS_REPLY_INTEGER && r->integer == 1)
                n->moved++;
            else
                n->kept++;
            freeReplyObject(r);
        }
    }
    /* and only then delete it where it was, with its index entry. */
    for (size_t i = 0; i < m && rc == 0; i++) {
        const char *del[] = { "DEL", mv[i].key }, *zrem[] = { "ZREM", index, mv[i].key };
        redisAppendCommandArgv(c, 2, del, NULL);
        redisAppendCommandArgv(c, 3, zrem, NULL);
    }
    for (size_t i = 0; i < 2 * m && rc == 0; i++) {
        redisReply *r = tok_get(c, "cannot delete a moved dead-token record", &rc);
        if (r != NULL)
            freeReplyObject(r);
    }
    for (size_t i = 0; i < total; i++) {
        if (mv[i].fields != NULL)
            freeReplyObject(mv[i].fields);
        if (mv[i].pttl != NULL)
            freeReplyObject(mv[i].pttl);
    }
    free(mv);
    return rc;
}

/* tok_reshard_index moves the records of one index (shard 'shard', or -1: before shards). */
static int tok_reshard_index(struct ctl *ctl, long shard, struct tok_counts *all)
{
    char index[KEYS_MAX], label[KEYS_MAX + 32], cursor[32] = "0";
    if (shard < 0) {
        keys_tokens(&ctl->keys, index, sizeof(index));
        snprintf(label, sizeof(label), "before shards (%s)", index);
    } else {
        keys_q_tokens(&ctl->keys, (unsigned)shard, index, sizeof(index));
        snprintf(label, sizeof(label), "shard %ld (%s)", shard, index);
    }
    redisContext *c = ctl_redis_at(ctl, index);
    if (c == NULL)
        return CTL_EXIT_FAIL;
    struct tok_counts n = { 0 };
    long long next_progress = TOK_PROGRESS;
    int rc = 0;
    do {
        const char *zs[] = { "ZSCAN", index, cursor, "COUNT", "500" };
        redisReply *r = redisCommandArgv(c, 5, zs, NULL);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY ||
            r->element[0]->len >= sizeof(cursor)) {
            rc = tok_node_failed("cannot scan the dead-token index", c, r);
            if (r != NULL)
                freeReplyObject(r);
            break;
        }
        memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
        rc = tok_move_chunk(ctl, c, index, r->element[1], &n);
        freeReplyObject(r);
        if (rc == 0 && n.records >= next_progress) {
            printf("%s: %lld records so far, %lld moved\n", label, n.records, n.moved);
            fflush(stdout);
            next_progress += TOK_PROGRESS;
        }
    } while (rc == 0 && strcmp(cursor, "0") != 0);
    if (n.records > 0)
        printf("%s: %lld record%s: %lld moved, %lld in place, %lld kept, %lld expired\n", label,
               n.records, n.records == 1 ? "" : "s", n.moved, n.in_place, n.kept, n.expired);
    all->moved += n.moved;
    all->kept += n.kept;
    all->expired += n.expired;
    all->foreign += n.foreign;
    return rc;
}

/* tok_indexed: the entries of the current shards' indexes, or -1 after saying why. */
static long long tok_indexed(struct ctl *ctl)
{
    long long total = 0;
    for (unsigned s = 0; s < ctl->keys.shards; s++) {
        char index[KEYS_MAX];
        keys_q_tokens(&ctl->keys, s, index, sizeof(index));
        redisContext *c = ctl_redis_at(ctl, index);
        if (c == NULL)
            return -1;
        const char *zc[] = { "ZCARD", index };
        redisReply *r = redisCommandArgv(c, 2, zc, NULL);
        if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
            tok_node_failed("cannot count the dead-token index", c, r);
            if (r != NULL)
                freeReplyObject(r);
            return -1;
        }
        total += r->integer;
        freeReplyObject(r);
    }
    return total;
}

static int tok_reshard(struct ctl *ctl, long long from_shards)
{
    int rc = ctl_redis(ctl);
    if (rc != 0)
        return rc;
    unsigned now = ctl->keys.shards;
    long last = (long)(from_shards > (long long)now ? from_shards : now);
    struct tok_counts n = { 0 };
    for (long s = 0; s < last && rc == 0; s++)
        rc = tok_reshard_index(ctl, s, &n);
    if (rc == 0)
        rc = tok_reshard_index(ctl, -1, &n);
    long long indexed = rc == 0 ? tok_indexed(ctl) : -1;
    printf("dead-token records of %ld shard%s and from before shards: %lld moved into their "
           "shards of redis.shards = %u, %lld kept where a newer record was, %lld expired",
           last, last == 1 ? "" : "s", n.moved, now, n.kept, n.expired);
    if (indexed >= 0)
        printf("; %lld indexed in the %u shard%s now\n", indexed, now, now == 1 ? "" : "s");
    else
        printf(" (stopped early: run it again)\n");
    if (n.foreign > 0)
        printf("%lld index entries are not dead-token records: left alone\n", n.foreign);
    return rc != 0 ? rc : indexed < 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}

int ctl_tokens(struct ctl *ctl, int argc, char **argv)
{
    const char *provider = NULL, *domain = NULL, *pos[2];
    long long page = 1;
    size_t npos = 0;
    char dom[256];
    long long from_shards = 0;
    if (argc < 1)
        return ctl_usage_error(ctl, "needs list, show T, forget T or reshard");
    const char *sub = argv[0];
    if (strcmp(sub, "reshard") == 0) {
        const struct ctl_opt opts[] = {
            { "--from-shards", CTL_OPT_INT, &from_shards, 1, 16384 },
        };
        int rc = ctl_parse_opts(ctl, argc - 1, argv + 1, opts, 1, NULL, 0, NULL);
        return rc != 0 ? rc : tok_reshard(ctl, from_shards);
    }
    int is_list = strcmp(sub, "list") == 0;
    if (!is_list && strcmp(sub, "show") != 0 && strcmp(sub, "forget") != 0)
        return ctl_usage_error(ctl, "unknown subcommand '%s' (list, show, forget, reshard)", sub);
    const struct ctl_opt list_opts[] = {
        { "--provider", CTL_OPT_STR, &provider, 0, 0 },
        { "--domain", CTL_OPT_STR, &domain, 0, 0 },
        { "--page", CTL_OPT_INT, &page, 1, 1000000 },
    };
    const struct ctl_opt one_opts[] = {
        { "--provider", CTL_OPT_STR, &provider, 0, 0 },
    };
    int rc = is_list ? ctl_parse_opts(ctl, argc - 1, argv + 1, list_opts, 3, NULL, 0, NULL)
                     : ctl_parse_opts(ctl, argc - 1, argv + 1, one_opts, 1, pos, 2, &npos);
    if (rc != 0)
        return rc;
    if (is_list) {
        if (domain != NULL) {
            if (dnsname_lower(domain, dom, sizeof(dom)) != 0)
                return ctl_usage_error(ctl, "--domain '%s': not a valid DNS name", domain);
            domain = dom;
        }
        return tok_list(ctl, provider, domain, page);
    }
    if (npos != 1)
        return ctl_usage_error(ctl, "tokens %s needs exactly one token", sub);
    return strcmp(sub, "show") == 0 ? tok_show(ctl, pos[0], provider) : tok_forget(ctl, pos[0], provider);
}
