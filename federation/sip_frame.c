/*
 * sip_frame.c - find SIP message boundaries in a stream (RFC 3261 §18.3)
 * and the CRLF keep-alives of RFC 5626 §3.5.1.
 *
 * What it does: decides, from the start of the listener's input buffer,
 * whether it holds a keep-alive, stray CRLF, a whole request, an error, or
 * not enough yet. It reads only line boundaries and Content-Length.
 * What it does not: parse headers (sip_parse.c), read sockets or keep state
 * between calls (the listener owns the buffer). Called by the federation
 * listener (federation/fed_*.c) on every read.
 *
 * The scan restarts from byte 0 on each call. Every verdict depends only on
 * bytes at or before the point where it is taken, so feeding a stream one
 * byte at a time gives the same verdicts as feeding it whole.
 */
#include <stdint.h>
#include <string.h>

#include "pushrelay/error.h"
#include "sip_frame.h"
#include "sip_wire.h"

/* ---------------------------------------------------------------------------
 * Framing states
 *
 *   start of buffer
 *     │
 *     ├─ "\r\n\r\n" ───────────────────────────▶ PING (consume 4, answer "\r\n")
 *     ├─ "\r\n" then a byte other than CR ──────▶ SKIP (consume 2)
 *     ├─ "\r", "\r\n", "\r\n\r" ────────────────▶ NEED_MORE
 *     ├─ "\r" then a byte other than LF ────────▶ ERROR 400
 *     │
 *     ▼ anything else
 *   request line ─CRLF─▶ header line ─CRLF─▶ header line ─CRLF─▶ ... ─▶ CRLF (blank line)
 *                         (a line starting with SP/HT continues the          │
 *                          previous header: a folded line)                   │
 *      line > SIP_FRAME_MAX_LINE ──────────────────▶ ERROR 413 (can_respond 0)
 *      > SIP_FRAME_MAX_HEADERS header lines ───────▶ ERROR 413 (can_respond 0)
 *      no blank line within max_bytes ─────────────▶ ERROR 413 (can_respond 0)
 *        (for these three, sip_frame_salvage keeps what can still address
 *         the answer)
 *                                                                            ▼
 *                                              header block complete (hdr_len)
 *      Content-Length missing, bad, conflicting ───▶ ERROR 400 (can_respond 1)
 *      hdr_len + Content-Length > max_bytes ───────▶ ERROR 413 (can_respond 1)
 *      fewer than Content-Length body bytes ───────▶ NEED_MORE
 *      otherwise ──────────────────────────────────▶ REQUEST (hdr_len + Content-Length)
 * ------------------------------------------------------------------------- */

/* Content-Length as collected over the header block. */
struct frame_cl {
    int seen;
    int bad;         /* a value that is not 1*DIGIT, or does not fit a size_t */
    int conflict;    /* two values that differ */
    size_t value;
};

static void frame_verdict(struct sip_frame *out, enum sip_frame_kind kind, size_t len)
{
    out->kind = kind;
    out->len = len;
}

static void frame_error(struct sip_frame *out, int status, const char *why, int can_respond)
{
    out->kind = SIP_FRAME_ERROR;
    out->status = status;
    out->why = why;
    out->can_respond = can_respond;
    out->len = out->hdr_len;
}

/* The buffer starts with CR: a keep-alive, a stray CRLF, or garbage. */
static void frame_crlf(const char *buf, size_t len, struct sip_frame *out)
{
    if (len < 2)
        return;
    if (buf[1] != '\n') {
        frame_error(out, 400, "stray CR", 0);
        return;
    }
    if (len < 3)
        return;
    if (buf[2] != '\r') {
        frame_verdict(out, SIP_FRAME_SKIP, 2);
        return;
    }
    if (len < 4)
        return;
    if (buf[3] == '\n')
        frame_verdict(out, SIP_FRAME_PING, 4);
    else
        frame_verdict(out, SIP_FRAME_SKIP, 2);  /* stray CRLF; the next call judges "\r?" */
}

/*
 * Finds the CRLF that ends the line starting at 'pos', looking no further
 * than 'lim' and no further than a line of SIP_FRAME_MAX_LINE bytes would
 * reach. Stores the index of its CR in '*eol' and returns 1, or returns 0.
 */
static int frame_find_eol(const char *buf, size_t pos, size_t lim, size_t *eol)
{
    size_t end = lim - pos > SIP_FRAME_MAX_LINE + 2 ? pos + SIP_FRAME_MAX_LINE + 2 : lim;
    return sip_wire_find_crlf(buf, pos, end, eol);
}

static int frame_is_lws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Looks at one logical header line (folded lines still contain their CRLF)
 * and records it in 'cl' when it is Content-Length or its compact form "l".
 */
