/*
 * ctl_push.c - pushrelayctl enable-push, disable-push and show-push: the
 * admin's view of the per-domain push record (relay/tenant.c holds the
 * Redis side). Flags are checked and names validated and lower-cased here,
 * so that a mistake is reported naming the flag (exit 2) before Redis is
 * touched. Every success prints one line saying what changed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "pushrelay/error.h"
#include "certinfo.h"
#include "ctl.h"
#include "tenant.h"

#define PUSH_RATE_MAX 1000000

/*
 * The provider flags of enable-push and disable-push, "--<wire name>" each,
 * generated from PR_PROVIDERS; sets flags[provider] of the caller's 'flags'.
 */
#define PUSH__PROVIDER_OPT(e, name) { "--" #name, CTL_OPT_FLAG, &flags[PR_PROVIDER_##e], 0, 0 },

static unsigned push__mask(const int flags[PR_PROVIDER_COUNT])
{
    unsigned mask = 0;
    for (int p = 0; p < PR_PROVIDER_COUNT; p++)
        if (flags[p])
            mask |= TENANT_PROVIDER(p);
    return mask;
}

/* push__names writes "apns,fcm" for 'mask' ("none" when empty). */
static const char *push__names(unsigned mask, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int p = 0; p < PR_PROVIDER_COUNT; p++)
        if (mask & TENANT_PROVIDER(p))
            o += (size_t)snprintf(buf + o, len - o, "%s%s", o > 0 ? "," : "",
                                  pr_provider_name((enum pr_provider)p));
    if (o == 0)
        snprintf(buf, len, "none");
    return buf;
}

/* push__domain validates and lower-cases the --domain value. */
static int push__domain(const struct ctl *ctl, const char *flag, const char *in, char *out,
                        size_t len)
{
    if (dnsname_lower(in, out, len) != 0)
        return ctl_usage_error(ctl, "%s '%s': not a valid DNS name", flag, in);
    return 0;
}

/* push__redis_at routes a shard copy's key for relay/tenant.c. */
static redisContext *push__redis_at(void *arg, const char *key)
{
    return ctl_redis_at(arg, key);
}

/* push__store prepares the tenant store once Redis is connected. */
static int push__store(struct ctl *ctl, struct tenant_store *ts)
{
    int rc = ctl_redis(ctl);
    if (rc != 0)
        return rc;
    char key[KEYS_MAX];
    memset(ts, 0, sizeof(*ts));
    /* tenant:<d> and tenants live outside the shards; route them like any key */
    if (keys_tenants(&ctl->keys, key, sizeof(key)) < 0 || (ts->redis = ctl_redis_at(ctl, key)) == NULL)
        return CTL_EXIT_FAIL;
    ts->redis_at = push__redis_at;
    ts->redis_at_arg = ctl;
    ts->keys = &ctl->keys;
    return 0;
}

/* push__failed reports a tenant_* error for 'domain' and returns the exit code. */
static int push__failed(struct ctl *ctl, const struct tenant_store *ts, const char *domain, int rc)
{
    char addr[300];
    ctl_redis_addr(ctl, addr, sizeof(addr));
    switch (rc) {
    case PR_ENOTFOUND:
        ctl_err(ctl->cmd->name, "domain %s has no push record", domain);
        return CTL_EXIT_FAIL;
    case PR_EREDIS:
        if (ts->n_failed > 0) {
            ctl_err(ctl->cmd->name,
                    "%s: the record was written but %u of %u queue shard copies were not (first: %s); "
                    "run the command again to repair them",
                    domain, ts->n_failed, ctl->keys.shards, ts->err);
            return CTL_EXIT_FAIL;
        }
        if (ts->redis != NULL && ts->redis->err != 0)
            ctl_err(ctl->cmd->name, "cannot reach Redis at %s: %s", addr, ts->err);
        else
            ctl_err(ctl->cmd->name, "Redis at %s: %s", addr, ts->err);
        return CTL_EXIT_FAIL;
    case PR_EINVAL:
    case PR_ETOOBIG:
        return ctl_usage_error(ctl, "%s", pr_strerror(rc));
    default:
        ctl_err(ctl->cmd->name, "%s", pr_strerror(rc));
        return CTL_EXIT_FAIL;
    }
}

