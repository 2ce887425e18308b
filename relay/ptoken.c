/*
 * ptoken.c - the APNs provider token shared through Redis (see ptoken.h).
 *
 * Per (team id, key id) pair, on this process's own Redis connection:
 *
 *   read:   GET <p>ptoken:apns:<team>:<kid>
 *             "<iat> <jwt>", young enough ──▶ use it (shared)
 *             nil (expired, never made)  ──▶ offer
 *   offer:  SET <key> "<iat> <jwt>" NX EX <PTOKEN_SHARE_S - age>
 *             OK  ──▶ ours is the shared one
 *             nil ──▶ another process was first: read again
 *   reject: EVAL "delete the key if it still holds the refused value"
 *
 * Reads happen when Redis connects, when a pair is first watched, every
 * PTOKEN_CHECK_S, and after a request had to sign its own token. Requests
 * never wait for Redis: without a shared token they use one signed here.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <hiredis/hiredis.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "jwt.h"
#include "keys.h"
#include "ptoken.h"
#include "rconn.h"

#define PT_MOD "ptoken"
#define PT_NAME_MAX 64
#define PT_CLOCK_SKEW_S 60      /* an iat this far ahead of our clock is still taken */

/* Deletes KEYS[1] only while it holds ARGV[1]: a refused token, not its successor. */
static const char pt_reject_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

struct pt_entry {
    struct ptoken *pt;
    struct pt_entry *next;
    char team[PT_NAME_MAX], kid[PT_NAME_MAX];
    char rkey[KEYS_PREFIX_MAX + 2 * PT_NAME_MAX + 32];
    EVP_PKEY *pkey;             /* signs this process's token when none is shared */
    char *value;                /* "<iat> <jwt>" in use; NULL: none */
    const char *token;          /* the jwt inside 'value' */
    int64_t iat_s;
    int shared;                 /* 'value' is (or was) what Redis holds */
    char *offer;                /* the value a SET NX in flight offers */
    int busy;                   /* a GET or SET in flight */
};

struct ptoken {
    struct rconn *rc;
    struct keys keys;
    struct event *check_timer;
    struct pt_entry *entries;
    int closing;
};

static int64_t pt_now_s(void) { return (int64_t)time(NULL); }

static struct pt_entry *pt_find(struct ptoken *pt, const char *team, const char *kid)
{
    for (struct pt_entry *e = pt->entries; e != NULL; e = e->next)
        if (strcmp(e->team, team) == 0 && strcmp(e->kid, kid) == 0)
            return e;
    return NULL;
}

static struct pt_entry *pt_entry_get(struct ptoken *pt, EVP_PKEY *key, const char *team, const char *kid)
{
    struct pt_entry *e = pt_find(pt, team, kid);
    if (e != NULL)
        return e;
    if (strlen(team) >= PT_NAME_MAX || strlen(kid) >= PT_NAME_MAX || (e = calloc(1, sizeof(*e))) == NULL)
        return NULL;
    e->pt = pt;
    strcpy(e->team, team);
    strcpy(e->kid, kid);
    if (keys_ptoken(&pt->keys, team, kid, e->rkey, sizeof(e->rkey)) < 0) {
        free(e);
        return NULL;
    }
    if (key != NULL && EVP_PKEY_up_ref(key) == 1)
        e->pkey = key;
    e->next = pt->entries;
    pt->entries = e;
    return e;
}

/* pt_use makes 'value' ("<iat> <jwt>", taken) the pair's token. */
static void pt_use(struct pt_entry *e, char *value, int64_t iat, int shared)
{
    free(e->value);
    e->value = value;
    e->token = strchr(value, ' ') + 1;
    e->iat_s = iat;
    e->shared = shared;
}

/* pt_parse reads "<iat> <jwt>"; 0 and the iat when well formed. */
static int pt_parse(const char *value, int64_t *iat)
{
    char *end;
    long long v = strtoll(value, &end, 10);
    if (end == value || *end != ' ' || end[1] == '\0' || v <= 0)
        return PR_EINVAL;
    *iat = v;
    return 0;
}

static int pt_usable(int64_t iat, int64_t now)
{
    return iat <= now + PT_CLOCK_SKEW_S && now - iat < PTOKEN_USE_MAX_S;
}

