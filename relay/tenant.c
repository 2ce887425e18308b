/*
 * tenant.c - the per-domain push record (layout drawn in tenant.h), read
 * and written synchronously for pushrelayctl's enable-push, disable-push
 * and show-push. It does not decide anything at ingest: the listener's
 * ingest script reads the same hash with one HMGET.
 *
 * Writes are one MULTI/EXEC pipeline so a record is never seen half made;
 * disable first WATCHes the record so that it never creates one.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "pushrelay/notif.h"
#include "tenant.h"

/* ------------------------------------------------------------------------
 * Command building: argv arrays with their own string storage
 * ------------------------------------------------------------------------ */

#define TENANT__ARGV_MAX (8 + 2 * (TENANT_EDGES_MAX + PR_PROVIDER_COUNT + 4))

struct tenant__argv {
    int argc;
    const char *argv[TENANT__ARGV_MAX];
    char buf[TENANT__ARGV_MAX * 32 + TENANT_EDGES_MAX * (DNSNAME_MAX + 8)];
    size_t used;
};

/* tenant__addf appends one formatted argument; PR_ETOOBIG when full. */
static int tenant__addf(struct tenant__argv *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int tenant__addf(struct tenant__argv *a, const char *fmt, ...)
{
    va_list ap;
    size_t room = sizeof(a->buf) - a->used;

    if (a->argc >= TENANT__ARGV_MAX)
        return PR_ETOOBIG;
    va_start(ap, fmt);
    int n = vsnprintf(a->buf + a->used, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room)
        return PR_ETOOBIG;
    a->argv[a->argc++] = a->buf + a->used;
    a->used += (size_t)n + 1;
    return 0;
}

static void tenant__seterr(struct tenant_store *ts, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void tenant__seterr(struct tenant_store *ts, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ts->err, sizeof(ts->err), fmt, ap);
    va_end(ap);
}

/*
 * tenant__reply reads the next reply of the pipeline. Returns 0 with
 * '*out' set (free it), or PR_EREDIS when the connection failed (then the
 * connection is unusable) or Redis answered an error.
 */
static int tenant__reply(struct tenant_store *ts, redisContext *c, redisReply **out)
{
    void *r = NULL;
    *out = NULL;
    if (redisGetReply(c, &r) != REDIS_OK || r == NULL) {
        tenant__seterr(ts, "%s", c->errstr[0] != '\0' ? c->errstr : "connection lost");
        return PR_EREDIS;
    }
    *out = r;
    if ((*out)->type == REDIS_REPLY_ERROR) {
        tenant__seterr(ts, "%s", (*out)->str);
        return PR_EREDIS;
    }
    return 0;
}

/* tenant__send queues one command on the output buffer of 'c'. */
static int tenant__send(redisContext *c, const struct tenant__argv *a)
{
    /* hiredis only reads argv; its prototype just lacks the inner const */
    return redisAppendCommandArgv(c, a->argc, (const char **)a->argv, NULL);
}

/* tenant__cmd_on runs one command on 'c' and hands back its reply (free it). */
static int tenant__cmd_on(struct tenant_store *ts, redisContext *c, const struct tenant__argv *a,
                          redisReply **out)
{
    if (tenant__send(c, a) != REDIS_OK) {
        tenant__seterr(ts, "%s", c->errstr);
        return PR_EREDIS;
    }
    int rc = tenant__reply(ts, c, out);
    if (rc != 0) {
        freeReplyObject(*out);
        *out = NULL;
    }
    return rc;
}

/* tenant__conn: the connection serving 'key' (NULL, with 'ts->err', when none). */
static redisContext *tenant__conn(struct tenant_store *ts, const char *key)
{
    redisContext *c = ts->redis_at != NULL ? ts->redis_at(ts->redis_at_arg, key) : ts->redis;
    if (c == NULL)
        tenant__seterr(ts, "no connection serves %.300s", key);
    return c;
}

/* tenant__cmd runs one command (argv[1] its key) on the connection serving its key. */
static int tenant__cmd(struct tenant_store *ts, const struct tenant__argv *a, redisReply **out)
{
    redisContext *c = tenant__conn(ts, a->argv[1]);
    *out = NULL;
    return c != NULL ? tenant__cmd_on(ts, c, a, out) : PR_EREDIS;
}

/*
 * tenant__transact sends MULTI, 'cmds', EXEC as one pipeline and reads every
 * reply (so the connection stays in step even after an error). Every
 * command names the same key, at argv[1]: the transaction goes to the
 * connection serving it. Returns 0, PR_EAGAIN when a WATCHed key changed
 * and EXEC did nothing, or PR_EREDIS.
 */
static int tenant__transact(struct tenant_store *ts, const struct tenant__argv *cmds, size_t n)
{
    static const char *const multi[] = { "MULTI" }, *const exec[] = { "EXEC" };
    redisContext *c = tenant__conn(ts, cmds[0].argv[1]);
    int rc = 0;

    if (c == NULL)
        return PR_EREDIS;

    if (redisAppendCommandArgv(c, 1, (const char **)multi, NULL) != REDIS_OK)
        goto io;
    for (size_t i = 0; i < n; i++)
        if (tenant__send(c, &cmds[i]) != REDIS_OK)
            goto io;
    if (redisAppendCommandArgv(c, 1, (const char **)exec, NULL) != REDIS_OK)
        goto io;

    for (size_t i = 0; i < n + 2; i++) {
        redisReply *r = NULL;
        int one = tenant__reply(ts, c, &r);
        if (one == 0 && i == n + 1) {
            if (r->type == REDIS_REPLY_NIL) {
                one = PR_EAGAIN;
            } else {
                for (size_t j = 0; r->type == REDIS_REPLY_ARRAY && j < r->elements; j++)
                    if (r->element[j]->type == REDIS_REPLY_ERROR) {
                        tenant__seterr(ts, "%s", r->element[j]->str);
                        one = PR_EREDIS;
                        break;
                    }
            }
        }
        freeReplyObject(r);
        if (one != 0 && rc == 0)
            rc = one;
        if (one == PR_EREDIS && c->err != 0)
            return rc; /* the connection is gone: nothing more to read */
    }
    return rc;
io:
    tenant__seterr(ts, "%s", c->errstr);
    return PR_EREDIS;
}

static int tenant__key(struct tenant_store *ts, const char *domain, struct tenant__argv *a)
{
    char key[KEYS_MAX];
    if (keys_tenant(ts->keys, domain, key, sizeof(key)) < 0)
        return PR_ETOOBIG;
    return tenant__addf(a, "%s", key);
}

static int tenant__tenants_key(struct tenant_store *ts, struct tenant__argv *a)
{
    char key[KEYS_MAX];
    if (keys_tenants(ts->keys, key, sizeof(key)) < 0)
        return PR_ETOOBIG;
    return tenant__addf(a, "%s", key);
}

/* ------------------------------------------------------------------------
 * Shard copies
 *
 * The ingest script of queue shard k may name only keys of that shard, so
 * it reads <p>{q<k>}:tenant:<d>, a copy of the authoritative <p>tenant:<d>.
 * Every write of a record is followed by a copy to each shard, and a copy
 * is always the record's fields exactly (a stale field cannot linger):
 *
 *   EVAL tenant_copy_lua 1 <p>{q<k>}:tenant:<d>  <mode>  <f1> <v1> <f2> <v2> ...
 *     mode "check"  answers 1 when the copy differs from the fields, else 0
 *     mode "write"  the same, and makes the copy equal to them (DEL + HSET);
 *                   with no fields (the record is gone) the copy goes too
 *
 * One key per call: under Redis Cluster it runs on the shard's primary.
 * ------------------------------------------------------------------------ */

static const char tenant_copy_lua[] =
    "local cur = redis.call('HGETALL', KEYS[1])\n"
    "local same = #cur == #ARGV - 1\n"
    "if same then\n"
    "  local m = {}\n"
    "  for i = 1, #cur, 2 do m[cur[i]] = cur[i + 1] end\n"
    "  for i = 2, #ARGV, 2 do\n"
    "    if m[ARGV[i]] ~= ARGV[i + 1] then same = false break end\n"
    "  end\n"
    "end\n"
    "if same then return 0 end\n"
    "if ARGV[1] == 'write' then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  if #ARGV > 1 then redis.call('HSET', KEYS[1], unpack(ARGV, 2)) end\n"
    "end\n"
    "return 1\n";

#define TENANT__COPY_HEAD 5     /* EVAL script 1 key mode */

/*
 * tenant__copy_argv fills 'argv'/'argvlen' (room for TENANT__COPY_HEAD +
 * record->elements) for the copy of 'record' (an HGETALL reply, empty when
 * the record is gone) into shard 'shard'; 'key' (KEYS_MAX bytes) receives
 * the copy's key. Returns argc, or PR_ETOOBIG.
 */
static int tenant__copy_argv(const struct keys *keys, const char *domain, unsigned shard,
                             const redisReply *record, int write, char *key, const char **argv,
                             size_t *argvlen)
{
    int klen = keys_q_tenant(keys, shard, domain, key, KEYS_MAX);
    if (klen < 0)
        return PR_ETOOBIG;
    int argc = 0;
    argv[argc] = "EVAL", argvlen[argc++] = 4;
    argv[argc] = tenant_copy_lua, argvlen[argc++] = sizeof(tenant_copy_lua) - 1;
    argv[argc] = "1", argvlen[argc++] = 1;
    argv[argc] = key, argvlen[argc++] = (size_t)klen;
    argv[argc] = write ? "write" : "check", argvlen[argc++] = 5;
    for (size_t i = 0; i < record->elements; i++) {
        argv[argc] = record->element[i]->str != NULL ? record->element[i]->str : "";
        argvlen[argc++] = record->element[i]->str != NULL ? record->element[i]->len : 0;
    }
    return argc;
}

/* tenant__addr writes "host:port" of 'c'. */
static const char *tenant__addr(const redisContext *c, char *buf, size_t len)
{
    const char *host = c->tcp.host != NULL ? c->tcp.host : "?";
    snprintf(buf, len, strchr(host, ':') != NULL ? "[%s]:%d" : "%s:%d", host, c->tcp.port);
    return buf;
}

int tenant_copies(struct tenant_store *ts, const char *domain, int write, unsigned *n_differ)
{
    struct tenant__argv a = { 0 };
    const char **argv = NULL;
    size_t *argvlen = NULL;
    redisReply *record = NULL;
    char dom[DNSNAME_MAX + 1], key[KEYS_MAX], first_err[sizeof(ts->err)] = "";
    int rc;

    *n_differ = 0;
    ts->n_failed = 0;
    if (dnsname_lower(domain, dom, sizeof(dom)) != 0)
        return PR_EINVAL;
    if (tenant__addf(&a, "HGETALL") | tenant__key(ts, dom, &a))
        return PR_ETOOBIG;
    if ((rc = tenant__cmd(ts, &a, &record)) != 0)
        return rc;
    if (record->type != REDIS_REPLY_ARRAY) {
        tenant__seterr(ts, "HGETALL answered type %d", record->type);
        rc = PR_EREDIS;
        goto out;
    }
    argv = calloc(TENANT__COPY_HEAD + record->elements, sizeof(*argv));
    argvlen = calloc(TENANT__COPY_HEAD + record->elements, sizeof(*argvlen));
    if (argv == NULL || argvlen == NULL) {
        rc = PR_ENOMEM;
        goto out;
    }
    for (unsigned k = 0; k < ts->keys->shards; k++) {
        int argc = tenant__copy_argv(ts->keys, dom, k, record, write, key, argv, argvlen);
        if (argc < 0) {
            rc = argc;
            goto out;
        }
        redisContext *c = tenant__conn(ts, key);
        redisReply *r = NULL;
        char addr[300];
        if (c == NULL) {
            tenant__seterr(ts, "no connection for its slot");
            addr[0] = '\0';
        } else if (redisAppendCommandArgv(c, argc, argv, argvlen) != REDIS_OK) {
            tenant__seterr(ts, "%s", c->errstr);
        } else if (tenant__reply(ts, c, &r) == 0 && r->type == REDIS_REPLY_INTEGER) {
            *n_differ += r->integer == 1;
            freeReplyObject(r);
            continue;
        } else if (r != NULL && r->type != REDIS_REPLY_ERROR) {
            tenant__seterr(ts, "the copy script answered type %d", r->type);
        }
        freeReplyObject(r);
        /* Go on with the other shards: each copy written is one less to repair. */
        if (ts->n_failed++ == 0)
            snprintf(first_err, sizeof(first_err), "shard %u (%.280s) at %.64s: %.120s", k, key,
                     c != NULL ? tenant__addr(c, addr, sizeof(addr)) : "?", ts->err);
    }
    if (ts->n_failed > 0) {
        tenant__seterr(ts, "%s", first_err);
        rc = PR_EREDIS;
    }
out:
    freeReplyObject(record);
    free(argv);
    free(argvlen);
    return rc;
}

/* ------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------ */

int tenant_enable(struct tenant_store *ts, const char *domain, const char *const *edges,
                  size_t n_edges, unsigned providers, long long rate_limit)
{
    /* Commands inside the transaction:
     *   HSET   key enabled 1 <provider> 1 ... edge:<fqdn> 1 ... updated_ms <now> [rate_limit N]
     *   HSETNX key created_ms <now>
     *   HSETNX key rate_limit 0            (when no rate limit was given)
     *   HSETNX key <other provider> 0      (each provider not being enabled)
     * then, on their own (keys outside the shards take single-key commands
     * only, they may live in different cluster slots):
     *   SADD   tenants <domain>
     *   the record copied to every shard (tenant_copies)
     */
    struct tenant__argv *cmds = NULL;
    char dom[DNSNAME_MAX + 1], edge[DNSNAME_MAX + 1];
    long long now = (long long)pr_now_ms();
    size_t n = 0;
    int rc = 0;

    if (dnsname_lower(domain, dom, sizeof(dom)) != 0 || n_edges == 0 ||
        n_edges > TENANT_EDGES_MAX || (providers & TENANT_ALL_PROVIDERS) == 0)
        return PR_EINVAL;
    if ((cmds = calloc(4 + PR_PROVIDER_COUNT, sizeof(*cmds))) == NULL)
        return PR_ENOMEM;

    struct tenant__argv *h = &cmds[n++];
    rc |= tenant__addf(h, "HSET");
    rc |= tenant__key(ts, dom, h);
    rc |= tenant__addf(h, TENANT_F_ENABLED) | tenant__addf(h, "1");
    for (int p = 0; p < PR_PROVIDER_COUNT; p++)
        if (providers & TENANT_PROVIDER(p))
            rc |= tenant__addf(h, "%s", pr_provider_name(p)) | tenant__addf(h, "1");
    for (size_t i = 0; i < n_edges; i++) {
        if (dnsname_lower(edges[i], edge, sizeof(edge)) != 0) {
            rc = PR_EINVAL;
            goto out;
        }
        rc |= tenant__addf(h, TENANT_F_EDGE_PREFIX "%s", edge) | tenant__addf(h, "1");
    }
    rc |= tenant__addf(h, TENANT_F_UPDATED) | tenant__addf(h, "%lld", now);
    if (rate_limit >= 0)
        rc |= tenant__addf(h, TENANT_F_RATE_LIMIT) | tenant__addf(h, "%lld", rate_limit);

    struct tenant__argv *c = &cmds[n++];
    rc |= tenant__addf(c, "HSETNX") | tenant__key(ts, dom, c);
    rc |= tenant__addf(c, TENANT_F_CREATED) | tenant__addf(c, "%lld", now);
    if (rate_limit < 0) {
        struct tenant__argv *r = &cmds[n++];
        rc |= tenant__addf(r, "HSETNX") | tenant__key(ts, dom, r);
        rc |= tenant__addf(r, TENANT_F_RATE_LIMIT) | tenant__addf(r, "0");
    }
    for (int p = 0; p < PR_PROVIDER_COUNT; p++) {
        if (providers & TENANT_PROVIDER(p))
            continue;
        struct tenant__argv *o = &cmds[n++];
        rc |= tenant__addf(o, "HSETNX") | tenant__key(ts, dom, o);
        rc |= tenant__addf(o, "%s", pr_provider_name(p)) | tenant__addf(o, "0");
    }
    struct tenant__argv *s = &cmds[n];
    rc |= tenant__addf(s, "SADD") | tenant__tenants_key(ts, s) | tenant__addf(s, "%s", dom);
    /* The builders only fail for oversized input: one error code covers them all. */
    if (rc != 0) {
        rc = PR_ETOOBIG;
        goto out;
    }
    redisReply *r = NULL;
    unsigned differ;
    if ((rc = tenant__transact(ts, cmds, n)) == 0 && (rc = tenant__cmd(ts, s, &r)) == 0)
        rc = tenant_copies(ts, dom, 1, &differ);
    freeReplyObject(r);
out:
    free(cmds);
    return rc;
}

int tenant_disable(struct tenant_store *ts, const char *domain, unsigned providers)
{
    char dom[DNSNAME_MAX + 1];
    struct tenant__argv *a = NULL, *h = NULL;
    redisReply *r = NULL;
    int rc = 0;

    if (dnsname_lower(domain, dom, sizeof(dom)) != 0)
        return PR_EINVAL;
    if ((a = calloc(2, sizeof(*a))) == NULL)
        return PR_ENOMEM;
    h = &a[1];
    if (tenant__addf(h, "HSET") | tenant__key(ts, dom, h)) {
        rc = PR_ETOOBIG;
        goto out;
    }
    if (providers == 0) {
        rc = tenant__addf(h, TENANT_F_ENABLED) | tenant__addf(h, "0");
    } else {
        for (int p = 0; p < PR_PROVIDER_COUNT; p++)
            if (providers & TENANT_PROVIDER(p))
                rc |= tenant__addf(h, "%s", pr_provider_name(p)) | tenant__addf(h, "0");
    }
    rc |= tenant__addf(h, TENANT_F_UPDATED) | tenant__addf(h, "%lld", (long long)pr_now_ms());
    if (rc != 0) {
        rc = PR_ETOOBIG;
        goto out;
    }

    /* WATCH + EXISTS + MULTI/EXEC: never create a record, and retry if the
     * record changed between the check and the write. */
    for (int attempt = 0; attempt < 5; attempt++) {
        a[0].argc = 0;
        a[0].used = 0;
        tenant__addf(&a[0], "WATCH");
        tenant__key(ts, dom, &a[0]);
        if ((rc = tenant__cmd(ts, &a[0], &r)) != 0)
            goto out;
        freeReplyObject(r);
        a[0].argv[0] = "EXISTS";
        if ((rc = tenant__cmd(ts, &a[0], &r)) != 0)
            goto out;
        int exists = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
        freeReplyObject(r);
        r = NULL;
        if (!exists) {
            /* UNWATCH names no key: it goes where the WATCH went */
            redisContext *c = tenant__conn(ts, a[0].argv[1]);
            a[0].argc = 1;
            a[0].argv[0] = "UNWATCH";
            rc = c != NULL ? tenant__cmd_on(ts, c, &a[0], &r) : PR_EREDIS;
            if (rc == 0)
                rc = PR_ENOTFOUND;
            goto out;
        }
        rc = tenant__transact(ts, h, 1);
        if (rc == 0) {
            unsigned differ;
            rc = tenant_copies(ts, dom, 1, &differ);
        }
        if (rc != PR_EAGAIN)
            goto out;
    }
    tenant__seterr(ts, "the record kept changing; try again");
    rc = PR_EREDIS;
out:
    freeReplyObject(r);
    free(a);
    return rc;
}

static int tenant__strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int tenant_read(struct tenant_store *ts, const char *domain, struct tenant *out)
{
    struct tenant__argv a = { 0 };
    redisReply *r = NULL;
    size_t plen = strlen(TENANT_F_EDGE_PREFIX);
    int rc;

    memset(out, 0, sizeof(*out));
    if (dnsname_lower(domain, out->domain, sizeof(out->domain)) != 0)
        return PR_EINVAL;
    if (tenant__addf(&a, "HGETALL") | tenant__key(ts, out->domain, &a))
        return PR_ETOOBIG;
    if ((rc = tenant__cmd(ts, &a, &r)) != 0)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        rc = r->type == REDIS_REPLY_ARRAY ? PR_ENOTFOUND : PR_EREDIS;
        if (rc == PR_EREDIS)
            tenant__seterr(ts, "HGETALL answered type %d", r->type);
        goto out;
    }
    if ((out->edges = calloc(r->elements / 2 + 1, sizeof(*out->edges))) == NULL) {
        rc = PR_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *f = r->element[i]->str, *v = r->element[i + 1]->str;
        enum pr_provider p;
        if (f == NULL || v == NULL)
            continue;
        if (strcmp(f, TENANT_F_ENABLED) == 0)
            out->enabled = strcmp(v, "1") == 0;
        else if (pr_provider_parse(f, &p) == 0)
            out->providers[p] = strcmp(v, "1") == 0;
        else if (strcmp(f, TENANT_F_RATE_LIMIT) == 0)
            out->rate_limit = strtoll(v, NULL, 10);
        else if (strcmp(f, TENANT_F_CREATED) == 0)
            out->created_ms = strtoll(v, NULL, 10);
        else if (strcmp(f, TENANT_F_UPDATED) == 0)
            out->updated_ms = strtoll(v, NULL, 10);
        else if (strncmp(f, TENANT_F_EDGE_PREFIX, plen) == 0 && strcmp(v, "1") == 0) {
            if ((out->edges[out->n_edges] = strdup(f + plen)) == NULL) {
                rc = PR_ENOMEM;
                goto out;
            }
            out->n_edges++;
        }
    }
    qsort(out->edges, out->n_edges, sizeof(*out->edges), tenant__strcmp);
out:
    freeReplyObject(r);
    if (rc != 0)
        tenant_clear(out);
    return rc;
}

