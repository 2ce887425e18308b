/*
 * dnsname.h - DNS host name syntax (RFC 1123 labels), shared by the
 * configuration loader (domains, hosts, allowed_hosts patterns) and the
 * tenant commands (domains and edge FQDNs).
 */
#ifndef PUSHRELAY_DNSNAME_H
#define PUSHRELAY_DNSNAME_H

#include <stddef.h>

#define DNSNAME_MAX 253

/*
 * dnsname_valid: 1 when 'name' is a host name: 1 to 253 bytes of dot
 * separated labels, each 1 to 63 of [A-Za-z0-9-] not starting or ending with
 * '-'. No trailing dot, no wildcard, no underscore. Else 0.
 */
int dnsname_valid(const char *name);

/*
 * dnsname_lower copies 'name' lower-cased into 'buf' when it is valid.
 * Returns 0, PR_EINVAL when 'name' is not a host name, PR_ETOOBIG when
 * 'buflen' is too small.
 */
int dnsname_lower(const char *name, char *buf, size_t buflen);

#endif
