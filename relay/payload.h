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
#define FCM_PAYLOAD_MAX 4096        /* counted over the whole body but the token */
#define MPNS_PAYLOAD_MAX 3072       /* MPNS refuses larger toasts */

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
/* The same at wall clock 'now_ms' (android.ttl is the TTL remaining then). */
int fcm_payload_build_at(const struct pr_notif *n, int64_t now_ms, char **out, size_t *outlen);

/* MPNS toast XML, text XML-escaped. */
int mpns_payload_build(const struct pr_notif *n, char **out, size_t *outlen);

/*
 * toast_default_text gives n->title and n->body, or where one is absent (or
 * empty) the phrase for 'event': "New message", "Incoming call", "Missed
 * call", "New voicemail", "Conference invitation". Pointers into 'n' or static.
 */
void toast_default_text(const struct pr_notif *n, const char **title, const char **body);

/* utf8_truncate returns the largest length <= 'max' that ends on a UTF-8 boundary of 's'. */
size_t utf8_truncate(const char *s, size_t len, size_t max);

/* ---- shared by the three builders (relay/toast.c) ---------------------- */

/*
 * The text a toast shows. Title: n->title, else the user part of n->from
 * ("sip:alice@contoso.com" -> "alice"), else the event phrase; body:
 * n->body, else the event phrase (toast_default_text). Empty strings count
 * as absent. 'title' may point into 'from_user': do not copy the struct.
 */
#define TOAST_USER_MAX 128
struct toast {
    const char *title;
    const char *body;
    char from_user[TOAST_USER_MAX];
};
void toast_text(const struct pr_notif *n, struct toast *t);

/* How a builder escapes text, so toast_fit can tell what a cut saves. */
enum toast_escape {
    TOAST_ESC_JSON,     /* jansson's output: '"' '\\' and controls escaped, UTF-8 raw */
    TOAST_ESC_XML,      /* xml_escape below: & < > " ' as entities, controls dropped */
};

/* A builder's renderer: the whole request body for this title and body. */
typedef int (*toast_render_fn)(void *arg, const char *title, const char *body,
                               char **out, size_t *outlen);

/*
 * toast_fit renders with 'title' and 'body' and, while the result is over
 * 'limit' bytes, cuts the body (then the title) on a UTF-8 boundary, appends
 * "…" (which counts in the limit) and renders again. Returns 0 with the
 * malloc'd text in '*out', PR_ETOOBIG when even empty texts do not fit, or
 * the renderer's error.
 */
int toast_fit(const char *title, const char *body, enum toast_escape esc, size_t limit,
              toast_render_fn render, void *arg, char **out, size_t *outlen);

/*
 * toast_build is what every builder does: toast_fit over toast_text(n)'s
 * title and body. Returns as toast_fit.
 */
int toast_build(const struct pr_notif *n, enum toast_escape esc, size_t limit,
                toast_render_fn render, void *arg, char **out, size_t *outlen);

/*
 * xml_escape returns a malloc'd copy of 's' fit for XML 1.0 text and
 * attribute values: & < > " ' become entities; control characters other
 * than tab, LF and CR (not allowed in XML 1.0) are dropped. NULL on ENOMEM.
 */
char *xml_escape(const char *s);

/*
 * toast_join returns the malloc'd concatenation of its arguments up to the
 * first NULL, its length in '*len'; NULL on ENOMEM or when 'first' is NULL.
 * The XML toasts are fixed markup around escaped text.
 */
char *toast_join(size_t *len, const char *first, ...);

#endif
