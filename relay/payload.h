/*
 * payload.h - what each provider is sent for a notification: the toast
 * chosen by 'event' when title/body are absent, and the provider's request
 * body and headers. Pure functions: no I/O. Implementations:
 * relay/apns_payload.c, relay/fcm_payload.c, relay/mpns_payload.c.
 */
#ifndef PUSHRELAY_PAYLOAD_H
#define PUSHRELAY_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>
#include "pushrelay/config.h"
#include "pushrelay/notif.h"

#define APNS_PAYLOAD_MAX 4096
#define APNS_PAYLOAD_MAX_VOIP 5120

struct apns_request {
    char *path;             /* "/3/device/<token>" (malloc'd) */
    char *payload;          /* JSON body (malloc'd) */
    size_t payload_len;
    const char *push_type;  /* "alert" or "voip" */
    char topic[320];        /* bundle id, + ".voip" for VoIP */
    int priority;           /* 10 high, 5 normal */
    int64_t expiration_s;   /* epoch seconds: n->expires_ms / 1000 */
    char apns_id[37];       /* canonical UUID derived from n->id */
    const char *collapse_id;/* n->collapse_id or NULL (points into 'n') */
};

/*
 * apns_payload_build fills 'out' for 'n' sent through 'app'. Text too long
 * for the limit is cut on a UTF-8 boundary with "…"; PR_ETOOBIG if the
 * payload is still too large. Free with apns_request_clear.
 */
int apns_payload_build(const struct pr_notif *n, const struct cfg_app *app,
                       struct apns_request *out);
void apns_request_clear(struct apns_request *r);

/* FCM HTTP v1: the {"message":{…}} body; 'data' values become strings. */
int fcm_payload_build(const struct pr_notif *n, char **out, size_t *outlen);

/* MPNS toast XML, text XML-escaped. */
int mpns_payload_build(const struct pr_notif *n, char **out, size_t *outlen);

/* toast_text gives the default title/body for 'event' ("New message", …). */
void toast_default_text(const struct pr_notif *n, const char **title, const char **body);

/* utf8_truncate returns the largest length <= 'max' that ends on a UTF-8 boundary of 's'. */
size_t utf8_truncate(const char *s, size_t len, size_t max);

#endif
