/*
 * sb_stats.h - the sandbox's counters as JSON (the counters live in struct sb_ctx).
 */
#ifndef PUSHRELAY_SANDBOX_SB_STATS_H
#define PUSHRELAY_SANDBOX_SB_STATS_H

#include "sb.h"

/* sb_stats_json appends the /_sandbox/stats document to 'out'; PR_ENOMEM. */
int sb_stats_json(const struct sb_stats *st, struct sb_buf *out);

#endif
