/*
 * sb_webpush.c - the sandbox's Web Push service (sb_webpush.h).
 *
 * A push message is checked in the order a push service would:
 *
 *   subscription   unknown id                                  404
 *                  expired (/_sandbox/webpush/expire/<id>)     410
 *   method         not POST                                    405
 *   size           body over 4096 bytes (RFC 8291 section 4)   413
 *   VAPID          no "vapid t=..., k=..." or k not a P-256    401
 *                  point; JWT expired
 *                  signature not by k, aud not the endpoint's  403
 *                  origin, exp over 24 h ahead, sub not a
 *                  mailto: or https: URI
 *   headers        TTL missing or not digits, Content-Encoding 400
 *                  not aes128gcm, Urgency not one of RFC 8030's
 *                  four, Topic over 32 or not base64url
 *   body           does not decrypt with the subscription's    400
 *                  key and auth secret
 *   then the id's behaviour marker (sb_behaviour.h), else 201 Created with
 *   a Location naming the message.
 *
 * The relay's own modules do the cryptography: relay/ece.c decrypts (the
 * receiving half of what it encrypts), relay/vapid.c computes the origin
 * the JWT's aud must name. Called by sb_router.c and sb_record.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "pushrelay/error.h"
#include "ece.h"
#include "jwt.h"
#include "sb_behaviour.h"
#include "sb_jwt.h"
#include "sb_map.h"
#include "sb_record.h"
#include "sb_webpush.h"
#include "vapid.h"

#define WP_MARKER_MAX 16
#define WP_ID_MAX 64                /* marker "s" 32 hex digits, NUL */
#define WP_ENDPOINT_MAX 320
#define WP_SUBS_MAX 100000          /* subscriptions handed out per process */
#define WP_EXP_MAX_S (24 * 3600)    /* RFC 8292 section 2: exp at most 24 h ahead */
#define WP_TOPIC_MAX 32             /* RFC 8030 section 5.4 */

struct wp_sub {
    char id[WP_ID_MAX];
    char endpoint[WP_ENDPOINT_MAX];
    char origin[VAPID_ORIGIN_MAX];
    EVP_PKEY *key;                  /* the user agent's key pair: p256dh is its public half */
    struct ece_sub sub;
    int expired;
};

struct sb_webpush {
    struct sb_map *ids;             /* id -> index in 'subs' */
    struct wp_sub *subs;
    size_t nsubs, cap;
    unsigned long messages;         /* numbers the Location of each message */
};

int sb_webpush_new(struct sb_webpush **out)
{
    struct sb_webpush *w = calloc(1, sizeof(*w));
    if (w == NULL || (w->ids = sb_map_new()) == NULL) {
        free(w);
        return PR_ENOMEM;
    }
    *out = w;
    return 0;
}

void sb_webpush_free(struct sb_webpush *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->nsubs; i++)
        EVP_PKEY_free(w->subs[i].key);
    free(w->subs);
    sb_map_free(w->ids);
    free(w);
}

static struct wp_sub *wp_find(struct sb_webpush *w, const char *id, size_t len)
{
    int64_t *i = sb_map_get(w->ids, id, len);
    return i != NULL ? &w->subs[*i] : NULL;
}

static void wp_answer(struct sb_resp *resp, int status, const char *error)
{
    resp->status = status;
    sb_resp_header(resp, "content-type", "application/json");
    if (status == 429 || status == 503)
        sb_resp_header(resp, "retry-after", "1");
    sb_buf_printf(resp->body, "{\"code\":%d,\"error\":\"%s\"}", status, error);
}

/* ---- subscriptions -------------------------------------------------------- */

/* wp_authority: where the client reached us, for the endpoint URL. */
static const char *wp_authority(const struct sb_req *req)
{
    const char *a = sb_req_header(req, ":authority");
    if (a == NULL)
        a = sb_req_header(req, "host");
    return a != NULL && a[0] != '\0' && strlen(a) < 128 ? a : "127.0.0.1";
}

