/*
 * sb_hold.c - the hold gate (see sb_hold.h for what tests use it for).
 *
 * State lives in struct sb_ctx: 'hold' (the gate and the held list) and
 * stats.held (how many answers are held now, shown by /_sandbox/stats so
 * that a test can wait for "something is held" instead of sleeping).
 *
 *   gate open (left = -1) ──hold?after=N──▶ counting (left = N)
 *        ▲                                      │ N deliveries answered
 *        └──────────── release ◀──── closed (left = 0): deliveries held
 *
 * Called by sb_control.c (arm, release), sb_record.c (take) and the
 * transports (add, remove).
 */
#include "sb_hold.h"

void sb_hold_arm(struct sb_ctx *ctx, unsigned long after)
{
    ctx->hold.left = (long)after;
}

int sb_hold_take(struct sb_ctx *ctx)
{
    if (ctx->hold.left < 0)
        return 0;
    if (ctx->hold.left == 0)
        return 1;
    ctx->hold.left--;
    return 0;
}

void sb_hold_add(struct sb_ctx *ctx, struct sb_held *h)
{
    h->prev = NULL;
    h->next = ctx->hold.list;
    if (h->next != NULL)
        h->next->prev = h;
    ctx->hold.list = h;
    h->linked = 1;
    ctx->stats.held++;
}

void sb_hold_remove(struct sb_ctx *ctx, struct sb_held *h)
{
    if (!h->linked)
        return;
    if (h->prev != NULL)
        h->prev->next = h->next;
    else
        ctx->hold.list = h->next;
    if (h->next != NULL)
        h->next->prev = h->prev;
    h->prev = h->next = NULL;
    h->linked = 0;
    ctx->stats.held--;
}

unsigned long sb_hold_release(struct sb_ctx *ctx)
{
    unsigned long n = 0;
    ctx->hold.left = -1;
    /*
     * Take one entry off the head at a time: releasing an answer may free
     * its connection, which removes that connection's other held entries
     * from the list; a saved 'next' pointer could be one of them.
     */
    while (ctx->hold.list != NULL) {
        struct sb_held *h = ctx->hold.list;
        sb_hold_remove(ctx, h);
        h->release(h);
        n++;
    }
    return n;
}
