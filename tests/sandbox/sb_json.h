/*
 * sb_json.h - allocation-free JSON helpers for the sandbox's hot path: a
 * string escaper for the delivery record, a validator for APNs payloads
 * and a string lookup for FCM messages.
 *
 * jansson builds a tree of allocations for every document, which showed up
 * as the sandbox's top cost under h2load; these jobs need no tree.
 * Everything off the hot path (OAuth, JWT parts) still uses jansson.
 */
#ifndef PUSHRELAY_SANDBOX_SB_JSON_H
#define PUSHRELAY_SANDBOX_SB_JSON_H

#include <stddef.h>
#include "sb.h"

/*
 * sb_json_string appends 's' ('len' bytes) to 'out' as a quoted JSON
 * string. Valid UTF-8 is copied as is; control characters are escaped;
 * bytes that are not UTF-8 become U+FFFD. PR_ENOMEM on failure.
 */
int sb_json_string(struct sb_buf *out, const char *s, size_t len);

/*
 * sb_json_object_has checks that 'doc' ('len' bytes) is one well-formed
 * JSON value (RFC 8259, nesting up to 64 levels), that it is an object, and
 * that its top level has member 'key' whose value is an object. Returns 1
 * if so, 0 otherwise.
 */
int sb_json_object_has(const char *doc, size_t len, const char *key);

/*
 * sb_json_get_string validates 'doc' like sb_json_object_has and finds the
 * string at 'path' (npath object keys from the top level, e.g. {"message",
 * "token"}). Its unescaped value is written NUL terminated into 'out'.
 * Returns its length, or -1 when 'doc' is not a valid object, the path
 * leads to no string, the string contains NUL or a surrogate escape, or
 * 'out' is too small.
 */
long sb_json_get_string(const char *doc, size_t len, const char *const *path, size_t npath,
                        char *out, size_t outlen);

#endif
