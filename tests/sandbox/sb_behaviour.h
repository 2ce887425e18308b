/*
 * sb_behaviour.h - scriptable provider behaviour chosen by the device token.
 *
 * A token that starts with a marker makes the sandbox misbehave on purpose;
 * markers are a letter and digits so that APNs tokens stay hex:
 *
 *   e<SSS><N>   answer HTTP status SSS (3 decimal digits) on the first N
 *               attempts for this token (N one hex digit, 0 = always), then succeed
 *   d<MMMM>     answer success after MMMM milliseconds (4 decimal digits)
 *   c<N>        reset the connection on the first N attempts (0 = always)
 *   b<N>        never answer ("black hole") the first N attempts (N one decimal
 *               digit, 0 = always), then succeed:
 *               the request is held (a success due after SB_NEVER_MS) until
 *               the client cancels it or its connection ends
 *   q<N>        MPNS only: 200 with X-NotificationStatus: QueueFull, first N attempts
 *   otherwise   succeed
 *
 * Real device tokens are random: one in ten or so starts like a marker.
 * Where the sandbox stands in for a provider with real devices or random
 * tokens (staging, the quickstart), --no-markers turns the markers off.
 *
 * Attempts are counted per provider and token for the life of the process.
 * Called by the provider handlers after a request passed their own checks.
 */
#ifndef PUSHRELAY_SANDBOX_SB_BEHAVIOUR_H
#define PUSHRELAY_SANDBOX_SB_BEHAVIOUR_H

#include "pushrelay/provider.h"

struct sb_behaviour;

#define SB_NEVER_MS (24u * 3600u * 1000u)  /* "never": longer than any test runs */

enum sb_bkind {
    SB_BEHAVE_OK = 0,     /* plain success */
    SB_BEHAVE_ERROR,      /* answer 'status' with the provider's error for it */
    SB_BEHAVE_DELAY,      /* success after 'delay_ms' */
    SB_BEHAVE_RESET,      /* drop the connection */
    SB_BEHAVE_QUEUEFULL,  /* MPNS: 200 QueueFull */
};

struct sb_decision {
    enum sb_bkind kind;
    int status;
    unsigned delay_ms;
};

/* sb_behaviour_new: empty attempt counters, markers read unless 'markers' is 0; PR_ENOMEM. */
int sb_behaviour_new(int markers, struct sb_behaviour **out);
void sb_behaviour_free(struct sb_behaviour *b);

/*
 * sb_behaviour_decide reads the marker of 'token' for provider 'p', counts
 * this attempt and says what to do. Malformed markers mean plain success.
 */
struct sb_decision sb_behaviour_decide(struct sb_behaviour *b, enum pr_provider p, const char *token);

struct sb_resp;

/*
 * sb_behaviour_apply carries out what every provider does alike with 'd':
 * a reset sets resp->act, a delay resp->delay_ms. Returns 1 when the
 * handler has nothing more to answer (reset), else 0: the handler then
 * answers an SB_BEHAVE_ERROR (d->status) or QUEUEFULL in its provider's
 * words, or success (delayed or not).
 */
int sb_behaviour_apply(const struct sb_decision *d, struct sb_resp *resp);

#endif
