/*
 * fuzz_notif.c - libFuzzer target for the queued record (relay/notif.c):
 * the input is what a stream entry's "n" field could hold. notif_decode
 * reads most records with its own scanner and leaves the rest to jansson;
 * whatever the input, it must agree with notif_decode_tree (jansson
 * alone): both refuse it, or both give the same notification. A view
 * (notif_decode_view) must give the same again, its strings inside its
 * store, and a decoded record must encode and come back unchanged
 * (unless its badge is below 0: the listener accepts none, and encoding
 * writes none, so such a record comes back without one).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pushrelay/notif.h"
#include "../notif_same.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *rec = (const char *)data;
    struct pr_notif scanned, tree, view, again;
    char *store = malloc(size + 1);
    if (store == NULL)
        return 0;
    int rc = notif_decode(rec, size, &scanned);
    int rc_tree = notif_decode_tree(rec, size, &tree);
    int rc_view = notif_decode_view(rec, size, &view, store);
    if ((rc == 0) != (rc_tree == 0) || (rc == 0) != (rc_view == 0))
        abort(); /* the scanner accepted what jansson refuses, or the reverse */
    if (rc == 0) {
        if (!notif_same(&scanned, &tree) || !notif_same(&view, &tree))
            abort(); /* ... or read it differently */
        const char *vs[NOTIF_SAME_NSTRS];
        notif_same_strs(&view, vs);
        for (size_t i = 0; i < NOTIF_SAME_NSTRS; i++)
            if (vs[i] != NULL && (vs[i] < store || vs[i] + strlen(vs[i]) >= store + size))
                abort(); /* a view's string outside its store */
        char *json;
        size_t len;
        if (notif_encode(&scanned, &json, &len) != 0)
            abort(); /* a record that decodes is one the relay could have written */
        if (notif_decode(json, len, &again) != 0 ||
            (scanned.badge >= -1 && !notif_same(&again, &scanned)))
            abort();
        notif_clear(&again);
        free(json);
    }
    notif_clear(&scanned);
    notif_clear(&tree);
    notif_view_clear(&view);
    free(store);
    return 0;
}