/* pt_sign makes a new "<iat> <jwt>" for the pair with this process's key. */
static int pt_sign(struct pt_entry *e, int64_t now, char **out)
{
    if (e->pkey == NULL)
        return PR_ECRYPTO;
    struct jwt_cache tmp = { NULL, 0 };
    const char *jwt;
    int rc = jwt_apns_token(&tmp, e->pkey, e->team, e->kid, now, &jwt);
    if (rc != 0)
        return rc;
    size_t len = strlen(jwt) + 24;
    char *v = malloc(len);
    if (v == NULL) {
        jwt_cache_clear(&tmp);
        return PR_ENOMEM;
    }
    snprintf(v, len, "%" PRId64 " %s", now, jwt);
    jwt_cache_clear(&tmp);
    *out = v;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Redis: read, offer, reject                                                */
/* ------------------------------------------------------------------------ */

static void pt_read(struct pt_entry *e);

static void pt_on_set(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct pt_entry *e = arg;
    char *offer = e->offer;
    e->offer = NULL;
    e->busy = 0;
    if (reply == NULL || e->pt->closing) {
        free(offer);
        return;
    }
    if (reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "OK") == 0) {
        int64_t iat = 0;
        pt_parse(offer, &iat);
        if (e->value == NULL || strcmp(e->value, offer) != 0)
            pt_use(e, offer, iat, 1);
        else {
            e->shared = 1;
            free(offer);
        }
        pr_log_info(PT_MOD, "APNs provider token for %s/%s: signed here (iat %" PRId64 "), shared with every process",
                    e->team, e->kid, e->iat_s);
        return;
    }
    free(offer);
    if (reply->type == REDIS_REPLY_NIL) {
        pt_read(e);             /* another process was first: take its token */
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR)
        pr_log_warn(PT_MOD, "SET %s: %s", e->rkey, reply->str);
}

/*
 * pt_offer proposes a token for a key that holds none: this process's
 * current one when it is young (it is in use already: one token fewer for
 * Apple to see), else a new one.
 */
static void pt_offer(struct pt_entry *e)
{
    int64_t now = pt_now_s();
    char *offer = NULL;
    int64_t iat = now;
    if (e->value != NULL && !e->shared && pt_usable(e->iat_s, now) && now - e->iat_s < PTOKEN_CHECK_S) {
        if ((offer = strdup(e->value)) == NULL)
            return;
        iat = e->iat_s;
    } else if (pt_sign(e, now, &offer) != 0) {
        return;
    }
    long long ttl = PTOKEN_SHARE_S - (now > iat ? now - iat : 0);
    char ex[24];
    snprintf(ex, sizeof(ex), "%lld", ttl > 0 ? ttl : 1);
    const char *argv[] = { "SET", e->rkey, offer, "NX", "EX", ex };
    e->offer = offer;
    e->busy = 1;
    if (rconn_cmd(e->pt->rc, pt_on_set, e, 6, argv, NULL) != 0) {
        e->busy = 0;
        e->offer = NULL;
        free(offer);
    }
}

static void pt_on_get(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct pt_entry *e = arg;
    e->busy = 0;
    if (reply == NULL || e->pt->closing)
        return;
    int64_t iat, now = pt_now_s();
    if (reply->type == REDIS_REPLY_STRING && pt_parse(reply->str, &iat) == 0 && pt_usable(iat, now)) {
        if (e->value != NULL && strcmp(e->value, reply->str) == 0) {
            e->shared = 1;
            return;
        }
        char *v = strdup(reply->str);
        if (v == NULL)
            return;
        pt_use(e, v, iat, 1);
        pr_log_info(PT_MOD, "APNs provider token for %s/%s: using the shared one (iat %" PRId64 ")", e->team,
                    e->kid, iat);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        pr_log_warn(PT_MOD, "GET %s: %s", e->rkey, reply->str);
        return;
    }
    if (reply->type == REDIS_REPLY_STRING) {
        /*
         * Held but unusable here (our clock and its signer's disagree, or a
         * stranger's value): SET NX could not replace it, so keep our own
         * token until the key's TTL frees it.
         */
        pr_log_warn(PT_MOD, "%s holds a token this process cannot use; signing its own meanwhile", e->rkey);
        return;
    }
    pt_offer(e);                /* none shared (never made, or its TTL ran out): make the next one */
}

