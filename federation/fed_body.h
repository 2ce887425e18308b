/*
 * fed_body.h - the JSON body of a push MESSAGE, read member by member.
 *
 * jansson is what defines a valid body, but building its tree (a malloc
 * per member and per string, a hash table per object) was a fifth of the
 * listener's CPU per MESSAGE (perf, bench/profile-ingest.sh). Most bodies
 * are one flat object of strings and integers, so fed_body_load reads
 * those itself and hands anything else to jansson, exactly as before.
 * Called by fed_request.c only.
 */
#ifndef PUSHRELAY_FED_BODY_H
#define PUSHRELAY_FED_BODY_H

#include <stddef.h>
#include <jansson.h>

/* What a member holds, as body_parse looks at it. */
enum fed_jv_type {
    FED_JV_ABSENT,      /* no such member */
    FED_JV_NULL,
    FED_JV_STR,         /* 's' (NUL-terminated UTF-8, no NUL inside) and 'len' */
    FED_JV_INT,         /* 'i' */
    FED_JV_BOOL,        /* 'i': 1 true, 0 false */
    FED_JV_OBJECT,      /* 'obj' (borrowed: owned by the body) */
    FED_JV_OTHER        /* array or real number */
};

struct fed_jv {
    enum fed_jv_type type;
    const char *s;
    size_t len;
    long long i;
    json_t *obj;
};

#define FED_BODY_MEMBERS 32     /* more, and jansson reads the body */

/* A loaded body; fill it with fed_body_load, release it with fed_body_clear. */
struct fed_body {
    json_t *tree;               /* jansson's reading, or NULL when scanned */
    size_t n;                   /* scanned members */
    struct {
        const char *key;
        size_t klen;
        struct fed_jv v;
    } m[FED_BODY_MEMBERS];
    char *text;                 /* the scanned keys and strings, decoded: 'local' when
                                   the body fits there (most do), else malloc'd */
    char local[2048];
};

/*
 * fed_body_load reads the 'len' bytes at 'json' into 'b'. With 'need_tree'
 * (a provider that reads the jansson tree itself, fed_body_tree) or when
 * the body holds anything the scanner does not read the way jansson does
 * (escapes \uXXXX, arrays, reals, nesting deeper than 64, more than
 * FED_BODY_MEMBERS members, anything malformed), jansson parses it with
 * JSON_REJECT_DUPLICATES, as it always did. Returns 0; -1 when the body is
 * not a valid JSON object ('why' then holds jansson's message, or "body
 * must be a JSON object"); PR_ENOMEM. 'b' must be cleared in every case.
 */
int fed_body_load(struct fed_body *b, const char *json, size_t len, int need_tree, char *why,
                  size_t whylen);

/* fed_body_get: member 'key' of 'b' (FED_JV_ABSENT when missing). */
struct fed_jv fed_body_get(const struct fed_body *b, const char *key);

/* fed_body_tree: jansson's tree of 'b' (borrowed), or NULL when it was scanned. */
json_t *fed_body_tree(const struct fed_body *b);

/* fed_body_scanned: 1 when the scanner read 'b' (for tests). */
int fed_body_scanned(const struct fed_body *b);

void fed_body_clear(struct fed_body *b);

#endif
