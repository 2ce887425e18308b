/*
 * rcluster.c - the Redis Cluster protocol without I/O (see rcluster.h):
 * key slots, command routing keys, the CLUSTER SLOTS slot map and MOVED /
 * ASK redirections. It opens no connection and keeps no state; rconn.c and
 * ctl.c do the talking.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pushrelay/error.h"
#include "rcluster.h"

/* ------------------------------------------------------------------------
 * Key slots: slot = CRC16(key or its hash tag) mod 16384
 * ------------------------------------------------------------------------ */

/* Bit by bit rather than by table: keys are short, and a 512-byte table
 * would be one more fact to get right. */
uint16_t rcluster_crc16(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) != 0 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned rcluster_key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open != NULL) {
        size_t rest = len - (size_t)(open - key) - 1;
        const char *close = memchr(open + 1, '}', rest);
        /* "{}" hashes the whole key: an empty tag would put every such key in one slot. */
        if (close != NULL && close > open + 1)
            return rcluster_crc16(open + 1, (size_t)(close - open - 1)) & (RCLUSTER_SLOTS - 1);
    }
    return rcluster_crc16(key, len) & (RCLUSTER_SLOTS - 1);
}

/* ------------------------------------------------------------------------
 * Which argument routes a command
 *
 * Only the commands whose key is not argv[1] are listed; anything else
 * with an argument is routed by argv[1].
 * ------------------------------------------------------------------------ */

enum rcluster_keypos {
    RCLUSTER_ARG1,          /* GET key, XADD key ...: the default */
    RCLUSTER_KEYLESS,       /* any node */
    RCLUSTER_NUMKEYS,       /* EVAL script numkeys key... : argv[3] when numkeys > 0 */
    RCLUSTER_STREAMS,       /* XREAD[GROUP] ... STREAMS key... id... */
    RCLUSTER_SUBCMD,        /* XGROUP CREATE key ...: argv[2] */
};

static const struct {
    const char *name;
    enum rcluster_keypos pos;
} rcluster_cmds[] = {
    { "EVAL", RCLUSTER_NUMKEYS },   { "EVALSHA", RCLUSTER_NUMKEYS },
    { "EVAL_RO", RCLUSTER_NUMKEYS }, { "EVALSHA_RO", RCLUSTER_NUMKEYS },
    { "FCALL", RCLUSTER_NUMKEYS },  { "FCALL_RO", RCLUSTER_NUMKEYS },
    { "XREAD", RCLUSTER_STREAMS },  { "XREADGROUP", RCLUSTER_STREAMS },
    { "XGROUP", RCLUSTER_SUBCMD },  { "XINFO", RCLUSTER_SUBCMD },
    { "OBJECT", RCLUSTER_SUBCMD },  { "MEMORY", RCLUSTER_SUBCMD },
    { "PING", RCLUSTER_KEYLESS },   { "ECHO", RCLUSTER_KEYLESS },
    { "TIME", RCLUSTER_KEYLESS },   { "INFO", RCLUSTER_KEYLESS },
    { "ROLE", RCLUSTER_KEYLESS },   { "SCRIPT", RCLUSTER_KEYLESS },
    { "FUNCTION", RCLUSTER_KEYLESS }, { "MULTI", RCLUSTER_KEYLESS },
    { "EXEC", RCLUSTER_KEYLESS },   { "DISCARD", RCLUSTER_KEYLESS },
    { "WAIT", RCLUSTER_KEYLESS },   { "WAITAOF", RCLUSTER_KEYLESS },
    { "CLUSTER", RCLUSTER_KEYLESS }, { "CLIENT", RCLUSTER_KEYLESS },
    { "ASKING", RCLUSTER_KEYLESS }, { "READONLY", RCLUSTER_KEYLESS },
    { "READWRITE", RCLUSTER_KEYLESS }, { "AUTH", RCLUSTER_KEYLESS },
    { "HELLO", RCLUSTER_KEYLESS },  { "SELECT", RCLUSTER_KEYLESS },
    { "CONFIG", RCLUSTER_KEYLESS }, { "COMMAND", RCLUSTER_KEYLESS },
    { "DBSIZE", RCLUSTER_KEYLESS }, { "FLUSHALL", RCLUSTER_KEYLESS },
    { "FLUSHDB", RCLUSTER_KEYLESS }, { "SCAN", RCLUSTER_KEYLESS },
    { "KEYS", RCLUSTER_KEYLESS },   { "RANDOMKEY", RCLUSTER_KEYLESS },
    { "SLOWLOG", RCLUSTER_KEYLESS }, { "LATENCY", RCLUSTER_KEYLESS },
    { "PUBLISH", RCLUSTER_KEYLESS }, { "DEBUG", RCLUSTER_KEYLESS },
};

