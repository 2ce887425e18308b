/*
 * notif_same.h - whether two decoded records hold the same notification,
 * field by field (data by json_equal), for the unit tests and the fuzz
 * targets. Header-only: each includer gets its own static copies.
 */
#ifndef PR_TESTS_NOTIF_SAME_H
#define PR_TESTS_NOTIF_SAME_H

#include <string.h>
#include <jansson.h>

#include "pushrelay/notif.h"

#define NOTIF_SAME_NSTRS 13

/* notif_same_strs lists the record's strings (NULL when absent), in a fixed order. */
static inline void notif_same_strs(const struct pr_notif *n, const char *out[NOTIF_SAME_NSTRS])
{
    const char *const s[NOTIF_SAME_NSTRS] = { n->id, n->domain, n->app, n->token, n->from,
                                              n->to, n->title, n->body, n->sound, n->collapse_id,
                                              n->last, n->wp_p256dh, n->wp_auth };
    memcpy(out, s, sizeof(s));
}

/* notif_same: 1 when 'a' and 'b' hold the same notification, else 0. */
static inline int notif_same(const struct pr_notif *a, const struct pr_notif *b)
{
    const char *as[NOTIF_SAME_NSTRS], *bs[NOTIF_SAME_NSTRS];
    notif_same_strs(a, as);
    notif_same_strs(b, bs);
    for (size_t i = 0; i < NOTIF_SAME_NSTRS; i++)
        if ((as[i] == NULL) != (bs[i] == NULL) || (as[i] != NULL && strcmp(as[i], bs[i]) != 0))
            return 0;
    return a->provider == b->provider && a->voip == b->voip && a->event == b->event &&
           a->badge == b->badge && a->priority == b->priority && a->ttl_s == b->ttl_s &&
           a->accepted_ms == b->accepted_ms && a->expires_ms == b->expires_ms &&
           a->attempts == b->attempts && a->trace == b->trace &&
           (a->data == NULL ? b->data == NULL : b->data != NULL && json_equal(a->data, b->data));
}

#endif
