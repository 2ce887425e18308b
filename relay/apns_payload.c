/*
 * apns_payload.c - the APNs request for a notification (payload.h): JSON
 * payload, :path and the apns-* header values. Called by the APNs client
 * (relay/apns.c) once per attempt; pure, no I/O.
 *
 * Alert push (limit 4096 bytes):
 *
 *   {"aps":{"alert":{"title":T,"body":B},"badge":N,"sound":S,
 *           "category":"IM","thread-id":C,"mutable-content":1},
 *    <n->data keys, beside aps>,
 *    "pr":{"id":ID,"event":"im","from":F}}
 *
 * VoIP push (limit 5120 bytes; the app reports the call itself, so there is
 * no alert and aps stays empty):
 *
 *   {"aps":{}, <n->data keys>, "pr":{"id":ID,"event":"call","from":F,"title":T,"body":B}}
 *
 * badge, sound, thread-id (collapse id, else from) and from appear only when
 * known. Data keys "aps" and "pr" are ours and are not copied.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "pushrelay/error.h"
#include "jbuf.h"
#include "payload.h"

#define APNS_DEVICE_PATH "/3/device/"     /* + the device token */
#define APNS_PRIORITY_HIGH 10
#define APNS_PRIORITY_NORMAL 5

static const char *const apns_categories[PR_EVENT_COUNT] = {
    [PR_EVENT_IM] = "IM",
    [PR_EVENT_CALL] = "CALL",
    [PR_EVENT_MISSED_CALL] = "MISSED_CALL",
    [PR_EVENT_VOICEMAIL] = "VOICEMAIL",
    [PR_EVENT_CONFERENCE] = "CONFERENCE",
};

/*
 * The payload is written with jbuf (jbuf.h), not built as a jansson tree:
 * it is rendered once per attempt, and the tree with its dump cost the
 * dispatcher more than the rest of a delivery. The bytes are what
 * json_dumps(JSON_COMPACT) gave for the tree built in this order.
 */

static void apns_aps(struct jbuf *b, const struct pr_notif *n, const char *title,
                     const char *body)
{
    jbuf_open(b, "alert");
    jbuf_str(b, "title", title);
    jbuf_str(b, "body", body);
    jbuf_close(b);
    if (n->badge >= 0)
        jbuf_int(b, "badge", n->badge);
    if (n->sound != NULL)
        jbuf_str(b, "sound", n->sound);
    unsigned ev = (unsigned)n->event < PR_EVENT_COUNT ? (unsigned)n->event : PR_EVENT_IM;
    jbuf_str(b, "category", apns_categories[ev]);
    const char *thread = n->collapse_id != NULL ? n->collapse_id : n->from;
    if (thread != NULL)
        jbuf_str(b, "thread-id", thread);
    jbuf_int(b, "mutable-content", 1);
}

static void apns_pr(struct jbuf *b, const struct pr_notif *n, const char *title,
                    const char *body)
{
    jbuf_str(b, "id", n->id);
    jbuf_str(b, "event", pr_event_name(n->event));
    if (n->from != NULL)
        jbuf_str(b, "from", n->from);
    if (n->voip) {
        jbuf_str(b, "title", title);
        jbuf_str(b, "body", body);
    }
}

/*
 * apns_render is the toast_render_fn: the whole payload for this text.
 * PR_EINVAL when a string is not UTF-8, PR_ENOMEM.
 */
static int apns_render(void *arg, const char *title, const char *body, char **out, size_t *outlen)
{
    const struct pr_notif *n = arg;
    struct jbuf b = JBUF_INIT;
    jbuf_reserve(&b, strlen(title) + strlen(body) + 512);
    jbuf_open(&b, NULL);
    jbuf_open(&b, "aps");
    if (!n->voip)
        apns_aps(&b, n, title, body);
    jbuf_close(&b);
    if (n->data != NULL) {
        const char *key;
        json_t *value;
        json_object_foreach(n->data, key, value) {
            if (strcmp(key, "aps") != 0 && strcmp(key, "pr") != 0)
                jbuf_json(&b, key, value);
        }
    }
    jbuf_open(&b, "pr");
    apns_pr(&b, n, title, body);
    jbuf_close(&b);
    jbuf_close(&b);
    return jbuf_finish(&b, out, outlen);
}

