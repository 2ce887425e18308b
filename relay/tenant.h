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

#define TENANT_F_ENABLED "enabled"
#define TENANT_F_EDGE_PREFIX "edge:"
#define TENANT_F_RATE_LIMIT "rate_limit"
#define TENANT_F_CREATED "created_ms"
#define TENANT_F_UPDATED "updated_ms"
/* provider fields use pr_provider_name(): "apns", "fcm", "mpns" */

#endif
