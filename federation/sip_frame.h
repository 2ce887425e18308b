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

#define SIP_FRAME_MAX_LINE 8192     /* bytes in one physical line, CRLF excluded */
#define SIP_FRAME_MAX_HEADERS 100   /* physical header lines after the request line */

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
    int status;         /* ERROR: 400 (bad/missing/conflicting Content-Length, line
                           too long, too many header lines) or 413 (over max_bytes) */
    const char *why;    /* ERROR: short static text for a Warning header */
    int can_respond;    /* ERROR: 1 when the header block is complete: the caller may
                           sip_parse the first hdr_len bytes to build a response */
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
 * ERROR 400 with can_respond 0.
 *
 * Returns 0 (the verdict is in '*out'), or PR_EINVAL when 'out' is NULL,
 * 'buf' is NULL with 'len' > 0, or 'max_bytes' is 0.
 */
int sip_frame_scan(const char *buf, size_t len, size_t max_bytes, struct sip_frame *out);

#endif
