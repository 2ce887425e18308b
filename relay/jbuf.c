/*
 * jbuf.c - the JSON writer of jbuf.h: compact JSON appended to a growing
 * buffer, strings escaped exactly as jansson's json_dumps escapes them.
 * Called by the record encoder (relay/notif.c) and the APNs and FCM payload
 * builders; the record reader uses its UTF-8 check. It parses nothing and
 * holds no state beyond the caller's struct jbuf.
 */
#include <stdlib.h>
#include <string.h>

#include "pushrelay/error.h"
#include "jbuf.h"

#define JBUF_FIRST_CAP 512

/* ------------------------------------------------------------------------ */
/* The buffer                                                                */
/* ------------------------------------------------------------------------ */

void jbuf_reserve(struct jbuf *b, size_t more)
{
    if (b->err || b->len + more <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : JBUF_FIRST_CAP;
    while (cap < b->len + more)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        jbuf_fail(b, PR_ENOMEM);
        return;
    }
    b->p = p;
    b->cap = cap;
}

void jbuf_raw(struct jbuf *b, const char *s, size_t len)
{
    if (b->cap - b->len < len)     /* growing is the rare case: no call otherwise */
        jbuf_reserve(b, len);
    if (!b->err) {
        memcpy(b->p + b->len, s, len);
        b->len += len;
    }
}

static void jbuf_byte(struct jbuf *b, char c)
{
    if (b->len == b->cap)
        jbuf_reserve(b, 1);
    if (!b->err)
        b->p[b->len++] = c;
}

void jbuf_fail(struct jbuf *b, int err)
{
    if (b->err == 0)
        b->err = err;
}

int jbuf_finish(struct jbuf *b, char **out, size_t *outlen)
{
    jbuf_byte(b, '\0');
    int rc = b->err;
    if (rc != 0) {
        free(b->p);
    } else {
        *out = b->p;
        *outlen = b->len - 1;
    }
    memset(b, 0, sizeof(*b));
    return rc;
}

void jbuf_reset(struct jbuf *b)
{
    b->len = 0;
    b->err = 0;
    b->more = 0;
}

void jbuf_free(struct jbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ------------------------------------------------------------------------ */
/* Strings: escaped as jansson's dump_string does with no flags              */
/* ------------------------------------------------------------------------ */

/*
 * What each byte becomes inside a string: 0 copied as is (plain ASCII and,
 * once validated, UTF-8 bytes), 'u' for \u00XX, anything else the letter
 * of a two-byte escape (\" \\ \b \f \n \r \t).
 */
static const char jbuf_esc[256] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    ['"'] = '"', ['\\'] = '\\',
};

/* jbuf_utf8_len: the rules of jansson's utf8_check_first and utf8_check_full. */
size_t jbuf_utf8_len(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, min = 0x10000;
    else
        return 0;
    if (n > avail)
        return 0;
    unsigned cp = c & (0x3f >> (n - 1));
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* jbuf_plain: 1 for a byte copied as it is: printable ASCII but '"' and '\\'. */
static inline int jbuf_plain(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/*
 * jbuf_quote writes 'len' bytes of 's' as a quoted JSON string. Most text
 * (keys, ids, tokens, domains, plain message text) is one run of plain
 * bytes: it is measured with a tight loop and copied with one memcpy into
 * room reserved up front; only the bytes that need a look (escapes, UTF-8)
 * leave the fast loop.
 */
static void jbuf_quote(struct jbuf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *u = (const unsigned char *)s, *end = u + len;
    jbuf_reserve(b, len + 2);
    if (b->err)
        return;
    b->p[b->len++] = '"';
    while (u < end) {
        const unsigned char *run = u;
        while (u < end && jbuf_plain(*u))
            u++;
        if (u > run)
            jbuf_raw(b, (const char *)run, (size_t)(u - run));
        if (u == end || b->err)
            break;
        if (*u >= 0x80) {
            size_t n = jbuf_utf8_len(u, (size_t)(end - u));
            if (n == 0) {
                jbuf_fail(b, PR_EINVAL);
                return;
            }
            jbuf_raw(b, (const char *)u, n);
            u += n;
        } else if (jbuf_esc[*u] == 'u') {
            char esc[6] = { '\\', 'u', '0', '0', hex[*u >> 4], hex[*u & 15] };
            jbuf_raw(b, esc, sizeof(esc));
            u++;
        } else {
            char esc[2] = { '\\', jbuf_esc[*u] };
            jbuf_raw(b, esc, sizeof(esc));
            u++;
        }
    }
    jbuf_byte(b, '"');
}

/* ------------------------------------------------------------------------ */
/* Members                                                                   */
/* ------------------------------------------------------------------------ */

void jbuf_key(struct jbuf *b, const char *key)
{
    if (b->more)
        jbuf_byte(b, ',');
    jbuf_quote(b, key, strlen(key));
    jbuf_byte(b, ':');
    b->more = 1;
}

void jbuf_open(struct jbuf *b, const char *key)
{
    if (key != NULL)
        jbuf_key(b, key);
    jbuf_byte(b, '{');
    b->more = 0;
}

void jbuf_close(struct jbuf *b)
{
    jbuf_byte(b, '}');
    b->more = 1;
}

void jbuf_strn(struct jbuf *b, const char *key, const char *s, size_t len)
{
    if (key != NULL)
        jbuf_key(b, key);
    jbuf_quote(b, s, len);
    b->more = 1;
}

void jbuf_str(struct jbuf *b, const char *key, const char *s)
{
    jbuf_strn(b, key, s, strlen(s));
}

size_t jbuf_dec(char out[JBUF_DEC_MAX], long long v)
{
    char num[JBUF_DEC_MAX], *p = num + sizeof(num);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--p = '-';
    size_t n = (size_t)(num + sizeof(num) - p);
    memcpy(out, p, n);
    out[n] = '\0';
    return n;
}

void jbuf_int(struct jbuf *b, const char *key, long long v)
{
    char num[JBUF_DEC_MAX];
    size_t n = jbuf_dec(num, v);
    if (key != NULL)
        jbuf_key(b, key);
    jbuf_raw(b, num, n);
    b->more = 1;
}

void jbuf_json(struct jbuf *b, const char *key, const json_t *v)
{
    const size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
    if (key != NULL)
        jbuf_key(b, key);
    if (b->err)
        return;
    /* Dump into the free space; when it does not fit, grow to what it said and again. */
    size_t room = b->cap - b->len;
    size_t need = json_dumpb(v, room ? b->p + b->len : NULL, room, flags);
    if (need == 0) {
        jbuf_fail(b, PR_EINVAL);     /* jansson refuses strings that are not UTF-8 */
        return;
    }
    if (need > room) {
        jbuf_reserve(b, need);
        if (b->err)
            return;
        if (json_dumpb(v, b->p + b->len, need, flags) != need) {
            jbuf_fail(b, PR_EINVAL);
            return;
        }
    }
    b->len += need;
    b->more = 1;
}