/* ------------------------------------------------------------------------
 * enable-push, disable-push: one option table
 * ------------------------------------------------------------------------ */

/* What enable-push and disable-push were asked; 'dom' is --domain lower-cased. */
struct push__args {
    const char *domain;
    char dom[DNSNAME_MAX + 1];
    int flags[PR_PROVIDER_COUNT];
    unsigned mask;                  /* the provider flags given; 0: none */
    struct ctl_strs edges;
    long long rate;                 /* -1: not given */
};

/*
 * push__parse reads the options of enable-push ('enable') or disable-push
 * into 'a'. Both take --domain and the provider flags; enable-push also
 * --edge-fqdn and --rate-limit, the table's last two rows. Returns 0 or
 * CTL_EXIT_USAGE (printed).
 */
static int push__parse(struct ctl *ctl, int argc, char **argv, int enable, struct push__args *a)
{
    int *flags = a->flags;
    const struct ctl_opt opts[] = {
        { "--domain", CTL_OPT_STR, &a->domain, 0, 0 },
        PR_PROVIDERS(PUSH__PROVIDER_OPT)
        /* enable-push only: */
        { "--edge-fqdn", CTL_OPT_STRS, &a->edges, 0, 0 },
        { "--rate-limit", CTL_OPT_INT, &a->rate, 0, PUSH_RATE_MAX },
    };
    size_t n_opts = sizeof(opts) / sizeof(opts[0]) - (enable ? 0 : 2);
    int rc;

    memset(a, 0, sizeof(*a));
    a->rate = -1;
    if ((rc = ctl_parse_opts(ctl, argc, argv, opts, n_opts, NULL, 0, NULL)) != 0)
        return rc;
    if (a->domain == NULL)
        return ctl_usage_error(ctl, "--domain is required");
    if (enable && a->edges.n == 0)
        return ctl_usage_error(ctl, "--edge-fqdn is required (the edge servers of the domain)");
    if ((rc = push__domain(ctl, "--domain", a->domain, a->dom, sizeof(a->dom))) != 0)
        return rc;
    a->mask = push__mask(a->flags);
    return 0;
}

int ctl_enable_push(struct ctl *ctl, int argc, char **argv)
{
    struct push__args a;
    char names[64], list[CTL_STRS_MAX * (DNSNAME_MAX + 2)];
    char lower[CTL_STRS_MAX][DNSNAME_MAX + 1];
    const char *edge_ptrs[CTL_STRS_MAX];
    struct tenant_store ts;
    int rc;

    if ((rc = push__parse(ctl, argc, argv, 1, &a)) != 0)
        return rc;
    size_t o = 0;
    for (size_t i = 0; i < a.edges.n; i++) {
        if (dnsname_lower(a.edges.v[i], lower[i], sizeof(lower[i])) != 0)
            return ctl_usage_error(ctl, "--edge-fqdn '%s': not a valid DNS name", a.edges.v[i]);
        edge_ptrs[i] = lower[i];
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i > 0 ? "," : "", lower[i]);
    }
    unsigned mask = a.mask != 0 ? a.mask : TENANT_ALL_PROVIDERS; /* no provider flag: all of them */

    if ((rc = push__store(ctl, &ts)) != 0)
        return rc;
    rc = tenant_enable(&ts, a.dom, edge_ptrs, a.edges.n, mask, a.rate);
    if (rc != 0)
        return push__failed(ctl, &ts, a.dom, rc);

    printf("%s: push enabled for %s; edges: %s", a.dom, push__names(mask, names, sizeof(names)),
           list);
    if (a.rate > 0)
        printf("; rate limit: %lld/s", a.rate);
    else if (a.rate == 0)
        printf("; rate limit: unlimited");
    printf("\n");
    return CTL_EXIT_OK;
}

