/*
 * sb_json.c - JSON string escaping and a validating scanner, without
 * allocations (see sb_json.h for why). Called by sb_record.c and sb_apns.c.
 */
#include <string.h>

#include "pushrelay/error.h"
#include "sb_json.h"

#define JSON_MAX_DEPTH 64

/* utf8_len returns the length of the valid UTF-8 sequence at 's', or 0. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    size_t n;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        n = 2;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n > left)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    /* overlong forms, surrogates and values past U+10FFFF are not UTF-8 */
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

int sb_json_string(struct sb_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0;   /* start of the bytes copied verbatim */
    int rc = sb_buf_append(out, "\"", 1);
    for (size_t i = 0; i < len && rc == 0;) {
        unsigned char c = u[i];
        char esc[8];
        size_t elen = 0, n = 1;
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            elen = 2;
        } else if (c < 0x20) {
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        } else if (c >= 0x80 && (n = utf8_len(u + i, len - i)) == 0) {
            memcpy(esc, "\xef\xbf\xbd", 3);   /* U+FFFD */
            elen = 3;
            n = 1;
        }
        if (elen > 0) {
            rc = sb_buf_append(out, s + run, i - run);
            if (rc == 0)
                rc = sb_buf_append(out, esc, elen);
            run = i + n;
        }
        i += n;
    }
    if (rc == 0)
        rc = sb_buf_append(out, s + run, len - run);
    if (rc == 0)
        rc = sb_buf_append(out, "\"", 1);
    return rc;
}

/* ---- validating scanner ------------------------------------------------- */

struct scan {
    const char *p, *end;
    int depth;
};

static void scan_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int scan_lit(struct scan *s, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
        return -1;
    s->p += n;
    return 0;
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* scan_string moves past a string; '*start'/'*len' give its raw content. */
static int scan_string(struct scan *s, const char **start, size_t *len)
{
    if (s->p >= s->end || *s->p != '"')
        return -1;
    const char *b = ++s->p;
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            *start = b;
            *len = (size_t)(s->p - b);
            s->p++;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            if (++s->p >= s->end)
                return -1;
            char e = *s->p;
            if (e == 'u') {
                if (s->end - s->p < 5 || !is_hex(s->p[1]) || !is_hex(s->p[2]) ||
                    !is_hex(s->p[3]) || !is_hex(s->p[4]))
                    return -1;
                s->p += 5;
            } else if (strchr("\"\\/bfnrt", e) != NULL && e != '\0') {
                s->p++;
            } else {
                return -1;
            }
        } else if (c >= 0x80) {
            size_t n = utf8_len((const unsigned char *)s->p, (size_t)(s->end - s->p));
            if (n == 0)
                return -1;
            s->p += n;
        } else {
            s->p++;
        }
    }
    return -1;
}

static int scan_digits(struct scan *s)
{
    const char *b = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > b ? 0 : -1;
}

static int scan_number(struct scan *s)
{
    if (s->p < s->end && *s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0')
        s->p++;
    else if (scan_digits(s) != 0)
        return -1;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (scan_digits(s) != 0)
            return -1;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (scan_digits(s) != 0)
            return -1;
    }
    return 0;
}

/*
 * The scanner can look for one value by its path of object keys while it
 * validates: 'path'/'npath' is what is left of the path below the current
 * value, 'hit' (NULL: not looking) receives the value the path ends at.
 */
struct hit {
    char kind;            /* first character of the value: '{' '[' '"' 't' 'f' 'n' or a digit */
    const char *start;    /* strings: the raw content between the quotes */
    size_t len;
};

static int scan_value(struct scan *s, const char *const *path, size_t npath, struct hit *hit);

static int scan_object(struct scan *s, const char *const *path, size_t npath, struct hit *hit)
{
    s->p++;   /* '{' */
    scan_ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 0;
    }
    for (;;) {
        const char *name;
        size_t nlen;
        scan_ws(s);
        if (scan_string(s, &name, &nlen) != 0)
            return -1;
        scan_ws(s);
        if (s->p >= s->end || *s->p != ':')
            return -1;
        s->p++;
        scan_ws(s);
        int match = hit != NULL && npath > 0 && nlen == strlen(path[0]) &&
                    memcmp(name, path[0], nlen) == 0;
        if (scan_value(s, path + (match ? 1 : 0), match ? npath - 1 : 0, match ? hit : NULL) != 0)
            return -1;
        scan_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == '}') {
            s->p++;
            return 0;
        }
        return -1;
    }
}

