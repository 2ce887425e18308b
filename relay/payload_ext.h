/*
 * payload_ext.h - what Web Push, WNS and HMS are sent for a notification:
 * the request body and the header values each provider takes. Pure
 * functions apart from Web Push's random key and salt; no I/O. They share
 * toast.c's text rules with the builders of payload.h. Implementations:
 * relay/webpush_payload.c, relay/wns_payload.c, relay/hms_payload.c (and
 * the two helpers below, relay/toast.c).
 *
 * (A header of its own while payload.h is being changed elsewhere; the
 * declarations can move into payload.h once both settle.)
 */
#ifndef PUSHRELAY_PAYLOAD_EXT_H
#define PUSHRELAY_PAYLOAD_EXT_H

#include <stddef.h>
#include <stdint.h>
#include "pushrelay/notif.h"
#include "ece.h"
#include "payload.h"
#include "vapid.h"

/* ---- Web Push (RFC 8030, RFC 8291) -------------------------------------- */

/*
 * The plaintext a service worker receives (before encryption), at most
 * ECE_PLAINTEXT_MAX bytes; tag, badge, data and from only when known:
 *
 *   {"title":T,"body":B,"tag":C,"badge":N,"data":{<n->data>},
 *    "pr":{"id":ID,"event":"im","from":F}}
 */
int webpush_payload_json(const struct pr_notif *n, char **out, size_t *outlen);

/* Fixed request headers: Content-Encoding and Content-Type. */
#define WEBPUSH_CONTENT_ENCODING "aes128gcm"
#define WEBPUSH_CONTENT_TYPE "application/octet-stream"

struct webpush_request {
    unsigned char *body;        /* aes128gcm body (malloc'd) */
    size_t body_len;
    int ttl_s;                  /* TTL: seconds of the notification's TTL left */
    const char *urgency;        /* Urgency: "high" or "normal" (static) */
    char topic[VAPID_TOPIC_MAX + 1];    /* Topic from collapse_id; "" sends none */
};

/*
 * webpush_payload_build encrypts webpush_payload_json's text for
 * subscription 'sub' at wall clock 'now_ms' and fills the header values.
 * The Authorization value is vapid_header's (it needs the app's cache).
 * PR_EINVAL without id or token (the endpoint), PR_ETOOBIG, PR_ECRYPTO,
 * PR_ENOMEM. Free with webpush_request_clear, also after a failure.
 */
int webpush_payload_build(const struct pr_notif *n, const struct ece_sub *sub, int64_t now_ms,
                          struct webpush_request *out);
void webpush_request_clear(struct webpush_request *r);

/* ---- WNS (Windows Notification Service) --------------------------------- */

#define WNS_PAYLOAD_MAX 5120        /* WNS refuses larger notifications (413) */
#define WNS_TYPE "wns/toast"        /* X-WNS-Type */
#define WNS_CONTENT_TYPE "text/xml"
#define WNS_REQUEST_FOR_STATUS "true"   /* X-WNS-RequestForStatus: report device state */

/*
 * The toast (one line on the wire), TITLE and BODY XML-escaped, ID
 * percent-encoded since the app parses launch as a query string:
 *
 *   <toast launch="pushrelay?event=im&amp;id=ID"><visual><binding template="ToastGeneric">
 *   <text>TITLE</text><text>BODY</text></binding></visual></toast>
 */
struct wns_request {
    char *body;                 /* toast XML (malloc'd) */
    size_t body_len;
    int ttl_s;                  /* X-WNS-TTL */
    char tag[VAPID_TOPIC_MAX + 1];  /* X-WNS-Tag from collapse_id (vapid_topic's form); "" sends none */
};

/* wns_payload_build fills 'out' at 'now_ms'. PR_EINVAL without id, PR_ETOOBIG, PR_ENOMEM. */
int wns_payload_build(const struct pr_notif *n, int64_t now_ms, struct wns_request *out);
void wns_request_clear(struct wns_request *r);

/* ---- HMS (Huawei Push Kit) ---------------------------------------------- */

#define HMS_PAYLOAD_MAX 4096        /* counted over the whole body but the token */
#define HMS_CLICK_OPEN_APP 3        /* click_action.type: start the app */
#define HMS_COLLAPSE_GROUPS 101     /* collapse_key is 0..100 (-1, the default, caches all) */

/*
 *   POST /v1/<app id>/messages:send
 *   {"validate_only":false,"message":{
 *     "data":"{\"pr_id\":ID,\"pr_event\":\"im\",\"pr_from\":F,<n->data>}",
 *     "android":{"collapse_key":K,"urgency":"HIGH"|"NORMAL","ttl":"<seconds left>s",
 *                "notification":{"title":T,"body":B,"click_action":{"type":3},"tag":C}},
 *     "token":[TOKEN]}}
 *
 * data is a string holding JSON, as HMS wants. collapse_key and tag appear
 * only with a collapse id; K is a hash of it into HMS's 101 groups.
 */
struct hms_request {
    char *path;                 /* "/v1/<app id>/messages:send" (malloc'd) */
    char *body;                 /* JSON (malloc'd) */
    size_t body_len;
};

/*
 * hms_payload_build fills 'out' for HMS app 'hms_app_id' at 'now_ms'.
 * PR_EINVAL without id or token or with an app id that is not
 * URL-unreserved text, PR_ETOOBIG, PR_ENOMEM. Free with hms_request_clear.
 */
int hms_payload_build(const struct pr_notif *n, const char *hms_app_id, int64_t now_ms,
                      struct hms_request *out);
void hms_request_clear(struct hms_request *r);

/* ---- shared by the builders (relay/toast.c) ----------------------------- */

/*
 * toast_ttl_left_s: seconds of n's TTL left at 'now_ms', rounded up, 0 once
 * past; n->ttl_s when the expiry is not known (expires_ms 0).
 */
int toast_ttl_left_s(const struct pr_notif *n, int64_t now_ms);

/*
 * toast_url_encode returns a malloc'd copy of 's' with every byte but RFC
 * 3986's unreserved characters percent-encoded (upper-case hex); NULL on
 * ENOMEM.
 */
char *toast_url_encode(const char *s);

#endif
