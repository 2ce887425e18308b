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

static int scan_value(struct scan *s, char *kind);

/*
 * scan_object moves past an object; when 'key' is not NULL, '*found' is set
 * if a member 'key' has an object value.
 */
static int scan_object(struct scan *s, const char *key, int *found)
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
        char kind;
        scan_ws(s);
        if (scan_string(s, &name, &nlen) != 0)
            return -1;
        scan_ws(s);
        if (s->p >= s->end || *s->p != ':')
            return -1;
        s->p++;
        scan_ws(s);
        if (scan_value(s, &kind) != 0)
            return -1;
        if (key != NULL && kind == '{' && nlen == strlen(key) && memcmp(name, key, nlen) == 0)
            *found = 1;
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
    char kind;
    s->p++;   /* '[' */
    scan_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 0;
    }
    for (;;) {
        scan_ws(s);
        if (scan_value(s, &kind) != 0)
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

/* scan_value moves past one value; '*kind' is its first character ('{', '[', '"', ...). */
static int scan_value(struct scan *s, char *kind)
{
    const char *str;
    size_t slen;
    int rc, unused = 0;
    if (s->p >= s->end)
        return -1;
    *kind = *s->p;
    switch (*s->p) {
    case '{':
    case '[':
        if (++s->depth > JSON_MAX_DEPTH)
            return -1;
        rc = *s->p == '{' ? scan_object(s, NULL, &unused) : scan_array(s);
        s->depth--;
        return rc;
    case '"':
        return scan_string(s, &str, &slen);
    case 't':
        return scan_lit(s, "true");
    case 'f':
        return scan_lit(s, "false");
    case 'n':
        return scan_lit(s, "null");
    default:
        return scan_number(s);
    }
}

int sb_json_object_has(const char *doc, size_t len, const char *key)
{
    struct scan s = { doc, doc + len, 1 };
    int found = 0;
    scan_ws(&s);
    if (s.p >= s.end || *s.p != '{' || scan_object(&s, key, &found) != 0)
        return 0;
    scan_ws(&s);
    return s.p == s.end && found;
}