void tenant_clear(struct tenant *t)
{
    for (size_t i = 0; i < t->n_edges; i++)
        free(t->edges[i]);
    free(t->edges);
    t->edges = NULL;
    t->n_edges = 0;
}

int tenant_list(struct tenant_store *ts, char ***domains, size_t *n)
{
    struct tenant__argv a = { 0 };
    redisReply *r = NULL;
    char **list = NULL;
    size_t count = 0;
    int rc;

    *domains = NULL;
    *n = 0;
    if (tenant__addf(&a, "SMEMBERS") | tenant__tenants_key(ts, &a))
        return PR_ETOOBIG;
    if ((rc = tenant__cmd(ts, &a, &r)) != 0)
        return rc;
    if (r->type != REDIS_REPLY_ARRAY) {
        tenant__seterr(ts, "SMEMBERS answered type %d", r->type);
        rc = PR_EREDIS;
        goto out;
    }
    if ((list = calloc(r->elements + 1, sizeof(*list))) == NULL) {
        rc = PR_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < r->elements; i++) {
        if (r->element[i]->str == NULL)
            continue;
        if ((list[count] = strdup(r->element[i]->str)) == NULL) {
            rc = PR_ENOMEM;
            goto out;
        }
        count++;
    }
    qsort(list, count, sizeof(*list), tenant__strcmp);
out:
    freeReplyObject(r);
    if (rc != 0) {
        tenant_list_free(list, count);
        return rc;
    }
    *domains = list;
    *n = count;
    return 0;
}

