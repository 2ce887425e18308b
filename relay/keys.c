/*
 * keys.c - the Redis key builders (layout drawn in keys.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "pushrelay/error.h"
#include "jbuf.h"
#include "keys.h"

int keys_init(struct keys *k, const char *prefix)
{
    if (prefix == NULL)
        prefix = "pr:";
    if (strlen(prefix) >= sizeof(k->prefix))
        return PR_EINVAL;
    strcpy(k->prefix, prefix);
    k->shards = 1;
    return 0;
}

int keys_set_shards(struct keys *k, int shards)
{
    if (shards < 1 || shards > 16384)
        return PR_EINVAL;
    k->shards = (unsigned)shards;
    return 0;
}

unsigned keys_shard_of(const struct keys *k, enum pr_provider p, const char *token, size_t len)
{
    uint32_t h = 2166136261u;
    const char *name = pr_provider_name(p);
    for (size_t i = 0; i <= strlen(name); i++)     /* the NUL separates name and token */
        h = (h ^ (unsigned char)name[i]) * 16777619u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)token[i]) * 16777619u;
    return h % k->shards;
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

/* key_tag writes the shard's "{q<k>}:" into 'tag' (at least 24 bytes). */
static const char *key_tag(char *tag, unsigned shard)
{
    tag[0] = '{';
    tag[1] = 'q';
    memcpy(tag + 2 + jbuf_dec(tag + 2, shard), "}:", 3);
    return tag;
}

int keys_q_stream(const struct keys *k, unsigned shard, enum pr_provider p, char *buf, size_t buflen)
{
    char tag[24];
    return key_join(buf, buflen, k, key_tag(tag, shard), "in:", pr_provider_name(p), NULL);
}

int keys_q_retry(const struct keys *k, unsigned shard, char *buf, size_t buflen)
{
    char tag[24];
    return key_join(buf, buflen, k, key_tag(tag, shard), "retry", NULL, NULL);
}

int keys_q_dead(const struct keys *k, unsigned shard, char *buf, size_t buflen)
{
    char tag[24];
    return key_join(buf, buflen, k, key_tag(tag, shard), "dead", NULL, NULL);
}

/* key_q5 joins "<p>{q<k>}:<what><a>:<b>" (the shard keys naming two parts). */
static int key_q5(char *buf, size_t buflen, const struct keys *k, unsigned shard, const char *what,
                  const char *a, const char *b)
{
    char head[48];
    size_t tl = strlen(key_tag(head, shard)), wl = strlen(what);
    if (tl + wl >= sizeof(head))
        return PR_ETOOBIG;
    memcpy(head + tl, what, wl + 1);
    return key_join(buf, buflen, k, head, a, ":", b);
}

int keys_q_dedup(const struct keys *k, unsigned shard, const char *domain, const char *id,
                 char *buf, size_t buflen)
{
    return key_q5(buf, buflen, k, shard, "dedup:", domain, id);
}

int keys_q_token(const struct keys *k, unsigned shard, enum pr_provider p, const char *token,
                 char *buf, size_t buflen)
{
    return key_q5(buf, buflen, k, shard, "token:", pr_provider_name(p), token);
}

int keys_q_tokens(const struct keys *k, unsigned shard, char *buf, size_t buflen)
{
    char tag[24];
    return key_join(buf, buflen, k, key_tag(tag, shard), "tokens", NULL, NULL);
}

int keys_q_tenant(const struct keys *k, unsigned shard, const char *domain, char *buf, size_t buflen)
{
    char tag[24];
    return key_join(buf, buflen, k, key_tag(tag, shard), "tenant:", domain, NULL);
}

int keys_q_rate(const struct keys *k, unsigned shard, const char *domain, long long epoch_s,
                char *buf, size_t buflen)
{
    char sec[JBUF_DEC_MAX];
    jbuf_dec(sec, epoch_s);
    return key_q5(buf, buflen, k, shard, "rate:", domain, sec);
}

int keys_q_outcome(const struct keys *k, unsigned shard, const char *domain, const char *id,
                   char *buf, size_t buflen)
{
    return key_q5(buf, buflen, k, shard, "outcome:", domain, id);
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
