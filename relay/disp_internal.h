/*
 * disp_internal.h - the dispatcher's private state, shared by the files that
 * implement it: dispatcher.c (lifecycle, reading entries, sending to
 * provider clients, classifying answers), disp_outcome.c (the atomic final
 * writes, the outbox, stats), disp_retry.c (the retry-zset mover),
 * disp_reclaim.c (XAUTOCLAIM, consumer sweep) and disp_stall.c (delivery
 * slots, stalled requests). Nothing else includes it.
 */
#ifndef PUSHRELAY_DISP_INTERNAL_H
#define PUSHRELAY_DISP_INTERNAL_H

#include <stdint.h>
#include <event2/event.h>

#include "pushrelay/config.h"
#include "pushrelay/notif.h"
#include "pushrelay/outcome.h"
#include "dispatcher.h"
#include "keys.h"
#include "pclient.h"
#include "rconn.h"
#include "stats.h"

#define DISP_MOD "dispatch"
#define DISP_ENTRY_ID_MAX 48
#define DISP_ID_BUCKETS 4096
#define DISP_DEAD_MAXLEN "100000"
#define DISP_BATCH_MAX 256              /* jobs per MULTI/EXEC */
#define DISP_KEY_MAX (KEYS_PREFIX_MAX + 48)     /* a queue key: prefix + "{q16383}:in:webpush" */

/*
 * Where entries are read from: one queue shard (keys with tag {q<k>}), or
 * the layout before shards (<p>{q}:...), read on a single Redis only until
 * it is drained after an upgrade. d->src[0 .. S-1] are the shards, d->src[S]
 * the old layout.
 */
struct disp_src {
    unsigned shard;                     /* k; S for the old layout */
    char stream[PR_PROVIDER_COUNT][DISP_KEY_MAX];
    char retry[DISP_KEY_MAX];
    char dead[DISP_KEY_MAX];
    char claim_cursor[PR_PROVIDER_COUNT][DISP_ENTRY_ID_MAX];
};

/*
 * The old layout's life in this process: checked when the reading
 * connection comes up, read while it holds entries, drained once.
 */
enum disp_legacy {
    DISP_LEGACY_NONE,                   /* cluster mode, or nothing found at start */
    DISP_LEGACY_DRAINING,               /* read like one more shard */
    DISP_LEGACY_DRAINED,                /* emptied by this process */
};

/*
 * Where a job is. A job lives from the moment its stream entry is read (or
 * reclaimed) until its final write or retry hand-off has landed in Redis;
 * only then is the entry acked, and only then is the job freed.
 */
enum disp_job_state {
    DISP_JOB_BACKLOG,   /* read, not started yet */
    DISP_JOB_WAIT,      /* the provider client's queue was full: start again soon */
    DISP_JOB_SENDING,   /* with the provider client */
    DISP_JOB_FINISHED,  /* outcome known, its write waits for this loop turn's batch */
    DISP_JOB_OUTBOX,    /* outcome known, its write waits for Redis */
    DISP_JOB_WRITING,   /* in a MULTI ... EXEC sent, waiting for EXEC's reply */
};

/* What a job holds from the moment it starts until it is freed (disp_stall.c). */
enum disp_slot {
    DISP_SLOT_NONE,     /* backlog: nothing yet */
    DISP_SLOT_ACTIVE,   /* one of max_in_flight slots: counts in d->n_active */
    DISP_SLOT_STALLED,  /* its request went unanswered for stall_after_ms: a place of
                           max_stalled, counts in d->n_stalled */
};

struct disp_job {
    struct disp *d;
    unsigned src;                       /* index in d->src of the shard it came from */
    enum pr_provider stream;            /* the stream the entry came from */
    char entry_id[DISP_ENTRY_ID_MAX];
    char *f_id;                         /* stream fields as read (kept for dead letters), */
    char *f_domain;                     /* stored after the struct: not freed on their own */
    char *raw;                          /* field "n" as read */
    size_t rawlen;
    char *nstore;                       /* after the fields: the decoded strings of 'n' */
    struct pr_notif n;                  /* a view of 'raw' (notif_decode_view): its strings
                                           live in 'nstore' or 'last', never freed alone */
    char last[160];                     /* the last answer, "503 ...": what n.last points at */
    int decoded;
    enum disp_job_state state;
    enum disp_slot slot;
    int64_t sent_ms;                    /* monotonic: its request went to the provider client */
    int reauthed;                       /* a REAUTH was already answered once */
    struct disp_clientset *set;         /* SENDING: the client set the request went to */
    int write_unknown;                  /* an earlier EXEC's fate is unknown (connection lost) */

    /* Outcome, filled by disp_job_finish / disp_job_retry. */
    enum pr_outcome outcome;
    char reason[192];                   /* dead-letter reason, token reason */
    int last_status;
    int64_t provider_ts_ms;
    int64_t due_ms;                     /* RETRY: when the next attempt is due */
    int64_t rtt_ms;                     /* -1: no provider answer */
    char *enc;                          /* notification JSON written with the outcome */
    size_t enclen;

