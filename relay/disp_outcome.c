/*
 * disp_outcome.c - the dispatcher's writes back to Redis: each outcome's
 * side effect and the stream ack land together in one MULTI/EXEC, so an
 * entry is never acked without its outcome recorded, nor recorded and left
 * unacked (short of a crash between, which reclaim turns into a duplicate,
 * never a loss). The jobs finished in one event-loop turn share one
 * transaction (at most DISP_BATCH_MAX of them: a full batch is sent at
 * once). A transaction holds the jobs of ONE shard only (their keys share
 * the tag {q<k>}, so it can run on a Redis Cluster node): the jobs finished
 * in a turn are grouped by the shard they were read from, one transaction
 * per shard. Stats are global keys, so they are counted outside it. While
 * Redis is away, finished jobs wait in an outbox and are written when it
 * returns. Counts every outcome in stats. Called by dispatcher.c only.
 *
 * One transaction, for the jobs j1 .. jn of a batch of shard k
 * (<s> = <p>{q<k>}:in:<provider>, <e> = entry id):
 *
 *   MULTI
 *     for each job, in batch order:
 *       HSET <p>{q<k>}:outcome:<domain>:<id> ... ; EXPIRE      (outcome_log.h)
 *       DELIVERED, EXPIRED   (nothing)
 *       TOKEN_DEAD           HSET <p>{q<k>}:token:<provider>:<token> ... ; EXPIRE
 *                            ; ZADD <p>{q<k>}:tokens ; ZREMRANGEBYSCORE <p>{q<k>}:tokens
 *       DEAD_LETTER          XADD <p>{q<k>}:dead MAXLEN ~ 100000 * id domain provider app
 *                                 reason last_status attempts n
 *       RETRY                ZADD <p>{q<k>}:retry <due ms> <notification JSON>
 *     XACK <s of j1> dispatch <e of j1>
 *     ...
 *     XACK <s of jn> dispatch <e of jn>
 *     XDEL <s> <e> ...                                  one per stream in the batch
 *   EXEC
 *
 * EXEC answers one reply per queued command; the XACKs and XDELs come
 * last, so job i's XACK reply is at elements - n_xdel - n + i, whatever
 * the side effects queued before them. The XACK reply (1, or 0 when the
 * entry was no longer pending) decides whether the outcome is counted. A
 * lost or refused EXEC sends the whole batch to the outbox.
 *
 * Entries of the pre-shard layout (disp_legacy.c, one Redis only) are
 * acked in their old stream and their outcome lands in the shard of their
 * provider and token, in the same transaction.
 *
 * Dead-letter entry fields:
 *   +-------------+---------------------------------------------------------+
 *   | id          | push id (idempotency key)                               |
 *   | domain      | tenant domain                                           |
 *   | provider    | apns | fcm | mpns (the stream it came from if corrupt)   |
 *   | app         | cfg_app id ("" if corrupt)                              |
 *   | reason      | "corrupt record", "app unknown: …", "attempts exhausted |
 *   |             | (503 …)", the provider's permanent error, …             |
 *   | last_status | last HTTP status ("0": no answer, "-1": refused locally)|
 *   | attempts    | delivery attempts made                                  |
 *   | n           | notification JSON, "att" and "last" updated (as read if |
 *   |             | corrupt): `pushrelayctl dlq replay` re-queues it        |
 *   +-------------+---------------------------------------------------------+
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "disp_internal.h"
#include "outcome_log.h"
#include "token.h"

/* disp_count_outcome adds the landed outcome of 'j' to the stats. */
static void disp_count_outcome(struct disp_job *j)
{
    struct disp *d = j->d;
    enum pr_provider p = j->decoded ? j->n.provider : j->stream;
    const char *domain = j->decoded ? j->n.domain : j->f_domain;
    stats_incr(d->stats, p, domain, stats_counter_of_outcome(j->outcome), 1);
    if (j->outcome == PR_OUTCOME_RETRY)
        return;
    if (j->decoded)
        stats_observe(d->stats, p, STATS_HIST_E2E, pr_now_ms() - j->n.accepted_ms);
    if (j->rtt_ms >= 0)
        stats_observe(d->stats, p, STATS_HIST_RTT, j->rtt_ms);
}