int ctl_disable_push(struct ctl *ctl, int argc, char **argv)
{
    struct push__args a;
    char names[64];
    struct tenant_store ts;
    int rc;

    if ((rc = push__parse(ctl, argc, argv, 0, &a)) != 0)
        return rc;
    if ((rc = push__store(ctl, &ts)) != 0)
        return rc;
    if ((rc = tenant_disable(&ts, a.dom, a.mask)) != 0)
        return push__failed(ctl, &ts, a.dom, rc);

    if (a.mask == 0)
        printf("%s: push disabled for the domain (providers and edges kept)\n", a.dom);
    else
        printf("%s: push disabled for %s\n", a.dom, push__names(a.mask, names, sizeof(names)));
    return CTL_EXIT_OK;
}

/* ------------------------------------------------------------------------
 * show-push
 * ------------------------------------------------------------------------ */

static const char *push__time(long long ms, char *buf, size_t len)
{
    struct tm tm;
    time_t s = (time_t)(ms / 1000);
    if (ms <= 0 || gmtime_r(&s, &tm) == NULL)
        snprintf(buf, len, "-");
    else
        strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

static unsigned push__tenant_mask(const struct tenant *t)
{
    return push__mask(t->providers);
}

static json_t *push__json(const struct tenant *t, unsigned stale)
{
    json_t *providers = json_array(), *edges = json_array();
    for (int p = 0; p < PR_PROVIDER_COUNT; p++)
        if (t->providers[p])
            json_array_append_new(providers, json_string(pr_provider_name((enum pr_provider)p)));
    for (size_t i = 0; i < t->n_edges; i++)
        json_array_append_new(edges, json_string(t->edges[i]));
    return json_pack("{s:s, s:b, s:o, s:o, s:I, s:I, s:I, s:I}", "domain", t->domain, "enabled",
                     t->enabled, "providers", providers, "edges", edges, "rate_limit",
                     (json_int_t)t->rate_limit, "created_ms", (json_int_t)t->created_ms,
                     "updated_ms", (json_int_t)t->updated_ms, "stale_copies", (json_int_t)stale);
}

/* One table row, its cells formatted. */
struct push__row {
    char domain[DNSNAME_MAX + 1], enabled[4], providers[32], *edges, rate[32], updated[32];
};

static void push__table(const struct tenant *ts, size_t n)
{
    static const char *const head[] = { "DOMAIN", "ENABLED", "PROVIDERS", "EDGES",
                                        "RATE LIMIT", "UPDATED" };
    struct push__row *rows = calloc(n, sizeof(*rows));
    size_t w[6];

    if (rows == NULL && n > 0) {
        ctl_err("show-push", "out of memory");
        return;
    }
    for (size_t c = 0; c < 6; c++)
        w[c] = strlen(head[c]);
    for (size_t i = 0; i < n; i++) {
        const struct tenant *t = &ts[i];
        struct push__row *r = &rows[i];
        size_t elen = 2;
        for (size_t e = 0; e < t->n_edges; e++)
            elen += strlen(t->edges[e]) + 1;
        if ((r->edges = malloc(elen)) == NULL)
            continue;
        r->edges[0] = '\0';
        for (size_t e = 0; e < t->n_edges; e++) {
            if (e > 0)
                strcat(r->edges, ",");
            strcat(r->edges, t->edges[e]);
        }
        if (t->n_edges == 0)
            strcpy(r->edges, "-");
        snprintf(r->domain, sizeof(r->domain), "%s", t->domain);
        snprintf(r->enabled, sizeof(r->enabled), "%s", t->enabled ? "yes" : "no");
        push__names(push__tenant_mask(t), r->providers, sizeof(r->providers));
        if (t->rate_limit > 0)
            snprintf(r->rate, sizeof(r->rate), "%lld/s", t->rate_limit);
        else
            snprintf(r->rate, sizeof(r->rate), "unlimited");
        push__time(t->updated_ms, r->updated, sizeof(r->updated));
        const char *cells[] = { r->domain, r->enabled, r->providers, r->edges, r->rate };
        for (size_t c = 0; c < 5; c++)
            if (strlen(cells[c]) > w[c])
                w[c] = strlen(cells[c]);
    }
    printf("%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", (int)w[0], head[0], (int)w[1], head[1],
           (int)w[2], head[2], (int)w[3], head[3], (int)w[4], head[4], head[5]);
    for (size_t i = 0; i < n; i++) {
        const struct push__row *r = &rows[i];
        printf("%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", (int)w[0], r->domain, (int)w[1],
               r->enabled, (int)w[2], r->providers, (int)w[3], r->edges != NULL ? r->edges : "?",
               (int)w[4], r->rate, r->updated);
        free(rows[i].edges);
    }
    free(rows);
}

int ctl_show_push(struct ctl *ctl, int argc, char **argv)
{
    const char *domain = NULL;
    int as_json = 0;
    const struct ctl_opt opts[] = {
        { "--domain", CTL_OPT_STR, &domain, 0, 0 },
        { "--json", CTL_OPT_FLAG, &as_json, 0, 0 },
    };
    char dom[DNSNAME_MAX + 1], **domains = NULL;
    struct tenant *tenants = NULL;
    unsigned *stale = NULL;
    struct tenant_store ts;
    size_t n_domains = 0, n = 0;
    int rc;

    if ((rc = ctl_parse_opts(ctl, argc, argv, opts, sizeof(opts) / sizeof(opts[0]), NULL, 0,
                             NULL)) != 0)
        return rc;
    if (domain != NULL && (rc = push__domain(ctl, "--domain", domain, dom, sizeof(dom))) != 0)
        return rc;
    if ((rc = push__store(ctl, &ts)) != 0)
        return rc;
    /* On stderr, so that --json output stays one document. */
    certinfo_print_warnings(ctl->cfg, time(NULL), stderr);

    if (domain != NULL) {
        if ((tenants = calloc(1, sizeof(*tenants))) == NULL)
            return push__failed(ctl, &ts, dom, PR_ENOMEM);
        if ((rc = tenant_read(&ts, dom, &tenants[0])) != 0) {
            rc = push__failed(ctl, &ts, dom, rc);
            goto out;
        }
        n = 1;
    } else {
        if ((rc = tenant_list(&ts, &domains, &n_domains)) != 0) {
            rc = push__failed(ctl, &ts, "", rc);
            goto out;
        }
        if ((tenants = calloc(n_domains + 1, sizeof(*tenants))) == NULL) {
            rc = push__failed(ctl, &ts, "", PR_ENOMEM);
            goto out;
        }
        for (size_t i = 0; i < n_domains; i++) {
            rc = tenant_read(&ts, domains[i], &tenants[n]);
            if (rc == PR_ENOTFOUND || rc == PR_EINVAL)
                continue; /* removed meanwhile, or not a name we wrote */
            if (rc != 0) {
                rc = push__failed(ctl, &ts, domains[i], rc);
                goto out;
            }
            n++;
        }
    }

    /* The listener reads the shards' copies, not this record: say when they differ. */
    if ((stale = calloc(n + 1, sizeof(*stale))) == NULL) {
        rc = push__failed(ctl, &ts, "", PR_ENOMEM);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if ((rc = tenant_copies(&ts, tenants[i].domain, 0, &stale[i])) != 0) {
            rc = push__failed(ctl, &ts, tenants[i].domain, rc);
            goto out;
        }
    }

    if (as_json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, push__json(&tenants[i], stale[i]));
        char *s = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(arr);
        if (s == NULL) {
            ctl_err(ctl->cmd->name, "out of memory");
            rc = CTL_EXIT_FAIL;
            goto out;
        }
        printf("%s\n", s);
        free(s);
    } else if (n == 0) {
        printf("no domain has a push record\n");
    } else {
        push__table(tenants, n);
    }
    for (size_t i = 0; i < n; i++)
        if (stale[i] > 0)
            fprintf(stderr,
                    "%s: %s: %u of %u queue shard copies differ from this record and the listener "
                    "reads those; repair: pushrelayctl enable-push --domain %s with its edges "
                    "again, or reload the listener (SIGHUP)\n",
                    CTL_PROG, tenants[i].domain, stale[i], ctl->keys.shards, tenants[i].domain);
    rc = CTL_EXIT_OK;
out:
    free(stale);
    for (size_t i = 0; tenants != NULL && i < n; i++)
        tenant_clear(&tenants[i]);
    free(tenants);
    tenant_list_free(domains, n_domains);
    return rc;
}
