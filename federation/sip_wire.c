/*
 * sip_wire.c - header names, header lookup and response framing shared by
 * the listener, pushrelayctl test-push and the bench tools (sip_wire.h).
 * It reads bytes and says where things are; it decides nothing about a
 * request (sip_parse.c) and writes no responses (sip_response.c).
 */
#include <stdint.h>
#include <string.h>

#include "pushrelay/error.h"
#include "sip_wire.h"

/* ------------------------------------------------------------------------ */
/* Header names                                                              */
/* ------------------------------------------------------------------------ */

/*
 * Full and compact names (§7.3.3). The compact forms of headers nobody here
 * reads (m Contact, k Supported, s Subject, e Content-Encoding, ...) are
 * OTHER like their full forms.
 */
#define WIRE_HDR(name, compact) { name, sizeof(name) - 1, compact }
static const struct {
    const char *name;
    size_t len;                 /* strlen(name): every header line is looked up */
    char compact;               /* '\0': none */
} wire_hdrs[SIP_WIRE_HDR_COUNT] = {
    [SIP_WIRE_HDR_OTHER] = WIRE_HDR("", '\0'),
    [SIP_WIRE_HDR_VIA] = WIRE_HDR("Via", 'v'),
    [SIP_WIRE_HDR_FROM] = WIRE_HDR("From", 'f'),
    [SIP_WIRE_HDR_TO] = WIRE_HDR("To", 't'),
    [SIP_WIRE_HDR_CALL_ID] = WIRE_HDR("Call-ID", 'i'),
    [SIP_WIRE_HDR_CSEQ] = WIRE_HDR("CSeq", '\0'),
    [SIP_WIRE_HDR_CONTENT_TYPE] = WIRE_HDR("Content-Type", 'c'),
    [SIP_WIRE_HDR_CONTENT_LENGTH] = WIRE_HDR("Content-Length", 'l'),
    [SIP_WIRE_HDR_MAX_FORWARDS] = WIRE_HDR("Max-Forwards", '\0'),
    [SIP_WIRE_HDR_WARNING] = WIRE_HDR("Warning", '\0'),
    [SIP_WIRE_HDR_PUSH_ID] = WIRE_HDR("Push-Id", '\0'),
};

enum sip_wire_hdr sip_wire_hdr_id(const char *name, size_t len)
{
    if (name == NULL || len == 0)
        return SIP_WIRE_HDR_OTHER;
    if (len == 1) {
        char c = (char)(name[0] | 0x20);
        for (int h = 1; h < SIP_WIRE_HDR_COUNT; h++)
            if (wire_hdrs[h].compact == c)
                return (enum sip_wire_hdr)h;
        return SIP_WIRE_HDR_OTHER;
    }
    for (int h = 1; h < SIP_WIRE_HDR_COUNT; h++)
        if (wire_hdrs[h].len == len && (name[0] | 0x20) == (wire_hdrs[h].name[0] | 0x20) &&
            sip_wire_caseeq(name, wire_hdrs[h].name, len))
            return (enum sip_wire_hdr)h;
    return SIP_WIRE_HDR_OTHER;
}

const char *sip_wire_hdr_name(enum sip_wire_hdr h)
{
    return (unsigned)h < SIP_WIRE_HDR_COUNT ? wire_hdrs[h].name : "";
}

/* ------------------------------------------------------------------------ */
/* Lookup                                                                    */
/* ------------------------------------------------------------------------ */

static int wire_is_ws(char c)
{
    return c == ' ' || c == '\t';
}

struct sip_str sip_wire_header(const char *p, const char *end, enum sip_wire_hdr h)
{
    struct sip_str none = { NULL, 0 };
    if (p == NULL || h == SIP_WIRE_HDR_OTHER)
        return none;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol != NULL ? eol + 1 : end;
        if (eol == NULL)
            eol = end;
        if (eol > p && eol[-1] == '\r')
            eol--;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon != NULL) {
            const char *ne = colon;
            while (ne > p && wire_is_ws(ne[-1]))
                ne--;
            if (sip_wire_hdr_id(p, (size_t)(ne - p)) == h) {
                const char *v = colon + 1, *ve = eol;
                while (v < ve && wire_is_ws(*v))
                    v++;
                while (ve > v && wire_is_ws(ve[-1]))
                    ve--;
                return (struct sip_str){ v, (size_t)(ve - v) };
            }
        }
        p = next;
    }
    return none;
}

/* ------------------------------------------------------------------------ */
/* Response framing                                                          */
/* ------------------------------------------------------------------------ */

int sip_wire_find_crlf(const char *buf, size_t pos, size_t end, size_t *eol)
{
    /* memchr is vectorised: a byte-by-byte loop here was a visible share of
     * a pipelined listener's CPU (every line of every request, twice). */
    while (pos + 1 < end) {
        const char *cr = memchr(buf + pos, '\r', end - 1 - pos);
        if (cr == NULL)
            return 0;
        size_t i = (size_t)(cr - buf);
        if (buf[i + 1] == '\n') {
            *eol = i;
            return 1;
        }
        pos = i + 1;
    }
    return 0;
}

size_t sip_wire_skip_crlf(const char *buf, size_t len)
{
    size_t n = 0;
    while (n < len && (buf[n] == '\r' || buf[n] == '\n'))
        n++;
    return n;
}

/* wire_size reads 1*DIGIT, nothing else, into '*out'; -1 when it is not that or overflows. */
static int wire_size(struct sip_str s, size_t *out)
{
    size_t v = 0;
    if (s.len == 0)
        return -1;
    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return -1;
        size_t d = (size_t)(s.p[i] - '0');
        if (v > (SIZE_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int sip_wire_resp_scan(const char *buf, size_t len, size_t max, struct sip_wire_resp *r)
{
    if (buf == NULL || r == NULL)
        return PR_EINVAL;
    memset(r, 0, sizeof(*r));
    const char *blank = memmem(buf, len, "\r\n\r\n", 4);
    if (blank == NULL)
        return len > max ? PR_EPROTO : 0;
    const char *sl_end = memchr(buf, '\r', (size_t)(blank + 2 - buf));
    /* "SIP/2.0 NNN" then SP reason, or nothing, up to the CRLF */
    if (sl_end - buf < 11 || memcmp(buf, "SIP/2.0 ", 8) != 0 || buf[8] < '1' || buf[8] > '6' ||
        buf[9] < '0' || buf[9] > '9' || buf[10] < '0' || buf[10] > '9' ||
        (sl_end - buf > 11 && buf[11] != ' '))
        return PR_EPROTO;
    r->status = (buf[8] - '0') * 100 + (buf[9] - '0') * 10 + (buf[10] - '0');
    r->reason = sl_end - buf > 12 ? (struct sip_str){ buf + 12, (size_t)(sl_end - (buf + 12)) }
                                  : (struct sip_str){ sl_end, 0 };
    r->hdrs = sl_end + 2;           /* == hdrs_end for a status line alone */
    r->hdrs_end = blank + 2;
    size_t head = (size_t)(blank + 4 - buf);
    if (wire_size(sip_wire_header(r->hdrs, r->hdrs_end, SIP_WIRE_HDR_CONTENT_LENGTH),
                  &r->content_length) != 0 ||
        r->content_length > max || head > max - r->content_length)
        return PR_EPROTO;
    if (len >= head + r->content_length)
        r->len = head + r->content_length;
    return 0;
}
