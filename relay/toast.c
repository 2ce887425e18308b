/*
 * toast.c - the text of a toast, shared by the payload builders
 * (relay/apns_payload.c, relay/fcm_payload.c, relay/mpns_payload.c and
 * those of payload_ext.h): the default title and body per event, UTF-8-safe
 * truncation, fitting text into a provider's size limit, XML escaping,
 * percent-encoding and the TTL left. It knows no provider's format:
 * builders pass a renderer and say how they escape.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pushrelay/error.h"
#include "payload.h"
#include "payload_ext.h"

#define TOAST_ELLIPSIS "\xe2\x80\xa6"   /* U+2026, 3 bytes */
#define TOAST_ELLIPSIS_LEN 3
#define TOAST_FIT_ROUNDS 8              /* renders before giving up (one is usual) */

static const char *const toast_phrases[PR_EVENT_COUNT] = {
    [PR_EVENT_IM] = "New message",
    [PR_EVENT_CALL] = "Incoming call",
    [PR_EVENT_MISSED_CALL] = "Missed call",
    [PR_EVENT_VOICEMAIL] = "New voicemail",
    [PR_EVENT_CONFERENCE] = "Conference invitation",
};

static const char *toast_phrase(enum pr_event e)
{
    return (unsigned)e < PR_EVENT_COUNT ? toast_phrases[e] : toast_phrases[PR_EVENT_IM];
}

static int toast_present(const char *s)
{
    return s != NULL && s[0] != '\0';
}

void toast_default_text(const struct pr_notif *n, const char **title, const char **body)
{
    *title = toast_present(n->title) ? n->title : toast_phrase(n->event);
    *body = toast_present(n->body) ? n->body : toast_phrase(n->event);
}

/*
 * toast_from_user copies the user part of a SIP/SIPS/tel URI 'from' into
 * 'buf': "sip:alice@contoso.com;transport=tls" -> "alice",
 * "<sips:bob@x>" -> "bob", "tel:+15551234" -> "+15551234". Empty when
 * there is none.
 */
static void toast_from_user(const char *from, char *buf, size_t buflen)
{
    static const char *const schemes[] = { "sip:", "sips:", "tel:" };
    buf[0] = '\0';
    if (from == NULL)
        return;
    const char *p = from + strspn(from, " <");
    size_t i;
    for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t sl = strlen(schemes[i]);
        if (strncasecmp(p, schemes[i], sl) == 0) {
            p += sl;
            break;
        }
    }
    if (i == sizeof(schemes) / sizeof(schemes[0]))
        return;
    size_t len = strcspn(p, "@;>?: ");
    if (len == 0 || (i < 2 && p[len] != '@'))   /* sip:host alone names no user */
        return;
    len = utf8_truncate(p, len, buflen - 1);
    memcpy(buf, p, len);
    buf[len] = '\0';
}

void toast_text(const struct pr_notif *n, struct toast *t)
{
    toast_default_text(n, &t->title, &t->body);
    if (!toast_present(n->title)) {
        toast_from_user(n->from, t->from_user, sizeof(t->from_user));
        if (t->from_user[0] != '\0')
            t->title = t->from_user;
    }
}

size_t utf8_truncate(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    /* Step back over continuation bytes (10xxxxxx) to the start of a character. */
    while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
        max--;
    return max;
}

/* ---- escaped sizes -------------------------------------------------------- */

/* xml_drops: control characters XML 1.0 does not allow in any form. */
static int xml_drops(unsigned char c)
{
    return c < 0x20 && c != '\t' && c != '\n' && c != '\r';
}

/* toast_esc_byte: bytes byte 'c' takes once escaped the 'esc' way. */
static size_t toast_esc_byte(enum toast_escape esc, unsigned char c)
{
    if (esc == TOAST_ESC_XML) {
        switch (c) {
        case '&': return 5;                 /* &amp; */
        case '<': case '>': return 4;       /* &lt; &gt; */
        case '"': case '\'': return 6;      /* &quot; &apos; */
        }
        return xml_drops(c) ? 0 : 1;
    }
    switch (c) {
    case '"': case '\\': case '\b': case '\f': case '\n': case '\r': case '\t':
        return 2;
    }
    return c < 0x20 ? 6 : 1;                /* \u00XX */
}

static size_t toast_esc_len(enum toast_escape esc, const char *s, size_t len)
{
    size_t total = 0;
    for (size_t i = 0; i < len; i++)
        total += toast_esc_byte(esc, (unsigned char)s[i]);
    return total;
}

char *xml_escape(const char *s)
{
    size_t len = strlen(s);
    char *out = malloc(toast_esc_len(TOAST_ESC_XML, s, len) + 1);
    if (out == NULL)
        return NULL;
    char *w = out;
    for (const char *p = s; *p != '\0'; p++) {
        const char *ent = NULL;
        switch (*p) {
        case '&': ent = "&amp;"; break;
        case '<': ent = "&lt;"; break;
        case '>': ent = "&gt;"; break;
        case '"': ent = "&quot;"; break;
        case '\'': ent = "&apos;"; break;
        }
        if (ent != NULL) {
            size_t el = strlen(ent);
            memcpy(w, ent, el);
            w += el;
        } else if (!xml_drops((unsigned char)*p)) {
            *w++ = *p;
        }
    }
    *w = '\0';
    return out;
}

