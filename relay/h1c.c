/*
 * h1c.c - one HTTP/1.1 answer read from a byte stream (see h1c.h for the
 * contract). The states, in the order an answer walks them:
 *
 *   STATUS ──"HTTP/1.1 200 OK"──▶ HEADERS ──empty line──┬─▶ DONE (204, 304, length 0)
 *      ▲                             │                   ├─▶ BODY_LENGTH ──0 left──▶ DONE
 *      └──────── a 1xx answer ◀──────┘                   ├─▶ BODY_CLOSE ──EOF──▶ DONE
 *                                                        └─▶ CHUNK_SIZE ◀─────────────┐
 *                                                              │ n > 0: CHUNK_DATA ─▶ CHUNK_END
 *                                                              └ 0: TRAILERS ──empty line──▶ DONE
 *
 * Framing follows RFC 9112 section 6.3: Transfer-Encoding wins over
 * Content-Length (and the connection is not reused after such an answer),
 * Content-Length values must agree, and without either the body ends
 * with the connection. Folded header lines (obs-fold) are refused.
 * It is fuzzed by tests/fuzz/fuzz_h1c.c.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/http.h>

#include "pushrelay/error.h"
#include "h1c.h"

#define H1C_MAX_CHUNK_LINE 1024     /* a chunk-size line with its extensions */

void h1c_init(struct h1c_answer *a, size_t max_body)
{
    memset(a, 0, sizeof(*a));
    TAILQ_INIT(&a->headers);
    a->state = H1C_STATUS;
    a->max_body = max_body;
}

void h1c_clear(struct h1c_answer *a)
{
    evhttp_clear_headers(&a->headers);
}

/*
 * h1c__line takes one line (without its CRLF or LF) from 'in' into a
 * malloc'd '*line', counting it against '*budget'. Returns 1 with a line,
 * 0 when none is complete yet, PR_ETOOBIG past the budget, PR_ENOMEM.
 */
static int h1c__line(struct evbuffer *in, size_t *budget, char **line)
{
    size_t eol_len = 0;
    struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
    if (eol.pos < 0)
        return evbuffer_get_length(in) > *budget ? PR_ETOOBIG : 0;
    if ((size_t)eol.pos + eol_len > *budget)
        return PR_ETOOBIG;
    *budget -= (size_t)eol.pos + eol_len;
    size_t n = 0;
    *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
    return *line != NULL ? 1 : PR_ENOMEM;
}

/* Whether the comma-separated list 'v' holds 'token' (case-insensitive). */
static int h1c__has_token(const char *v, const char *token)
{
    size_t tl = strlen(token);
    while (*v != '\0') {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        size_t n = strcspn(v, ",");
        size_t m = n;
        while (m > 0 && (v[m - 1] == ' ' || v[m - 1] == '\t'))
            m--;
        if (m == tl && strncasecmp(v, token, tl) == 0)
            return 1;
        v += n;
    }
    return 0;
}

/* Whether the last coding of Transfer-Encoding 'v' is chunked. */
static int h1c__chunked_last(const char *v)
{
    const char *last = strrchr(v, ',');
    last = last != NULL ? last + 1 : v;
    while (*last == ' ' || *last == '\t')
        last++;
    size_t m = strlen(last);
    while (m > 0 && (last[m - 1] == ' ' || last[m - 1] == '\t'))
        m--;
    return m == 7 && strncasecmp(last, "chunked", 7) == 0;
}

/* h1c__status parses "HTTP/1.x NNN reason"; sets keep_alive by version. */
static int h1c__status(struct h1c_answer *a, const char *line)
{
    if (strncmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') ||
        line[8] != ' ' || !isdigit((unsigned char)line[9]) ||
        !isdigit((unsigned char)line[10]) || !isdigit((unsigned char)line[11]) ||
        (line[12] != ' ' && line[12] != '\0'))
        return PR_EPROTO;
    a->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (a->status < 100 || a->status > 599 || a->status == 101)
        return PR_EPROTO;           /* 101: we never ask to switch protocols */
    a->keep_alive = line[7] == '1';
    return 0;
}

/* h1c__field adds "name: value" to the answer's fields. */
static int h1c__field(struct h1c_answer *a, char *line)
{
    if (line[0] == ' ' || line[0] == '\t')
        return PR_EPROTO;           /* obs-fold */
    char *colon = strchr(line, ':');
    if (colon == NULL || colon == line)
        return PR_EPROTO;
    for (const char *p = line; p < colon; p++)
        if (*p <= ' ' || *p >= 0x7f)
            return PR_EPROTO;       /* no space before the colon, token characters */
    *colon = '\0';
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        v[--n] = '\0';
    return evhttp_add_header(&a->headers, line, v) == 0 ? 0 : PR_EPROTO;
}

