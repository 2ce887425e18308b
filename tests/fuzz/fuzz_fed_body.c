/*
 * fuzz_fed_body.c - libFuzzer target for the MESSAGE body's scanner
 * (federation/fed_body.c): every input is loaded scanned and through
 * jansson, and the two must agree on the outcome, jansson's message and
 * every member the listener reads. A disagreement aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fed_body.h"

static const char *const keys[] = { "id", "event", "from", "to", "title", "body", "badge",
                                    "sound", "ttl", "priority", "collapse_id", "data", "trace",
                                    "a", "" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fed_body a, b;
    char wa[200] = "", wb[200] = "";
    int ra = fed_body_load(&a, (const char *)data, size, 0, wa, sizeof(wa));
    int rb = fed_body_load(&b, (const char *)data, size, 1, wb, sizeof(wb));
    if (ra != rb || strcmp(wa, wb) != 0)
        abort();
    for (size_t k = 0; ra == 0 && k < sizeof(keys) / sizeof(keys[0]); k++) {
        struct fed_jv x = fed_body_get(&a, keys[k]), y = fed_body_get(&b, keys[k]);
        if (x.type != y.type)
            abort();
        if (x.type == FED_JV_STR &&
            (x.len != y.len || memcmp(x.s, y.s, x.len) != 0 || x.s[x.len] != '\0'))
            abort();
        if ((x.type == FED_JV_INT || x.type == FED_JV_BOOL) && x.i != y.i)
            abort();
        if (x.type == FED_JV_OBJECT && !json_equal(x.obj, y.obj))
            abort();
    }
    fed_body_clear(&a);
    fed_body_clear(&b);
    return 0;
}
