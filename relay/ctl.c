/*
 * ctl.c - pushrelayctl's shared plumbing (see ctl.h): error and usage
 * output, option parsing, loading the configuration and connecting to
 * Redis synchronously. Called by relay/pushrelayctl.c and every
 * relay/ctl_<name>.c; holds no command logic itself.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "pushrelay/error.h"
#include "ctl.h"
#include "rcluster.h"

#define CTL_REDIS_TIMEOUT_S 5

/* ------------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------------ */

void ctl_err(const char *what, const char *fmt, ...)
{
    char why[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s: %s\n", CTL_PROG, what, why);
}

void ctl_print_usage(FILE *out, const struct ctl_cmd *cmd)
{
    fprintf(out, "usage: %s [-c FILE] %s %s\n", CTL_PROG, cmd->name, cmd->usage);
}

int ctl_usage_error(const struct ctl *ctl, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ctl_err(ctl->cmd != NULL ? ctl->cmd->name : "usage", "%s", msg);
    if (ctl->cmd != NULL)
        ctl_print_usage(stderr, ctl->cmd);
    return CTL_EXIT_USAGE;
}

int ctl_provider_arg(const struct ctl *ctl, const char *name, enum pr_provider *p)
{
    if (name == NULL || pr_provider_parse(name, p) == 0)
        return 0;
    return ctl_usage_error(ctl, "--provider '%s': must be one of %s", name, pr_provider_list());
}

/* ------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------ */

int ctl_wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    }
    return 0;
}

/* ctl__parse_int reads a whole decimal integer in [min, max]. */
static int ctl__parse_int(const char *s, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
        return PR_EINVAL;
    *out = v;
    return 0;
}

int ctl_parse_opts(const struct ctl *ctl, int argc, char **argv, const struct ctl_opt *opts,
                   size_t n_opts, const char **pos, size_t max_pos, size_t *n_pos)
{
    size_t npos = 0;
    int only_pos = 0;

    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (only_pos || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (npos >= max_pos || pos == NULL)
                return ctl_usage_error(ctl, "unexpected argument '%s'", arg);
            pos[npos++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_pos = 1;
            continue;
        }

        const char *eq = strchr(arg, '=');
        size_t nlen = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        const struct ctl_opt *o = NULL;
        for (size_t j = 0; j < n_opts && o == NULL; j++)
            if (strlen(opts[j].name) == nlen && strncmp(opts[j].name, arg, nlen) == 0)
                o = &opts[j];
        if (o == NULL)
            return ctl_usage_error(ctl, "unknown option '%.*s'", (int)nlen, arg);

        if (o->kind == CTL_OPT_FLAG) {
            if (eq != NULL)
                return ctl_usage_error(ctl, "%s takes no value", o->name);
            *(int *)o->dst = 1;
            continue;
        }
        const char *val = eq != NULL ? eq + 1 : NULL;
        if (val == NULL) {
            if (i + 1 >= argc)
                return ctl_usage_error(ctl, "%s needs a value", o->name);
            val = argv[++i];
        }
        switch (o->kind) {
        case CTL_OPT_STR:
            if (*(const char **)o->dst != NULL)
                return ctl_usage_error(ctl, "%s given more than once", o->name);
            if (val[0] == '\0')
                return ctl_usage_error(ctl, "%s needs a value", o->name);
            *(const char **)o->dst = val;
            break;
        case CTL_OPT_STRS: {
            struct ctl_strs *s = o->dst;
            if (s->n >= CTL_STRS_MAX)
                return ctl_usage_error(ctl, "%s given more than %d times", o->name,
                                       CTL_STRS_MAX);
            if (val[0] == '\0')
                return ctl_usage_error(ctl, "%s needs a value", o->name);
            s->v[s->n++] = val;
            break;
        }
        case CTL_OPT_INT:
            if (ctl__parse_int(val, o->min, o->max, o->dst) != 0)
                return ctl_usage_error(ctl, "%s '%s': must be an integer from %lld to %lld",
                                       o->name, val, o->min, o->max);
            break;
        case CTL_OPT_FLAG:
            break;
        }
    }
    if (n_pos != NULL)
        *n_pos = npos;
    return 0;
}

/* ------------------------------------------------------------------------
 * Configuration and Redis
 * ------------------------------------------------------------------------ */