static void frame_cl_header(const char *line, size_t n, struct frame_cl *cl)
{
    const char *colon = memchr(line, ':', n);
    if (colon == NULL)
        return;                         /* not a header: sip_parse will say so */
    size_t nlen = (size_t)(colon - line);
    while (nlen > 0 && (line[nlen - 1] == ' ' || line[nlen - 1] == '\t'))
        nlen--;
    if (sip_wire_hdr_id(line, nlen) != SIP_WIRE_HDR_CONTENT_LENGTH)
        return;

    const char *p = colon + 1, *end = line + n;
    while (p < end && frame_is_lws(*p))
        p++;
    size_t v = 0, digits = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
        size_t d = (size_t)(*p - '0');
        if (v > (SIZE_MAX - d) / 10) {
            cl->bad = 1;
            return;
        }
        v = v * 10 + d;
    }
    while (p < end && frame_is_lws(*p))
        p++;
    if (digits == 0 || p != end) {
        cl->bad = 1;
        return;
    }
    if (cl->seen && cl->value != v)
        cl->conflict = 1;
    cl->seen = 1;
    cl->value = v;
}

int sip_frame_scan(const char *buf, size_t len, size_t max_bytes, struct sip_frame *out)
{
    if (out == NULL || (buf == NULL && len > 0) || max_bytes == 0)
        return PR_EINVAL;
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return 0;
    if (buf[0] == '\r') {
        frame_crlf(buf, len, out);
        return 0;
    }

    /* Nothing past max_bytes can belong to an acceptable header block. */
    size_t lim = len < max_bytes ? len : max_bytes;
    size_t pos = 0;                 /* start of the current physical line */
    size_t nlines = 0;              /* header lines after the request line */
    size_t hdr_start = SIZE_MAX;    /* start of the pending logical header */
    struct frame_cl cl = { 0 };

    for (;;) {
        size_t eol;
        if (!frame_find_eol(buf, pos, lim, &eol)) {
            if (lim - pos >= SIP_FRAME_MAX_LINE + 2)
                frame_error(out, 413, SIP_FRAME_WHY_LINE, 0);
            else if (len >= max_bytes)
                frame_error(out, 413, SIP_FRAME_WHY_BLOCK, 0);
            return 0;               /* else NEED_MORE */
        }
        if (pos > 0) {
            int blank = eol == pos;
            int folded = !blank && (buf[pos] == ' ' || buf[pos] == '\t');
            if (!folded && hdr_start != SIZE_MAX) {
                frame_cl_header(buf + hdr_start, pos - 2 - hdr_start, &cl);
                hdr_start = SIZE_MAX;
            }
            if (blank) {
                out->hdr_len = eol + 2;
                break;
            }
            if (!folded)
                hdr_start = pos;
            if (++nlines > SIP_FRAME_MAX_HEADERS) {
                frame_error(out, 413, SIP_FRAME_WHY_COUNT, 0);
                return 0;
            }
        }
        pos = eol + 2;
    }

    if (cl.bad) {
        frame_error(out, 400, "bad Content-Length", 1);
    } else if (cl.conflict) {
        frame_error(out, 400, "conflicting Content-Length", 1);
    } else if (!cl.seen) {
        frame_error(out, 400, "missing Content-Length", 1);
    } else {
        out->body_len = cl.value;
        if (cl.value > max_bytes - out->hdr_len)
            frame_error(out, 413, SIP_FRAME_WHY_TOTAL, 1);
        else if (len - out->hdr_len >= cl.value)
            frame_verdict(out, SIP_FRAME_REQUEST, out->hdr_len + cl.value);
        /* else NEED_MORE, with hdr_len and body_len already known */
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Salvage: a header block rebuilt from the lines that are within limits
 *
 *   request line          CRLF   kept (must be complete and within the cap)
 *   Via: ...              CRLF   kept
 *   X-Big: aaaa…(>cap)    CRLF   dropped, with any folded lines that follow it
 *   From: ...             CRLF   kept
 *   To: <sip:…            ...    dropped: no CRLF within the buffer
 *                         CRLF   appended
 * ------------------------------------------------------------------------- */

/* Finds the CRLF ending the line at 'pos' anywhere before 'len'; 1 or 0. */
static int frame_find_eol_any(const char *buf, size_t pos, size_t len, size_t *eol)
{
    return sip_wire_find_crlf(buf, pos, len, eol);
}

size_t sip_frame_salvage(const char *buf, size_t len, char *out, size_t cap)
{
    size_t eol, o, pos;
    if (buf == NULL || out == NULL || len == 0 || buf[0] == '\r' ||
        !frame_find_eol(buf, 0, len, &eol) || eol + 4 > cap)
        return 0;
    memcpy(out, buf, eol + 2);
    o = pos = eol + 2;
    while (frame_find_eol_any(buf, pos, len, &eol) && eol > pos) {
        /* One logical header: its first line and the folded lines after it;
         * kept only when every one of its lines is complete and within the cap. */
        size_t start = pos;
        int keep = eol - pos <= SIP_FRAME_MAX_LINE;
        pos = eol + 2;
        while (pos < len && (buf[pos] == ' ' || buf[pos] == '\t')) {
            if (!frame_find_eol_any(buf, pos, len, &eol))
                goto done;              /* the buffer ends inside this header */
            keep = keep && eol - pos <= SIP_FRAME_MAX_LINE;
            pos = eol + 2;
        }
        if (keep && o + (pos - start) + 2 <= cap) {
            memcpy(out + o, buf + start, pos - start);
            o += pos - start;
        }
    }
done:
    out[o++] = '\r';
    out[o++] = '\n';
    return o;
}
