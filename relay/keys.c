/*
 * keys.c - the Redis key builders (layout drawn in keys.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pushrelay/error.h"
#include "keys.h"

int keys_init(struct keys *k, const char *prefix)
{
    if (prefix == NULL)
        prefix = "pr:";
    if (strlen(prefix) >= sizeof(k->prefix))
        return PR_EINVAL;
    strcpy(k->prefix, prefix);
    return 0;
}

static int key_fmt(char *buf, size_t buflen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int key_fmt(char *buf, size_t buflen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, buflen, fmt, ap);
    va_end(ap);
    return (n < 0 || (size_t)n >= buflen) ? PR_ETOOBIG : n;
}

int keys_stream(const struct keys *k, enum pr_provider p, char *buf, size_t buflen)
{
    return key_fmt(buf, buflen, "%s{q}:in:%s", k->prefix, pr_provider_name(p));
}

int keys_retry(const struct keys *k, char *buf, size_t buflen)
{
    return key_fmt(buf, buflen, "%s{q}:retry", k->prefix);
}

int keys_dead(const struct keys *k, char *buf, size_t buflen)
{
    return key_fmt(buf, buflen, "%s{q}:dead", k->prefix);
}

int keys_dedup(const struct keys *k, const char *domain, const char *id, char *buf, size_t buflen)
{
    return key_fmt(buf, buflen, "%sdedup:%s:%s", k->prefix, domain, id);
}

int keys_tenant(const struct keys *k, const char *domain, char *buf, size_t buflen)
{
    return key_fmt(buf, buflen, "%stenant:%s", k->prefix, domain);
}

int keys_tenants(const struct keys *k, char *buf, size_t buflen)
{
    return key_fmt(buf, buflen, "%stenants", k->prefix);
}

int keys_rate(const struct keys *k, const char *domain, long long epoch_s, char *buf, size_t buflen)
{
    return key_fmt(buf, buflen, "%srate:%s:%lld", k->prefix, domain, epoch_s);
}

int keys_token(const struct keys *k, enum pr_provider p, const char *token, char *buf, size_t buflen)
{
    return key_fmt(buf, buflen, "%stoken:%s:%s", k->prefix, pr_provider_name(p), token);
}

int keys_tokens(const struct keys *k, char *buf, size_t buflen)
{
    return key_fmt(buf, buflen, "%stokens", k->prefix);
}

int keys_stats(const struct keys *k, const char *scope, char *buf, size_t buflen)
{
    return key_fmt(buf, buflen, "%sstats:%s", k->prefix, scope);
}

int keys_outcome(const struct keys *k, const char *domain, const char *id, char *buf, size_t buflen)
{
    return key_fmt(buf, buflen, "%soutcome:%s:%s", k->prefix, domain, id);
}
