/*
 * sip_frame.h - split a TLS byte stream into SIP messages (RFC 3261 §18.3)
 * and recognise RFC 5626 CRLF keep-alives.
 *
 * The framer is stateless: the listener calls sip_frame_scan() on everything
 * it has buffered after each read, consumes 'len' bytes when told to, and
 * calls again. Any split of the stream across reads gives the same sequence
 * of results. It only finds message boundaries and the Content-Length; the
 * header syntax is sip_parse's job.
 */
#ifndef PUSHRELAY_SIP_FRAME_H
#define PUSHRELAY_SIP_FRAME_H

#include <stddef.h>

/* The limits, and the Warning texts that name them (README "Limits"). */
#define SIP_FRAME_MAX_LINE 8192     /* bytes in one physical line, CRLF excluded */
#define SIP_FRAME_MAX_HEADERS 100   /* physical header lines after the request line */
#define SIP_FRAME_STR_(x) #x
#define SIP_FRAME_STR(x) SIP_FRAME_STR_(x)
#define SIP_FRAME_WHY_LINE "header line longer than " SIP_FRAME_STR(SIP_FRAME_MAX_LINE) " bytes"
#define SIP_FRAME_WHY_COUNT "more than " SIP_FRAME_STR(SIP_FRAME_MAX_HEADERS) " header lines"
#define SIP_FRAME_WHY_BLOCK "header block larger than max_message_bytes"
#define SIP_FRAME_WHY_TOTAL "message larger than max_message_bytes"

enum sip_frame_kind {
    SIP_FRAME_NEED_MORE = 0,    /* nothing decided yet: read more and call again
                                   (hdr_len and body_len are set once the header
                                   block is complete and only body bytes are missing) */
    SIP_FRAME_REQUEST,          /* a complete message of 'len' bytes */
    SIP_FRAME_PING,             /* "\r\n\r\n" keep-alive: answer "\r\n", consume 4 */
    SIP_FRAME_SKIP,             /* stray CRLF between messages: consume 'len' */
    SIP_FRAME_ERROR,            /* unrecoverable: answer if 'can_respond', then close */
};

struct sip_frame {
    enum sip_frame_kind kind;
    size_t len;         /* bytes to consume (REQUEST: headers+body; PING: 4; SKIP: 2;
                           ERROR: hdr_len, the stream cannot be resynchronised) */
    size_t hdr_len;     /* REQUEST / ERROR with headers complete: bytes up to and
                           including the blank line; 0 otherwise */
    size_t body_len;    /* Content-Length (REQUEST, and ERROR 413 when known) */
    int status;         /* ERROR: 400 (bad/missing/conflicting Content-Length, stray
                           CR) or 413 (a line, the header count or the size over
                           its limit) */
    const char *why;    /* ERROR: short static text for a Warning header */
    int can_respond;    /* ERROR: 1 when the header block is complete: the caller may
                           sip_parse the first hdr_len bytes to build a response;
                           0: try sip_frame_salvage (413s) */
};

/*
 * sip_frame_scan looks at the 'len' buffered bytes of 'buf' and fills '*out'
 * with what the stream holds at its start (see enum sip_frame_kind).
 *
 * A message is a header block (request line, header lines, blank line)
 * followed by exactly Content-Length body bytes; Content-Length (or its
 * compact form "l") is mandatory on a stream. Repeats of Content-Length must
 * agree. 'max_bytes' bounds a whole message: a header block that does not end
 * within it gives ERROR 413 with can_respond 0; a complete header block whose
 * Content-Length would take the message past it gives ERROR 413 with
 * can_respond 1 at once, before any body is read. Lines longer than
 * SIP_FRAME_MAX_LINE or more than SIP_FRAME_MAX_HEADERS header lines give
 * ERROR 413 with can_respond 0. 'why' is one of the SIP_FRAME_WHY_* texts
 * for every 413.
 *
 * Returns 0 (the verdict is in '*out'), or PR_EINVAL when 'out' is NULL,
 * 'buf' is NULL with 'len' > 0, or 'max_bytes' is 0.
 */
int sip_frame_scan(const char *buf, size_t len, size_t max_bytes, struct sip_frame *out);

/*
 * sip_frame_salvage rebuilds, for an ERROR with can_respond 0, a header
 * block that sip_parse can read to address the answer: it copies to 'out'
 * the request line and every logical header of the 'len' bytes at 'buf'
 * whose lines are all complete (CRLF within 'len') and within
 * SIP_FRAME_MAX_LINE, in order, up to the blank line or the end of 'buf',
 * then a blank line. Headers past an over-long line are still found when
 * they are in 'buf'; ones beyond it are not (the listener reads no further
 * than max_message_bytes). 'cap' >= len + 2 always suffices.
 *
 * Returns the bytes written to 'out', or 0 when there is no complete request
 * line within SIP_FRAME_MAX_LINE (or 'cap' is too small for it).
 */
size_t sip_frame_salvage(const char *buf, size_t len, char *out, size_t cap);

#endif