static int scan_array(struct scan *s)
{
    s->p++;   /* '[' */
    scan_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 0;
    }
    for (;;) {
        scan_ws(s);
        if (scan_value(s, NULL, 0, NULL) != 0)
            return -1;
        scan_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            return 0;
        }
        return -1;
    }
}

static int scan_value(struct scan *s, const char *const *path, size_t npath, struct hit *hit)
{
    const char *begin = s->p, *str = NULL;
    size_t slen = 0;
    int rc;
    if (s->p >= s->end)
        return -1;
    char kind = *s->p;
    switch (kind) {
    case '{':
    case '[':
        if (++s->depth > JSON_MAX_DEPTH)
            return -1;
        rc = kind == '{' ? scan_object(s, path, npath, hit) : scan_array(s);
        s->depth--;
        break;
    case '"':
        rc = scan_string(s, &str, &slen);
        break;
    case 't':
        rc = scan_lit(s, "true");
        break;
    case 'f':
        rc = scan_lit(s, "false");
        break;
    case 'n':
        rc = scan_lit(s, "null");
        break;
    default:
        rc = scan_number(s);
        break;
    }
    if (rc == 0 && hit != NULL && npath == 0) {
        hit->kind = kind;
        hit->start = kind == '"' ? str : begin;
        hit->len = kind == '"' ? slen : (size_t)(s->p - begin);
    }
    return rc;
}

/* json_find validates 'doc' as one object and looks up 'path'; -1 if invalid. */
static int json_find(const char *doc, size_t len, const char *const *path, size_t npath,
                     struct hit *hit)
{
    struct scan s = { doc, doc + len, 1 };
    hit->kind = 0;
    scan_ws(&s);
    if (s.p >= s.end || *s.p != '{' || scan_object(&s, path, npath, hit) != 0)
        return -1;
    scan_ws(&s);
    return s.p == s.end ? 0 : -1;
}

int sb_json_object_has(const char *doc, size_t len, const char *key)
{
    struct hit hit;
    return json_find(doc, len, &key, 1, &hit) == 0 && hit.kind == '{';
}

static int hexval(char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

long sb_json_get_string(const char *doc, size_t len, const char *const *path, size_t npath,
                        char *out, size_t outlen)
{
    struct hit hit;
    if (json_find(doc, len, path, npath, &hit) != 0 || hit.kind != '"')
        return -1;
    size_t o = 0;
    /* the scanner already checked every escape: decode without re-checking */
    for (size_t i = 0; i < hit.len; i++) {
        char c = hit.start[i];
        char buf[4];
        size_t n = 1;
        buf[0] = c;
        if (c == '\\') {
            c = hit.start[++i];
            switch (c) {
            case 'b': buf[0] = '\b'; break;
            case 'f': buf[0] = '\f'; break;
            case 'n': buf[0] = '\n'; break;
            case 'r': buf[0] = '\r'; break;
            case 't': buf[0] = '\t'; break;
            case 'u': {
                unsigned cp = 0;
                for (int k = 1; k <= 4; k++)
                    cp = cp << 4 | (unsigned)hexval(hit.start[i + (size_t)k]);
                i += 4;
                if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff))
                    return -1;   /* NUL or surrogate halves: not in a token */
                if (cp < 0x80) {
                    buf[0] = (char)cp;
                } else if (cp < 0x800) {
                    buf[0] = (char)(0xc0 | cp >> 6);
                    buf[1] = (char)(0x80 | (cp & 0x3f));
                    n = 2;
                } else {
                    buf[0] = (char)(0xe0 | cp >> 12);
                    buf[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                    buf[2] = (char)(0x80 | (cp & 0x3f));
                    n = 3;
                }
                break;
            }
            default: buf[0] = c; break;   /* \" \\ \/ */
            }
        }
        if (o + n >= outlen)
            return -1;
        memcpy(out + o, buf, n);
        o += n;
    }
    out[o] = '\0';
    return (long)o;
}
