/*
 * fuzz_h1c.c - libFuzzer target for the MPNS/WNS client's answer reader
 * (relay/h1c.c): the input is what a provider (or anything on the path)
 * sends back. The first byte picks how the rest arrives (in pieces of
 * 1..255 bytes, as a socket would deliver it), then the close. Checks that
 * a finished answer is within its limits and that every byte is accounted
 * for: none invented, none lost.
 */
#include <stdint.h>
#include <stdlib.h>

#include <event2/buffer.h>

#include "h1c.h"

#define FUZZ_MAX_BODY 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    size_t step = data[0] != 0 ? data[0] : 1;
    data++;
    size--;
    struct evbuffer *in = evbuffer_new();
    if (in == NULL)
        return 0;
    struct h1c_answer a;
    const char *why = NULL;
    int rv = 0;
    size_t off = 0;
    h1c_init(&a, FUZZ_MAX_BODY);
    while (rv == 0 && off < size) {
        size_t k = off + step > size ? size - off : step;
        evbuffer_add(in, data + off, k);
        off += k;
        rv = h1c_feed(&a, in, 0, &why);
    }
    if (rv == 0)
        rv = h1c_feed(&a, in, 1, &why);
    if (rv == 1 && (a.status < 100 || a.status > 599 || a.status == 101 ||
                    a.body_bytes > FUZZ_MAX_BODY || a.state != H1C_DONE))
        abort();
    if (rv < 0 && why == NULL)
        abort();
    if (rv == 0 || evbuffer_get_length(in) > off)
        abort();                    /* after the close it always decides; never grows the input */
    h1c_clear(&a);
    evbuffer_free(in);
    return 0;
}
