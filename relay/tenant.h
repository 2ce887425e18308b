/*
 * tenant.h - the per-domain push enablement record, written by
 * `pushrelayctl enable-push/disable-push` and read by the listener's ingest
 * script (relay/queue.c) on every MESSAGE.
 *
 *   <p>tenant:<domain>  hash
 *     enabled      "1" | "0"        push enabled for the domain at all
 *     apns|fcm|mpns "1" | "0"       provider enabled for the domain
 *     edge:<fqdn>  "1"              one field per registered edge FQDN (lower case)
 *     rate_limit   "<N>"            MESSAGEs per second accepted, "0" = unlimited
 *     created_ms, updated_ms        epoch milliseconds
 *   <p>tenants         set of every domain that has a record
 *   <p>{q<k>}:tenant:<domain>   the record's copy in queue shard k (relay/keys.h),
 *                      the one the ingest script of that shard reads
 *
 * Every write of a record (enable, disable) copies it to every shard;
 * tenant_copies checks or repairs the copies of one domain and
 * tenant_repair_start those of every domain, asynchronously (the listener,
 * at start and on reload: the upgrade from the layout before shards, and
 * what makes a change of redis.shards safe).
 *
 * Domains and FQDNs are stored lower case; lookups lower-case their input.
 * The field layout is flat on purpose: the ingest script checks the domain,
 * the provider and the edge with one HMGET, no parsing.
 */
#ifndef PUSHRELAY_TENANT_H
#define PUSHRELAY_TENANT_H

#include <stddef.h>
#include <hiredis/hiredis.h>
#include "pushrelay/provider.h"
#include "dnsname.h"
#include "keys.h"
#include "rconn.h"

#define TENANT_F_ENABLED "enabled"
#define TENANT_F_EDGE_PREFIX "edge:"
#define TENANT_F_RATE_LIMIT "rate_limit"
#define TENANT_F_CREATED "created_ms"
#define TENANT_F_UPDATED "updated_ms"
/* provider fields use pr_provider_name(): "apns", "fcm", "mpns" */

/* ------------------------------------------------------------------------
 * Synchronous access for pushrelayctl (enable-push, disable-push,
 * show-push). The daemon reads the record from its ingest script instead.
 * Every command is an argv array; writes are one MULTI/EXEC.
 * ------------------------------------------------------------------------ */

#define TENANT_EDGES_MAX 32     /* edge FQDNs accepted in one enable call */

/* Provider sets for tenant_enable/tenant_disable: a bit per enum pr_provider. */
#define TENANT_PROVIDER(p) (1u << (p))
#define TENANT_ALL_PROVIDERS ((1u << PR_PROVIDER_COUNT) - 1)

/*
 * Where the records live. 'redis' (the keys outside the shards) and 'keys'
 * are not owned. 'redis_at', when set, names the connection serving a
 * shard copy's key (pushrelayctl: ctl_redis_at); NULL: 'redis' serves all.
 */
struct tenant_store {
    redisContext *redis;
    redisContext *(*redis_at)(void *arg, const char *key);
    void *redis_at_arg;
    const struct keys *keys;
    char err[512];              /* after PR_EREDIS: what Redis said or why it failed */
    unsigned n_failed;          /* after PR_EREDIS from the copies: shards not written */
};

/* One record as read back by tenant_read; release with tenant_clear. */
struct tenant {
    char domain[DNSNAME_MAX + 1];
    int enabled;
    int providers[PR_PROVIDER_COUNT];   /* 1: enabled for that provider */
    char **edges;                       /* lower case, sorted */
    size_t n_edges;
    long long rate_limit;               /* per second; 0 = unlimited */
    long long created_ms, updated_ms;
};

/*
 * tenant_enable creates or extends the record of 'domain': enabled = 1, the
 * providers in 'providers' set to 1 (others keep their value, "0" on a new
 * record), one field per edge in 'edges' added, rate_limit set when
 * 'rate_limit' >= 0 (else kept; "0" on a new record), timestamps updated,
 * in one MULTI/EXEC; then the domain is added to the tenants set and the
 * record copied to every shard (tenant_copies). Names are validated and
 * lower-cased. Returns 0; PR_EINVAL for a bad domain or edge, no edge, too
 * many edges or an empty provider set; PR_EREDIS (see 'ts->err'; with
 * 'ts->n_failed' > 0 the record was written but that many shard copies
 * were not, and 'ts->err' names the first shard and its Redis).
 */
int tenant_enable(struct tenant_store *ts, const char *domain, const char *const *edges,
                  size_t n_edges, unsigned providers, long long rate_limit);

/*
 * tenant_disable turns push off for 'domain': with 'providers' == 0 the
 * whole domain (enabled = 0; edges and providers are kept so a later
 * enable-push restores them), else only those providers, and copies the
 * record to every shard. Returns 0, PR_ENOTFOUND when the domain has no
 * record, PR_EINVAL, PR_EREDIS (as for tenant_enable).
 */
int tenant_disable(struct tenant_store *ts, const char *domain, unsigned providers);

/*
 * tenant_copies compares every shard's copy of the record of 'domain' with
 * the record and, when 'write', makes each differing copy equal to it (a
 * domain without a record loses its copies). '*n_differ' counts the copies
 * that differed. A shard that fails does not stop the others. Returns 0;
 * PR_EINVAL; PR_EREDIS with 'ts->err' (the record could not be read, or
 * 'ts->n_failed' shards failed and 'ts->err' names the first: "shard <k>
 * (<key>) at <host:port>: <why>"); PR_ENOMEM.
 */
int tenant_copies(struct tenant_store *ts, const char *domain, int write, unsigned *n_differ);

/*
 * tenant_read fills 'out' with the record of 'domain' (which it
 * lower-cases). Returns 0, PR_ENOTFOUND, PR_EINVAL, PR_EREDIS, PR_ENOMEM.
 * 'out' must be released with tenant_clear after a 0 return.
 */
int tenant_read(struct tenant_store *ts, const char *domain, struct tenant *out);
void tenant_clear(struct tenant *t);

/*
 * tenant_list stores the sorted domains of the tenants set in a new array
 * '*domains' of '*n' strings; free it with tenant_list_free. Returns 0,
 * PR_EREDIS or PR_ENOMEM.
 */
int tenant_list(struct tenant_store *ts, char ***domains, size_t *n);
void tenant_list_free(char **domains, size_t n);

/* ------------------------------------------------------------------------
 * Asynchronous repair for the listener
 * ------------------------------------------------------------------------ */

/* Called once when a repair finished; 'failed' counts what could not be checked or written. */
typedef void (*tenant_repair_done_cb)(void *arg, unsigned failed);

/*
 * tenant_repair_start makes every shard copy of every domain in the tenants
 * set equal to its record, on 'rc' (not owned; it must outlive the repair,
 * and freeing it ends the repair through its callbacks), one domain at a
 * time, and logs the counts when done. 'done' may be NULL. Returns 0 (the
 * repair runs), PR_EREDIS when 'rc' is not connected, PR_ENOMEM.
 */
int tenant_repair_start(struct rconn *rc, const struct keys *keys, tenant_repair_done_cb done,
                        void *arg);

#endif
