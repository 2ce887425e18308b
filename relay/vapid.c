/*
 * vapid.c - RFC 8292 VAPID (vapid.h): the Authorization value per push
 * endpoint origin, signed with relay/jwt.c's ES256 and cached in a small
 * fixed table; the origin of an endpoint URL (parsed by libevent's URI
 * parser); the RFC 8030 Topic made from a collapse id. Called by the Web
 * Push client once per request. No I/O; the clock is the caller's.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <jansson.h>
#include <openssl/sha.h>

#include "pushrelay/error.h"
#include "ece.h"
#include "jwt.h"
#include "vapid.h"

#define VAPID_HTTPS_PORT 443

static const char vapid_b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* One origin's token. An empty 'origin' marks a free slot. */
struct vapid_slot {
    char origin[VAPID_ORIGIN_MAX];
    char *header;           /* "vapid t=<JWT>, k=<key>" (malloc'd) */
    int64_t iat_s;          /* when it was signed (our clock) */
    int64_t exp_s;          /* its "exp" claim */
};

struct vapid_cache {
    EVP_PKEY *key;          /* borrowed */
    char *subject;
    char *k;                /* base64url public key, the "k=" parameter */
    struct vapid_slot slots[VAPID_CACHE_SLOTS];
};

int vapid_origin(const char *url, char *out, size_t outlen)
{
    struct evhttp_uri *uri = url != NULL ? evhttp_uri_parse(url) : NULL;
    int rc = PR_EINVAL;
    if (uri == NULL)
        goto out;
    const char *scheme = evhttp_uri_get_scheme(uri);
    const char *host = evhttp_uri_get_host(uri);
    int port = evhttp_uri_get_port(uri);
    /* A push endpoint never carries userinfo; one that does is someone's trick. */
    if (scheme == NULL || strcasecmp(scheme, "https") != 0 || host == NULL || host[0] == '\0' ||
        evhttp_uri_get_userinfo(uri) != NULL)
        goto out;
    int n = port < 0 || port == VAPID_HTTPS_PORT
                ? snprintf(out, outlen, "https://%s", host)
                : snprintf(out, outlen, "https://%s:%d", host, port);
    if (n < 0 || (size_t)n >= outlen) {
        rc = PR_ETOOBIG;
        goto out;
    }
    /* Origins compare host names case-insensitively (RFC 6454 section 4). */
    for (char *p = out + strlen("https://"); *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    rc = 0;
out:
    if (uri != NULL)
        evhttp_uri_free(uri);
    return rc;
}

/* ---- the cache ------------------------------------------------------------ */

int vapid_cache_new(EVP_PKEY *key, const char *subject, struct vapid_cache **out)
{
    unsigned char pub[ECE_PUBLIC_LEN];
    *out = NULL;
    if (subject == NULL ||
        (strncasecmp(subject, "mailto:", 7) != 0 && strncasecmp(subject, "https:", 6) != 0))
        return PR_EINVAL;
    int rc = ece_public_raw(key, pub);
    if (rc != 0)
        return rc;
    struct vapid_cache *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->subject = strdup(subject)) == NULL ||
        (c->k = jwt_b64url(pub, sizeof(pub))) == NULL) {
        vapid_cache_del(c);
        return PR_ENOMEM;
    }
    c->key = key;
    *out = c;
    return 0;
}

static void vapid_slot_clear(struct vapid_slot *s)
{
    free(s->header);
    memset(s, 0, sizeof(*s));
}

void vapid_cache_del(struct vapid_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < VAPID_CACHE_SLOTS; i++)
        vapid_slot_clear(&c->slots[i]);
    free(c->subject);
    free(c->k);
    free(c);
}

/*
 * vapid_slot_for returns the slot holding 'origin', else a free one, else
 * the one whose token expires first (it would be re-signed soonest anyway).
 */