int ctl_config(struct ctl *ctl)
{
    char err[2048];

    if (ctl->cfg != NULL)
        return 0;
    if (cfg_load(ctl->config_path, &ctl->cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", CTL_PROG, err);
        return CTL_EXIT_USAGE;
    }
    if (keys_init(&ctl->keys, ctl->cfg->redis.prefix) != 0 ||
        keys_set_shards(&ctl->keys, ctl->cfg->redis.shards) != 0) {
        /* cfg_load bounds both; this only guards a layout change */
        ctl_err(ctl->config_path, "redis.prefix or redis.shards: out of range");
        return CTL_EXIT_USAGE;
    }
    return 0;
}

const char *ctl_redis_addr(const struct ctl *ctl, char *buf, size_t len)
{
    const struct cfg_redis *r = &ctl->cfg->redis;
    snprintf(buf, len, strchr(r->host, ':') != NULL ? "[%s]:%d" : "%s:%d", r->host, r->port);
    return buf;
}

/* ctl__simple sends one command and accepts a status "OK"; else prints why. */
static int ctl__simple(struct ctl *ctl, const char *what, int argc, const char **argv)
{
    char addr[300];
    redisReply *r = redisCommandArgv(ctl->redis, argc, argv, NULL);
    int rc = CTL_EXIT_OK;

    if (r == NULL) {
        ctl_err(what, "cannot reach Redis at %s: %s", ctl_redis_addr(ctl, addr, sizeof(addr)),
                ctl->redis->errstr);
        return CTL_EXIT_FAIL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        ctl_err(what, "Redis at %s refused: %s", ctl_redis_addr(ctl, addr, sizeof(addr)), r->str);
        rc = CTL_EXIT_FAIL;
    }
    freeReplyObject(r);
    return rc;
}

/*
 * ctl__sentinel_primary asks the configured sentinels in turn for the
 * primary of redis.master_name, like the daemon does, and stores the first
 * answer as the Redis to use (redis.host/port of this CLI's own copy of the
 * configuration, so that every message names the primary). Returns 0, or
 * CTL_EXIT_FAIL when no sentinel named one.
 */
static int ctl__sentinel_primary(struct ctl *ctl)
{
    struct cfg_redis *r = &ctl->cfg->redis;
    struct timeval tv = { CTL_REDIS_TIMEOUT_S, 0 };
    char why[300] = "";

    for (size_t i = 0; i < r->n_sentinels; i++) {
        const struct cfg_endpoint *s = &r->sentinels[i];
        redisContext *c = redisConnectWithTimeout(s->host, s->port, tv);
        redisReply *rep = NULL;
        if (c == NULL || c->err != 0) {
            snprintf(why, sizeof(why), "%s", c != NULL ? c->errstr : "out of memory");
            goto next;
        }
        redisSetTimeout(c, tv);
        if (r->sentinel_password != NULL && r->sentinel_password[0] != '\0') {
            const char *auth[] = { "AUTH", r->sentinel_password };
            rep = redisCommandArgv(c, 2, auth, NULL);
            if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
                snprintf(why, sizeof(why), "AUTH: %s", rep != NULL ? rep->str : c->errstr);
                goto next;
            }
            freeReplyObject(rep);
        }
        const char *get[] = { "SENTINEL", "get-master-addr-by-name", r->master_name };
        rep = redisCommandArgv(c, 3, get, NULL);
        if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
            rep->element[0]->type != REDIS_REPLY_STRING ||
            rep->element[1]->type != REDIS_REPLY_STRING) {
            snprintf(why, sizeof(why), "%s",
                     rep == NULL ? c->errstr
                     : rep->type == REDIS_REPLY_ERROR ? rep->str
                                                      : "it knows no primary by that name");
            goto next;
        }
        char *host = strdup(rep->element[0]->str);
        if (host == NULL) {
            snprintf(why, sizeof(why), "out of memory");
            goto next;
        }
        free(r->host);
        r->host = host;
        r->port = atoi(rep->element[1]->str);
        freeReplyObject(rep);
        redisFree(c);
        return 0;
next:
        fprintf(stderr, "%s: sentinel %s:%u: %s\n", CTL_PROG, s->host, s->port, why);
        if (rep != NULL)
            freeReplyObject(rep);
        if (c != NULL)
            redisFree(c);
    }
    fprintf(stderr, "%s: %s: redis.sentinels: no sentinel named a primary for \"%s\"\n", CTL_PROG,
            ctl->config_path, r->master_name);
    return CTL_EXIT_FAIL;
}