/* apns_is_uuid: 1 for the 8-4-4-4-12 hex form (either case). */
static int apns_is_uuid(const char *s)
{
    static const char hex[] = "0123456789abcdefABCDEF";
    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : strchr(hex, s[i]) == NULL)
            return 0;
    }
    return 1;
}

/*
 * apns_id_for gives the apns-id: 'id' itself when it is a UUID, else a
 * UUID made from SHA-1('id') with the version-5 and RFC 4122 variant bits,
 * so every retry of one notification carries the same apns-id.
 */
static int apns_id_for(const char *id, char out[37])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (apns_is_uuid(id)) {
        memcpy(out, id, 37);
        return 0;
    }
    /*
     * EVP_sha1() makes OpenSSL 3 look the implementation up in its provider
     * store on every digest, which cost more than the rest of the payload.
     * The fetched handle is immutable and lives for the process.
     */
    static EVP_MD *sha1;
    static EVP_MD_CTX *ctx;     /* reused: EVP_Digest would allocate and free one per call */
    if (sha1 == NULL && (sha1 = EVP_MD_fetch(NULL, "SHA1", NULL)) == NULL)
        return PR_ECRYPTO;
    if (ctx == NULL && (ctx = EVP_MD_CTX_new()) == NULL)
        return PR_ENOMEM;
    if (EVP_DigestInit_ex2(ctx, sha1, NULL) != 1 || EVP_DigestUpdate(ctx, id, strlen(id)) != 1 ||
        EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen < 16)
        return PR_ECRYPTO;
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    char *w = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *w++ = '-';
        *w++ = hex[md[i] >> 4];
        *w++ = hex[md[i] & 0x0f];
    }
    *w = '\0';
    return 0;
}

/* A token goes into :path as is: only URL-unreserved characters may. */
static int apns_token_ok(const char *token)
{
    static const char unreserved[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    return token[0] != '\0' && strspn(token, unreserved) == strlen(token);
}

int apns_payload_build(const struct pr_notif *n, const struct cfg_app *app,
                       struct apns_request *out)
{
    int rc = PR_EINVAL;

    memset(out, 0, sizeof(*out));
    if (n->id == NULL || n->token == NULL || app->topic == NULL || !apns_token_ok(n->token))
        goto fail;
    const char *voip = n->voip ? ".voip" : "";
    size_t tl = strlen(app->topic), vl = strlen(voip);
    if (tl + vl >= sizeof(out->topic))
        goto fail;
    memcpy(out->topic, app->topic, tl);
    memcpy(out->topic + tl, voip, vl + 1);
    if ((rc = apns_id_for(n->id, out->apns_id)) != 0)
        goto fail;
    rc = PR_ENOMEM;
    size_t dl = strlen(APNS_DEVICE_PATH), kl = strlen(n->token);
    if ((out->path = malloc(dl + kl + 1)) == NULL)
        goto fail;
    memcpy(out->path, APNS_DEVICE_PATH, dl);
    memcpy(out->path + dl, n->token, kl + 1);

    rc = toast_build(n, TOAST_ESC_JSON, n->voip ? APNS_PAYLOAD_MAX_VOIP : APNS_PAYLOAD_MAX,
                     apns_render, (void *)n, &out->payload, &out->payload_len);
    if (rc != 0)
        goto fail;
    out->push_type = n->voip ? "voip" : "alert";
    out->priority = n->priority == PR_PRIORITY_HIGH ? APNS_PRIORITY_HIGH : APNS_PRIORITY_NORMAL;
    out->expiration_s = n->expires_ms / 1000;
    out->collapse_id = n->collapse_id;
    return 0;
fail:
    apns_request_clear(out);
    return rc;
}

void apns_request_clear(struct apns_request *r)
{
    free(r->path);
    free(r->payload);
    memset(r, 0, sizeof(*r));
}
