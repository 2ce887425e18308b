/*
 * jbuf.h - a small JSON writer: compact JSON text appended to one growing
 * buffer, without building a jansson tree first. Used where a tree would
 * cost more than the rest of the path: the notification record
 * (relay/notif.c) and the provider payloads (relay/apns_payload.c,
 * relay/fcm_payload.c). It writes; it does not parse (the record reader
 * in notif.c borrows only its UTF-8 check), and it does not check that
 * opens and closes pair up.
 *
 * The text is byte-for-byte what jansson's json_dumps(..., JSON_COMPACT)
 * gives for the same object built in the same order: no spaces; in strings
 * '"' and '\\' escaped, \b \f \n \r \t in their short forms, other control
 * characters as \u00XX (upper-case hex), '/' and DEL as they are, and UTF-8
 * copied unescaped once validated.
 *
 * Errors stick: the first failure (PR_ENOMEM, or PR_EINVAL for a string
 * that is not UTF-8 or a value jansson will not dump) is kept in 'err',
 * every later call does nothing, and jbuf_finish reports it. So a writer
 * can make all its calls and check once.
 *
 *   struct jbuf b = JBUF_INIT;
 *   jbuf_open(&b, NULL);                    {
 *   jbuf_str(&b, "id", "m-1");              {"id":"m-1"
 *   jbuf_open(&b, "aps");                   {"id":"m-1","aps":{
 *   jbuf_int(&b, "badge", 3);               {"id":"m-1","aps":{"badge":3
 *   jbuf_close(&b);                         {"id":"m-1","aps":{"badge":3}
 *   jbuf_close(&b);                         {"id":"m-1","aps":{"badge":3}}
 *   rc = jbuf_finish(&b, &text, &len);
 */
#ifndef PUSHRELAY_JBUF_H
#define PUSHRELAY_JBUF_H

#include <stddef.h>
#include <jansson.h>

struct jbuf {
    char *p;            /* the text so far (not NUL-terminated until jbuf_finish) */
    size_t len, cap;
    int err;            /* first error, 0 while none */
    int more;           /* a member was written at this level: the next key takes a comma */
};

#define JBUF_INIT { NULL, 0, 0, 0, 0 }

/* jbuf_reserve makes room for 'more' further bytes (a hint; writers grow anyway). */
void jbuf_reserve(struct jbuf *b, size_t more);

/* jbuf_raw appends 'len' bytes of 's' as they are: the caller vouches they are JSON. */
void jbuf_raw(struct jbuf *b, const char *s, size_t len);

/*
 * jbuf_key writes the separating comma when one is due and "key": with
 * 'key' escaped like a string value (PR_EINVAL when it is not UTF-8). The
 * value must follow; the functions below that take a 'key' call it
 * themselves, and write no key when 'key' is NULL (the root, or a value
 * after jbuf_key).
 */
void jbuf_key(struct jbuf *b, const char *key);

/* jbuf_open writes "key":{ (or { for a NULL 'key'); the next member takes no comma. */
void jbuf_open(struct jbuf *b, const char *key);

/* jbuf_close writes } and ends the object jbuf_open began. */
void jbuf_close(struct jbuf *b);

/* jbuf_str writes "key":"s" with 's' escaped; PR_EINVAL when 's' is not UTF-8. */
void jbuf_str(struct jbuf *b, const char *key, const char *s);

/* jbuf_strn is jbuf_str for 'len' bytes of 's', which may hold NULs (written \u0000). */
void jbuf_strn(struct jbuf *b, const char *key, const char *s, size_t len);

/* jbuf_int writes "key":v in decimal. */
void jbuf_int(struct jbuf *b, const char *key, long long v);

/*
 * jbuf_dec writes 'v' in decimal and a NUL into 'out' (JBUF_DEC_MAX bytes)
 * and returns its length: what snprintf("%lld") gives, at a fraction of its
 * cost on paths run per MESSAGE or per delivery.
 */
#define JBUF_DEC_MAX 21
size_t jbuf_dec(char out[JBUF_DEC_MAX], long long v);

/*
 * jbuf_json writes "key": and 'v' (any jansson value, borrowed) as
 * json_dumpb(JSON_COMPACT) gives it; PR_EINVAL when jansson refuses to dump
 * it (a string that is not UTF-8).
 */
void jbuf_json(struct jbuf *b, const char *key, const json_t *v);

/*
 * jbuf_utf8_len returns the length of the valid UTF-8 sequence that starts
 * at 's' and fits in 'avail' (>= 1) bytes, or 0: jansson's rules (no
 * overlong forms, no surrogates, nothing above U+10FFFF). For readers of
 * the same text.
 */
size_t jbuf_utf8_len(const unsigned char *s, size_t avail);

/* jbuf_fail records 'err' (a PR_E* code) unless an earlier error is kept already. */
void jbuf_fail(struct jbuf *b, int err);

/*
 * jbuf_finish ends the text with a NUL. On success it returns 0 and hands
 * the malloc'd text to '*out' (free with free()) and its length, without
 * the NUL, to '*outlen'. Otherwise it frees the buffer, leaves '*out'
 * untouched and returns the first error. Either way 'b' is empty after.
 */
int jbuf_finish(struct jbuf *b, char **out, size_t *outlen);

/*
 * jbuf_reset empties 'b' (text, error, comma state) but keeps its buffer,
 * for a writer that makes one text after another (relay/queue.c's records).
 */
void jbuf_reset(struct jbuf *b);

/* jbuf_free frees the buffer of 'b' and leaves it as JBUF_INIT. */
void jbuf_free(struct jbuf *b);

#endif
