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

/* Where the records live. 'redis' and 'keys' are not owned. */
struct tenant_store {
    redisContext *redis;
    const struct keys *keys;
    char err[256];              /* after PR_EREDIS: what Redis said or why it failed */
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
 * and the domain added to the tenants set, all in one MULTI/EXEC. Names
 * are validated and lower-cased. Returns 0; PR_EINVAL for a bad domain or
 * edge, no edge, too many edges or an empty provider set; PR_EREDIS (see
 * 'ts->err').
 */
int tenant_enable(struct tenant_store *ts, const char *domain, const char *const *edges,
                  size_t n_edges, unsigned providers, long long rate_limit);

/*
 * tenant_disable turns push off for 'domain': with 'providers' == 0 the
 * whole domain (enabled = 0; edges and providers are kept so a later
 * enable-push restores them), else only those providers. Returns 0,
 * PR_ENOTFOUND when the domain has no record, PR_EINVAL, PR_EREDIS.
 */
int tenant_disable(struct tenant_store *ts, const char *domain, unsigned providers);

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

#endif