static void disp_to_outbox(struct disp_job *j)
{
    j->state = DISP_JOB_OUTBOX;
    disp_fifo_push(&j->d->outbox, j);
}

/* One MULTI/EXEC in flight: its jobs, in the order of their XACKs. */
struct disp_batch {
    struct disp *d;
    struct disp_fifo jobs;
    size_t n_jobs;
    size_t n_xdel;                      /* XDELs queued after the XACKs */
};

/* disp_batch_fail parks the jobs of a write that did not land in the outbox. */
static void disp_batch_fail(struct disp *d, struct disp_fifo *jobs, int unknown)
{
    struct disp_job *j;
    while ((j = disp_fifo_pop(jobs)) != NULL) {
        if (unknown)
            j->write_unknown = 1;
        if (disp_abandoned(d))
            disp_job_free(j);
        else
            disp_to_outbox(j);
    }
}

static void disp_on_exec(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct disp_batch *b = arg;
    struct disp *d = b->d;
    struct disp_job *j;
    if (disp_closing(d)) {
        while ((j = disp_fifo_pop(&b->jobs)) != NULL)
            disp_job_free(j);
        free(b);
        return;
    }
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        /* Lost or refused (LOADING, OOM, read-only replica): write it again later. */
        if (reply != NULL && d->outbox.head == NULL)
            pr_log_warn(DISP_MOD, "outcome write for %s and %zu more refused: %s (writing again later)",
                        b->jobs.head->entry_id, b->n_jobs - 1,
                        reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected");
        disp_batch_fail(d, &b->jobs, reply == NULL);
        free(b);
        return;
    }
    /*
     * The XACK reply tells whether the entry was still pending: 0 means it
     * was finished already, by another consumer that reclaimed it (this
     * outcome is a duplicate and must not be counted twice) or by our own
     * earlier write whose reply the connection lost (count it now).
     */
    size_t tail = b->n_jobs + b->n_xdel;
    size_t i = reply->elements >= tail ? reply->elements - tail : 0;
    while ((j = disp_fifo_pop(&b->jobs)) != NULL) {
        const redisReply *ack = reply->elements >= tail ? reply->element[i++] : NULL;
        if (ack != NULL && ack->type == REDIS_REPLY_INTEGER && ack->integer == 0 &&
            !j->write_unknown)
            pr_log_debug(DISP_MOD, "entry %s was already finished elsewhere (duplicate delivery)",
                         j->entry_id);
        else
            disp_count_outcome(j);
        disp_job_free(j);
    }
    free(b);
}

/* disp_send_side_effect queues the outcome's own command(s) inside MULTI, in shard 'shard'. */
static int disp_send_side_effect(struct disp_job *j, unsigned shard)
{
    struct disp *d = j->d;
    const struct disp_src *home = &d->src[shard];
    const char *dead = home->dead, *retry = home->retry;
    if (j->outcome == PR_OUTCOME_TOKEN_DEAD) {
        struct token_dead t = {
            .provider = j->n.provider, .token = j->n.token, .reason = j->reason,
            .since_ms = pr_now_ms(), .provider_ts_ms = j->provider_ts_ms,
            .domain = j->n.domain, .app = j->n.app,
        };
        int rc = token_send_dead(d->rc, &d->keys, shard, &t);
        if (rc == PR_ETOOBIG) {
            pr_log_warn(DISP_MOD, "dead token of %s too long to record", j->n.domain);
            return 0;
        }
        return rc;
    }
    if (j->outcome == PR_OUTCOME_DEAD_LETTER) {
        char status[16], attempts[16];
        snprintf(status, sizeof(status), "%d", j->last_status);
        snprintf(attempts, sizeof(attempts), "%d", j->decoded ? j->n.attempts : 0);
        const char *argv[] = {
            "XADD", dead, "MAXLEN", "~", DISP_DEAD_MAXLEN, "*",
            "id", j->decoded ? j->n.id : (j->f_id ? j->f_id : ""),
            "domain", j->decoded ? j->n.domain : (j->f_domain ? j->f_domain : ""),
            "provider", pr_provider_name(j->decoded ? j->n.provider : j->stream),
            "app", j->decoded ? j->n.app : "",
            "reason", j->reason,
            "last_status", status,
            "attempts", attempts,
            "n", j->enc ? j->enc : "",
        };
        size_t lens[sizeof(argv) / sizeof(argv[0])];
        for (size_t i = 0; i < sizeof(argv) / sizeof(argv[0]); i++)
            lens[i] = strlen(argv[i]);
        lens[sizeof(argv) / sizeof(argv[0]) - 1] = j->enc ? j->enclen : 0;
        return rconn_cmd(d->rc, NULL, NULL, sizeof(argv) / sizeof(argv[0]), argv, lens);
    }
    if (j->outcome == PR_OUTCOME_RETRY) {
        char due[24];
        int duelen = snprintf(due, sizeof(due), "%lld", (long long)j->due_ms);
        const char *argv[] = { "ZADD", retry, due, j->enc };
        size_t lens[] = { 4, strlen(retry), (size_t)duelen, j->enclen };
        return rconn_cmd(d->rc, NULL, NULL, 4, argv, lens);
    }
    return 0;
}

