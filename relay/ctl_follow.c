/*
 * ctl_follow.c - the outcome follower of pushrelayctl test-push
 * (ctl_follow.h). It only reads: outcome_log.c owns the record's layout,
 * ctl_testpush.c says what an outcome means to the user.
 */
#include <time.h>

#include "pushrelay/clock.h"
#include "pushrelay/error.h"
#include "ctl_follow.h"

int ctl_follow_is_final(enum pr_outcome o)
{
    return o == PR_OUTCOME_DELIVERED || o == PR_OUTCOME_EXPIRED || o == PR_OUTCOME_TOKEN_DEAD ||
           o == PR_OUTCOME_DEAD_LETTER;
}

int ctl_follow_wait(redisContext *c, const struct keys *k, unsigned shard, const char *domain,
                    const char *id, int64_t deadline_ms, ctl_follow_step_fn on_step, void *arg,
                    struct outcome_info *out, int *seen)
{
    struct outcome_info rec;
    /* outcome_log_get looks the record up in the shards itself; with the
     * shard known, outcome_log_get_shard reads just that one. */
    (void)shard;
    *seen = 0;
    for (;;) {
        int rc = outcome_log_get(c, k, domain, id, &rec);
        if (rc != 0 && rc != PR_ENOTFOUND)
            return rc;
        /* at_ms tells a rewritten record (the next attempt) from the one already seen */
        if (rc == 0 && (!*seen || rec.at_ms != out->at_ms || rec.outcome != out->outcome)) {
            *out = rec;
            *seen = 1;
            if (ctl_follow_is_final(rec.outcome))
                return 0;
            if (on_step != NULL)
                on_step(&rec, arg);
        }
        if (pr_mono_ms() >= deadline_ms)
            return PR_ETIMEDOUT;
        struct timespec ts = { 0, CTL_FOLLOW_POLL_MS * 1000000L };
        nanosleep(&ts, NULL);
    }
}