static void pt_read(struct pt_entry *e)
{
    struct ptoken *pt = e->pt;
    if (e->busy || pt->closing || !rconn_connected(pt->rc))
        return;
    const char *argv[] = { "GET", e->rkey };
    e->busy = 1;
    if (rconn_cmd(pt->rc, pt_on_get, e, 2, argv, NULL) != 0)
        e->busy = 0;
}

static void pt_read_all(struct ptoken *pt)
{
    for (struct pt_entry *e = pt->entries; e != NULL; e = e->next)
        pt_read(e);
}

static void pt_on_state(struct rconn *rc, int connected, void *arg)
{
    (void)rc;
    if (connected)
        pt_read_all(arg);
}

static void pt_on_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pt_read_all(arg);
}

/* ------------------------------------------------------------------------ */
/* Public                                                                    */
/* ------------------------------------------------------------------------ */

int ptoken_new(struct event_base *base, const struct cfg_redis *redis, struct ptoken **out)
{
    struct ptoken *pt = calloc(1, sizeof(*pt));
    if (pt == NULL)
        return PR_ENOMEM;
    int rc = keys_init(&pt->keys, redis->prefix);
    if (rc != 0)
        goto fail;
    rc = PR_ENOMEM;
    if ((pt->check_timer = event_new(base, -1, EV_PERSIST, pt_on_check, pt)) == NULL)
        goto fail;
    struct timeval tv = { PTOKEN_CHECK_S, 0 };
    event_add(pt->check_timer, &tv);
    if ((rc = rconn_new(base, redis, "pushrelay-ptoken", pt_on_state, pt, &pt->rc)) != 0)
        goto fail;
    *out = pt;
    return 0;
fail:
    ptoken_free(pt);
    return rc;
}

int ptoken_watch(struct ptoken *pt, EVP_PKEY *key, const char *team_id, const char *key_id)
{
    struct pt_entry *e = pt_entry_get(pt, key, team_id, key_id);
    if (e == NULL)
        return PR_ENOMEM;
    if (key != NULL && key != e->pkey && EVP_PKEY_up_ref(key) == 1) {
        EVP_PKEY_free(e->pkey);
        e->pkey = key;
    }
    pt_read(e);
    return 0;
}

int ptoken_apns(struct ptoken *pt, EVP_PKEY *key, const char *team_id, const char *key_id,
                int64_t now_s, const char **out)
{
    if (team_id == NULL || key_id == NULL)
        return PR_EINVAL;
    struct pt_entry *e = pt_entry_get(pt, key, team_id, key_id);
    if (e == NULL)
        return PR_ENOMEM;
    if (e->value != NULL && pt_usable(e->iat_s, now_s)) {
        *out = e->token;
        return 0;
    }
    /* Nothing shared yet (or Redis away): sign here, and ask Redis which token wins. */
    char *v;
    int rc = pt_sign(e, now_s, &v);
    if (rc != 0)
        return rc;
    pt_use(e, v, now_s, 0);
    pt_read(e);
    *out = e->token;
    return 0;
}

void ptoken_reject(struct ptoken *pt, const char *team_id, const char *key_id)
{
    struct pt_entry *e = pt_find(pt, team_id, key_id);
    if (e == NULL || e->value == NULL)
        return;
    if (e->shared && rconn_connected(pt->rc)) {
        const char *argv[] = { "EVAL", pt_reject_script, "1", e->rkey, e->value };
        rconn_cmd(pt->rc, NULL, NULL, 5, argv, NULL);
    }
    pr_log_warn(PT_MOD, "APNs provider token for %s/%s (iat %" PRId64 ") refused by APNs: making a new one",
                e->team, e->kid, e->iat_s);
    free(e->value);
    e->value = NULL;
    e->token = NULL;
    e->shared = 0;
}

void ptoken_free(struct ptoken *pt)
{
    if (pt == NULL)
        return;
    pt->closing = 1;
    if (pt->check_timer != NULL)
        event_free(pt->check_timer);
    rconn_free(pt->rc);         /* pending callbacks run now, while the entries live */
    while (pt->entries != NULL) {
        struct pt_entry *e = pt->entries;
        pt->entries = e->next;
        EVP_PKEY_free(e->pkey);
        free(e->value);
        free(e->offer);
        free(e);
    }
    free(pt);
}