/*
 * disp_batch_write sends the transaction of the 'n' jobs in 'jobs' (at
 * most DISP_BATCH_MAX, all read from source 'src'), or parks them all in
 * the outbox.
 */
static void disp_batch_write(struct disp *d, unsigned src, struct disp_fifo *jobs, size_t n)
{
    const struct disp_src *from = &d->src[src];
    struct disp_batch *b = NULL;
    struct disp_job *j;
    if (!rconn_connected(d->rc) || (b = malloc(sizeof(*b))) == NULL)
        goto fail;
    b->d = d;
    b->jobs = *jobs;
    b->n_jobs = n;
    b->n_xdel = 0;
    /*
     * Commands on one connection are pipelined in order, so nothing else
     * can land inside the transaction. If sending fails half way the
     * connection is gone, and Redis discards the open MULTI with it.
     */
    const char *multi[] = { "MULTI" };
    if (rconn_cmd(d->rc, NULL, NULL, 1, multi, NULL) != 0)
        goto fail;
    for (j = jobs->head; j != NULL; j = j->qnext) {
        unsigned shard = disp_job_shard(j);
        if (outcome_log_send(d->rc, &d->keys, shard, j->decoded ? &j->n : NULL, j->outcome,
                             j->reason, j->last_status) == PR_EREDIS ||
            disp_send_side_effect(j, shard) != 0)
            goto discard;
    }
    for (j = jobs->head; j != NULL; j = j->qnext) {
        const char *xack[] = { "XACK", from->stream[j->stream], KEYS_GROUP, j->entry_id };
        if (rconn_cmd(d->rc, NULL, NULL, 4, xack, NULL) != 0)
            goto discard;
    }
    for (int p = 0; p < PR_PROVIDER_COUNT; p++) {
        const char *xdel[2 + DISP_BATCH_MAX] = { "XDEL", from->stream[p] };
        int argc = 2;
        for (j = jobs->head; j != NULL && argc < 2 + DISP_BATCH_MAX; j = j->qnext)
            if (j->stream == (enum pr_provider)p)
                xdel[argc++] = j->entry_id;
        if (argc == 2)
            continue;
        if (rconn_cmd(d->rc, NULL, NULL, argc, xdel, NULL) != 0)
            goto discard;
        b->n_xdel++;
    }
    const char *exec[] = { "EXEC" };
    if (rconn_cmd(d->rc, disp_on_exec, b, 1, exec, NULL) != 0)
        goto discard;
    for (j = jobs->head; j != NULL; j = j->qnext)
        j->state = DISP_JOB_WRITING;
    jobs->head = jobs->tail = NULL;
    return;
discard:
    /*
     * Still connected (out of memory): none of this may commit with the
     * next EXEC. Should DISCARD not go out either, the next batch's EXEC
     * commits these commands too, and its XACK replies stay the last ones.
     */
    if (rconn_connected(d->rc)) {
        const char *discard[] = { "DISCARD" };
        rconn_cmd(d->rc, NULL, NULL, 1, discard, NULL);
    }
fail:
    free(b);
    disp_batch_fail(d, jobs, 0);
}

