/*
 * h1c.h - reading one HTTP/1.1 answer (RFC 9112) from a byte stream: the
 * status line, the header fields, and the end of the body, whichever of
 * Content-Length, chunked or connection close frames it.
 *
 * It is the parsing half of the MPNS/WNS client (relay/mpns.c), which owns
 * the connections (bufferevent_openssl, possibly through an egress CONNECT
 * tunnel) and writes the requests. It keeps the header fields and counts
 * the body without keeping it: MPNS and WNS answer in their headers. It
 * does not do I/O, timeouts or keep-alive decisions beyond saying whether
 * the connection may carry another request. Interim 1xx answers are
 * skipped. Every size is bounded (H1C_MAX_HEAD, the caller's body limit).
 */
#ifndef PUSHRELAY_H1C_H
#define PUSHRELAY_H1C_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#define H1C_MAX_HEAD 16384          /* status line + header fields of one answer */

enum h1c_state {
    H1C_STATUS,                     /* waiting for the status line */
    H1C_HEADERS,                    /* header fields until the empty line */
    H1C_BODY_LENGTH,                /* 'remaining' bytes of Content-Length body */
    H1C_CHUNK_SIZE,                 /* a chunk-size line */
    H1C_CHUNK_DATA,                 /* 'remaining' bytes of a chunk */
    H1C_CHUNK_END,                  /* the CRLF after a chunk's data */
    H1C_TRAILERS,                   /* trailer fields until the empty line */
    H1C_BODY_CLOSE,                 /* body until the connection closes */
    H1C_DONE,
};

struct h1c_answer {
    enum h1c_state state;
    int status;                     /* the final status, 100..599 */
    int keep_alive;                 /* once done: the connection may carry another request */
    size_t max_body;                /* longer bodies are an error */
    size_t head_bytes;              /* of the current head, against H1C_MAX_HEAD */
    size_t body_bytes;
    uint64_t remaining;
    struct evkeyvalq headers;       /* the final answer's fields, in order */
};

/* h1c_init readies 'a' for one answer whose body may be up to 'max_body' bytes. */
void h1c_init(struct h1c_answer *a, size_t max_body);

/* h1c_clear frees the header fields kept in 'a'. */
void h1c_clear(struct h1c_answer *a);

/*
 * h1c_feed consumes what it can of 'in' (bytes read from the connection;
 * 'eof' set once the peer closed it). Returns 1 when the answer is
 * complete (a->status, a->headers, a->keep_alive are final; bytes after
 * it stay in 'in'), 0 when more bytes are needed, or a negative PR_E*:
 * PR_EPROTO for a malformed answer or one cut short by the close,
 * PR_ETOOBIG when the head or the body is longer than allowed. 'why'
 * then names the fault for logs ("answer too long").
 */
int h1c_feed(struct h1c_answer *a, struct evbuffer *in, int eof, const char **why);

#endif
