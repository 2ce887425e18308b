/*
 * notifgen - writes N notifications as Redis XADD commands in the Redis
 * protocol, for `redis-cli --pipe`: the fast way to pre-queue a dispatch
 * benchmark without going through the listener.
 *
 * What it does: builds each record with notif_encode() (the one encoding the
 * listener and the dispatcher share) and the stream key of the record's
 * shard with keys_shard_of() and keys_q_stream() (--shards S as in
 * redis.shards), so the entries are exactly what the listener would have
 * queued:
 *
 *   XADD <prefix>{q<k>}:in:<provider> *  id <push id>  domain <domain>  n <record JSON>
 *
 * --retry-due MS writes them as retries due at epoch MS instead
 * (ZADD <prefix>{q<k>}:retry MS <record JSON>); --old-layout uses the keys
 * from before shards (<prefix>{q}:in:<provider>, <prefix>{q}:retry), to
 * test the upgrade path.
 *
 * Every record has a unique id and a unique 64-hex device token (prefix +
 * counter) and a TTL of one hour, so none expires during the run.
 *
 * What it does not do: talk to Redis, create the consumer group, or write
 * dedup keys. Who calls it: bench/run-dispatch.sh.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pushrelay/error.h"
#include "pushrelay/notif.h"
#include "keys.h"

#define TOKEN_LEN 64

/* resp_arg writes one bulk string of the Redis protocol. */
static void resp_arg(FILE *f, const char *s, size_t len)
{
    fprintf(f, "$%zu\r\n", len);
    fwrite(s, 1, len, f);
    fputs("\r\n", f);
}

static void resp_str(FILE *f, const char *s) { resp_arg(f, s, strlen(s)); }

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "count", 1, 0, 'n' },  { "domain", 1, 0, 'd' },       { "app", 1, 0, 'a' },
        { "provider", 1, 0, 'p' }, { "token-prefix", 1, 0, 't' }, { "prefix", 1, 0, 'P' },
        { "body-bytes", 1, 0, 'b' }, { "shards", 1, 0, 's' },     { "old-layout", 0, 0, 'o' },
        { "retry-due", 1, 0, 'r' }, { 0, 0, 0, 0 },
    };
    unsigned long long count = 0;
    const char *domain = "contoso.com", *app = "lync-ios", *prov = "apns";
    const char *token_prefix = "0d", *key_prefix = "pr:";
    int body_bytes = 12, ch, shards = 1, old_layout = 0;
    long long retry_due = -1;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'n': count = strtoull(optarg, NULL, 10); break;
        case 'd': domain = optarg; break;
        case 'a': app = optarg; break;
        case 'p': prov = optarg; break;
        case 't': token_prefix = optarg; break;
        case 'P': key_prefix = optarg; break;
        case 'b': body_bytes = atoi(optarg); break;
        case 's': shards = atoi(optarg); break;
        case 'o': old_layout = 1; break;
        case 'r': retry_due = strtoll(optarg, NULL, 10); break;
        default: goto usage;
        }
    }
    size_t plen = strlen(token_prefix);
    enum pr_provider provider;
    struct keys keys;
    char stream[KEYS_MAX];
    if (count == 0 || optind != argc || plen < 1 || plen > 48 ||
        strspn(token_prefix, "0123456789abcdef") != plen || body_bytes < 0 || body_bytes > 4000)
        goto usage;
    if (pr_provider_parse(prov, &provider) != 0 || keys_init(&keys, key_prefix) != 0 ||
        keys_set_shards(&keys, shards) != 0 || (retry_due < -1))
        goto usage;
    char due[24];
    snprintf(due, sizeof(due), "%lld", retry_due);

    char body[4001];
    for (int i = 0; i < body_bytes; i++)
        body[i] = (char)('a' + i % 26);
    body[body_bytes] = '\0';
    /* token has room gcc can prove; the prefix length is checked above */
    char run_id[17], id[64], token[TOKEN_LEN + 24];
    snprintf(run_id, sizeof(run_id), "%08x%08x", (unsigned)time(NULL), (unsigned)getpid());

    struct pr_notif n;
    notif_init(&n);
    n.provider = provider;
    n.event = PR_EVENT_IM;
    n.priority = PR_PRIORITY_HIGH;
    n.ttl_s = 3600;
    n.accepted_ms = pr_now_ms();
    n.expires_ms = n.accepted_ms + 3600 * 1000;
    n.id = id;                  /* borrowed: never handed to notif_clear */
    n.token = token;
    n.domain = (char *)domain;
    n.app = (char *)app;
    n.from = (char *)"sip:alice@contoso.com";
    n.to = (char *)"sip:bob@contoso.com";
    n.title = (char *)"Benchmark";
    n.body = body;

    for (unsigned long long i = 0; i < count; i++) {
        snprintf(id, sizeof(id), "%s-%012llu", run_id, i);
        snprintf(token, sizeof(token), "%s%0*llx", token_prefix, (int)(TOKEN_LEN - plen), i);
        char *json;
        size_t len;
        int rc = notif_encode(&n, &json, &len);
        if (rc != 0) {
            fprintf(stderr, "notifgen: encode: %s\n", pr_strerror(rc));
            return 1;
        }
        unsigned k = keys_shard_of(&keys, provider, token, strlen(token));
        int kl = retry_due >= 0 ? (old_layout ? keys_retry(&keys, stream, sizeof(stream))
                                              : keys_q_retry(&keys, k, stream, sizeof(stream)))
                                : (old_layout ? keys_stream(&keys, provider, stream, sizeof(stream))
                                              : keys_q_stream(&keys, k, provider, stream, sizeof(stream)));
        if (kl < 0) {
            free(json);
            goto usage;
        }
        if (retry_due >= 0) {
            fputs("*4\r\n", stdout);
            resp_str(stdout, "ZADD");
            resp_str(stdout, stream);
            resp_str(stdout, due);
            resp_arg(stdout, json, len);
            free(json);
            continue;
        }
        fputs("*9\r\n", stdout);
        resp_str(stdout, "XADD");
        resp_str(stdout, stream);
        resp_str(stdout, "*");
        resp_str(stdout, "id");
        resp_str(stdout, id);
        resp_str(stdout, "domain");
        resp_str(stdout, domain);
        resp_str(stdout, "n");
        resp_arg(stdout, json, len);
        free(json);
    }
    return fflush(stdout) == 0 ? 0 : 1;

usage:
    fprintf(stderr, "usage: notifgen --count N [--domain contoso.com] [--app lync-ios] "
                    "[--provider apns] [--token-prefix HEX] [--prefix pr:] [--body-bytes B]\n"
                    "                [--shards S] [--old-layout] [--retry-due EPOCH_MS]\n"
                    "  writes XADD commands for `redis-cli --pipe` to stdout\n");
    return 2;
}
