/*
 * ctl.h - plumbing shared by pushrelayctl's subcommands: the command table
 * entry, option parsing, loading the configuration, a synchronous Redis
 * connection (AUTH and SELECT from the configuration), and error output in
 * one shape:
 *
 *   pushrelayctl: <what>: <why>          on stderr
 *
 * Exit codes (design section 8): 0 ok, 1 the operation failed, 2 usage or
 * configuration error.
 *
 * Adding a command: write relay/ctl_<name>.c with a function of type
 * ctl_run_fn, declare it in the list at the end of this header, and add one
 * line to the table in relay/pushrelayctl.c.
 */
#ifndef PUSHRELAY_CTL_H
#define PUSHRELAY_CTL_H

#include <stddef.h>
#include <stdio.h>
#include <hiredis/hiredis.h>
#include "pushrelay/config.h"
#include "keys.h"

#define CTL_PROG "pushrelayctl"
#define CTL_DEFAULT_CONFIG "/etc/pushrelay/pushrelay.conf"

enum ctl_exit {
    CTL_EXIT_OK = 0,
    CTL_EXIT_FAIL = 1,      /* the operation failed (Redis down, no such record) */
    CTL_EXIT_USAGE = 2,     /* bad command line or bad configuration */
};

struct ctl;
struct ctl_cluster;

/*
 * A subcommand. 'argv' holds the arguments after the command name ('argc'
 * of them, NULL terminated). Returns an enum ctl_exit, having printed its
 * result on stdout or its error on stderr.
 */
typedef int (*ctl_run_fn)(struct ctl *ctl, int argc, char **argv);

struct ctl_cmd {
    const char *name;       /* "enable-push" */
    ctl_run_fn run;
    const char *usage;      /* the arguments, e.g. "--domain D [--json]"; may hold newlines */
};

/* What a command works with; the fields fill in as the command asks. */
struct ctl {
    const char *config_path;        /* -c FILE */
    const struct ctl_cmd *cmd;      /* the command running */
    struct cfg *cfg;                /* after ctl_config() */
    struct keys keys;               /* after ctl_config(): built from redis.prefix */
    redisContext *redis;            /* after ctl_redis() */
    struct ctl_cluster *cluster;    /* after ctl_redis() with redis.cluster: slot map, connections */
};

/* ------------------------------------------------------------------------
 * Output
 * ------------------------------------------------------------------------ */

/* ctl_err prints "pushrelayctl: <what>: <why>" on stderr. */
void ctl_err(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * ctl_usage_error prints "pushrelayctl: <command>: <message>" and the
 * command's usage on stderr, and returns CTL_EXIT_USAGE.
 */
int ctl_usage_error(const struct ctl *ctl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * ctl_provider_arg reads the provider named by an option's value 'name'
 * into '*p' (NULL, the option not given: '*p' stays as it is); a name that
 * is no provider is a usage error naming them all.
 */
int ctl_provider_arg(const struct ctl *ctl, const char *name, enum pr_provider *p);

/* ctl_print_usage prints "usage: pushrelayctl [-c FILE] <name> <usage>" on 'out'. */
void ctl_print_usage(FILE *out, const struct ctl_cmd *cmd);

/* ------------------------------------------------------------------------
 * Options: "--name value", "--name=value", flags; "--" ends options.
 * ------------------------------------------------------------------------ */

#define CTL_STRS_MAX 32

enum ctl_opt_kind {
    CTL_OPT_FLAG,   /* 'dst' is int *: set to 1 */
    CTL_OPT_STR,    /* 'dst' is const char **: the value; given twice is an error */
    CTL_OPT_STRS,   /* 'dst' is struct ctl_strs *: every value, repeatable */
    CTL_OPT_INT,    /* 'dst' is long long *: a decimal integer in [min, max] */
};

struct ctl_strs {
    const char *v[CTL_STRS_MAX];
    size_t n;
};

struct ctl_opt {
    const char *name;       /* with its dashes: "--domain" */
    enum ctl_opt_kind kind;
    void *dst;
    long long min, max;     /* CTL_OPT_INT */
};

/*
 * ctl_parse_opts reads 'argv' against 'opts'. Arguments that are not options
 * go to 'pos' (at most 'max_pos'; 'pos' may be NULL when none are allowed)
 * and their count to '*n_pos' (may be NULL). Returns 0, or CTL_EXIT_USAGE
 * after printing which argument is at fault (unknown option, missing or bad
 * value, too many arguments).
 */
int ctl_parse_opts(const struct ctl *ctl, int argc, char **argv, const struct ctl_opt *opts,
                   size_t n_opts, const char **pos, size_t max_pos, size_t *n_pos);

/* ctl_wants_help: 1 when 'argv' holds -h or --help before any "--". */
int ctl_wants_help(int argc, char **argv);

/* ------------------------------------------------------------------------
 * Configuration and Redis
 * ------------------------------------------------------------------------ */

/*
 * ctl_config loads ctl->config_path once (later calls return at once).
 * Returns 0, or CTL_EXIT_USAGE after printing the loader's
 * "file:line: message".
 */
int ctl_config(struct ctl *ctl);

/*
 * ctl_redis loads the configuration, connects to its Redis and sends AUTH
 * and SELECT as configured (once; later calls return at once). Returns 0,
 * CTL_EXIT_USAGE (configuration) or CTL_EXIT_FAIL after printing
 * "cannot reach Redis at host:port: <reason>".
 */
int ctl_redis(struct ctl *ctl);

/*
 * ctl_redis_at: the connection that serves 'key' (after ctl_redis()). On
 * one Redis (direct or through Sentinel) that is ctl->redis; with
 * redis.cluster it is the primary owning the key's slot. Every command a
 * subcommand sends goes to ctl_redis_at(ctl, <its first key>), and a
 * MULTI/EXEC or pipeline only ever holds keys of one slot (one shard).
 * NULL (after printing which node could not be reached) when there is no
 * connection for it. In cluster mode the slot map is the one read when
 * ctl_redis() connected: a MOVED or ASK reply means it changed meanwhile
 * (ctl_redis_moved tells).
 */
redisContext *ctl_redis_at(struct ctl *ctl, const char *key);

/*
 * ctl_redis_moved: 1 when 'r' is a MOVED or ASK error (the cluster's slot
 * map changed during the command), after printing "<what>: slot map changed
 * during the command; run it again". The command then exits CTL_EXIT_FAIL.
 */
int ctl_redis_moved(const char *what, const redisReply *r);

/* ctl_redis_addr writes "host:port" ("[v6]:port") of the configured Redis. */
const char *ctl_redis_addr(const struct ctl *ctl, char *buf, size_t len);

/* ctl_close frees what ctl_config and ctl_redis made. */
void ctl_close(struct ctl *ctl);

/* ------------------------------------------------------------------------
 * Subcommands (relay/ctl_<name>.c); listed in relay/pushrelayctl.c
 * ------------------------------------------------------------------------ */

int ctl_enable_push(struct ctl *ctl, int argc, char **argv);
int ctl_disable_push(struct ctl *ctl, int argc, char **argv);
int ctl_show_push(struct ctl *ctl, int argc, char **argv);
int ctl_test_push(struct ctl *ctl, int argc, char **argv);
int ctl_stats(struct ctl *ctl, int argc, char **argv);
int ctl_tokens(struct ctl *ctl, int argc, char **argv);
int ctl_dlq(struct ctl *ctl, int argc, char **argv);

#endif
