/*
 * sip_response.c - SIP responses to a parsed request (RFC 3261 §8.2.6) and
 * Warning header values (§20.43).
 *
 * What it does: formats bytes. What it does not: decide the status (the
 * request handler does) or send anything (the listener writes 'out' to its
 * bufferevent).
 */
#include <stdint.h>
#include <string.h>

#include "pushrelay/error.h"
#include "sip_response.h"

#ifndef PROJECT_VERSION
#define PROJECT_VERSION "0.1"
#endif

const char *sip_reason_phrase(int status)
{
    switch (status) {
    case 100: return "Trying";
    case 180: return "Ringing";
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 410: return "Gone";
    case 413: return "Request Entity Too Large";
    case 414: return "Request-URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Unsupported URI Scheme";
    case 420: return "Bad Extension";
    case 429: return "Too Many Requests";
    case 480: return "Temporarily Unavailable";
    case 481: return "Call/Transaction Does Not Exist";
    case 482: return "Loop Detected";
    case 483: return "Too Many Hops";
    case 488: return "Not Acceptable Here";
    case 500: return "Server Internal Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Server Time-out";
    case 505: return "Version Not Supported";
    case 513: return "Message Too Large";
    case 603: return "Decline";
    }
    switch (status / 100) {
    case 1: return "Trying";
    case 2: return "OK";
    case 3: return "Redirection";
    case 4: return "Request Failure";
    case 5: return "Server Failure";
    case 6: return "Global Failure";
    }
    return "Unknown";
}

void sip_to_tag(const struct sip_msg *req, char buf[17])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t h = 0xcbf29ce484222325ULL;         /* FNV-1a 64 offset basis */
    const struct sip_str parts[] = { req->call_id, { "", 1 }, req->from_tag };

    /* The NUL between the parts cannot occur in either: the split is unambiguous. */
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        for (size_t j = 0; j < parts[i].len; j++) {
            h ^= (unsigned char)parts[i].p[j];
            h *= 0x100000001b3ULL;              /* FNV-1a 64 prime */
        }
    }
    for (int i = 15; i >= 0; i--, h >>= 4)
        buf[i] = hex[h & 0xf];
    buf[16] = '\0';
}

/*
 * A response is a list of pieces, measured first and then written into one
 * reserved region of 'out': a response is written whole or not at all, with
 * one copy per piece and no format parsing on the hot path.
 */
#define RESP_MAX_PIECES (4 * (SIP_MAX_VIA + 16) + 32)

struct resp {
    struct { const char *p; size_t len; } piece[RESP_MAX_PIECES];
    size_t n, total;
    int overflow;
};

static void resp_add(struct resp *r, const char *p, size_t len)
{
    if (r->n == RESP_MAX_PIECES) {
        r->overflow = 1;
        return;
    }
    r->piece[r->n].p = p;
    r->piece[r->n].len = len;
    r->n++;
    r->total += len;
}

static void resp_cstr(struct resp *r, const char *s) { resp_add(r, s, strlen(s)); }

/* resp_header adds "name: value\r\n" when the request had the header. */
static void resp_header(struct resp *r, const char *name, struct sip_str v)
{
    if (v.p == NULL)
        return;
    resp_cstr(r, name);
    resp_add(r, ": ", 2);
    resp_add(r, v.p, v.len);
    resp_add(r, "\r\n", 2);
}

