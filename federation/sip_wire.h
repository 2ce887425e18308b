/*
 * sip_wire.h - the SIP wire details every SIP speaker of this tree shares:
 * header names with their compact forms (RFC 3261 §7.3.3), finding one
 * header in a header block, and framing a response on a stream (§7.2,
 * §18.3: Content-Length is mandatory there).
 *
 * The listener's framer and parser (sip_frame.c, sip_parse.c) name headers
 * through sip_wire_hdr_id; pushrelayctl test-push (relay/ctl_edge.c) and the
 * bench tools (bench/sipload.c, bench/sipecho.c) also look headers up and
 * frame responses here. Nothing is allocated and nothing is parsed beyond
 * what is asked: a full request parse is sip_parse's job.
 */
#ifndef PUSHRELAY_SIP_WIRE_H
#define PUSHRELAY_SIP_WIRE_H

#include <stddef.h>

#include "sip_parse.h"      /* struct sip_str */

/*
 * The headers someone here reads or copies, by their full and compact
 * names (the table in sip_wire.c). Others are SIP_WIRE_HDR_OTHER, full or
 * compact alike.
 */
enum sip_wire_hdr {
    SIP_WIRE_HDR_OTHER = 0,
    SIP_WIRE_HDR_VIA,               /* v */
    SIP_WIRE_HDR_FROM,              /* f */
    SIP_WIRE_HDR_TO,                /* t */
    SIP_WIRE_HDR_CALL_ID,           /* i */
    SIP_WIRE_HDR_CSEQ,
    SIP_WIRE_HDR_CONTENT_TYPE,      /* c */
    SIP_WIRE_HDR_CONTENT_LENGTH,    /* l */
    SIP_WIRE_HDR_MAX_FORWARDS,
    SIP_WIRE_HDR_WARNING,
    SIP_WIRE_HDR_PUSH_ID,           /* the relay's 202 names the queued id */
    SIP_WIRE_HDR_COUNT
};

/*
 * sip_wire_hdr_id names the header called 'name' ('len' bytes, no
 * surrounding whitespace), matching full and compact names without regard
 * to ASCII case. SIP_WIRE_HDR_OTHER for any other name.
 */
enum sip_wire_hdr sip_wire_hdr_id(const char *name, size_t len);

/* sip_wire_hdr_name returns the full name of 'h' ("Call-ID"), "" for OTHER. */
const char *sip_wire_hdr_name(enum sip_wire_hdr h);

/*
 * sip_wire_header finds the first line of header 'h' among the header lines
 * in [p, end) (what follows the start line, up to the blank line; lines end
 * in CRLF or LF) and returns its value without leading or trailing
 * whitespace. Folded continuation lines are not joined: test-push and the
 * bench tools read only single-line values. {NULL, 0} when the header is
 * absent or 'h' is SIP_WIRE_HDR_OTHER.
 */
struct sip_str sip_wire_header(const char *p, const char *end, enum sip_wire_hdr h);

/*
 * A framed response. 'hdrs' .. 'hdrs_end' are its header lines (for
 * sip_wire_header), 'len' the bytes it takes on the stream.
 */
struct sip_wire_resp {
    int status;                 /* 100..699 */
    struct sip_str reason;      /* reason phrase, may be empty */
    const char *hdrs, *hdrs_end;
    size_t content_length;
    size_t len;                 /* header block + Content-Length body bytes */
};

/*
 * sip_wire_caseeq: 1 when the 'n' bytes at 'a' and at 'b' are equal but
 * for ASCII letter case (strncasecmp in the C locale, for 'b' without a
 * NUL in its first 'n' bytes), without a call per byte: header names and
 * methods are compared on every request.
 */
static inline int sip_wire_caseeq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x != y && ((x | 0x20) != (y | 0x20) || (x | 0x20) - 'a' > 'z' - 'a'))
            return 0;
    }
    return 1;
}

/*
 * sip_wire_find_crlf finds the first CRLF whose CR lies in [pos, end - 1):
 * stores the CR's index in '*eol' and returns 1, or returns 0. The one
 * line-end search of the framer, the parser and the response reader.
 */
int sip_wire_find_crlf(const char *buf, size_t pos, size_t end, size_t *eol);

/*
 * sip_wire_skip_crlf returns how many CR and LF bytes start 'buf': RFC 5626
 * keep-alive pongs between responses, which the caller consumes first.
 */
size_t sip_wire_skip_crlf(const char *buf, size_t len);

/*
 * sip_wire_resp_scan frames the response at the start of the 'len' bytes
 * of 'buf':
 *
 *   "SIP/2.0 " 3DIGIT SP reason CRLF *(header CRLF) CRLF <Content-Length bytes>
 *
 * Returns 0 with 'r->len' set when a whole response is there, 0 with
 * 'r->len' 0 when more bytes are needed, or PR_EPROTO when the bytes are
 * not a SIP response (bad status line, Content-Length missing or not a
 * number) or it would take more than 'max' bytes. PR_EINVAL for NULL
 * 'buf' or 'r'.
 */
int sip_wire_resp_scan(const char *buf, size_t len, size_t max, struct sip_wire_resp *r);

#endif