/* ------------------------------------------------------------------------
 * Redis Cluster (redis.cluster): the slot map is read once, from the first
 * seed that answers; each primary is connected to when a key it serves is
 * first used. The configured seed that answered becomes ctl->redis (and
 * redis.host/port of this CLI's copy of the configuration, for messages).
 * ------------------------------------------------------------------------ */

struct ctl_cluster {
    struct rcluster_map *map;
    redisContext **conns;           /* conns[i]: map->nodes[i], NULL until used */
};

static void ctl__cluster_free(struct ctl_cluster *cl)
{
    if (cl == NULL)
        return;
    for (size_t i = 0; cl->map != NULL && i < cl->map->n_nodes; i++)
        if (cl->conns[i] != NULL)
            redisFree(cl->conns[i]);
    free(cl->conns);
    rcluster_map_free(cl->map);
    free(cl);
}

/*
 * ctl__connect opens a synchronous connection to 'host':'port' and sends
 * AUTH as configured. NULL, with 'why' filled, on failure.
 */
static redisContext *ctl__connect(const struct ctl *ctl, const char *host, int port, char *why,
                                  size_t len)
{
    struct timeval tv = { CTL_REDIS_TIMEOUT_S, 0 };
    const struct cfg_redis *r = &ctl->cfg->redis;
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (c == NULL || c->err != 0) {
        snprintf(why, len, "%s", c != NULL ? c->errstr : "out of memory");
        goto fail;
    }
    redisSetTimeout(c, tv);
    if (r->password != NULL && r->password[0] != '\0') {
        const char *auth[] = { "AUTH", r->password };
        redisReply *rep = redisCommandArgv(c, 2, auth, NULL);
        int ok = rep != NULL && rep->type != REDIS_REPLY_ERROR;
        if (!ok)
            snprintf(why, len, "AUTH: %s", rep != NULL ? rep->str : c->errstr);
        if (rep != NULL)
            freeReplyObject(rep);
        if (!ok)
            goto fail;
    }
    return c;
fail:
    if (c != NULL)
        redisFree(c);
    return NULL;
}

/*
 * ctl__cluster_map asks the seeds in turn for the slot map and makes the
 * first that answers the Redis of messages and of keyless commands.
 * Returns 0, or CTL_EXIT_FAIL when none did.
 */
static int ctl__cluster_map(struct ctl *ctl)
{
    struct cfg_redis *r = &ctl->cfg->redis;
    char why[300] = "";

    for (size_t i = 0; i < r->n_cluster; i++) {
        const struct cfg_endpoint *s = &r->cluster[i];
        redisReply *rep = NULL;
        struct rcluster_map *map = NULL;
        redisContext *c = ctl__connect(ctl, s->host, s->port, why, sizeof(why));
        if (c == NULL)
            goto next;
        const char *slots[] = { "CLUSTER", "SLOTS" };
        rep = redisCommandArgv(c, 2, slots, NULL);
        if (rep == NULL || rep->type == REDIS_REPLY_ERROR) {
            snprintf(why, sizeof(why), "CLUSTER SLOTS: %s", rep != NULL ? rep->str : c->errstr);
            goto next;
        }
        if (rcluster_map_parse(rep, s->host, &map) != 0) {
            snprintf(why, sizeof(why), "CLUSTER SLOTS: not a slot map");
            goto next;
        }
        struct ctl_cluster *cl = calloc(1, sizeof(*cl));
        char *host = strdup(s->host);
        if (cl == NULL || host == NULL ||
            (cl->conns = calloc(map->n_nodes > 0 ? map->n_nodes : 1, sizeof(*cl->conns))) == NULL) {
            free(cl);
            free(host);
            snprintf(why, sizeof(why), "out of memory");
            goto next;
        }
        cl->map = map;
        map = NULL;
        ctl->cluster = cl;
        free(r->host);
        r->host = host;
        r->port = s->port;
        freeReplyObject(rep);
        redisFree(c);
        return 0;
next:
        fprintf(stderr, "%s: cluster node %s:%u: %s\n", CTL_PROG, s->host, s->port, why);
        rcluster_map_free(map);
        if (rep != NULL)
            freeReplyObject(rep);
        if (c != NULL)
            redisFree(c);
    }
    fprintf(stderr, "%s: %s: redis.cluster: no seed node answered CLUSTER SLOTS\n", CTL_PROG,
            ctl->config_path);
    return CTL_EXIT_FAIL;
}