static struct vapid_slot *vapid_slot_for(struct vapid_cache *c, const char *origin)
{
    struct vapid_slot *victim = &c->slots[0];
    for (size_t i = 0; i < VAPID_CACHE_SLOTS; i++) {
        struct vapid_slot *s = &c->slots[i];
        if (strcmp(s->origin, origin) == 0)
            return s;
        if (victim->origin[0] != '\0' && (s->origin[0] == '\0' || s->exp_s < victim->exp_s))
            victim = s;
    }
    return victim;
}

/* vapid_sign fills 's' with a new token for 'origin' signed at 'now_s'. */
static int vapid_sign(struct vapid_cache *c, struct vapid_slot *s, const char *origin,
                      int64_t now_s)
{
    char *jwt = NULL;
    int64_t exp_s = now_s + VAPID_LIFETIME_S;
    json_t *claims = json_pack("{s:s, s:I, s:s}", "aud", origin, "exp", (json_int_t)exp_s,
                               "sub", c->subject);
    if (claims == NULL)
        return PR_ENOMEM;
    int rc = jwt_sign(c->key, "ES256", NULL, claims, &jwt);
    json_decref(claims);
    if (rc != 0)
        return rc;
    size_t len = strlen("vapid t=, k=") + strlen(jwt) + strlen(c->k) + 1;
    char *header = malloc(len);
    if (header == NULL) {
        free(jwt);
        return PR_ENOMEM;
    }
    snprintf(header, len, "vapid t=%s, k=%s", jwt, c->k);
    free(jwt);
    vapid_slot_clear(s);
    snprintf(s->origin, sizeof(s->origin), "%s", origin);
    s->header = header;
    s->iat_s = now_s;
    s->exp_s = exp_s;
    return 0;
}

int vapid_header(struct vapid_cache *c, const char *endpoint, int64_t now_s, const char **out)
{
    char origin[VAPID_ORIGIN_MAX];
    int rc = vapid_origin(endpoint, origin, sizeof(origin));
    if (rc != 0)
        return rc;
    struct vapid_slot *s = vapid_slot_for(c, origin);
    /* A clock that stepped back also re-signs: the token may claim too long a life. */
    if (s->header == NULL || strcmp(s->origin, origin) != 0 || now_s < s->iat_s ||
        now_s >= s->exp_s - VAPID_RENEW_S) {
        if ((rc = vapid_sign(c, s, origin, now_s)) != 0)
            return rc;
    }
    *out = s->header;
    return 0;
}

void vapid_cache_forget(struct vapid_cache *c, const char *endpoint)
{
    char origin[VAPID_ORIGIN_MAX];
    if (vapid_origin(endpoint, origin, sizeof(origin)) != 0)
        return;
    for (size_t i = 0; i < VAPID_CACHE_SLOTS; i++)
        if (strcmp(c->slots[i].origin, origin) == 0)
            vapid_slot_clear(&c->slots[i]);
}

/* ---- Topic ---------------------------------------------------------------- */

int vapid_topic(const char *collapse_id, char out[VAPID_TOPIC_MAX + 1])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    out[0] = '\0';
    if (collapse_id == NULL || collapse_id[0] == '\0')
        return 0;
    size_t len = strlen(collapse_id);
    if (len <= VAPID_TOPIC_MAX && strspn(collapse_id, vapid_b64url_alphabet) == len) {
        memcpy(out, collapse_id, len + 1);
        return 0;
    }
    /* 32 base64url characters keep 192 bits of the hash: collisions need not be feared. */
    unsigned int mdlen = 0;
    if (EVP_Digest(collapse_id, len, md, &mdlen, EVP_sha256(), NULL) != 1)
        return PR_ECRYPTO;
    char *b64 = jwt_b64url(md, mdlen);
    if (b64 == NULL)
        return PR_ENOMEM;
    memcpy(out, b64, VAPID_TOPIC_MAX);
    out[VAPID_TOPIC_MAX] = '\0';
    free(b64);
    return 0;
}
