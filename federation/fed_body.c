/*
 * fed_body.c - the JSON body of a push MESSAGE, read member by member (see
 * fed_body.h).
 *
 * The scanner reads one object of members whose values are strings,
 * integers, true, false, null or objects:
 *
 *   { ws "key" ws : ws value ws , ... }  ws EOF
 *        |                |
 *        |                +-- "text"  escapes \" \\ \/ \b \f \n \r \t, UTF-8 checked
 *        |                    -?digits (at most 18, no leading zero, no . e E)
 *        |                    true false null
 *        |                    { ... }  its text handed to jansson alone (depth <= 64)
 *        +-- decoded like a string; a repeated key gives up
 *
 * It gives up on everything else, and then jansson reads the whole body:
 * the scanner only accepts what jansson reads the same way, so a body is
 * accepted or refused exactly as before, with jansson's message. Decoded
 * keys and strings go to one buffer of the body's size: a string never
 * decodes longer than it is written, and its quotes pay for its NUL.
 */
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "pushrelay/error.h"
#include "fed_body.h"

#define SCAN_GIVE_UP 1          /* positive: never a PR_E* code */
#define SCAN_DEPTH 64           /* deeper objects go to jansson, whose limit is 2048 */
#define SCAN_INT_DIGITS 18      /* fits a long long; jansson refuses what does not */

struct scan {
    const unsigned char *p, *end;
    char *w;                    /* next free byte of b->text */
};

static void scan_ws(struct scan *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

/* scan_utf8 is the length of the valid UTF-8 sequence (2-4 bytes) at 'p', or 0. */
static size_t scan_utf8(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xbf;
    size_t n;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4;
    else
        return 0;
    /* Overlong forms, UTF-16 surrogates and code points past U+10FFFF are refused. */
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

/* scan_escape: the byte escape letter 'e' stands for; \u goes to jansson. */
static int scan_escape(unsigned char e, char *out)
{
    switch (e) {
    case '"': case '\\': case '/': *out = (char)e; return 0;
    case 'b': *out = '\b'; return 0;
    case 'f': *out = '\f'; return 0;
    case 'n': *out = '\n'; return 0;
    case 'r': *out = '\r'; return 0;
    case 't': *out = '\t'; return 0;
    default: return SCAN_GIVE_UP;
    }
}

/* scan_str decodes the string at r->p into r->w: '*s' is its text, '*len' its length. */
static int scan_str(struct scan *r, const char **s, size_t *len)
{
    if (r->p == r->end || *r->p != '"')
        return SCAN_GIVE_UP;
    r->p++;
    char *start = r->w;
    for (;;) {
        if (r->p == r->end)
            return SCAN_GIVE_UP;
        unsigned char c = *r->p;
        if (c == '"') {
            r->p++;
            break;
        }
        if (c == '\\') {
            if (r->end - r->p < 2 || scan_escape(r->p[1], r->w++) != 0)
                return SCAN_GIVE_UP;
            r->p += 2;
        } else if (c < 0x20) {
            return SCAN_GIVE_UP;
        } else if (c < 0x80) {
            *r->w++ = (char)c;
            r->p++;
        } else {
            size_t n = scan_utf8(r->p, r->end);
            if (n == 0)
                return SCAN_GIVE_UP;
            memcpy(r->w, r->p, n);
            r->w += n;
            r->p += n;
        }
    }
    *len = (size_t)(r->w - start);
    *r->w++ = '\0';
    *s = start;
    return 0;
}

/* scan_int reads an integer as JSON writes it; reals and big numbers give up. */
static int scan_int(struct scan *r, long long *v)
{
    int neg = 0;
    if (r->p < r->end && *r->p == '-') {
        neg = 1;
        r->p++;
    }
    const unsigned char *start = r->p;
    long long x = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
        x = x * 10 + (*r->p++ - '0');
    size_t digits = (size_t)(r->p - start);
    if (digits == 0 || digits > SCAN_INT_DIGITS || (digits > 1 && *start == '0'))
        return SCAN_GIVE_UP;
    if (r->p < r->end && (*r->p == '.' || *r->p == 'e' || *r->p == 'E'))
        return SCAN_GIVE_UP;
    *v = neg ? -x : x;
    return 0;
}

/* scan_word consumes the literal 'w' (true, false, null). */
static int scan_word(struct scan *r, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, w, n) != 0)
        return SCAN_GIVE_UP;
    r->p += n;
    return 0;
}

/*
 * scan_object finds the end of the object at r->p (strings skipped, depth
 * counted) and has jansson parse just that text: a nested object is rare
 * enough ("data") that its tree costs little.
 */
static int scan_object(struct scan *r, json_t **obj)
{
    const unsigned char *start = r->p;
    int depth = 0, in_str = 0;
    for (; r->p < r->end; r->p++) {
        unsigned char c = *r->p;
        if (in_str) {
            if (c == '\\') {
                if (++r->p == r->end)
                    return SCAN_GIVE_UP;
            } else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > SCAN_DEPTH)
                return SCAN_GIVE_UP;
        } else if (c == '}' || c == ']') {
            /* A mismatched closer ends the text early: jansson then refuses it. */
            if (--depth == 0)
                break;
        }
    }
    if (r->p >= r->end)
        return SCAN_GIVE_UP;
    r->p++;
    *obj = json_loadb((const char *)start, (size_t)(r->p - start), JSON_REJECT_DUPLICATES, NULL);
    return *obj != NULL && json_is_object(*obj) ? 0 : SCAN_GIVE_UP;
}

