/*
 * pr_queue.c - test tool: queues notifications straight into a provider
 * stream exactly as the listener does (XADD <p>{q<k>}:in:<provider> * id ..
 * domain .. n <notification JSON>, k the shard of provider and token among
 * --shards S, default 1), so dispatcher tests can pre-load work without the
 * SIP side. Not installed.
 *
 *   pr_queue -p PORT [-P PREFIX] [-n COUNT] [--provider apns|fcm|mpns] [--app ID]
 *            [--domain D] [--token T] [--ttl S] [--id-prefix X] [--start N] [--trace]
 *            [--shards S]
 *
 * Notification i (from --start, default 0) gets id "<id-prefix><i>" and,
 * unless --token is given, token "tok<i>" (hex for APNs: 64 hex digits
 * ending in i). Prints the number queued. Exit 0 ok, 1 Redis error, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>

#include "pushrelay/notif.h"
#include "keys.h"

#define PIPELINE 500

static int usage(void)
{
    fprintf(stderr, "usage: pr_queue -p PORT [-P PREFIX] [-n COUNT] [--provider P] [--app ID]\n"
                    "                [--domain D] [--token T] [--ttl S] [--id-prefix X] [--start N] [--trace]\n"
                    "                [--shards S]\n");
    return 2;
}

int main(int argc, char **argv)
{
    int port = 6379, count = 1, ttl = 3600, start = 0, trace = 0, shards = 1;
    const char *prefix = "pr:", *provider = "apns", *app = "test-ios", *domain = "contoso.com";
    const char *token = NULL, *id_prefix = "n";
    for (int i = 1; i < argc; i += 2) {    /* every option takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--trace") == 0) {   /* the body's "trace": true */
            trace = 1;
            continue;
        }
        if (v == NULL)
            return usage();
        if (strcmp(a, "-p") == 0) port = atoi(v);
        else if (strcmp(a, "-P") == 0) prefix = v;
        else if (strcmp(a, "-n") == 0) count = atoi(v);
        else if (strcmp(a, "--provider") == 0) provider = v;
        else if (strcmp(a, "--app") == 0) app = v;
        else if (strcmp(a, "--domain") == 0) domain = v;
        else if (strcmp(a, "--token") == 0) token = v;
        else if (strcmp(a, "--ttl") == 0) ttl = atoi(v);
        else if (strcmp(a, "--id-prefix") == 0) id_prefix = v;
        else if (strcmp(a, "--start") == 0) start = atoi(v);
        else if (strcmp(a, "--shards") == 0) shards = atoi(v);
        else return usage();
    }
    struct keys keys;
    enum pr_provider p;
    char stream[KEYS_MAX];
    if (keys_init(&keys, prefix) != 0 || keys_set_shards(&keys, shards) != 0 ||
        pr_provider_parse(provider, &p) != 0)
        return usage();
    redisContext *c = redisConnect("127.0.0.1", port);
    if (c == NULL || c->err) {
        fprintf(stderr, "pr_queue: redis 127.0.0.1:%d: %s\n", port, c ? c->errstr : "no memory");
        return 1;
    }
    int rc = 0, pending = 0, queued = 0;
    for (int i = start; i < start + count && rc == 0; i++) {
        char id[64], tok[80];
        snprintf(id, sizeof(id), "%s%d", id_prefix, i);
        if (token != NULL)
            snprintf(tok, sizeof(tok), "%s", token);
        else if (p == PR_PROVIDER_APNS)
            snprintf(tok, sizeof(tok), "%064x", i);
        else
            snprintf(tok, sizeof(tok), "tok%d", i);
        if (keys_q_stream(&keys, keys_shard_of(&keys, p, tok, strlen(tok)), p, stream,
                          sizeof(stream)) < 0) {
            rc = 2;
            break;
        }
        struct pr_notif n;
        notif_init(&n);
        n.provider = p;
        n.event = PR_EVENT_IM;
        n.priority = PR_PRIORITY_HIGH;
        n.ttl_s = ttl;
        n.trace = trace;
        n.accepted_ms = pr_now_ms();
        n.expires_ms = n.accepted_ms + (int64_t)ttl * 1000;
        char *json = NULL;
        size_t len = 0;
        if (notif_set_str(&n.id, id) || notif_set_str(&n.domain, domain) ||
            notif_set_str(&n.app, app) || notif_set_str(&n.token, tok) ||
            notif_set_str(&n.from, "sip:alice@contoso.com") ||
            notif_set_str(&n.to, "sip:bob@contoso.com") || notif_set_str(&n.title, "Alice") ||
            notif_set_str(&n.body, "Lunch at 12? 점심 🍜") || notif_encode(&n, &json, &len) != 0) {
            notif_clear(&n);
            rc = 1;
            break;
        }
        const char *xadd[] = { "XADD", stream, "*", "id", id, "domain", domain, "n", json };
        size_t lens[] = { 4, strlen(stream), 1, 2, strlen(id), 6, strlen(domain), 1, len };
        redisAppendCommandArgv(c, 9, xadd, lens);
        free(json);
        notif_clear(&n);
        if (++pending == PIPELINE || i + 1 == start + count) {
            for (; pending > 0; pending--) {
                redisReply *r = NULL;
                if (redisGetReply(c, (void **)&r) != REDIS_OK || r == NULL ||
                    r->type == REDIS_REPLY_ERROR) {
                    fprintf(stderr, "pr_queue: XADD failed: %s\n", r ? r->str : c->errstr);
                    rc = 1;
                } else {
                    queued++;
                }
                freeReplyObject(r);
                if (rc != 0)
                    break;
            }
        }
    }
    redisFree(c);
    printf("%d\n", queued);
    return rc;
}