void tenant_list_free(char **domains, size_t n)
{
    for (size_t i = 0; domains != NULL && i < n; i++)
        free(domains[i]);
    free(domains);
}

/* ------------------------------------------------------------------------
 * Asynchronous repair of every domain's shard copies (the listener)
 *
 *   SMEMBERS tenants ──▶ for each domain, one at a time:
 *       HGETALL tenant:<d> ──▶ EVAL tenant_copy_lua "write" on each of the S shards
 *                               └─ all answered ──▶ next domain
 *   last domain done ──▶ one log line with the counts, 'done' called
 *
 * One domain at a time bounds what is pipelined to S commands however
 * many domains there are; nothing here waits on the loop.
 * ------------------------------------------------------------------------ */

struct tenant_repair {
    struct rconn *rc;
    const struct keys *keys;
    tenant_repair_done_cb done;
    void *arg;
    char **domains;
    size_t n_domains, next;
    unsigned pending;               /* copy scripts of the current domain not yet answered */
    unsigned copies, repaired, failed;
    char first_err[200];
};

static void tenant__repair_next(struct tenant_repair *t);

static void tenant__repair_fail(struct tenant_repair *t, const char *what, const redisReply *reply)
{
    if (t->failed++ == 0)
        snprintf(t->first_err, sizeof(t->first_err), "%s: %s", what,
                 reply == NULL ? "connection lost"
                 : reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
}

static void tenant__repair_finish(struct tenant_repair *t)
{
    if (t->failed == 0)
        pr_log_info("tenant", "shard copies of %zu domains checked: %u copies in %u shards, %u repaired",
                    t->n_domains, t->copies, t->keys->shards, t->repaired);
    else
        pr_log_warn("tenant", "shard copies of %zu domains checked: %u copies in %u shards, %u repaired, "
                    "%u failed (first: %s)", t->n_domains, t->copies, t->keys->shards, t->repaired,
                    t->failed, t->first_err);
    if (t->done != NULL)
        t->done(t->arg, t->failed);
    tenant_list_free(t->domains, t->n_domains);
    free(t);
}

static void tenant__repair_copy_cb(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct tenant_repair *t = arg;
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        t->repaired += reply->integer == 1;
    else
        tenant__repair_fail(t, "copy", reply);
    if (--t->pending == 0)
        tenant__repair_next(t);
}

static void tenant__repair_record_cb(struct rconn *rc, redisReply *reply, void *arg)
{
    struct tenant_repair *t = arg;
    const char *domain = t->domains[t->next - 1];
    const char **argv = NULL;
    size_t *argvlen = NULL;
    char key[KEYS_MAX];

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        tenant__repair_fail(t, domain, reply);
        goto next;
    }
    argv = calloc(TENANT__COPY_HEAD + reply->elements, sizeof(*argv));
    argvlen = calloc(TENANT__COPY_HEAD + reply->elements, sizeof(*argvlen));
    if (argv == NULL || argvlen == NULL) {
        tenant__repair_fail(t, domain, NULL);
        goto next;
    }
    /* 'pending' counts up first, so that a reply cannot finish the domain early. */
    t->pending = 1;
    for (unsigned k = 0; k < t->keys->shards; k++) {
        int argc = tenant__copy_argv(t->keys, domain, k, reply, 1, key, argv, argvlen);
        t->copies++;
        if (argc < 0 || rconn_cmd(rc, tenant__repair_copy_cb, t, argc, argv, argvlen) != 0)
            tenant__repair_fail(t, domain, NULL);
        else
            t->pending++;
    }
    if (--t->pending > 0) {
        free(argv);
        free(argvlen);
        return;
    }
next:
    free(argv);
    free(argvlen);
    tenant__repair_next(t);
}

