/*
 * wns_payload.c - the WNS toast request for a notification (payload_ext.h):
 * the toast XML and the X-WNS-TTL and X-WNS-Tag values. Called by the WNS
 * client once per attempt; pure. The access token is the client's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pushrelay/error.h"
#include "payload_ext.h"

#define WNS_HEAD "<toast launch=\"pushrelay?event="
#define WNS_LAUNCH_ID "&amp;id="
#define WNS_TITLE "\"><visual><binding template=\"ToastGeneric\"><text>"
#define WNS_MID "</text><text>"
#define WNS_TAIL "</text></binding></visual></toast>"

/* wns_render is the toast_render_fn: the whole toast for this text. */
static int wns_render(void *arg, const char *title, const char *body, char **out, size_t *outlen)
{
    const struct pr_notif *n = arg;
    char *t = xml_escape(title), *b = xml_escape(body), *id = toast_url_encode(n->id);
    *out = t == NULL || b == NULL || id == NULL ? NULL
         : toast_join(outlen, WNS_HEAD, pr_event_name(n->event), WNS_LAUNCH_ID, id, WNS_TITLE, t,
                      WNS_MID, b, WNS_TAIL, (char *)NULL);
    free(t);
    free(b);
    free(id);
    return *out != NULL ? 0 : PR_ENOMEM;
}

int wns_payload_build(const struct pr_notif *n, int64_t now_ms, struct wns_request *out)
{
    int rc = PR_EINVAL;

    memset(out, 0, sizeof(*out));
    if (n->id == NULL)
        return rc;
    if ((rc = toast_build(n, TOAST_ESC_XML, WNS_PAYLOAD_MAX, wns_render, (void *)n, &out->body,
                          &out->body_len)) != 0)
        return rc;
    /* WNS takes tags of up to 64 characters (Windows 8.1 and later) in a
     * header: the Web Push Topic's 32-character base64url form fits. */
    if ((rc = vapid_topic(n->collapse_id, out->tag)) != 0) {
        wns_request_clear(out);
        return rc;
    }
    out->ttl_s = toast_ttl_left_s(n, now_ms);
    return 0;
}

void wns_request_clear(struct wns_request *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}
