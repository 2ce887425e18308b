/*
 * mpns_payload.c - the MPNS toast XML for a notification (payload.h).
 * Called by the MPNS client (relay/mpns.c) once per attempt; pure.
 *
 *   <?xml version="1.0" encoding="utf-8"?><wp:Notification xmlns:wp="WPNotification">
 *   <wp:Toast><wp:Text1>TITLE</wp:Text1><wp:Text2>BODY</wp:Text2>
 *   <wp:Param>/pushrelay?event=im&amp;id=ID</wp:Param></wp:Toast></wp:Notification>
 *
 * (one line on the wire). TITLE and BODY are XML-escaped by xml_escape; ID
 * is percent-encoded first, since Param is a URI the app parses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pushrelay/error.h"
#include "payload.h"
#include "payload_ext.h"     /* toast_url_encode */

#define MPNS_HEAD "<?xml version=\"1.0\" encoding=\"utf-8\"?>" \
                  "<wp:Notification xmlns:wp=\"WPNotification\"><wp:Toast><wp:Text1>"
#define MPNS_MID "</wp:Text1><wp:Text2>"
#define MPNS_PARAM "</wp:Text2><wp:Param>/pushrelay?event="
#define MPNS_PARAM_ID "&amp;id="
#define MPNS_TAIL "</wp:Param></wp:Toast></wp:Notification>"

/* mpns_render is the toast_render_fn: the whole toast for this text. */
static int mpns_render(void *arg, const char *title, const char *body, char **out, size_t *outlen)
{
    const struct pr_notif *n = arg;
    char *t = xml_escape(title), *b = xml_escape(body), *id = toast_url_encode(n->id);
    *out = t == NULL || b == NULL || id == NULL ? NULL
         : toast_join(outlen, MPNS_HEAD, t, MPNS_MID, b, MPNS_PARAM, pr_event_name(n->event),
                      MPNS_PARAM_ID, id, MPNS_TAIL, (char *)NULL);
    free(t);
    free(b);
    free(id);
    return *out != NULL ? 0 : PR_ENOMEM;
}

int mpns_payload_build(const struct pr_notif *n, char **out, size_t *outlen)
{
    *out = NULL;
    if (n->id == NULL)
        return PR_EINVAL;
    return toast_build(n, TOAST_ESC_XML, MPNS_PAYLOAD_MAX, mpns_render, (void *)n, out, outlen);
}