/* wp_marker copies the "marker" query value of 'path' (letters and digits); -1 when bad. */
static int wp_marker(const char *path, char out[WP_MARKER_MAX + 1])
{
    const char *q = strstr(path, "?marker=");
    out[0] = '\0';
    if (q == NULL)
        return 0;
    q += strlen("?marker=");
    size_t n = 0;
    while (q[n] != '\0' && q[n] != '&') {
        if (n >= WP_MARKER_MAX || !((q[n] >= 'a' && q[n] <= 'z') || (q[n] >= '0' && q[n] <= '9')))
            return -1;
        out[n] = q[n];
        n++;
    }
    out[n] = '\0';
    return 0;
}

/*
 * wp_subscribe makes a subscription: a P-256 key pair and an auth secret
 * as a browser would, and an id that is the marker, then "s" (not a marker
 * letter, so unmarked ids never misbehave by chance), then random hex.
 */
static int wp_subscribe(struct sb_webpush *w, const char *marker, const char *authority,
                        struct wp_sub **out)
{
    unsigned char rnd[16], pub[ECE_PUBLIC_LEN];
    if (w->nsubs >= WP_SUBS_MAX)
        return PR_ETOOBIG;
    if (w->nsubs == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        struct wp_sub *s = realloc(w->subs, cap * sizeof(*s));
        if (s == NULL)
            return PR_ENOMEM;
        w->subs = s;
        w->cap = cap;
    }
    struct wp_sub *s = &w->subs[w->nsubs];
    memset(s, 0, sizeof(*s));
    if (RAND_bytes(rnd, sizeof(rnd)) != 1 || RAND_bytes(s->sub.auth, ECE_AUTH_LEN) != 1 ||
        (s->key = EVP_EC_gen("prime256v1")) == NULL || ece_public_raw(s->key, pub) != 0) {
        EVP_PKEY_free(s->key);
        return PR_ECRYPTO;
    }
    memcpy(s->sub.p256dh, pub, sizeof(pub));
    int n = snprintf(s->id, sizeof(s->id), "%ss", marker);
    for (size_t i = 0; i < sizeof(rnd); i++)
        n += snprintf(s->id + n, sizeof(s->id) - (size_t)n, "%02x", rnd[i]);
    snprintf(s->endpoint, sizeof(s->endpoint), "https://%s" SB_WEBPUSH_PATH "%s", authority, s->id);
    int created;
    int64_t *slot = sb_map_slot(w->ids, s->id, strlen(s->id), &created);
    if (slot == NULL || vapid_origin(s->endpoint, s->origin, sizeof(s->origin)) != 0) {
        EVP_PKEY_free(s->key);
        return slot == NULL ? PR_ENOMEM : PR_EINVAL;
    }
    *slot = (int64_t)w->nsubs++;
    *out = s;
    return 0;
}

/* wp_subscription_json writes the subscription as a page's PushSubscription.toJSON() would. */
static int wp_subscription_json(const struct wp_sub *s, struct sb_buf *out)
{
    char *p256dh = jwt_b64url(s->sub.p256dh, ECE_PUBLIC_LEN);
    char *auth = jwt_b64url(s->sub.auth, ECE_AUTH_LEN);
    int rc = PR_ENOMEM;
    if (p256dh != NULL && auth != NULL)
        rc = sb_buf_printf(out, "{\"id\":\"%s\",\"endpoint\":\"%s\",\"p256dh\":\"%s\",\"auth\":\"%s\"}",
                           s->id, s->endpoint, p256dh, auth);
    free(p256dh);
    free(auth);
    return rc;
}

void sb_webpush_control(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp)
{
    const char *p = req->path + strlen(SB_WEBPUSH_CONTROL);
    char marker[WP_MARKER_MAX + 1];
    struct wp_sub *s;

    if (strcmp(req->method, "POST") != 0) {
        wp_answer(resp, 405, "POST required");
    } else if (strncmp(p, "subscribe", 9) == 0 && (p[9] == '\0' || p[9] == '?')) {
        if (wp_marker(req->path, marker) != 0) {
            wp_answer(resp, 400, "marker: up to 16 lower-case letters and digits");
            return;
        }
        if (wp_subscribe(ctx->webpush, marker, wp_authority(req), &s) != 0) {
            wp_answer(resp, 503, "cannot make a subscription");
            return;
        }
        resp->status = 200;
        sb_resp_header(resp, "content-type", "application/json");
        wp_subscription_json(s, resp->body);
    } else if (strncmp(p, "expire/", 7) == 0) {
        if ((s = wp_find(ctx->webpush, p + 7, strlen(p + 7))) == NULL) {
            wp_answer(resp, 404, "no such subscription");
            return;
        }
        s->expired = 1;
        resp->status = 200;
        sb_resp_header(resp, "content-type", "application/json");
        sb_buf_printf(resp->body, "{\"expired\":true}");
    } else {
        wp_answer(resp, 404, "no such control endpoint");
    }
}