/* tenant__repair_next reads the next domain's record, or finishes. */
static void tenant__repair_next(struct tenant_repair *t)
{
    char key[KEYS_MAX];
    while (t->next < t->n_domains) {
        const char *domain = t->domains[t->next++];
        int klen = keys_tenant(t->keys, domain, key, sizeof(key));
        const char *argv[] = { "HGETALL", key };
        if (klen >= 0 && rconn_cmd(t->rc, tenant__repair_record_cb, t, 2, argv, NULL) == 0)
            return;
        tenant__repair_fail(t, domain, NULL);
    }
    tenant__repair_finish(t);
}

static void tenant__repair_list_cb(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct tenant_repair *t = arg;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        tenant__repair_fail(t, "tenants", reply);
        tenant__repair_finish(t);
        return;
    }
    if ((t->domains = calloc(reply->elements + 1, sizeof(*t->domains))) == NULL) {
        tenant__repair_fail(t, "tenants", NULL);
        tenant__repair_finish(t);
        return;
    }
    for (size_t i = 0; i < reply->elements; i++)
        if (reply->element[i]->str != NULL &&
            (t->domains[t->n_domains] = strdup(reply->element[i]->str)) != NULL)
            t->n_domains++;
    tenant__repair_next(t);
}

int tenant_repair_start(struct rconn *rc, const struct keys *keys, tenant_repair_done_cb done,
                        void *arg)
{
    char key[KEYS_MAX];
    if (keys_tenants(keys, key, sizeof(key)) < 0)
        return PR_ETOOBIG;
    struct tenant_repair *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return PR_ENOMEM;
    t->rc = rc;
    t->keys = keys;
    t->done = done;
    t->arg = arg;
    const char *argv[] = { "SMEMBERS", key };
    if (rconn_cmd(rc, tenant__repair_list_cb, t, 2, argv, NULL) != 0) {
        free(t);
        return PR_EREDIS;
    }
    return 0;
}
