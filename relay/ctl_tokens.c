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

static int tok_redis_failed(struct ctl *ctl)
{
    char addr[300];
    ctl_err("tokens", "cannot read the token records from Redis at %s: %s",
            ctl_redis_addr(ctl, addr, sizeof(addr)), ctl->redis->err ? ctl->redis->errstr : "bad reply");
    return CTL_EXIT_FAIL;
}

/* tok_parse_key splits "<prefix>token:<provider>:<token>" from the index. */
static int tok_parse_key(const struct ctl *ctl, const char *key, enum pr_provider *p, const char **token)
{
    size_t pl = strlen(ctl->keys.prefix);
    if (strncmp(key, ctl->keys.prefix, pl) != 0 || strncmp(key + pl, "token:", 6) != 0)
        return PR_EINVAL;
    const char *prov = key + pl + 6, *colon = strchr(prov, ':');
    char name[16];
    if (colon == NULL || (size_t)(colon - prov) >= sizeof(name))
        return PR_EINVAL;
    snprintf(name, sizeof(name), "%.*s", (int)(colon - prov), prov);
    if (pr_provider_parse(name, p) != 0)
        return PR_EINVAL;
    *token = colon + 1;
    return 0;
}

static int tok_list(struct ctl *ctl, const char *provider, const char *domain, long long page)
{
    enum pr_provider want = PR_PROVIDER_COUNT;
    char index[KEYS_MAX], start[24], stop[24], age[32];
    if (provider != NULL && pr_provider_parse(provider, &want) != 0)
        return ctl_usage_error(ctl, "--provider '%s': must be apns, fcm or mpns", provider);
    int rc = ctl_redis(ctl);
    if (rc != 0)
        return rc;
    keys_tokens(&ctl->keys, index, sizeof(index));
    long long skip = (page - 1) * TOK_PAGE, shown = 0, matched = 0;
    int64_t now = pr_now_ms();
    int more = 0;

    for (long long off = 0;; off += TOK_CHUNK) {
        snprintf(start, sizeof(start), "%lld", off);
        snprintf(stop, sizeof(stop), "%lld", off + TOK_CHUNK - 1);
        const char *zr[] = { "ZREVRANGE", index, start, stop };
        redisReply *r = redisCommandArgv(ctl->redis, 4, zr, NULL);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
            if (r != NULL)
                freeReplyObject(r);
            return tok_redis_failed(ctl);
        }
        size_t got = r->elements;
        /* One pipelined HMGET per record of the chunk, then filter and page. */
        redisReply *rec[TOK_CHUNK] = { 0 };
        enum pr_provider prov[TOK_CHUNK];
        const char *tok[TOK_CHUNK];
        int failed = 0;
        for (size_t i = 0; i < got; i++) {
            tok[i] = NULL;
            if (r->element[i]->type != REDIS_REPLY_STRING ||
                tok_parse_key(ctl, r->element[i]->str, &prov[i], &tok[i]) != 0 ||
                (want != PR_PROVIDER_COUNT && prov[i] != want)) {
                tok[i] = NULL;
                continue;
            }
            const char *hm[] = { "HMGET", r->element[i]->str, TOKEN_F_DOMAIN, TOKEN_F_REASON,
                                 TOKEN_F_SINCE };
            if (redisAppendCommandArgv(ctl->redis, 5, hm, NULL) != REDIS_OK)
                failed = 1;
        }
        for (size_t i = 0; i < got && !failed; i++)
            if (tok[i] != NULL && redisGetReply(ctl->redis, (void **)&rec[i]) != REDIS_OK)
                failed = 1;
        for (size_t i = 0; i < got && !failed && !more; i++) {
            const redisReply *h = rec[i];
            if (tok[i] == NULL || h == NULL || h->type != REDIS_REPLY_ARRAY || h->elements != 3)
                continue;
            if (h->element[2]->type != REDIS_REPLY_STRING)
                continue;           /* expired record whose index entry was not trimmed yet */
            const char *dom = h->element[0]->type == REDIS_REPLY_STRING ? h->element[0]->str : "";
            const char *reason = h->element[1]->type == REDIS_REPLY_STRING ? h->element[1]->str : "";
            if (domain != NULL && strcmp(dom, domain) != 0)
                continue;
            if (matched++ < skip)
                continue;
            if (shown == TOK_PAGE) {
                more = 1;
                break;
            }
            if (shown++ == 0)
                printf("%-8s %-24s %-20s %-10s %s\n", "PROVIDER", "DOMAIN", "REASON", "AGE", "TOKEN");
            printf("%-8s %-24s %-20s %-10s %s\n", pr_provider_name(prov[i]), dom[0] ? dom : "-",
                   reason[0] ? reason : "-",
                   ctl_time_age(strtoll(h->element[2]->str, NULL, 10), now, age, sizeof(age)), tok[i]);
        }
        for (size_t i = 0; i < got; i++)
            if (rec[i] != NULL)
                freeReplyObject(rec[i]);
        if (failed) {
            freeReplyObject(r);
            return tok_redis_failed(ctl);
        }
        freeReplyObject(r);
        if (more || got < TOK_CHUNK)
            break;
    }
    if (shown == 0 && page > 1)
        printf("no dead tokens on page %lld\n", page);
    else if (shown == 0)
        printf("no dead tokens recorded\n");
    else if (more)
        printf("(page %lld; more on --page %lld)\n", page, page + 1);
    return CTL_EXIT_OK;
}

/* tok_show prints the record of T under --provider, or under every provider that has one. */
static int tok_show(struct ctl *ctl, const char *token, const char *provider)
{
    enum pr_provider only = PR_PROVIDER_COUNT;
    char a[32], b[32], c[32];
    if (provider != NULL && pr_provider_parse(provider, &only) != 0)
        return ctl_usage_error(ctl, "--provider '%s': must be apns, fcm or mpns", provider);
    int rc = ctl_redis(ctl), found = 0;
    if (rc != 0)
        return rc;
    int64_t now = pr_now_ms();
    for (int p = 0; p < PR_PROVIDER_COUNT; p++) {
        if (only != PR_PROVIDER_COUNT && p != (int)only)
            continue;
        struct token_info ti;
        int g = token_get(ctl->redis, &ctl->keys, (enum pr_provider)p, token, &ti);
        if (g == PR_ENOTFOUND)
            continue;
        if (g == PR_ETOOBIG) {
            ctl_err("tokens show", "token too long (%zu bytes)", strlen(token));
            return CTL_EXIT_USAGE;
        }
        if (g != 0)
            return tok_redis_failed(ctl);
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
    if (provider != NULL && pr_provider_parse(provider, &only) != 0)
        return ctl_usage_error(ctl, "--provider '%s': must be apns, fcm or mpns", provider);
    int rc = ctl_redis(ctl), found = 0;
    if (rc != 0)
        return rc;
    for (int p = 0; p < PR_PROVIDER_COUNT; p++) {
        if (only != PR_PROVIDER_COUNT && p != (int)only)
            continue;
        int g = token_forget(ctl->redis, &ctl->keys, (enum pr_provider)p, token);
        if (g == PR_ENOTFOUND)
            continue;
        if (g == PR_ETOOBIG) {
            ctl_err("tokens forget", "token too long (%zu bytes)", strlen(token));
            return CTL_EXIT_USAGE;
        }
        if (g != 0)
            return tok_redis_failed(ctl);
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