/* rcluster__arg_is: argv[i] equals 'word', ignoring case. */
static int rcluster__arg_is(const char **argv, const size_t *argvlen, int i, const char *word)
{
    size_t len = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
    return len == strlen(word) && strncasecmp(argv[i], word, len) == 0;
}

int rcluster_cmd_key(int argc, const char **argv, const size_t *argvlen)
{
    if (argc < 2)
        return -1;
    enum rcluster_keypos pos = RCLUSTER_ARG1;
    for (size_t i = 0; i < sizeof(rcluster_cmds) / sizeof(rcluster_cmds[0]); i++)
        if (rcluster__arg_is(argv, argvlen, 0, rcluster_cmds[i].name)) {
            pos = rcluster_cmds[i].pos;
            break;
        }
    switch (pos) {
    case RCLUSTER_ARG1:
        return 1;
    case RCLUSTER_KEYLESS:
        return -1;
    case RCLUSTER_NUMKEYS: {
        if (argc < 4)
            return -1;
        size_t len = argvlen != NULL ? argvlen[2] : strlen(argv[2]);
        /* numkeys "0" (or anything that is not a positive number): keyless */
        int positive = len > 0 && len < 10;
        for (size_t j = 0; j < len && positive; j++)
            positive = argv[2][j] >= '0' && argv[2][j] <= '9';
        return positive && strtol(argv[2], NULL, 10) > 0 ? 3 : -1;
    }
    case RCLUSTER_STREAMS: {
        /* XREADGROUP GROUP <group> <consumer>: those two may be named "STREAMS" */
        int first = rcluster__arg_is(argv, argvlen, 0, "XREADGROUP") ? 4 : 1;
        for (int i = first; i + 1 < argc; i++)
            if (rcluster__arg_is(argv, argvlen, i, "STREAMS"))
                return i + 1;
        return -1;
    }
    case RCLUSTER_SUBCMD:
        return argc > 2 ? 2 : -1;
    }
    return 1;
}

/* ------------------------------------------------------------------------
 * The slot map
 * ------------------------------------------------------------------------ */

void rcluster_map_free(struct rcluster_map *m)
{
    if (m == NULL)
        return;
    free(m->nodes);
    free(m);
}

int rcluster_map_node(const struct rcluster_map *m, const char *host, unsigned port)
{
    for (size_t i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].port == port && strcmp(m->nodes[i].host, host) == 0)
            return (int)i;
    return -1;
}

/* rcluster__int: an integer element (CLUSTER SLOTS sends integers) in [min, max]. */
static int rcluster__int(const redisReply *r, long long min, long long max, long long *out)
{
    if (r->type != REDIS_REPLY_INTEGER || r->integer < min || r->integer > max)
        return PR_EPROTO;
    *out = r->integer;
    return 0;
}

/* rcluster__add_node: the index of 'host':'port' in m, added when new. */
static int rcluster__add_node(struct rcluster_map *m, const char *host, unsigned port)
{
    int at = rcluster_map_node(m, host, port);
    if (at >= 0)
        return at;
    if (m->n_nodes >= RCLUSTER_NO_NODE)
        return PR_EPROTO;
    struct cfg_endpoint *n = realloc(m->nodes, (m->n_nodes + 1) * sizeof(*n));
    if (n == NULL)
        return PR_ENOMEM;
    m->nodes = n;
    snprintf(n[m->n_nodes].host, sizeof(n[m->n_nodes].host), "%s", host);
    n[m->n_nodes].port = (uint16_t)port;
    return (int)m->n_nodes++;
}

