/*
 * fuzz_body.c - libFuzzer target for the MESSAGE body: the input is the JSON
 * body of an otherwise valid push MESSAGE. It runs the listener's validation
 * (federation/fed_request.c) and, for every accepted body, the record's
 * encode/decode round trip (relay/notif.c), checking that what was accepted
 * survives the queue unchanged.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "fed_request.h"
#include "sip_parse.h"

static char *wp_hosts[] = { "*.notify.live.net" };
static struct cfg_app apps[] = {
    { .id = "lync-ios", .provider = PR_PROVIDER_APNS, .topic = "com.example.lync", .team_id = "ABCDE12345" },
    { .id = "lync-wp", .provider = PR_PROVIDER_MPNS, .allowed_hosts = wp_hosts, .n_allowed_hosts = 1 },
};
static struct cfg cfg = { .apps = apps, .n_apps = 2 };

static int same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char head[] =
        "MESSAGE sip:push@push.example.net;pn-provider=apns;"
        "pn-prid=a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90;"
        "pn-param=ABCDE12345.com.example.lync SIP/2.0\r\n"
        "Via: SIP/2.0/TLS edge.contoso.com:5061;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n"
        "From: <sip:mcx@contoso.com>;tag=1\r\nTo: <sip:push@push.example.net>\r\n"
        "Call-ID: fuzz@edge\r\nCSeq: 1 MESSAGE\r\nContent-Type: application/json\r\n";
    if (size > 16384)
        return 0;
    char *raw = malloc(sizeof(head) + 64 + size);
    if (raw == NULL)
        return 0;
    int n = sprintf(raw, "%sContent-Length: %zu\r\n\r\n", head, size);
    memcpy(raw + n, data, size);

    struct sip_msg msg;
    const char *why = NULL;
    if (sip_parse(raw, (size_t)n + size, &msg, &why) != 0)
        abort(); /* the envelope is valid: only the body varies */
    struct pr_notif in, out;
    struct fed_verdict v;
    struct fed_strs strs;
    if (fed_request_check(&cfg, &msg, 1732480000000LL, &strs, &in, &v) == 0 && v.action == FED_QUEUE) {
        char *json;
        size_t len;
        if (notif_encode(&in, &json, &len) != 0)
            abort(); /* everything accepted must be storable */
        if (notif_decode(json, len, &out) != 0 || !same(in.id, out.id) || !same(in.title, out.title) ||
            !same(in.body, out.body) || !same(in.from, out.from) || in.badge != out.badge ||
            in.ttl_s != out.ttl_s || in.event != out.event || in.priority != out.priority ||
            in.trace != out.trace ||
            (in.data == NULL) != (out.data == NULL) || (in.data != NULL && !json_equal(in.data, out.data)))
            abort(); /* ... and come back from the queue unchanged */
        free(json);
        notif_clear(&out);
    } else if (v.action == FED_RESPOND && (v.status < 400 || v.why[0] == '\0') && v.status != 500) {
        abort(); /* every refusal names its culprit */
    }
    fed_request_release(&in, &strs);
    free(raw);
    return 0;
}
