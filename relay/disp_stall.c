/*
 * disp_stall.c - the dispatcher's slot accounting, and what keeps stalled
 * provider requests from holding up the others.
 *
 * A started job holds one of dispatcher.max_in_flight slots. A request its
 * provider leaves unanswered for dispatcher.stall_after_ms gives its slot to
 * the next notification and takes a place in a separate budget of
 * dispatcher.max_stalled instead. Nothing else changes for it: it keeps its
 * HTTP/2 stream and ends at its app's request_timeout_ms as before
 * (cancelled, one attempt counted, retried or dead-lettered), or with its
 * answer if one still comes. So a burst of stalled requests delays the
 * notifications behind it by about stall_after_ms per window-full, not by
 * request_timeout_ms per window-full, and what the process holds stays
 * bounded: at most max_in_flight + max_stalled jobs past the backlog.
 *
 *   BACKLOG --pump--> ACTIVE --unanswered stall_after_ms,--> STALLED
 *   (no slot)          slot     a place in the budget        place
 *                        |                                      |
 *                        '-------- job freed (outcome written) -'
 *
 * With the budget full, further stalled requests stay in the window until
 * a place frees, at the latest when the oldest stalled request times out:
 * more than max_stalled requests stalling within one request timeout delay
 * the others by one timeout per max_stalled of them.
 *
 * Called by dispatcher.c: disp_stall_start/disp_stall_stop with the
 * dispatcher, disp_slot_take when a job starts, disp_stall_sent when its
 * request went to the provider client, disp_slot_release when it is freed.
 */
#include "pushrelay/clock.h"
#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "disp_internal.h"

/*
 * Sweeps of the job list run at most this often: a request is taken for
 * stalled up to this much after stall_after_ms, and a busy dispatcher does
 * not walk its jobs for every request sent.
 */
#define DISP_STALL_TICK_MS 100

static void disp_stall_arm(struct disp *d, int64_t in_ms)
{
    if (in_ms < DISP_STALL_TICK_MS)
        in_ms = DISP_STALL_TICK_MS;
    struct timeval tv = { (time_t)(in_ms / 1000), (suseconds_t)((in_ms % 1000) * 1000) };
    evtimer_add(d->stall_timer, &tv);
}

/*
 * disp_stall_sweep moves every request unanswered for stall_after_ms out of
 * the window while the budget has places, and arms the timer for the next
 * request that will be due.
 */
static void disp_stall_sweep(struct disp *d)
{
    const struct cfg_dispatcher *cfg = &d->cfg->dispatcher;
    int64_t now = pr_mono_ms(), next = -1;
    long moved = 0, left = 0;
    for (struct disp_job *j = d->jobs; j != NULL; j = j->next) {
        if (j->slot != DISP_SLOT_ACTIVE || j->state != DISP_JOB_SENDING)
            continue;
        int64_t due = j->sent_ms + cfg->stall_after_ms;
        if (due > now) {
            if (next < 0 || due < next)
                next = due;
        } else if (d->n_stalled >= cfg->max_stalled) {
            left++;             /* a freed place sweeps again (disp_slot_release) */
        } else {
            j->slot = DISP_SLOT_STALLED;
            d->n_active--;
            d->n_stalled++;
            moved++;
        }
    }
    if (moved > 0) {
        pr_log_info(DISP_MOD, "%ld requests unanswered after %d ms left the delivery window "
                    "(%ld of %d stalled places taken)", moved, cfg->stall_after_ms,
                    d->n_stalled, cfg->max_stalled);
        disp_kick(d);
    }
    if (left > 0 && !d->stall_full) {
        pr_log_warn(DISP_MOD, "all %d stalled places taken: %ld more unanswered requests keep "
                    "their delivery slots until a stalled one ends", cfg->max_stalled, left);
        d->stall_full = 1;
    } else if (left == 0) {
        d->stall_full = 0;
    }
    if (next >= 0)
        disp_stall_arm(d, next - now);
}

static void disp_on_stall_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    disp_stall_sweep(arg);
}

int disp_stall_start(struct disp *d)
{
    d->stall_timer = evtimer_new(d->base, disp_on_stall_timer, d);
    return d->stall_timer != NULL ? 0 : PR_ENOMEM;
}

void disp_stall_stop(struct disp *d)
{
    if (d->stall_timer != NULL)
        event_free(d->stall_timer);
    d->stall_timer = NULL;
}

void disp_slot_take(struct disp_job *j)
{
    j->slot = DISP_SLOT_ACTIVE;
    j->d->n_active++;
}

void disp_stall_sent(struct disp_job *j)
{
    struct disp *d = j->d;
    j->sent_ms = pr_mono_ms();
    /* A pending timer is due no later than this request: sends come in time order. */
    if (d->cfg->dispatcher.max_stalled > 0 && !evtimer_pending(d->stall_timer, NULL))
        disp_stall_arm(d, d->cfg->dispatcher.stall_after_ms);
}

void disp_slot_release(struct disp_job *j)
{
    struct disp *d = j->d;
    if (j->slot == DISP_SLOT_ACTIVE) {
        d->n_active--;
    } else if (j->slot == DISP_SLOT_STALLED) {
        d->n_stalled--;
        /* Requests waiting in the window for a place may take this one now. */
        if (d->stall_full && !disp_closing(d))
            event_active(d->stall_timer, EV_TIMEOUT, 0);
    }
    j->slot = DISP_SLOT_NONE;
}