/* h1c__framing decides, after the final answer's head, how its body ends. */
static int h1c__framing(struct h1c_answer *a)
{
    const struct evkeyval *kv;
    const char *te = NULL;
    int have_len = 0;
    uint64_t len = 0;
    TAILQ_FOREACH(kv, &a->headers, next) {
        if (strcasecmp(kv->key, "Connection") == 0 && h1c__has_token(kv->value, "close"))
            a->keep_alive = 0;
        else if (strcasecmp(kv->key, "Transfer-Encoding") == 0)
            te = kv->value;
        else if (strcasecmp(kv->key, "Content-Length") == 0) {
            const char *p = kv->value;
            uint64_t v = 0;
            if (*p == '\0')
                return PR_EPROTO;
            for (; *p != '\0'; p++) {
                if (!isdigit((unsigned char)*p) || v > (UINT64_MAX - 9) / 10)
                    return PR_EPROTO;
                v = v * 10 + (uint64_t)(*p - '0');
            }
            if (have_len && v != len)
                return PR_EPROTO;
            have_len = 1;
            len = v;
        }
    }
    if (a->status == 204 || a->status == 304) {
        a->state = H1C_DONE;
    } else if (te != NULL) {
        /* Framed by Transfer-Encoding; a Content-Length beside it is suspect: no reuse. */
        if (have_len)
            a->keep_alive = 0;
        if (h1c__chunked_last(te)) {
            a->state = H1C_CHUNK_SIZE;
        } else {
            a->keep_alive = 0;
            a->state = H1C_BODY_CLOSE;
        }
    } else if (have_len) {
        if (len > a->max_body)
            return PR_ETOOBIG;
        a->remaining = len;
        a->state = len > 0 ? H1C_BODY_LENGTH : H1C_DONE;
    } else {
        a->keep_alive = 0;
        a->state = H1C_BODY_CLOSE;
    }
    return 0;
}

/* h1c__chunk_size parses a chunk-size line (hex, extensions after ';'). */
static int h1c__chunk_size(struct h1c_answer *a, const char *line)
{
    uint64_t v = 0;
    const char *p = line;
    if (!isxdigit((unsigned char)*p))
        return PR_EPROTO;
    for (; isxdigit((unsigned char)*p); p++) {
        if (v > (UINT64_MAX >> 4))
            return PR_EPROTO;
        v = (v << 4) | (uint64_t)(isdigit((unsigned char)*p) ? *p - '0'
                                                            : tolower((unsigned char)*p) - 'a' + 10);
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '\0' && *p != ';')
        return PR_EPROTO;
    if (v > a->max_body - a->body_bytes)
        return PR_ETOOBIG;
    a->remaining = v;
    a->state = v > 0 ? H1C_CHUNK_DATA : H1C_TRAILERS;
    if (v == 0)
        a->head_bytes = 0;          /* the trailers get a head's budget */
    return 0;
}

/* h1c__step makes one move; 1 when it consumed something or finished, 0 for more bytes. */
static int h1c__step(struct h1c_answer *a, struct evbuffer *in, int eof)
{
    char *line = NULL;
    int rv;
    size_t budget;
    switch (a->state) {
    case H1C_STATUS:
    case H1C_HEADERS:
    case H1C_TRAILERS:
        budget = H1C_MAX_HEAD - a->head_bytes;
        rv = h1c__line(in, &budget, &line);
        if (rv <= 0)
            return rv;
        a->head_bytes = H1C_MAX_HEAD - budget;
        if (a->state == H1C_STATUS)
            rv = h1c__status(a, line);
        else if (line[0] != '\0')
            rv = a->state == H1C_HEADERS ? h1c__field(a, line) : 0;
        else if (a->state == H1C_TRAILERS)
            a->state = H1C_DONE;
        else if (a->status < 200) {
            /* An interim answer: its fields are not the final answer's. */
            evhttp_clear_headers(&a->headers);
            a->head_bytes = 0;
            a->state = H1C_STATUS;
        } else
            rv = h1c__framing(a);
        if (rv == 0 && a->state == H1C_STATUS && a->status != 0 && line[0] != '\0')
            a->state = H1C_HEADERS;
        free(line);
        return rv < 0 ? rv : 1;
    case H1C_CHUNK_SIZE:
    case H1C_CHUNK_END:
        budget = H1C_MAX_CHUNK_LINE;
        rv = h1c__line(in, &budget, &line);
        if (rv <= 0)
            return rv;
        if (a->state == H1C_CHUNK_SIZE)
            rv = h1c__chunk_size(a, line);
        else if (line[0] != '\0')
            rv = PR_EPROTO;
        else
            a->state = H1C_CHUNK_SIZE;
        free(line);
        return rv < 0 ? rv : 1;
    case H1C_BODY_LENGTH:
    case H1C_CHUNK_DATA: {
        size_t n = evbuffer_get_length(in);
        if (n == 0)
            return 0;
        if (n > a->remaining)
            n = (size_t)a->remaining;
        evbuffer_drain(in, n);
        a->remaining -= n;
        a->body_bytes += n;
        if (a->remaining == 0)
            a->state = a->state == H1C_CHUNK_DATA ? H1C_CHUNK_END : H1C_DONE;
        return 1;
    }
    case H1C_BODY_CLOSE: {
        size_t n = evbuffer_get_length(in);
        if (n > a->max_body - a->body_bytes)
            return PR_ETOOBIG;
        evbuffer_drain(in, n);
        a->body_bytes += n;
        if (eof)
            a->state = H1C_DONE;
        return n > 0 || eof;
    }
    case H1C_DONE:
        return 0;
    }
    return PR_EPROTO;
}

int h1c_feed(struct h1c_answer *a, struct evbuffer *in, int eof, const char **why)
{
    int rv;
    while (a->state != H1C_DONE && (rv = h1c__step(a, in, eof)) != 0) {
        if (rv < 0) {
            *why = rv == PR_ETOOBIG ? "answer too long"
                 : rv == PR_ENOMEM  ? "out of memory"
                                    : "invalid answer";
            return rv;
        }
    }
    if (a->state == H1C_DONE)
        return 1;
    if (eof) {
        *why = a->state == H1C_STATUS && a->status == 0 && a->head_bytes == 0
                   ? "connection lost" : "answer cut short";
        return PR_EPROTO;
    }
    return 0;
}
