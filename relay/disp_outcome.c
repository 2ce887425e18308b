/*
 * disp_outcome.c - the dispatcher's writes back to Redis: each outcome's
 * side effect and the stream ack land together in one MULTI/EXEC, so an
 * entry is never acked without its outcome recorded, nor recorded and left
 * unacked (short of a crash between, which reclaim turns into a duplicate,
 * never a loss). While Redis is away, finished jobs wait in an outbox and
 * are written when it returns. Counts every outcome in stats. Called by
 * dispatcher.c only.
 *
 * One transaction, by outcome (<s> = <p>{q}:in:<provider>, <e> = entry id):
 *
 *   MULTI
 *     DELIVERED, EXPIRED   (nothing)
 *     TOKEN_DEAD           HSET <p>token:<provider>:<token> ... ; EXPIRE ; ZADD <p>tokens
 *     DEAD_LETTER          XADD <p>{q}:dead MAXLEN ~ 100000 * id domain provider app
 *                               reason last_status attempts n
 *     RETRY                ZADD <p>{q}:retry <due ms> <notification JSON>
 *     XACK <s> dispatch <e>
 *     XDEL <s> <e>
 *   EXEC
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

static const char *disp_counter_name(enum pr_outcome o)
{
    switch (o) {
    case PR_OUTCOME_DELIVERED: return "delivered";
    case PR_OUTCOME_EXPIRED: return "expired";
    case PR_OUTCOME_TOKEN_DEAD: return "token_dead";
    case PR_OUTCOME_DEAD_LETTER: return "dead_lettered";
    case PR_OUTCOME_RETRY: return "retried";
    default: return NULL;
    }
}

/* disp_count_outcome adds the landed outcome of 'j' to the stats. */
static void disp_count_outcome(struct disp_job *j)
{
    struct disp *d = j->d;
    enum pr_provider p = j->decoded ? j->n.provider : j->stream;
    const char *domain = j->decoded ? j->n.domain : j->f_domain;
    stats_incr(d->stats, p, domain, disp_counter_name(j->outcome), 1);
    if (j->outcome == PR_OUTCOME_RETRY)
        return;
    if (j->decoded)
        stats_observe(d->stats, p, "e2e", pr_now_ms() - j->n.accepted_ms);
    if (j->rtt_ms >= 0)
        stats_observe(d->stats, p, "rtt", j->rtt_ms);
}

static void disp_to_outbox(struct disp_job *j)
{
    j->state = DISP_JOB_OUTBOX;
    disp_fifo_push(&j->d->outbox, j);
}

static void disp_on_exec(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct disp_job *j = arg;
    struct disp *d = j->d;
    if (d->closing) {
        disp_job_free(j);
        return;
    }
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        /* Lost or refused (LOADING, OOM, read-only replica): write it again later. */
        if (reply == NULL)
            j->write_unknown = 1;
        else if (d->outbox.head == NULL)
            pr_log_warn(DISP_MOD, "outcome write for %s refused: %s (writing again later)",
                        j->entry_id, reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected");
        if (d->abandoned)
            disp_job_free(j);
        else
            disp_to_outbox(j);
        return;
    }
    /*
     * The XACK reply tells whether the entry was still pending: 0 means it
     * was finished already, by another consumer that reclaimed it (this
     * outcome is a duplicate and must not be counted twice) or by our own
     * earlier write whose reply the connection lost (count it now).
     */
    size_t xack = reply->elements >= 2 ? reply->elements - 2 : 0;
    const redisReply *ack = reply->elements >= 2 ? reply->element[xack] : NULL;
    if (ack != NULL && ack->type == REDIS_REPLY_INTEGER && ack->integer == 0 && !j->write_unknown)
        pr_log_debug(DISP_MOD, "entry %s was already finished elsewhere (duplicate delivery)",
                     j->entry_id);
    else
        disp_count_outcome(j);
    disp_job_free(j);
}