int rcluster_map_parse(const redisReply *reply, const char *asked_host, struct rcluster_map **out)
{
    int rv = PR_EPROTO;
    struct rcluster_map *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return PR_ENOMEM;
    for (size_t s = 0; s < RCLUSTER_SLOTS; s++)
        m->owner[s] = RCLUSTER_NO_NODE;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
        goto out;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *range = reply->element[i];
        long long start, end, port;
        if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
            rcluster__int(range->element[0], 0, RCLUSTER_SLOTS - 1, &start) != 0 ||
            rcluster__int(range->element[1], start, RCLUSTER_SLOTS - 1, &end) != 0)
            goto out;
        const redisReply *primary = range->element[2];  /* replicas follow: not used */
        if (primary->type != REDIS_REPLY_ARRAY || primary->elements < 2 ||
            primary->element[0]->type != REDIS_REPLY_STRING ||
            primary->element[0]->len >= sizeof(m->nodes[0].host) ||
            rcluster__int(primary->element[1], 1, 65535, &port) != 0)
            goto out;
        const char *host = primary->element[0]->str;
        if (host[0] == '\0' || strcmp(host, "?") == 0)
            host = asked_host;
        if (host == NULL || host[0] == '\0' || strlen(host) >= sizeof(m->nodes[0].host))
            goto out;
        int node = rcluster__add_node(m, host, (unsigned)port);
        if (node < 0) {
            rv = node;
            goto out;
        }
        for (long long s = start; s <= end; s++) {
            if (m->owner[s] == RCLUSTER_NO_NODE)
                m->covered++;
            m->owner[s] = (uint16_t)node;
        }
    }
    *out = m;
    m = NULL;
    rv = 0;
out:
    rcluster_map_free(m);
    return rv;
}

/* ------------------------------------------------------------------------
 * Redirections and transient errors
 * ------------------------------------------------------------------------ */

/* rcluster__number reads all of 'p'..'end' as a decimal number up to 'max'. */
static int rcluster__number(const char *p, const char *end, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;
    if (p == end || end - p > 10)
        return PR_EINVAL;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return PR_EINVAL;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v > max)
        return PR_EINVAL;
    *out = v;
    return 0;
}

int rcluster_redirect_parse(const char *err, size_t len, struct rcluster_redirect *out)
{
    struct rcluster_redirect r;
    const char *p = err, *end = err + len;
    unsigned long slot, port;

    if (len > 6 && strncmp(err, "MOVED ", 6) == 0) {
        r.kind = RCLUSTER_MOVED;
        p += 6;
    } else if (len > 4 && strncmp(err, "ASK ", 4) == 0) {
        r.kind = RCLUSTER_ASK;
        p += 4;
    } else {
        return PR_EINVAL;
    }
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    if (sp == NULL || rcluster__number(p, sp, RCLUSTER_SLOTS - 1, &slot) != 0)
        return PR_EINVAL;
    const char *addr = sp + 1;
    /* host:port, the port after the last ':' (a bare IPv6 host holds colons) */
    const char *colon = NULL;
    for (const char *q = addr; q < end; q++)
        if (*q == ':')
            colon = q;
    if (colon == NULL || rcluster__number(colon + 1, end, 65535, &port) != 0 || port == 0)
        return PR_EINVAL;
    const char *h = addr, *hend = colon;
    if (hend > h && *h == '[') {
        if (hend[-1] != ']')
            return PR_EINVAL;
        h++;
        hend--;
    }
    if ((size_t)(hend - h) >= sizeof(r.to.host) || memchr(h, ' ', (size_t)(hend - h)) != NULL)
        return PR_EINVAL;
    memcpy(r.to.host, h, (size_t)(hend - h));
    r.to.host[hend - h] = '\0';
    if (strcmp(r.to.host, "?") == 0)
        r.to.host[0] = '\0';
    r.to.port = (uint16_t)port;
    r.slot = (unsigned)slot;
    *out = r;
    return 0;
}

int rcluster_error_transient(const char *err)
{
    return err != NULL && (strncmp(err, "CLUSTERDOWN", 11) == 0 || strncmp(err, "TRYAGAIN", 8) == 0);
}
