/*
 * ctl_tokens.c - pushrelayctl tokens: the dead device tokens the dispatcher
 * recorded (relay/token.h draws the records and their index).
 *
 *   tokens list [--provider P] [--domain D] [--page N]   newest first, 50 a page
 *   tokens show T [--provider P]                         one record in full
 *   tokens forget T [--provider P]                       delete it: T is accepted again
 *
 * show and forget look T up under every provider unless --provider says
 * which; both exit 1 naming T when no record exists. Tokens are printed in
 * full: this is the admin's tool, and forget needs them.
 *
 * Records live in the queue shard of their provider and token (token.h):
 * show and forget compute it and ask the connection serving it
 * (ctl_redis_at); list merges every shard's index newest first.
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

/* tok_parse_key splits "<prefix>{q<k>}:token:<provider>:<token>" from an index. */
static int tok_parse_key(const struct ctl *ctl, const char *key, enum pr_provider *p, const char **token)
{
    size_t pl = strlen(ctl->keys.prefix);
    if (strncmp(key, ctl->keys.prefix, pl) != 0 || strncmp(key + pl, "{q", 2) != 0)
        return PR_EINVAL;
    const char *tag_end = strstr(key + pl, "}:");
    if (tag_end == NULL || strncmp(tag_end + 2, "token:", 6) != 0)
        return PR_EINVAL;
    const char *prov = tag_end + 8, *colon = strchr(prov, ':');
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

int ctl_tokens(struct ctl *ctl, int argc, char **argv)
{
    const char *provider = NULL, *domain = NULL, *pos[2];
    long long page = 1;
    size_t npos = 0;
    char dom[256];
    if (argc < 1)
        return ctl_usage_error(ctl, "needs list, show T or forget T");
    const char *sub = argv[0];
    int is_list = strcmp(sub, "list") == 0;
    if (!is_list && strcmp(sub, "show") != 0 && strcmp(sub, "forget") != 0)
        return ctl_usage_error(ctl, "unknown subcommand '%s' (list, show, forget)", sub);
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