void disp_finished_flush(struct disp *d)
{
    if (disp_closing(d))
        return;
    struct disp_fifo todo = d->finished;
    d->finished.head = d->finished.tail = NULL;
    d->n_finished = 0;
    if (disp_abandoned(d)) {
        disp_batch_fail(d, &todo, 0);
        return;
    }
    /* One transaction per shard: sort the jobs by source, keeping their order. */
    unsigned n_touched = 0;
    struct disp_job *j;
    while ((j = disp_fifo_pop(&todo)) != NULL) {
        struct disp_fifo *f = &d->by_src[j->src];
        if (f->head == NULL)
            d->touched[n_touched++] = j->src;
        disp_fifo_push(f, j);
    }
    for (unsigned t = 0; t < n_touched; t++) {
        unsigned src = d->touched[t];
        struct disp_fifo *f = &d->by_src[src];
        while (f->head != NULL) {
            struct disp_fifo batch = { NULL, NULL };
            size_t n = 0;
            while (n < DISP_BATCH_MAX && (j = disp_fifo_pop(f)) != NULL) {
                disp_fifo_push(&batch, j);
                n++;
            }
            disp_batch_write(d, src, &batch, n);
        }
    }
}

void disp_finished_drop(struct disp *d)
{
    struct disp_job *j;
    d->n_finished = 0;
    while ((j = disp_fifo_pop(&d->finished)) != NULL)
        disp_job_free(j);
}

/* disp_job_queue adds 'j' to the next batch; a full batch is sent now. */
static void disp_job_queue(struct disp_job *j)
{
    struct disp *d = j->d;
    j->state = DISP_JOB_FINISHED;
    disp_fifo_push(&d->finished, j);
    if (++d->n_finished >= DISP_BATCH_MAX)
        disp_finished_flush(d);
    else
        event_active(d->flush_ev, EV_TIMEOUT, 0);
}

void disp_job_finish(struct disp_job *j, enum pr_outcome o, const char *reason)
{
    j->outcome = o;
    if (reason != NULL)
        snprintf(j->reason, sizeof(j->reason), "%s", reason);
    else
        j->reason[0] = '\0';
    free(j->enc);
    j->enc = NULL;
    j->enclen = 0;
    if (o == PR_OUTCOME_RETRY || o == PR_OUTCOME_DEAD_LETTER) {
        if (j->decoded && notif_encode(&j->n, &j->enc, &j->enclen) != 0) {
            j->enc = NULL;
            if (o == PR_OUTCOME_RETRY) {
                /* Without its JSON a retry cannot be scheduled: keep the original. */
                j->outcome = o = PR_OUTCOME_DEAD_LETTER;
                snprintf(j->reason, sizeof(j->reason), "retry not recordable (%s)",
                         j->n.last ? j->n.last : "");
            }
        }
        if (j->enc == NULL && j->raw != NULL && (j->enc = malloc(j->rawlen + 1)) != NULL) {
            memcpy(j->enc, j->raw, j->rawlen + 1);
            j->enclen = j->rawlen;
        }
    }
    if (o == PR_OUTCOME_DEAD_LETTER) {
        char tok[48];
        pr_log_info(DISP_MOD, "dead letter %s (%s, token %s): %s", j->entry_id,
                    j->decoded ? j->n.domain : "?",
                    pr_redact(j->decoded ? j->n.token : NULL, tok, sizeof(tok)), j->reason);
    }
    disp_job_queue(j);
}

void disp_outbox_flush(struct disp *d)
{
    if (disp_abandoned(d) || d->outbox.head == NULL || !rconn_connected(d->rc))
        return;
    struct disp_job *j;
    while ((j = disp_fifo_pop(&d->outbox)) != NULL) {
        j->state = DISP_JOB_FINISHED;
        disp_fifo_push(&d->finished, j);
        d->n_finished++;
    }
    disp_finished_flush(d);
}