    struct disp_job *prev, *next;       /* d->jobs: every live job */
    struct disp_job *qnext;             /* backlog, wait, finished or outbox FIFO; batch */
    struct disp_job *hnext;             /* d->ids: (stream, entry id) lookup */
};

/* A singly linked queue of jobs through 'qnext': a job is in at most one. */
struct disp_fifo {
    struct disp_job *head, *tail;
};

struct disp_client {
    const struct cfg_app *app;          /* dangling once its set is retired: not read then */
    struct pclient *pc;
};

/*
 * The provider clients of one configuration. A reload retires the current
 * set: its requests still in flight finish on it (a request is never sent
 * twice because of a reload) while new ones go to the new set; a retired
 * set is freed once its last request answered.
 *
 *   d->clients ──▶ set (current)        d->retired ──▶ set ──▶ set ──▶ NULL
 *                  pending: 12                          pending: 3   pending: 0 (freed soon)
 */
struct disp_clientset {
    struct disp_client *clients;
    size_t n;
    long pending;                       /* pclient_send calls not yet answered */
    struct disp_clientset *next;        /* d->retired */
};

/*
 * Where the dispatcher is in its life. Phases only ever advance
 * (disp_phase_enter); what each one forbids, the predicates below say.
 *
 *   RUNNING --disp_stop--> STOPPING --stop deadline--> ABANDONED
 *                             |                            |  (what is left stays
 *                             | nothing in flight          |   pending for reclaim)
 *                             v                            |
 *                          STOPPED <-----------------------'
 *                (the last stats flush, then 'done' runs)
 *
 *   any phase --disp_free--> CLOSING
 *
 * STOPPING: no new reads, reclaims or retry moves; jobs in flight finish.
 * ABANDONED and later: no more writes, answers free their jobs.
 * CLOSING: callbacks coming from the teardown itself touch nothing.
 */
enum disp_phase {
    DISP_RUNNING,
    DISP_STOPPING,
    DISP_ABANDONED,
    DISP_STOPPED,
    DISP_CLOSING,
};

struct disp {
    struct event_base *base;
    enum disp_phase phase;
    const struct cfg *cfg;
    struct keys keys;
    char consumer[160];                 /* node_id-pid */
    struct disp_src *src;               /* S shards, then the old layout */
    unsigned n_shards;                  /* S */
    int per_shard;                      /* Redis Cluster: no command names two shards */
    enum disp_legacy legacy;
    int legacy_checking;                /* the check or drain probe is outstanding */

    struct rconn *rc_read;              /* blocking XREADGROUP only */
    struct rconn *rc;                   /* writes, mover, reclaim */
    struct stats *stats;                /* the process's, not owned */

    struct ptoken *ptoken;              /* APNs provider tokens shared through Redis */
    struct disp_clientset *clients;     /* the current configuration's clients */
    struct disp_clientset *retired;     /* earlier ones, draining their requests */
    struct event *retire_ev;            /* frees drained retired sets, from the loop */

    struct disp_job *jobs;              /* every live job */
    long n_jobs;                        /* live jobs, backlog included */
    long n_active;                      /* jobs holding a slot: at most max_in_flight */
    long n_stalled;                     /* jobs holding a stalled place: at most max_stalled */
    int stall_full;                     /* stalled requests wait for a place (logged once) */
    struct disp_job *ids[DISP_ID_BUCKETS];
    struct disp_fifo backlog, wait, outbox;
    long n_backlog;                     /* jobs in the backlog */
    struct disp_fifo finished;          /* writes for the next batch */
    int n_finished;

    struct disp_fifo *by_src;           /* disp_finished_flush's per-source batches */
    unsigned *touched;                  /* the sources with jobs in by_src */

    int groups_pending;                 /* XGROUP CREATE replies outstanding */
    int groups_failed;                  /* of the last round of XGROUP CREATE */
    int groups_ready;
    int reading;                        /* XREADGROUP replies outstanding */
    long read_got;                      /* entries the current per-shard round brought */
    int idle_ms;                        /* per-shard reads: wait before the next round */
    int reclaiming;                     /* XAUTOCLAIM replies outstanding */
    unsigned reclaim_next;              /* round-robin: the next source to reclaim */
    int moving;                         /* mover EVALs outstanding */
    long moved_full;                    /* of this mover round: shards with a full batch */
    unsigned mover_next;                /* round-robin: the next shard's retries to move */
    uint64_t rnd;                       /* xorshift state for retry jitter */

    struct event *kick;                 /* deferred pump: start jobs, read more */
    struct event *flush_ev;             /* deferred batch write of d->finished */
    struct event *wait_timer;           /* restart DISP_JOB_WAIT jobs */
    struct event *read_retry;           /* read again after an error reply */
    struct event *read_idle;            /* per-shard reads: the next round after an empty one */
    struct event *reclaim_timer;
    struct event *sweep_timer;          /* forget long-gone consumers */
    struct event *mover_timer;
    struct event *stall_timer;          /* moves stalled requests out of the window */
    struct event *outbox_timer;
    struct event *stop_deadline;
    struct event *done_ev;
    void (*done)(void *arg);
    void *done_arg;
};

