/*
 * fed_listener.h - the federation listener: SIP over mutually
 * authenticated TLS on federation.listen. It accepts edges, frames and
 * validates their requests and answers each from the queue's verdict.
 * Called by pushrelayd's main for the listener role.
 */
#ifndef PUSHRELAY_FED_LISTENER_H
#define PUSHRELAY_FED_LISTENER_H

#include <event2/event.h>
#include "pushrelay/config.h"

struct fed;
struct queue;
struct stats;

/*
 * fed_new builds the TLS context from cfg->federation.tls and binds every
 * listen address (SO_REUSEPORT, so several processes can share a port).
 * 'cfg' must outlive the listener (until fed_reload swaps it); 'q' and
 * 'stats' (may be NULL) are not owned. Errors: PR_ETLS with a logged
 * reason when the certificate, key or CA is unusable, PR_EIO when a port
 * cannot be bound.
 */
int fed_new(struct event_base *base, const struct cfg *cfg, struct queue *q,
            struct stats *stats, struct fed **out);

/*
 * fed_reload applies 'cfg' (apps, limits, TLS files) to new requests and
 * connections; established connections stay up. On error the old
 * configuration stays in force.
 */
int fed_reload(struct fed *f, const struct cfg *cfg);

/* fed_stop closes the listening sockets; connections finish what they have. */
void fed_stop(struct fed *f);

struct fed_stats {
    int connections;
    long requests;
};
void fed_get_stats(const struct fed *f, struct fed_stats *out);

void fed_free(struct fed *f);

#endif