static int scan_value(struct scan *r, struct fed_jv *v)
{
    if (r->p == r->end)
        return SCAN_GIVE_UP;
    switch (*r->p) {
    case '"':
        v->type = FED_JV_STR;
        return scan_str(r, &v->s, &v->len);
    case 't':
        v->type = FED_JV_BOOL;
        v->i = 1;
        return scan_word(r, "true");
    case 'f':
        v->type = FED_JV_BOOL;
        return scan_word(r, "false");
    case 'n':
        v->type = FED_JV_NULL;
        return scan_word(r, "null");
    case '{':
        v->type = FED_JV_OBJECT;
        return scan_object(r, &v->obj);
    default:
        v->type = FED_JV_INT;
        return scan_int(r, &v->i);
    }
}

/* body_scan reads the whole body into 'b', or gives up (SCAN_GIVE_UP, PR_ENOMEM). */
static int body_scan(struct fed_body *b, const char *json, size_t len)
{
    struct scan r = { (const unsigned char *)json, (const unsigned char *)json + len, NULL };
    /* The decoded text is never longer than the body. */
    if (len < sizeof(b->local))
        b->text = b->local;
    else if ((b->text = malloc(len + 1)) == NULL)
        return PR_ENOMEM;
    r.w = b->text;
    scan_ws(&r);
    if (r.p == r.end || *r.p++ != '{')
        return SCAN_GIVE_UP;
    scan_ws(&r);
    if (r.p < r.end && *r.p == '}') {
        r.p++;
    } else {
        for (;;) {
            if (b->n == FED_BODY_MEMBERS)
                return SCAN_GIVE_UP;
            const char *key;
            size_t klen;
            if (scan_str(&r, &key, &klen) != 0)
                return SCAN_GIVE_UP;
            for (size_t i = 0; i < b->n; i++)
                if (b->m[i].klen == klen && memcmp(b->m[i].key, key, klen) == 0)
                    return SCAN_GIVE_UP;    /* jansson names the duplicate */
            scan_ws(&r);
            if (r.p == r.end || *r.p++ != ':')
                return SCAN_GIVE_UP;
            scan_ws(&r);
            struct fed_jv *v = &b->m[b->n].v;
            b->m[b->n].key = key;
            b->m[b->n].klen = klen;
            memset(v, 0, sizeof(*v));
            int rc = scan_value(&r, v);
            b->n++;     /* counted even on failure, so that fed_body_clear frees its object */
            if (rc != 0)
                return SCAN_GIVE_UP;
            scan_ws(&r);
            if (r.p == r.end)
                return SCAN_GIVE_UP;
            if (*r.p == '}') {
                r.p++;
                break;
            }
            if (*r.p++ != ',')
                return SCAN_GIVE_UP;
            scan_ws(&r);
        }
    }
    scan_ws(&r);
    return r.p == r.end ? 0 : SCAN_GIVE_UP;
}

void fed_body_clear(struct fed_body *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->m[i].v.type == FED_JV_OBJECT && b->m[i].v.obj != NULL)
            json_decref(b->m[i].v.obj);
    b->n = 0;
    if (b->text != b->local)
        free(b->text);
    b->text = NULL;
    if (b->tree != NULL)
        json_decref(b->tree);
    b->tree = NULL;
}

int fed_body_load(struct fed_body *b, const char *json, size_t len, int need_tree, char *why,
                  size_t whylen)
{
    memset(b, 0, offsetof(struct fed_body, local));    /* 'local' needs no zeroing */
    if (!need_tree) {
        int rc = body_scan(b, json, len);
        if (rc <= 0)
            return rc;
        fed_body_clear(b);
    }
    json_error_t jerr;
    b->tree = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (b->tree == NULL) {
        snprintf(why, whylen, "body is not valid JSON: %s at byte %d", jerr.text, jerr.position);
        return -1;
    }
    if (!json_is_object(b->tree)) {
        snprintf(why, whylen, "body must be a JSON object");
        return -1;
    }
    return 0;
}

struct fed_jv fed_body_get(const struct fed_body *b, const char *key)
{
    struct fed_jv v = { .type = FED_JV_ABSENT };
    if (b->tree == NULL) {
        size_t klen = strlen(key);
        for (size_t i = 0; i < b->n; i++)
            if (b->m[i].klen == klen && memcmp(b->m[i].key, key, klen) == 0)
                return b->m[i].v;
        return v;
    }
    json_t *j = json_object_get(b->tree, key);
    if (j == NULL)
        return v;
    switch (json_typeof(j)) {
    case JSON_NULL: v.type = FED_JV_NULL; break;
    case JSON_STRING:
        v.type = FED_JV_STR;
        v.s = json_string_value(j);
        v.len = json_string_length(j);
        break;
    case JSON_INTEGER: v.type = FED_JV_INT; v.i = json_integer_value(j); break;
    case JSON_TRUE: v.type = FED_JV_BOOL; v.i = 1; break;
    case JSON_FALSE: v.type = FED_JV_BOOL; break;
    case JSON_OBJECT: v.type = FED_JV_OBJECT; v.obj = j; break;
    default: v.type = FED_JV_OTHER; break;
    }
    return v;
}

json_t *fed_body_tree(const struct fed_body *b) { return b->tree; }

int fed_body_scanned(const struct fed_body *b) { return b->tree == NULL && b->text != NULL; }
