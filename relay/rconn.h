/*
 * rconn.h - one asynchronous Redis connection on an event loop that heals
 * itself: it connects (AUTH, SELECT) in the background, reconnects with
 * backoff after any loss, and refuses commands while down so callers can
 * answer "try later" at once instead of queueing blind. Each role (listener,
 * dispatcher, stats) owns its own rconn. Commands are argv arrays only.
 *
 * A connection is usable only once Redis proved it can take writes: every
 * step of the handshake answered as expected and ROLE said "master". Every
 * connection of the relay writes (even XREADGROUP does), so a replica is
 * refused like a loading primary. A Redis that answers but is not ready
 * (LOADING, BUSY, MASTERDOWN, READONLY) is retried at least once a second,
 * so the relay follows it within about a second of it becoming ready. The
 * same errors on an established connection (a restart with data, a
 * failover) make it hand-shake again. Why it is not usable is kept as an
 * rconn_reason, for /readyz and the logs.
 *
 * With redis.cluster the same API fronts a Redis Cluster (design section
 * 11): one such connection per primary, found in the slot map that the
 * seeds give (CLUSTER SLOTS), each command sent to the primary of its key's
 * slot (see rcluster.h for which argument is the key). MOVED and ASK are
 * followed (the command is resent, a bounded number of times), CLUSTERDOWN,
 * TRYAGAIN and a lost node reach the caller as the error or NULL reply they
 * are (transient: ingest answers 503, the dispatcher retries) and make the
 * map be read again. A MULTI is held until the first command after it names
 * a key, and the whole transaction goes to that key's primary; a MOVED
 * inside it is not followed (its EXEC fails with EXECABORT). WAIT goes to
 * every primary written since the last WAIT and answers the smallest count.
 */
#ifndef PUSHRELAY_RCONN_H
#define PUSHRELAY_RCONN_H

#include <stddef.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include "pushrelay/config.h"

struct rconn;

/*
 * Why a connection is not usable, one entry each: the enum, and the phrase
 * that completes "Redis ..." in logs and /readyz.
 */
#define RCONN_REASON_MAP(XX)                                                   \
    XX(READY, "ready")                                                         \
    XX(CONNECTING, "connecting")                                               \
    XX(UNREACHABLE, "unreachable")                                             \
    XX(LOADING, "loading its dataset")                                         \
    XX(BUSY, "busy running a script")                                          \
    XX(MASTERDOWN, "a replica that lost its primary (MASTERDOWN)")             \
    XX(READONLY, "a read-only replica, not the primary")                       \
    XX(AUTH, "refusing our password")                                          \
    XX(SELECT, "refusing the configured db")                                   \
    XX(TIMEOUT, "not answering the handshake in time")                         \
    XX(PROTOCOL, "answering the handshake unexpectedly")                       \
    XX(NOPRIMARY, "without a primary: no sentinel names one")                  \
    XX(NOSLOTMAP, "without a slot map: no cluster node answered CLUSTER SLOTS")  \
    XX(CLUSTERDOWN, "a cluster with slots that no primary serves")

enum rconn_reason {
#define RCONN__ENUM(name, text) RCONN_##name,
    RCONN_REASON_MAP(RCONN__ENUM)
#undef RCONN__ENUM
};

/*
 * Reply callback: 'reply' is NULL when the connection was lost before the
 * reply arrived (the command may or may not have run). It is owned by
 * hiredis and valid only during the call.
 */
typedef void (*rconn_reply_cb)(struct rconn *rc, redisReply *reply, void *arg);

/* Called after every (re)connection is ready (AUTH/SELECT done) and after every loss. */
typedef void (*rconn_state_cb)(struct rconn *rc, int connected, void *arg);

/*
 * rconn_new starts connecting to 'redis' (copied: it survives reloads, and
 * redis.* changes need a new rconn); with redis.sentinels it asks them for
 * the primary first and follows their failover announcements. 'name' tags
 * log lines and becomes CLIENT SETNAME. 'state_cb' may be NULL.
 */