int ctl_redis_moved(const char *what, const redisReply *r)
{
    struct rcluster_redirect to;
    if (r == NULL || r->type != REDIS_REPLY_ERROR ||
        rcluster_redirect_parse(r->str, r->len, &to) != 0)
        return 0;
    ctl_err(what, "slot map changed during the command; run it again");
    return 1;
}

int ctl_redis(struct ctl *ctl)
{
    struct timeval tv = { CTL_REDIS_TIMEOUT_S, 0 };
    char addr[300], db[16];
    int rc;

    if (ctl->redis != NULL)
        return 0;
    if ((rc = ctl_config(ctl)) != 0)
        return rc;
    const struct cfg_redis *r = &ctl->cfg->redis;
    if (r->n_sentinels > 0 && (rc = ctl__sentinel_primary(ctl)) != 0)
        return rc;
    if (r->n_cluster > 0 && (rc = ctl__cluster_map(ctl)) != 0)
        return rc;
    ctl_redis_addr(ctl, addr, sizeof(addr));

    ctl->redis = redisConnectWithTimeout(r->host, r->port, tv);
    if (ctl->redis == NULL || ctl->redis->err != 0) {
        fprintf(stderr, "%s: cannot reach Redis at %s: %s\n", CTL_PROG, addr,
                ctl->redis != NULL ? ctl->redis->errstr : "out of memory");
        return CTL_EXIT_FAIL;
    }
    redisSetTimeout(ctl->redis, tv);

    if (r->password != NULL && r->password[0] != '\0') {
        const char *argv[] = { "AUTH", r->password };
        if ((rc = ctl__simple(ctl, "AUTH", 2, argv)) != 0)
            return rc;
    }
    if (r->db != 0) {
        snprintf(db, sizeof(db), "%d", r->db);
        const char *argv[] = { "SELECT", db };
        if ((rc = ctl__simple(ctl, "SELECT", 2, argv)) != 0)
            return rc;
    }
    if (r->n_sentinels > 0) {
        /* A sentinel may name a demoted primary while a failover settles. */
        const char *argv[] = { "ROLE" };
        redisReply *role = redisCommandArgv(ctl->redis, 1, argv, NULL);
        int master = role != NULL && role->type == REDIS_REPLY_ARRAY && role->elements > 0 &&
                     role->element[0]->type == REDIS_REPLY_STRING &&
                     strcmp(role->element[0]->str, "master") == 0;
        if (role != NULL)
            freeReplyObject(role);
        if (!master) {
            fprintf(stderr, "%s: Redis at %s, named by the sentinels, is not a primary "
                            "(a failover in progress?); try again\n", CTL_PROG, addr);
            return CTL_EXIT_FAIL;
        }
    }
    return 0;
}

void ctl_close(struct ctl *ctl)
{
    if (ctl->redis != NULL)
        redisFree(ctl->redis);
    ctl->redis = NULL;
    ctl__cluster_free(ctl->cluster);
    ctl->cluster = NULL;
    cfg_free(ctl->cfg);
    ctl->cfg = NULL;
}

redisContext *ctl_redis_at(struct ctl *ctl, const char *key)
{
    struct ctl_cluster *cl = ctl->cluster;
    char why[300];
    if (cl == NULL || ctl->redis == NULL)
        return ctl->redis;
    unsigned slot = rcluster_key_slot(key, strlen(key));
    uint16_t i = cl->map->owner[slot];
    if (i == RCLUSTER_NO_NODE) {
        ctl_err(key, "no primary of the cluster serves its slot %u (cluster down?)", slot);
        return NULL;
    }
    const struct cfg_endpoint *n = &cl->map->nodes[i];
    if (n->port == ctl->cfg->redis.port && strcmp(n->host, ctl->cfg->redis.host) == 0)
        return ctl->redis;
    if (cl->conns[i] == NULL &&
        (cl->conns[i] = ctl__connect(ctl, n->host, n->port, why, sizeof(why))) == NULL) {
        ctl_err(key, strchr(n->host, ':') != NULL ? "cannot reach Redis at [%s]:%u: %s"
                                                  : "cannot reach Redis at %s:%u: %s",
                n->host, n->port, why);
        return NULL;
    }
    return cl->conns[i];
}