char *toast_join(size_t *len, const char *first, ...)
{
    va_list ap;
    size_t total = 0;
    va_start(ap, first);
    for (const char *s = first; s != NULL; s = va_arg(ap, const char *))
        total += strlen(s);
    va_end(ap);
    char *out = first != NULL ? malloc(total + 1) : NULL;
    if (out == NULL)
        return NULL;
    char *w = out;
    va_start(ap, first);
    for (const char *s = first; s != NULL; s = va_arg(ap, const char *)) {
        size_t n = strlen(s);
        memcpy(w, s, n);
        w += n;
    }
    va_end(ap);
    *w = '\0';
    *len = total;
    return out;
}

char *toast_url_encode(const char *s)
{
    static const char unreserved[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    char *out = malloc(3 * strlen(s) + 1);
    if (out == NULL)
        return NULL;
    char *w = out;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (strchr(unreserved, *p) != NULL)
            *w++ = (char)*p;
        else
            w += sprintf(w, "%%%02X", *p);
    }
    *w = '\0';
    return out;
}

int toast_ttl_left_s(const struct pr_notif *n, int64_t now_ms)
{
    if (n->expires_ms <= 0)
        return n->ttl_s > 0 ? n->ttl_s : 0;
    int64_t left_ms = n->expires_ms - now_ms;
    if (left_ms <= 0)
        return 0;
    int64_t left_s = (left_ms + 999) / 1000;
    return left_s > INT32_MAX ? INT32_MAX : (int)left_s;
}

/* ---- fitting a limit ------------------------------------------------------ */

/*
 * One text being cut: the first 'keep' bytes of 'orig', then "…" when
 * 'cut' is set. 'shown' is that text as the renderer gets it.
 */
struct toast_cut {
    const char *orig;
    size_t len;
    size_t keep;
    int cut;
    char *shown;
};

/* toast_cut_size: escaped bytes the text takes in the output now. */
static size_t toast_cut_size(enum toast_escape esc, const struct toast_cut *c)
{
    return toast_esc_len(esc, c->orig, c->keep) + (c->cut ? TOAST_ELLIPSIS_LEN : 0);
}

/*
 * toast_cut_by shrinks 'c' by at least '*over' escaped bytes if it can,
 * keeping the longest prefix that allows it plus "…"; when not even "…"
 * fits it empties the text. '*over' is lowered by what was saved. Returns
 * 1 when the text changed.
 */
static int toast_cut_by(enum toast_escape esc, struct toast_cut *c, size_t *over)
{
    size_t now = toast_cut_size(esc, c);
    if (now == 0)
        return 0;
    size_t target = now > *over ? now - *over : 0;
    size_t keep = 0, size = 0;
    if (target >= TOAST_ELLIPSIS_LEN) {
        for (size_t i = 0; i < c->keep;) {
            size_t next = i + 1;
            while (next < c->keep && ((unsigned char)c->orig[next] & 0xc0) == 0x80)
                next++;
            size_t add = toast_esc_len(esc, c->orig + i, next - i);
            if (size + add + TOAST_ELLIPSIS_LEN > target)
                break;
            size += add;
            keep = i = next;
        }
        c->cut = 1;
    } else {
        c->cut = 0;     /* not even the ellipsis fits: the text goes */
    }
    c->keep = keep;
    size_t after = toast_cut_size(esc, c);
    *over = now - after >= *over ? 0 : *over - (now - after);
    return 1;
}

static int toast_cut_show(struct toast_cut *c)
{
    free(c->shown);
    c->shown = malloc(c->keep + TOAST_ELLIPSIS_LEN + 1);
    if (c->shown == NULL)
        return PR_ENOMEM;
    memcpy(c->shown, c->orig, c->keep);
    strcpy(c->shown + c->keep, c->cut ? TOAST_ELLIPSIS : "");
    return 0;
}

int toast_fit(const char *title, const char *body, enum toast_escape esc, size_t limit,
              toast_render_fn render, void *arg, char **out, size_t *outlen)
{
    struct toast_cut t = { .orig = title, .len = strlen(title), .keep = strlen(title) };
    struct toast_cut b = { .orig = body, .len = strlen(body), .keep = strlen(body) };
    char *text = NULL;
    size_t len = 0;
    int rc;

    *out = NULL;
    /*
     * Nearly every text fits as it is: the first round renders the
     * originals, and copies are made only once something was cut.
     */
    for (int round = 0; round < TOAST_FIT_ROUNDS; round++) {
        if ((rc = render(arg, t.shown != NULL ? t.shown : title,
                         b.shown != NULL ? b.shown : body, &text, &len)) != 0)
            goto out;
        if (len <= limit) {
            *out = text;
            *outlen = len;
            goto out;
        }
        free(text);
        text = NULL;
        size_t over = len - limit;
        int changed = toast_cut_by(esc, &b, &over);
        if (over > 0)
            changed |= toast_cut_by(esc, &t, &over);
        if (!changed)
            break;
        if ((rc = toast_cut_show(&t)) != 0 || (rc = toast_cut_show(&b)) != 0)
            goto out;
    }
    rc = PR_ETOOBIG;
out:
    free(t.shown);
    free(b.shown);
    return rc;
}

int toast_build(const struct pr_notif *n, enum toast_escape esc, size_t limit,
                toast_render_fn render, void *arg, char **out, size_t *outlen)
{
    struct toast text;
    toast_text(n, &text);
    return toast_fit(text.title, text.body, esc, limit, render, arg, out, outlen);
}