int rconn_new(struct event_base *base, const struct cfg_redis *redis, const char *name,
              rconn_state_cb state_cb, void *state_arg, struct rconn **out);

/*
 * rconn_connected: 1 when commands can be sent now. In cluster mode: the
 * slot map covers every slot and every primary in it is connected.
 */
int rconn_connected(const struct rconn *rc);

/*
 * rconn_cmd sends one command. Returns 0 when sent (the callback will run
 * exactly once), or PR_EREDIS when not connected (the callback will not run;
 * in cluster mode: when the primary that serves the command is not, or a
 * WAIT cannot vouch for a primary written since the last WAIT).
 * 'cb' may be NULL for fire-and-forget. Commands are pipelined (per primary).
 */
int rconn_cmd(struct rconn *rc, rconn_reply_cb cb, void *arg, int argc, const char **argv,
              const size_t *argvlen);

/*
 * rconn_reason: RCONN_READY when connected, else why not (the last
 * failure; RCONN_CONNECTING before the first attempt finished).
 */
enum rconn_reason rconn_reason(const struct rconn *rc);

/*
 * rconn_addr writes "host:port" of the Redis in use (with Sentinel: the
 * primary last named, or "sentinel master <name>" before any; with a
 * cluster: "cluster (3 primaries)", or the node that is not ready) to 'buf'.
 */
const char *rconn_addr(const struct rconn *rc, char *buf, size_t len);

/* rconn_reason_text: the phrase for 'r' ("loading its dataset"); static storage. */
const char *rconn_reason_text(enum rconn_reason r);

/*
 * rconn_saw_error: 'err' is an error Redis gave inside a reply (a script's
 * redis.pcall). It counts like an error reply on the connection: LOADING,
 * READONLY or MASTERDOWN make it stop taking commands and hand-shake again.
 * Call it only from a reply callback of 'rc'.
 */
void rconn_saw_error(struct rconn *rc, const char *err);

/*
 * rconn_cfg: the Redis configuration 'rc' was made with (its own copy,
 * unchanged by reloads), e.g. for redis.wait_replicas. Valid while 'rc' is.
 */
const struct cfg_redis *rconn_cfg(const struct rconn *rc);

/* rconn_pending: commands sent and not yet answered (for backpressure). */
int rconn_pending(const struct rconn *rc);

/*
 * rconn_flush writes the commands sent so far to the socket now rather
 * than on the loop's next turn (a lost connection then reports as usual:
 * pending callbacks run with a NULL reply). Never call it from a reply
 * callback of 'rc'.
 */
void rconn_flush(struct rconn *rc);

/* What cluster mode did so far (all 0 on one Redis), for logs and tests. */
struct rconn_cluster_stats {
    unsigned long moved;        /* MOVED replies followed */
    unsigned long ask;          /* ASK replies followed */
    unsigned long map_reads;    /* slot maps read (CLUSTER SLOTS answered) */
    size_t primaries;           /* in the current slot map */
};

/* rconn_cluster_stats fills 'out' (zeros outside cluster mode). */
void rconn_cluster_stats(const struct rconn *rc, struct rconn_cluster_stats *out);

/*
 * rconn_reader_arena makes hiredis reader 'r' build each reply's tree of
 * redisReply objects inside chunks owned by the root object, instead of two
 * allocations per string and per array. Callers see ordinary redisReply
 * objects; a tree is freed whole through its root by the reader's
 * freeObject (hiredis does that after the reply callback), never with
 * freeReplyObject and never one nested object alone. Every connection of an
 * rconn uses it; public for tests.
 */
void rconn_reader_arena(redisReader *r);

/* rconn_free disconnects; pending callbacks run with a NULL reply first. */
void rconn_free(struct rconn *rc);

#endif
