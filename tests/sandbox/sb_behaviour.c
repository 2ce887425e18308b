/*
 * sb_behaviour.c - parse device-token markers and count attempts per token
 * (see sb_behaviour.h for the marker grammar).
 *
 * Called by sb_apns.c, sb_fcm.c and sb_mpns.c; it decides, the handlers
 * answer in their provider's words.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "pushrelay/error.h"
#include "sb.h"
#include "sb_behaviour.h"
#include "sb_map.h"

/* Bound on remembered tokens: a load test with unique tokens must not grow forever. */
#define BEHAVIOUR_MAX_TOKENS (1u << 20)

struct sb_behaviour {
    struct sb_map *attempts;    /* "<provider digit><token>" -> attempts so far */
    int markers;                /* 0: every token succeeds (--no-markers) */
};

int sb_behaviour_new(int markers, struct sb_behaviour **out)
{
    struct sb_behaviour *b = calloc(1, sizeof(*b));
    if (b == NULL || (b->attempts = sb_map_new()) == NULL) {
        free(b);
        return PR_ENOMEM;
    }
    b->markers = markers;
    *out = b;
    return 0;
}

void sb_behaviour_free(struct sb_behaviour *b)
{
    if (b == NULL)
        return;
    sb_map_free(b->attempts);
    free(b);
}

/*
 * digits reads the 'n' characters at 's' as a number in 'base' (10, or 16
 * with either case); -1 when one of them is not a digit of that base.
 */
static int digits(const char *s, int n, int base)
{
    static const char set[] = "0123456789abcdef";
    int v = 0;
    for (int i = 0; i < n; i++) {
        const char *d = s[i] != '\0' ? strchr(set, tolower((unsigned char)s[i])) : NULL;
        if (d == NULL || d - set >= base)
            return -1;
        v = v * base + (int)(d - set);
    }
    return v;
}

/* behaviour_attempt counts this attempt; 1 while it is within the first 'n' (0: always). */
static int behaviour_attempt(struct sb_behaviour *b, enum pr_provider p, const char *token, int n)
{
    char key[512];
    size_t len = strlen(token);
    if (len + 2 > sizeof(key))
        len = sizeof(key) - 2;
    key[0] = (char)('0' + p);
    memcpy(key + 1, token, len);
    if (sb_map_count(b->attempts) >= BEHAVIOUR_MAX_TOKENS)
        sb_map_clear(b->attempts);
    int created;
    int64_t *count = sb_map_slot(b->attempts, key, len + 1, &created);
    if (count == NULL)
        return n == 0;
    ++*count;
    return n == 0 || *count <= n;
}

struct sb_decision sb_behaviour_decide(struct sb_behaviour *b, enum pr_provider p, const char *token)
{
    struct sb_decision d = { SB_BEHAVE_OK, 200, 0 };
    size_t len = strlen(token);
    int n, v;

    switch (len > 0 && b->markers ? token[0] : '\0') {
    case 'e':
        if (len < 5 || (v = digits(token + 1, 3, 10)) < 100 || v > 599 ||
            (n = digits(token + 4, 1, 16)) < 0)
            break;
        if (behaviour_attempt(b, p, token, n)) {
            d.kind = SB_BEHAVE_ERROR;
            d.status = v;
        }
        break;
    case 'd':
        if (len < 5 || (v = digits(token + 1, 4, 10)) < 0)
            break;
        d.kind = SB_BEHAVE_DELAY;
        d.delay_ms = (unsigned)v;
        break;
    case 'c':
        if (len < 2 || (n = digits(token + 1, 1, 16)) < 0)
            break;
        if (behaviour_attempt(b, p, token, n))
            d.kind = SB_BEHAVE_RESET;
        break;
    case 'b':
        /* N is decimal here: "bb…" tokens in older tests must keep succeeding. */
        if (len < 2 || (n = digits(token + 1, 1, 10)) < 0)
            break;
        /* A delay the handlers already know how to hold, long enough to be never. */
        if (behaviour_attempt(b, p, token, n)) {
            d.kind = SB_BEHAVE_DELAY;
            d.delay_ms = SB_NEVER_MS;
        }
        break;
    case 'q':
        if (p != PR_PROVIDER_MPNS || len < 2 || (n = digits(token + 1, 1, 16)) < 0)
            break;
        if (behaviour_attempt(b, p, token, n))
            d.kind = SB_BEHAVE_QUEUEFULL;
        break;
    default:
        break;
    }
    return d;
}

int sb_behaviour_apply(const struct sb_decision *d, struct sb_resp *resp)
{
    if (d->kind == SB_BEHAVE_RESET) {
        resp->act = SB_ACT_RESET;
        return 1;
    }
    if (d->kind == SB_BEHAVE_DELAY)
        resp->delay_ms = d->delay_ms;
    return 0;
}