/* disp_stopping: disp_stop was called; nothing new is read, reclaimed or moved. */
static inline int disp_stopping(const struct disp *d)
{
    return d->phase >= DISP_STOPPING;
}

/*
 * disp_abandoned: nothing more is written to Redis; what is in flight is
 * dropped, its entries left pending for reclaim (a stop past its deadline,
 * a stop complete, or disp_free).
 */
static inline int disp_abandoned(const struct disp *d)
{
    return d->phase >= DISP_ABANDONED;
}

/* disp_closing: disp_free is tearing down; callbacks it causes touch nothing. */
static inline int disp_closing(const struct disp *d)
{
    return d->phase == DISP_CLOSING;
}

/* dispatcher.c */

/* disp_n_src: the sources read now: the S shards, plus the old layout while it drains. */
static inline unsigned disp_n_src(const struct disp *d)
{
    return d->n_shards + (d->legacy == DISP_LEGACY_DRAINING ? 1u : 0u);
}

/*
 * disp_job_shard: the shard whose keys hold the outcome of 'j': the shard
 * it was read from, so one transaction touches one shard; a job of the old
 * layout goes to the shard its provider and token hash to (0 if unreadable).
 */
unsigned disp_job_shard(const struct disp_job *j);

/* disp_phase_enter advances 'd' to 'phase'; a phase never goes back. */
void disp_phase_enter(struct disp *d, enum disp_phase phase);

/*
 * disp_room is how many more entries the reader and reclaim may bring in:
 * started plus backlog jobs stay under twice max_in_flight, so the next
 * entries are on their way while the current ones are sent. <= 0: none.
 */
long disp_room(const struct disp *d);


/*
 * disp_job_add queues stream entry 'e' ([id, [field, value, ...]]) of the
 * stream of 'p' in source 'src' in the backlog, unless it is already in flight here or was
 * deleted (nil fields).
 */
void disp_job_add(struct disp *d, unsigned src, enum pr_provider p, const redisReply *e);
void disp_check_done(struct disp *d);

/* disp_groups_create makes group "dispatch" on every stream read (BUSYGROUP is fine). */
void disp_groups_create(struct disp *d);
void disp_kick(struct disp *d);
void disp_job_free(struct disp_job *j);
uint32_t disp_random(struct disp *d);

void disp_fifo_push(struct disp_fifo *f, struct disp_job *j);
struct disp_job *disp_fifo_pop(struct disp_fifo *f);

/* disp_outcome.c */

/*
 * disp_job_finish records 'o' (DELIVERED, EXPIRED, TOKEN_DEAD, DEAD_LETTER;
 * RETRY with j->due_ms set) with 'reason' (dead letters, tokens) and
 * queues its write: side effects + XACK + XDEL, in the one MULTI/EXEC this
 * loop turn's finished jobs share (sent at once when DISP_BATCH_MAX jobs
 * wait). Owns 'j' from here on: it is freed once the write landed (or the
 * dispatcher closes).
 */
void disp_job_finish(struct disp_job *j, enum pr_outcome o, const char *reason);

/* disp_outbox_flush resends every write that waits for Redis. */
void disp_outbox_flush(struct disp *d);

/* disp_finished_flush writes every job in d->finished (the flush_ev callback). */
void disp_finished_flush(struct disp *d);

/* disp_finished_drop frees the unwritten jobs of d->finished (the stop deadline). */
void disp_finished_drop(struct disp *d);

/* disp_reclaim.c */

/* disp_reclaim_start arms the XAUTOCLAIM and consumer-sweep timers; PR_ENOMEM. */
int disp_reclaim_start(struct disp *d);
void disp_reclaim_stop(struct disp *d);

/* disp_stall.c */

/* disp_stall_start makes the stall timer; PR_ENOMEM. disp_stall_stop frees it. */
int disp_stall_start(struct disp *d);
void disp_stall_stop(struct disp *d);

/* disp_slot_take gives backlog job 'j' one of max_in_flight slots as it starts. */
void disp_slot_take(struct disp_job *j);

/* disp_stall_sent notes that the request of 'j' went to its provider client now. */
void disp_stall_sent(struct disp_job *j);

/* disp_slot_release gives back the slot or stalled place of 'j' (freed). */
void disp_slot_release(struct disp_job *j);

/* disp_retry.c */

/* disp_mover_start arms the timer that moves due retries back to their streams. */
void disp_mover_start(struct disp *d);
void disp_mover_stop(struct disp *d);

/* disp_legacy.c: the layout before shards, drained after an upgrade (one Redis only) */

/*
 * disp_legacy_check asks, on the reading connection, whether the old
 * layout holds entries or retries; if so the old streams become one more
 * source (DISP_LEGACY_DRAINING, logged once). Either way it then calls
 * disp_groups_create. Returns 0, or PR_EREDIS when nothing was sent (the
 * caller creates the groups itself).
 */
int disp_legacy_check(struct disp *d);

/*
 * disp_legacy_probe asks again (on the write connection, once per reclaim
 * round): entries found start the draining (groups created first), an
 * empty old layout ends it; each change is logged once. One Redis only.
 */
void disp_legacy_probe(struct disp *d);

#endif