/* ---- VAPID (RFC 8292) ----------------------------------------------------- */

/*
 * wp_vapid_param copies the value of parameter 'name' ("t" or "k") of an
 * Authorization "vapid" value (params separated by commas and spaces)
 * into 'out'; -1 when absent or too long.
 */
static int wp_vapid_param(const char *params, const char *name, char *out, size_t outlen)
{
    size_t nlen = strlen(name);
    const char *p = params;
    while (*p != '\0') {
        p += strspn(p, " ,");
        size_t vlen = strcspn(p, " ,");
        if (vlen > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            vlen -= nlen + 1;
            if (vlen == 0 || vlen >= outlen)
                return -1;
            memcpy(out, p + nlen + 1, vlen);
            out[vlen] = '\0';
            return 0;
        }
        p += vlen;
    }
    return -1;
}

/* wp_claims_ok: 0, or the status that refuses the claims of a well-signed JWT. */
static int wp_claims_ok(const struct wp_sub *s, json_t *claims, int64_t now_s, const char **why)
{
    const char *aud = json_string_value(json_object_get(claims, "aud"));
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    json_t *exp = json_object_get(claims, "exp");
    if (!json_is_integer(exp) || json_integer_value(exp) <= now_s) {
        *why = "VAPID JWT expired";
        return 401;
    }
    if (json_integer_value(exp) > now_s + WP_EXP_MAX_S) {
        *why = "VAPID JWT exp more than 24 hours ahead";
        return 403;
    }
    if (aud == NULL || strcmp(aud, s->origin) != 0) {
        *why = "VAPID JWT aud is not the endpoint's origin";
        return 403;
    }
    if (sub == NULL || (strncmp(sub, "mailto:", 7) != 0 && strncmp(sub, "https:", 6) != 0)) {
        *why = "VAPID JWT sub is not a mailto: or https: URI";
        return 403;
    }
    return 0;
}

/* wp_vapid checks the Authorization header; 0 or the refusing status, '*why' saying why. */
static int wp_vapid(const struct wp_sub *s, const struct sb_req *req, const char **why)
{
    const char *auth = sb_req_header(req, "authorization");
    char t[2048], k[128];
    unsigned char pub[ECE_PUBLIC_LEN];
    size_t publen = 0;
    EVP_PKEY *key = NULL;
    json_t *h = NULL, *c = NULL;
    int st = 401;

    *why = "Authorization: vapid t=<JWT>, k=<key> required";
    if (auth == NULL || strncasecmp(auth, "vapid ", 6) != 0 ||
        wp_vapid_param(auth + 6, "t", t, sizeof(t)) != 0 ||
        wp_vapid_param(auth + 6, "k", k, sizeof(k)) != 0)
        goto out;
    *why = "VAPID k is not a P-256 public key";
    if (jwt_b64url_decode(k, pub, sizeof(pub), &publen) != 0 || publen != sizeof(pub) ||
        ece_key_from_public(pub, &key) != 0)
        goto out;
    st = 403;
    *why = "VAPID JWT not signed (ES256) by k";
    if (sb_jwt_verify(t, strlen(t), key, "ES256", &h, &c) != 0)
        goto out;
    st = wp_claims_ok(s, c, sb_now_ms() / 1000, why);
out:
    EVP_PKEY_free(key);
    json_decref(h);
    json_decref(c);
    return st;
}

/* ---- the push message ----------------------------------------------------- */

static int wp_all_digits(const char *v)
{
    return v != NULL && v[0] != '\0' && strspn(v, "0123456789") == strlen(v);
}

