/*
 * sb_hold.h - the hold gate: lets a test stop the sandbox answering at a
 * point it chooses, so that a fault (a dispatcher killed, a provider cut
 * off) lands while notifications are provably in flight, however fast or
 * slow the machine is.
 *
 *   POST /_sandbox/hold?after=N    the next N deliveries are answered as
 *                                  usual; every delivery after them is held:
 *                                  not answered, not recorded, not counted
 *   POST /_sandbox/release         opens the gate: every held delivery is
 *                                  recorded and answered now
 *
 * A held answer whose client goes away (connection closed, process killed)
 * is dropped with its stream and never recorded: the provider never saw it
 * succeed, as when a real provider's answer is lost.
 *
 * The transports (sb_h2.c, sb_http1.c) embed a 'struct sb_held' in what
 * they keep per request; sb_deliver() (sb_record.c) asks the gate.
 */
#ifndef PUSHRELAY_SANDBOX_SB_HOLD_H
#define PUSHRELAY_SANDBOX_SB_HOLD_H

#include "sb.h"

/*
 * One answer held back. 'release' records and sends it; it is called once,
 * after the entry was unlinked, and may free the memory the entry lives in.
 */
struct sb_held {
    struct sb_held *prev, *next;
    int linked;
    void (*release)(struct sb_held *h);
};

/* sb_hold_arm closes the gate after 'after' more deliveries (0: at once). */
void sb_hold_arm(struct sb_ctx *ctx, unsigned long after);

/*
 * sb_hold_take is asked once per successful delivery; returns 1 when the
 * gate is closed and the delivery must be held, else 0 (and counts it
 * toward the gate).
 */
int sb_hold_take(struct sb_ctx *ctx);

/* sb_hold_add keeps 'h' until release; 'h->release' must be set. */
void sb_hold_add(struct sb_ctx *ctx, struct sb_held *h);

/* sb_hold_remove forgets 'h' (its client went away); safe when not held. */
void sb_hold_remove(struct sb_ctx *ctx, struct sb_held *h);

/* sb_hold_release opens the gate and releases every held answer; returns how many. */
unsigned long sb_hold_release(struct sb_ctx *ctx);

#endif
