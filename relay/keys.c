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

/*
 * key_join concatenates the prefix and up to four parts into 'buf'. Keys
 * are built several times per MESSAGE, so this is plain copying, not printf.
 */
static int key_join(char *buf, size_t buflen, const struct keys *k, const char *a, const char *b,
                    const char *c, const char *d)
{
    const char *parts[] = { k->prefix, a, b, c, d };
    size_t len = 0;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        if (parts[i] == NULL)
            continue;
        size_t n = strlen(parts[i]);
        if (len + n >= buflen)
            return PR_ETOOBIG;
        memcpy(buf + len, parts[i], n);
        len += n;
    }
    if (buflen == 0)
        return PR_ETOOBIG;
    buf[len] = '\0';
    return (int)len;
}

int keys_stream(const struct keys *k, enum pr_provider p, char *buf, size_t buflen)
{
    return key_join(buf, buflen, k, "{q}:in:", pr_provider_name(p), NULL, NULL);
}

int keys_retry(const struct keys *k, char *buf, size_t buflen)
{
    return key_join(buf, buflen, k, "{q}:retry", NULL, NULL, NULL);
}

int keys_dead(const struct keys *k, char *buf, size_t buflen)
{
    return key_join(buf, buflen, k, "{q}:dead", NULL, NULL, NULL);
}

int keys_dedup(const struct keys *k, const char *domain, const char *id, char *buf, size_t buflen)
{
    return key_join(buf, buflen, k, "dedup:", domain, ":", id);
}

int keys_tenant(const struct keys *k, const char *domain, char *buf, size_t buflen)
{
    return key_join(buf, buflen, k, "tenant:", domain, NULL, NULL);
}

int keys_tenants(const struct keys *k, char *buf, size_t buflen)
{
    return key_join(buf, buflen, k, "tenants", NULL, NULL, NULL);
}

int keys_rate(const struct keys *k, const char *domain, long long epoch_s, char *buf, size_t buflen)
{
    char sec[24];
    snprintf(sec, sizeof(sec), ":%lld", epoch_s);
    return key_join(buf, buflen, k, "rate:", domain, sec, NULL);
}

int keys_token(const struct keys *k, enum pr_provider p, const char *token, char *buf, size_t buflen)
{
    return key_join(buf, buflen, k, "token:", pr_provider_name(p), ":", token);
}

int keys_tokens(const struct keys *k, char *buf, size_t buflen)
{
    return key_join(buf, buflen, k, "tokens", NULL, NULL, NULL);
}

int keys_stats_total(const struct keys *k, char *buf, size_t buflen)
{
    return key_join(buf, buflen, k, "stats:total", NULL, NULL, NULL);
}

int keys_stats_minute(const struct keys *k, long long epoch_min, char *buf, size_t buflen)
{
    char min[24];
    snprintf(min, sizeof(min), "%lld", epoch_min);
    return key_join(buf, buflen, k, "stats:min:", min, NULL, NULL);
}

int keys_stats_domain(const struct keys *k, const char *domain, char *buf, size_t buflen)
{
    return key_join(buf, buflen, k, "stats:domain:", domain, NULL, NULL);
}

int keys_stats_hist(const struct keys *k, enum pr_provider p, const char *hist, char *buf, size_t buflen)
{
    char tail[32];
    snprintf(tail, sizeof(tail), ":%s", hist);
    return key_join(buf, buflen, k, "stats:hist:", pr_provider_name(p), tail, NULL);
}

int keys_outcome(const struct keys *k, const char *domain, const char *id, char *buf, size_t buflen)
{
    return key_join(buf, buflen, k, "outcome:", domain, ":", id);
}

int keys_ptoken(const struct keys *k, const char *team_id, const char *key_id, char *buf, size_t buflen)
{
    return key_join(buf, buflen, k, "ptoken:apns:", team_id, ":", key_id);
}
