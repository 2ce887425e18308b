/*
 * sb_buf.c - growable byte buffer and the small request/response helpers
 * of sb.h (header lookup, response headers, clock).
 *
 * Used by the transports and handlers of pushrelay-sandbox.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pushrelay/error.h"
#include "sb.h"

static int buf_reserve(struct sb_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL)
        return PR_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int sb_buf_append(struct sb_buf *b, const void *data, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return PR_ENOMEM;
    if (n > 0)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

int sb_buf_printf(struct sb_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n) != 0)
        return PR_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void sb_buf_reset(struct sb_buf *b)
{
    b->len = 0;
    if (b->p != NULL)
        b->p[0] = '\0';
}

void sb_buf_free(struct sb_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

const char *sb_req_header(const struct sb_req *req, const char *name)
{
    for (size_t i = 0; i < req->nhdrs; i++) {
        /* first byte first: most names differ there (a hot path under load) */
        if (req->hdrs[i].name[0] == name[0] && strcmp(req->hdrs[i].name, name) == 0)
            return req->hdrs[i].value;
    }
    return NULL;
}

void sb_resp_header(struct sb_resp *resp, const char *name, const char *fmt, ...)
{
    if (resp->nhdrs >= SB_RESP_HDRS)
        return;
    size_t i = resp->nhdrs++;
    snprintf(resp->hdrs[i].name, SB_RESP_NAME, "%s", name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(resp->hdrs[i].value, SB_RESP_VALUE, fmt, ap);
    va_end(ap);
}

int64_t sb_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t sb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