/* wp_headers_ok: NULL, or what is wrong with the RFC 8030 / 8291 headers. */
static const char *wp_headers_ok(const struct sb_req *req)
{
    static const char *const urgencies[] = { "very-low", "low", "normal", "high" };
    static const char b64url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *ce = sb_req_header(req, "content-encoding");
    const char *urgency = sb_req_header(req, "urgency");
    const char *topic = sb_req_header(req, "topic");
    if (!wp_all_digits(sb_req_header(req, "ttl")))
        return "TTL header required (seconds)";
    if (ce == NULL || strcmp(ce, "aes128gcm") != 0)
        return "Content-Encoding must be aes128gcm";
    if (urgency != NULL) {
        size_t i = 0;
        while (i < 4 && strcmp(urgency, urgencies[i]) != 0)
            i++;
        if (i == 4)
            return "Urgency must be very-low, low, normal or high";
    }
    if (topic != NULL && (topic[0] == '\0' || strlen(topic) > WP_TOPIC_MAX ||
                          strspn(topic, b64url) != strlen(topic)))
        return "Topic must be 1 to 32 base64url characters";
    return NULL;
}

/* wp_decrypt: the plaintext of 'req' for 's' (malloc'd) or NULL. */
static unsigned char *wp_decrypt(const struct wp_sub *s, const struct sb_req *req, size_t *len)
{
    unsigned char *plain = NULL;
    if (ece_decrypt(&s->sub, s->key, (const unsigned char *)req->body, req->bodylen, &plain, len) != 0)
        return NULL;
    return plain;
}

void sb_webpush_handle(struct sb_ctx *ctx, const struct sb_req *req, struct sb_resp *resp)
{
    struct sb_webpush *w = ctx->webpush;
    const char *id = req->path + strlen(SB_WEBPUSH_PATH);
    const char *why;
    size_t plen = 0;
    struct wp_sub *s = wp_find(w, id, strcspn(id, "?"));

    if (s == NULL) {
        wp_answer(resp, 404, "no such subscription");
        return;
    }
    if (s->expired) {
        wp_answer(resp, 410, "subscription expired");
        return;
    }
    if (strcmp(req->method, "POST") != 0) {
        wp_answer(resp, 405, "POST required");
        return;
    }
    if (req->body_truncated || req->bodylen > ECE_BODY_MAX) {
        wp_answer(resp, 413, "payload over 4096 bytes");
        return;
    }
    int st = wp_vapid(s, req, &why);
    if (st != 0) {
        wp_answer(resp, st, why);
        return;
    }
    if ((why = wp_headers_ok(req)) != NULL) {
        wp_answer(resp, 400, why);
        return;
    }
    unsigned char *plain = wp_decrypt(s, req, &plen);
    if (plain == NULL) {
        wp_answer(resp, 400, "body does not decrypt with the subscription's keys");
        return;
    }
    free(plain);

    struct sb_decision d = sb_behaviour_decide(ctx->behaviour, SB_PROVIDER_WEBPUSH, s->id);
    if (sb_behaviour_apply(&d, resp))
        return;
    if (d.kind == SB_BEHAVE_ERROR) {
        wp_answer(resp, d.status, "scripted by the subscription's marker");
        return;
    }
    resp->status = 201;
    sb_resp_header(resp, "location", "https://%s/wpush-msg/%lu", wp_authority(req), ++w->messages);
    sb_resp_header(resp, "ttl", "%s", sb_req_header(req, "ttl"));
    sb_deliver(ctx, resp, SB_PROVIDER_WEBPUSH, s->id, req);
}

void sb_webpush_record(struct sb_ctx *ctx, const char *id, const struct sb_req *req)
{
    struct wp_sub *s = wp_find(ctx->webpush, id, strlen(id));
    size_t len = 0;
    unsigned char *plain = s != NULL ? wp_decrypt(s, req, &len) : NULL;
    struct sb_req view = *req;
    if (plain != NULL) {
        view.body = (const char *)plain;
        view.bodylen = len;
    }
    sb_record_delivery(ctx->record, SB_PROVIDER_WEBPUSH, id, &view);
    free(plain);
}
