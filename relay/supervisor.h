/*
 * supervisor.h - pushrelayd --workers N: one small supervisor process that
 * runs N worker processes of one role and does no relay work itself.
 *
 *   supervisor (pushrelayd --workers 2)      monitoring.listen: /metrics /healthz /readyz
 *     |-- socketpair --> worker 0 (pushrelayd --worker 0)   consumer <node_id>-0
 *     `-- socketpair --> worker 1 (pushrelayd --worker 1)   consumer <node_id>-1
 *
 * The supervisor restarts a worker that dies (with backoff, logging how it
 * died), validates a SIGHUP's file once and forwards the signal only when
 * it loads, forwards SIGTERM/SIGINT as SIGTERM and exits when every worker
 * drained (SIGKILL after a bound), and serves the host's one monitoring
 * port from the workers' probes (relay/monitor.c). Workers share the SIP
 * port through SO_REUSEPORT and the dispatch consumer group through Redis.
 *
 * The link: each worker's end of its socketpair is descriptor
 * SUP_LINK_FD. The supervisor sends a probe request, the worker answers
 * with its struct monitor_probe; end of file on the link means the
 * supervisor is gone, and the worker drains and exits on its own.
 */
#ifndef PUSHRELAY_SUPERVISOR_H
#define PUSHRELAY_SUPERVISOR_H

#include <event2/event.h>
#include "pushrelay/config.h"
#include "monitor.h"

/* The descriptor a worker finds its link to the supervisor on. */
#define SUP_LINK_FD 3

/* Most workers --workers accepts (auto included). */
#define SUP_MAX_WORKERS 256

/*
 * sup_run runs the supervisor for 'n' workers of role 'role' ("listener",
 * "dispatcher", "all") on the configuration file 'cfg' was loaded from,
 * until a SIGTERM or SIGINT and the last worker's exit. Takes ownership of
 * 'cfg'. Returns 0 after a clean stop, PR_ECONFIG or PR_EIO when it cannot
 * start (monitoring port taken, no processes), PR_ETIMEDOUT when workers
 * had to be killed at the stop.
 */
int sup_run(struct cfg *cfg, const char *role, int n);

/* ------------------------------------------------------------------------ */
/* The worker's end                                                          */
/* ------------------------------------------------------------------------ */

struct sup_link;

/*
 * sup_link_new watches the link on descriptor 'fd': a probe request is
 * answered with what 'probe' fills in; end of file runs 'gone' once (the
 * supervisor died: drain and exit). 'arg' goes to both. PR_ENOMEM, PR_EIO.
 */
int sup_link_new(struct event_base *base, int fd, void (*probe)(void *arg, struct monitor_probe *out),
                 void (*gone)(void *arg), void *arg, struct sup_link **out);
void sup_link_free(struct sup_link *l);

#endif
