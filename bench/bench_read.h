/*
 * bench_read.h - the read loop the two SIP bench tools share (sipecho
 * answers requests, sipload reads answers): what a connection's input
 * buffer holds is copied into a flat buffer, handed out one message at a
 * time, and what is left of a partial message is kept for the next read.
 * Header-only because each C file under bench/ is a program of its own (CMakeLists.txt).
 */
#ifndef PUSHRELAY_BENCH_READ_H
#define PUSHRELAY_BENCH_READ_H

#include <string.h>

#include <event2/buffer.h>

/*
 * A tool's message reader: looks at the 'len' unread bytes at 'p' and
 * returns how many it consumed (one message, or keep-alive CRLFs), 0 when
 * they hold no complete message yet, or -1 once it has closed the
 * connection (the buffer may be gone then).
 */
typedef long (*bench_read_fn)(void *arg, const char *p, size_t len);

/*
 * bench_read moves what 'input' holds into 'buf' ('cap' bytes, '*len' of
 * them unread) and calls 'fn' until it wants more. Returns 0, or -1 when
 * 'fn' closed the connection: the caller must not touch it then.
 */
static inline int bench_read(struct evbuffer *input, char *buf, size_t cap, size_t *len,
                             bench_read_fn fn, void *arg)
{
    while (evbuffer_get_length(input) > 0) {
        int n = evbuffer_remove(input, buf + *len, cap - *len);
        if (n <= 0)
            break;
        *len += (size_t)n;
        size_t off = 0;
        for (;;) {
            long used = fn(arg, buf + off, *len - off);
            if (used < 0)
                return -1;
            if (used == 0)
                break;
            off += (size_t)used;
        }
        memmove(buf, buf + off, *len - off);
        *len -= off;
    }
    return 0;
}

#endif