/* disp_send_side_effect queues the outcome's own command(s) inside MULTI. */
static int disp_send_side_effect(struct disp_job *j)
{
    struct disp *d = j->d;
    char key[KEYS_MAX];
    if (j->outcome == PR_OUTCOME_TOKEN_DEAD) {
        struct token_dead t = {
            .provider = j->n.provider, .token = j->n.token, .reason = j->reason,
            .since_ms = pr_now_ms(), .provider_ts_ms = j->provider_ts_ms,
            .domain = j->n.domain, .app = j->n.app,
        };
        int rc = token_send_dead(d->rc, &d->keys, &t);
        if (rc == PR_ETOOBIG) {
            pr_log_warn(DISP_MOD, "dead token of %s too long to record", j->n.domain);
            return 0;
        }
        return rc;
    }
    if (j->outcome == PR_OUTCOME_DEAD_LETTER) {
        char status[16], attempts[16];
        if (keys_dead(&d->keys, key, sizeof(key)) < 0)
            return PR_ETOOBIG;
        snprintf(status, sizeof(status), "%d", j->last_status);
        snprintf(attempts, sizeof(attempts), "%d", j->decoded ? j->n.attempts : 0);
        const char *argv[] = {
            "XADD", key, "MAXLEN", "~", DISP_DEAD_MAXLEN, "*",
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
        if (keys_retry(&d->keys, key, sizeof(key)) < 0)
            return PR_ETOOBIG;
        snprintf(due, sizeof(due), "%lld", (long long)j->due_ms);
        const char *argv[] = { "ZADD", key, due, j->enc };
        size_t lens[] = { 4, strlen(key), strlen(due), j->enclen };
        return rconn_cmd(d->rc, NULL, NULL, 4, argv, lens);
    }
    return 0;
}

/* disp_job_write sends the job's transaction, or parks it in the outbox. */
static void disp_job_write(struct disp_job *j)
{
    struct disp *d = j->d;
    if (!rconn_connected(d->rc)) {
        disp_to_outbox(j);
        return;
    }
    const char *multi[] = { "MULTI" };
    const char *exec[] = { "EXEC" };
    const char *xack[] = { "XACK", d->stream_keys[j->stream], KEYS_GROUP, j->entry_id };
    const char *xdel[] = { "XDEL", d->stream_keys[j->stream], j->entry_id };
    /*
     * Commands on one connection are pipelined in order, so nothing else
     * can land inside the transaction. If sending fails half way the
     * connection is gone, and Redis discards the open MULTI with it.
     */
    if (rconn_cmd(d->rc, NULL, NULL, 1, multi, NULL) != 0 ||
        outcome_log_send(d->rc, &d->keys, j->decoded ? &j->n : NULL, j->outcome, j->reason,
                         j->last_status) == PR_EREDIS ||
        disp_send_side_effect(j) != 0 ||
        rconn_cmd(d->rc, NULL, NULL, 4, xack, NULL) != 0 ||
        rconn_cmd(d->rc, NULL, NULL, 3, xdel, NULL) != 0 ||
        rconn_cmd(d->rc, disp_on_exec, j, 1, exec, NULL) != 0) {
        disp_to_outbox(j);
        return;
    }
    j->state = DISP_JOB_WRITING;
}

void disp_job_finish(struct disp_job *j, enum pr_outcome o, const char *reason)
{
    j->outcome = o;
    snprintf(j->reason, sizeof(j->reason), "%s", reason != NULL ? reason : "");
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
    disp_job_write(j);
}

void disp_outbox_flush(struct disp *d)
{
    if (d->closing || d->abandoned || d->outbox.head == NULL || !rconn_connected(d->rc))
        return;
    struct disp_fifo todo = d->outbox;
    d->outbox.head = d->outbox.tail = NULL;
    struct disp_job *j;
    while ((j = disp_fifo_pop(&todo)) != NULL)
        disp_job_write(j);
}