int sip_response_write(struct evbuffer *out, const struct sip_msg *req, int status,
                       const char *reason, const struct sip_hdr *extra, size_t n_extra)
{
    if (out == NULL || req == NULL || status < 100 || status > 699 ||
        (extra == NULL && n_extra > 0) || req->n_via > SIP_MAX_VIA || n_extra > 16)
        return PR_EINVAL;
    struct resp r = { .n = 0 };
    char code[4] = { (char)('0' + status / 100), (char)('0' + status / 10 % 10),
                     (char)('0' + status % 10), '\0' };
    char tag[17];

    resp_add(&r, "SIP/2.0 ", 8);
    resp_add(&r, code, 3);
    resp_add(&r, " ", 1);
    resp_cstr(&r, reason != NULL ? reason : sip_reason_phrase(status));
    resp_add(&r, "\r\n", 2);
    for (size_t i = 0; i < req->n_via; i++)
        resp_header(&r, "Via", req->via[i]);
    resp_header(&r, "From", req->from);
    if (req->to.p != NULL) {
        resp_add(&r, "To: ", 4);
        resp_add(&r, req->to.p, req->to.len);
        if (req->to_tag.len == 0) {
            sip_to_tag(req, tag);
            resp_add(&r, ";tag=", 5);
            resp_add(&r, tag, 16);
        }
        resp_add(&r, "\r\n", 2);
    }
    resp_header(&r, "Call-ID", req->call_id);
    resp_header(&r, "CSeq", req->cseq);
    resp_cstr(&r, "Server: pushrelay/" PROJECT_VERSION "\r\n");
    for (size_t i = 0; i < n_extra; i++) {
        resp_cstr(&r, extra[i].name);
        resp_add(&r, ": ", 2);
        resp_cstr(&r, extra[i].value);
        resp_add(&r, "\r\n", 2);
    }
    resp_cstr(&r, "Content-Length: 0\r\n\r\n");
    if (r.overflow)
        return PR_EINVAL;

    struct evbuffer_iovec vec;
    if (evbuffer_reserve_space(out, (ev_ssize_t)r.total, &vec, 1) != 1 || vec.iov_len < r.total)
        return PR_ENOMEM;
    char *w = vec.iov_base;
    for (size_t i = 0; i < r.n; i++) {
        memcpy(w, r.piece[i].p, r.piece[i].len);
        w += r.piece[i].len;
    }
    vec.iov_len = r.total;
    return evbuffer_commit_space(out, &vec, 1) == 0 ? 0 : PR_ENOMEM;
}

/*
 * Bytes of the well-formed UTF-8 sequence at 't' (1 for ASCII), or 0 when
 * 't' does not start one: a stray continuation byte, a bad lead byte, or a
 * lead byte whose continuation bytes are missing (perhaps a CR or LF that
 * must not be swallowed into the header).
 */
static size_t resp_utf8_len(const unsigned char *t)
{
    size_t n;
    if (t[0] < 0x80)
        n = 1;
    else if (t[0] >= 0xc2 && t[0] < 0xe0)
        n = 2;
    else if (t[0] >= 0xe0 && t[0] < 0xf0)
        n = 3;
    else if (t[0] >= 0xf0 && t[0] < 0xf5)
        n = 4;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((t[i] & 0xc0) != 0x80)
            return 0;
    }
    return n;
}

static int resp_agent_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == ':' || c == '[' || c == ']';
}

int sip_warning(char *buf, size_t buflen, const char *agent, const char *text)
{
    size_t o = 0;

    if (buf == NULL)
        return PR_EINVAL;
    if (agent == NULL || *agent == '\0')
        agent = "pushrelay";
    if (text == NULL)
        text = "";

    /* "399 " agent " \"" ... "\"" NUL: check the fixed part fits first. */
    size_t alen = 0;
    for (const char *a = agent; *a != '\0'; a++)
        alen += resp_agent_char(*a);
    if (alen == 0) {
        agent = "pushrelay";
        alen = strlen(agent);
    }
    if (buflen < 4 + alen + 2 + 1 + 1 || buflen - 1 > INT32_MAX)
        return PR_ETOOBIG;
    memcpy(buf, "399 ", 4);
    o = 4;
    for (const char *a = agent; *a != '\0'; a++) {
        if (resp_agent_char(*a))
            buf[o++] = *a;
    }
    buf[o++] = ' ';
    buf[o++] = '"';

    size_t room = buflen - o - 2;           /* keep the closing quote and NUL */
    for (const unsigned char *t = (const unsigned char *)text; *t != '\0';) {
        size_t n = resp_utf8_len(t);
        if (n == 0 || *t < ' ' || *t == 0x7f) {
            t++;
            continue;
        }
        if (*t == '"' || *t == '\\') {
            if (room < 2)
                break;
            buf[o++] = '\\';
            buf[o++] = (char)*t++;
            room -= 2;
            continue;
        }
        if (room < n)
            break;
        memcpy(buf + o, t, n);
        o += n;
        room -= n;
        t += n;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return (int)o;
}
