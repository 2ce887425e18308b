/*
 * notif.h - the notification record: the one seam between the listener and
 * the dispatcher. The listener fills it from a validated MESSAGE; the queue
 * stores its JSON encoding; the dispatcher decodes it and hands it to a
 * provider client. Nothing SIP-specific or provider-specific lives here.
 *
 * Encoded form (one JSON object, short keys, stored in the stream field "n",
 * in retry-zset members and in dead letters):
 *
 *   {"v":1,"id":"5f0c…","dom":"contoso.com","prov":"apns","app":"lync-ios",
 *    "tok":"<device token>","voip":0,"ev":"im","from":"sip:…","to":"sip:…",
 *    "title":"…","body":"…","badge":3,"sound":"default","prio":"high",
 *    "coll":"conv-42","ttl":60,"acc":1732480000000,"exp":1732480060000,
 *    "att":0,"data":{…},"last":"503 ServiceUnavailable","trace":1,
 *    "wpk":"<p256dh>","wpa":"<auth>"}
 *
 * Absent optional fields are omitted; decoding tolerates their absence.
 * "trace" is written only when set (the MESSAGE body said "trace": true).
 * "wpk" and "wpa" are a Web Push subscription's keys (body "webpush").
 */
#ifndef PUSHRELAY_NOTIF_H
#define PUSHRELAY_NOTIF_H

#include <stddef.h>
#include <stdint.h>
#include "pushrelay/clock.h"     /* accepted_ms, expires_ms: pr_now_ms() values */
#include "pushrelay/provider.h"

/*
 * Only 'data' is a jansson value: named by its struct tag so that
 * includers who never touch it do not compile <jansson.h>.
 */
struct json_t;

#define PR_NOTIF_VERSION 1
#define PR_NOTIF_ID_MAX 128      /* idempotency key length limit */

struct pr_notif {
    char *id;                   /* push id: body "id", else Call-ID + CSeq */
    char *domain;               /* tenant: the From domain of the MESSAGE */
    enum pr_provider provider;
    char *app;                  /* cfg_app id that serves it */
    char *token;                /* APNs hex token, FCM token, MPNS channel URI (decoded) */
    int voip;                   /* APNs VoIP push (pn-param ended in ".voip") */
    enum pr_event event;
    char *from;                 /* SIP URI of the party who caused the event */
    char *to;                   /* SIP URI of the user being notified */
    char *title;
    char *body;
    int badge;                  /* -1 when absent */
    char *sound;
    enum pr_priority priority;
    char *collapse_id;
    int ttl_s;
    int64_t accepted_ms;        /* wall clock when the listener answered 202 */
    int64_t expires_ms;         /* accepted_ms + ttl_s * 1000 */
    int attempts;               /* delivery attempts already made */
    struct json_t *data;        /* custom data object (jansson json_t, owned reference) or NULL */
    char *last;                 /* last provider answer, e.g. "503 …", or NULL */
    int trace;                  /* the edge asked for every outcome to be recorded,
                                   delivery included (relay/outcome_log.h) */
    char *wp_p256dh;            /* Web Push: the subscription's key (base64url), else NULL */
    char *wp_auth;              /* Web Push: its auth secret (base64url), else NULL */
};

/* notif_init zeroes 'n' and sets badge to -1. */
void notif_init(struct pr_notif *n);

/* notif_clear frees everything 'n' owns and re-initialises it. */
void notif_clear(struct pr_notif *n);

/*
 * notif_encode returns the record as compact JSON text in '*out' (free with
 * free()) and its length in '*outlen'. PR_ENOMEM on allocation failure,
 * PR_EINVAL if a required field (id, domain, app, token) is missing, a
 * string is not UTF-8 or 'data' is not an object (it would not decode).
 */
int notif_encode(const struct pr_notif *n, char **out, size_t *outlen);

/*
 * notif_encode_jbuf appends the record notif_encode returns to 'out' (a
 * struct jbuf of relay/jbuf.h; the caller keeps and frees it), so that a
 * caller encoding many records can reuse one buffer. Same errors; on error
 * 'out' holds a partial record.
 */
struct jbuf;
int notif_encode_jbuf(const struct pr_notif *n, struct jbuf *out);

/*
 * notif_decode parses 'len' bytes of encoded JSON into 'out' (which it
 * initialises; clear it with notif_clear even on failure). PR_EINVAL names
 * nothing more specific: the record is corrupt and belongs in dead letters.
 */
int notif_decode(const char *json, size_t len, struct pr_notif *out);

/*
 * notif_decode_tree decodes like notif_decode, always through a jansson
 * tree: the reference notif_decode's own scanner must agree with, decoding
 * the same records the same way and refusing the same ones (notif_decode
 * falls back to it on what the scanner does not read). For tests and the
 * fuzz target; the relay calls notif_decode.
 */
int notif_decode_tree(const char *json, size_t len, struct pr_notif *out);

/*
 * notif_decode_view decodes like notif_decode, without one allocation per
 * string: every string of 'out' points into 'store', which the caller
 * provides (at least 'len' bytes; they hold the decoded strings whatever the
 * record) and keeps alive and unchanged as long as 'out' is used. Only
 * 'data' is owned by 'out'. Such a view is released with notif_view_clear,
 * never with notif_clear, and never given to notif_set_str: a string it
 * must replace is pointed at storage the caller owns. On failure (PR_EINVAL,
 * or PR_ENOMEM from jansson's path) 'out' holds nothing.
 */
int notif_decode_view(const char *json, size_t len, struct pr_notif *out, char *store);

/* notif_view_clear releases what a view from notif_decode_view owns ('data') and re-initialises it. */
void notif_view_clear(struct pr_notif *n);

/* notif_set_str replaces '*field' with a copy of 's' (NULL clears it). */
int notif_set_str(char **field, const char *s);

#endif
