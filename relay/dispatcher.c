/*
 * dispatcher.c - pushrelayd's delivery loop: reads each provider stream of
 * every queue shard (<p>{q<k>}:in:<provider>, k = 0 .. S-1, keys.h) through
 * the consumer group "dispatch", reclaims entries left pending by dead
 * consumers, hands each notification to its app's provider client and
 * classifies the answer. Final writes (ack, dead letters, token records,
 * retry hand-off) are disp_outcome.c's; the retry-zset mover is
 * disp_retry.c's. Called by pushrelayd's main (dispatcher.h).
 *
 * Life of one stream entry:
 *
 *   XREADGROUP / XAUTOCLAIM
 *        |
 *        v
 *   BACKLOG --start--> decode? --no--> DEAD_LETTER "corrupt record" --.
 *                        | expired? -> EXPIRED ------------------------|
 *                        | app unknown? -> DEAD_LETTER ----------------|
 *                        v                                             |
 *                  SENDING (pclient_send; WAIT while its queue is full) |
 *                        | answer -> pr_classify                       |
 *                        |   REAUTH -> pclient_reauth; first: resend,   |
 *                        |             then as RETRY                    |
 *                        |   RETRY -> retry_next_due -> zset | DL | EXP |
 *                        v                                             |
 *                  FINISHED (waits for this loop turn's batch) <---------'
 *                        |
 *                        v
 *                  WRITING (one MULTI..XACKs XDELs..EXEC per batch) --> freed
 *                        ^   |
 *           Redis back,  |   | EXEC lost or refused,
 *           outbox timer |   | Redis down
 *                        |   v
 *                       OUTBOX
 *
 * Two Redis connections of its own: one only for the blocking XREADGROUP
 * (a BLOCK would stall everything pipelined behind it), one for writes,
 * the mover and XAUTOCLAIM.
 *
 * Reading the shards. On one Redis (direct or Sentinel) a single
 * XREADGROUP names every shard's streams and BLOCKs as long as all are
 * empty: a new entry anywhere wakes it at once. With redis.cluster no
 * command may name two shards (they live in different slots), so each
 * round is one XREADGROUP per shard, pipelined, without BLOCK (a blocked
 * command would hold its node connection); when a whole round finds
 * nothing the next one waits an idle interval doubling from
 * DISP_IDLE_MIN_MS to DISP_IDLE_MAX_MS, reset by the first entry read.
 * The cost: on an idle cluster a new notification waits up to
 * DISP_IDLE_MAX_MS (20 ms) plus one round trip before it is read, and an
 * idle dispatcher sends S reads every 20 ms (S = 64: 3,200 cheap commands/s
 * spread over the primaries); under load rounds follow each other with no
 * wait. After an upgrade the layout before shards is one more source until
 * it is drained (disp_legacy.c, one Redis only). Counters go to the process's stats buffer
 * (pushrelayd's, shared with the listener under --role all) and its
 * connection.
 *
 * In flight = every job started and not yet written back; it never exceeds
 * dispatcher.max_in_flight, except that a request its provider leaves
 * unanswered for dispatcher.stall_after_ms moves to a separate budget of
 * dispatcher.max_stalled (disp_stall.c) so that it holds up nobody. Entries
 * read beyond that wait in the backlog, which the reader keeps filled up to
 * max_in_flight more so that the next read is already on its way when
 * slots free up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "classify.h"
#include "disp_internal.h"
#include "ptoken.h"
#include "retry.h"

#define DISP_READ_BLOCK_MS "1000"
#define DISP_READ_WIDE_MAX 16
#define DISP_IDLE_MIN_MS 1
#define DISP_IDLE_MAX_MS 20
#define DISP_WAIT_RETRY_MS 20
#define DISP_READ_RETRY_MS 1000
#define DISP_OUTBOX_MS 500
#define DISP_STOP_DEADLINE_S 5

static void disp_job_start(struct disp_job *j);
static void disp_read_maybe(struct disp *d);

/* ---------------------------------------------------------------------------
 * Jobs: allocation, the (stream, entry id) index, FIFOs
 * ------------------------------------------------------------------------- */

uint32_t disp_random(struct disp *d)
{
    uint64_t x = d->rnd;                /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    d->rnd = x;
    return (uint32_t)(x >> 32);
}

static unsigned disp_id_hash(unsigned src, enum pr_provider p, const char *id)
{
    unsigned h = (2166136261u ^ (unsigned)p) + src * 16777619u;
    for (; *id; id++)
        h = (h ^ (unsigned char)*id) * 16777619u;
    return h % DISP_ID_BUCKETS;
}

static struct disp_job *disp_job_find(struct disp *d, unsigned src, enum pr_provider p,
                                      const char *id)
{
    for (struct disp_job *j = d->ids[disp_id_hash(src, p, id)]; j != NULL; j = j->hnext)
        if (j->src == src && j->stream == p && strcmp(j->entry_id, id) == 0)
            return j;
    return NULL;
}

void disp_fifo_push(struct disp_fifo *f, struct disp_job *j)
{
    j->qnext = NULL;
    if (f->tail != NULL)
        f->tail->qnext = j;
    else
        f->head = j;
    f->tail = j;
}

struct disp_job *disp_fifo_pop(struct disp_fifo *f)
{
    struct disp_job *j = f->head;
    if (j != NULL) {
        f->head = j->qnext;
        if (f->head == NULL)
            f->tail = NULL;
        j->qnext = NULL;
    }
    return j;
}

/* disp_field_copy copies string reply 'v' to 'p' (NUL-terminated); returns the byte after it. */
static char *disp_field_copy(char *p, const redisReply *v, char **out, size_t *len)
{
    memcpy(p, v->str, v->len);
    p[v->len] = '\0';
    *out = p;
    if (len != NULL)
        *len = v->len;
    return p + v->len + 1;
}

/*
 * disp_job_add makes a job for stream entry 'e' ([id, [field, value, ...]])
 * of stream 'p' and queues it in the backlog. Entries already in flight here
 * (XAUTOCLAIM hands back our own slow ones too) and deleted entries (nil
 * fields) are skipped. The fields kept ("n", "id", "domain") live in the
 * job's own allocation, after the struct.
 */
void disp_job_add(struct disp *d, unsigned src, enum pr_provider p, const redisReply *e)
{
    if (e == NULL || e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[0]->len >= DISP_ENTRY_ID_MAX)
        return;
    const redisReply *fields = e->element[1];
    if (fields->type != REDIS_REPLY_ARRAY)
        return;
    if (disp_job_find(d, src, p, e->element[0]->str) != NULL)
        return;
    const redisReply *raw = NULL, *id = NULL, *domain = NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *f = fields->element[i], *v = fields->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (raw == NULL && strcmp(f->str, "n") == 0)
            raw = v;
        else if (id == NULL && strcmp(f->str, "id") == 0)
            id = v;
        else if (domain == NULL && strcmp(f->str, "domain") == 0)
            domain = v;
    }
    /* The record's decoded strings get as many bytes again: notif_decode_view's store. */
    size_t size = sizeof(struct disp_job) + (raw ? 2 * raw->len + 1 : 0) +
                  (id ? id->len + 1 : 0) + (domain ? domain->len + 1 : 0);
    struct disp_job *j = malloc(size);
    if (j == NULL) {
        pr_log_error(DISP_MOD, "out of memory: entry %s left pending for reclaim", e->element[0]->str);
        return;
    }
    memset(j, 0, sizeof(*j));   /* the strings after it are written before they are read */
    j->d = d;
    j->src = src;
    j->stream = p;
    memcpy(j->entry_id, e->element[0]->str, e->element[0]->len + 1);
    notif_init(&j->n);
    j->rtt_ms = -1;
    char *store = (char *)(j + 1);
    if (raw != NULL)
        store = disp_field_copy(store, raw, &j->raw, &j->rawlen);
    if (id != NULL)
        store = disp_field_copy(store, id, &j->f_id, NULL);
    if (domain != NULL)
        store = disp_field_copy(store, domain, &j->f_domain, NULL);
    if (raw != NULL)
        j->nstore = store;
    j->next = d->jobs;
    if (d->jobs != NULL)
        d->jobs->prev = j;
    d->jobs = j;
    d->n_jobs++;
    unsigned h = disp_id_hash(src, p, j->entry_id);
    j->hnext = d->ids[h];
    d->ids[h] = j;
    j->state = DISP_JOB_BACKLOG;
    disp_fifo_push(&d->backlog, j);
    d->n_backlog++;
}

/* disp_job_free unlinks 'j' (which must be in no FIFO) and frees it. */
void disp_job_free(struct disp_job *j)
{
    struct disp *d = j->d;
    for (struct disp_job **pp = &d->ids[disp_id_hash(j->src, j->stream, j->entry_id)]; *pp != NULL;
         pp = &(*pp)->hnext) {
        if (*pp == j) {
            *pp = j->hnext;
            break;
        }
    }
    if (j->prev != NULL)
        j->prev->next = j->next;
    else
        d->jobs = j->next;
    if (j->next != NULL)
        j->next->prev = j->prev;
    d->n_jobs--;
    disp_slot_release(j);
    notif_view_clear(&j->n);
    free(j->enc);
    free(j);
    if (!disp_closing(d)) {
        disp_kick(d);
        disp_check_done(d);
    }
}

/* ---------------------------------------------------------------------------
 * Sending and answers
 * ------------------------------------------------------------------------- */

/* disp_client_for finds the current client of app 'app_id' serving provider 'p', or NULL. */
static struct disp_client *disp_client_for(struct disp *d, const char *app_id, enum pr_provider p)
{
    struct disp_clientset *set = d->clients;
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->clients[i].app->id, app_id) == 0)
            return set->clients[i].app->provider == p ? &set->clients[i] : NULL;
    return NULL;
}

static void disp_on_answer(void *arg, const struct pr_result *res);

/*
 * disp_job_send hands 'j' to client 'dc' of the current set; on a full
 * client queue it waits. The app's request_timeout_ms bounds how long an
 * unanswered request holds its delivery slot.
 */
static void disp_job_send(struct disp_job *j, struct disp_client *dc)
{
    struct disp *d = j->d;
    /* A request never outlives its notification's TTL: the answer would come too late. */
    int64_t left = j->n.expires_ms - pr_now_ms();
    int limit = dc->app->request_timeout_ms;     /* the config loader's default applies */
    int timeout_ms = left < limit ? (left > 1 ? (int)left : 1) : limit;
    int rc = pclient_send(dc->pc, &j->n, timeout_ms, disp_on_answer, j);
    if (rc == 0) {
        j->state = DISP_JOB_SENDING;
        j->set = d->clients;
        j->set->pending++;
        disp_stall_sent(j);
        return;
    }
    if (rc == PR_EAGAIN) {
        j->state = DISP_JOB_WAIT;
        disp_fifo_push(&d->wait, j);
        struct timeval tv = { 0, DISP_WAIT_RETRY_MS * 1000 };
        if (!evtimer_pending(d->wait_timer, NULL))
            evtimer_add(d->wait_timer, &tv);
        return;
    }
    /*
     * Any other refusal (out of memory) is transient: an attempt without
     * an answer, retried. Refusals of the notification itself (too large,
     * host not allowed) come back through the callback as PR_STATUS_LOCAL.
     */
    struct pr_result r;
    pr_result_init(&r);
    r.status = PR_STATUS_NO_ANSWER;
    snprintf(r.reason, sizeof(r.reason), "send failed: %s", pr_strerror(rc));
    j->state = DISP_JOB_SENDING;
    disp_on_answer(j, &r);
}

/* disp_job_start decides what a freshly read entry needs. */
static void disp_job_start(struct disp_job *j)
{
    struct disp *d = j->d;
    if (!j->decoded) {
        if (j->raw == NULL || notif_decode_view(j->raw, j->rawlen, &j->n, j->nstore) != 0) {
            disp_job_finish(j, PR_OUTCOME_DEAD_LETTER, "corrupt record");
            return;
        }
        j->decoded = 1;
    }
    if (pr_now_ms() >= j->n.expires_ms) {
        disp_job_finish(j, PR_OUTCOME_EXPIRED, NULL);
        return;
    }
    char reason[160];
    if (j->n.provider != j->stream) {
        snprintf(reason, sizeof(reason), "provider %s queued in the %s stream",
                 pr_provider_name(j->n.provider), pr_provider_name(j->stream));
        disp_job_finish(j, PR_OUTCOME_DEAD_LETTER, reason);
        return;
    }
    struct disp_client *dc = disp_client_for(d, j->n.app, j->n.provider);
    if (dc == NULL) {
        /* The config changed since the listener accepted it. */
        snprintf(reason, sizeof(reason), "app unknown: %.100s (%s)", j->n.app,
                 pr_provider_name(j->n.provider));
        disp_job_finish(j, PR_OUTCOME_DEAD_LETTER, reason);
        return;
    }
    disp_job_send(j, dc);
}

/*
 * disp_set_last records the answer. Its text ("200 ...") is read only by
 * retries, dead letters, dead tokens and the trace outcome log: a plain
 * delivery, nearly every answer, skips formatting and copying it.
 */
static void disp_set_last(struct disp_job *j, const struct pr_result *r, enum pr_outcome o)
{
    j->last_status = r->status;
    if (o == PR_OUTCOME_DELIVERED && !j->n.trace)
        return;
    snprintf(j->last, sizeof(j->last), "%d %s", r->status, r->reason);
    j->n.last = j->last;        /* j->n is a view (notif_decode_view): never notif_set_str */
}

/*
 * disp_set_answered counts the answer off the set its request went to; a
 * retired set that drained is freed from the loop (never from inside its
 * own client's callback).
 */
static void disp_set_answered(struct disp_job *j)
{
    struct disp_clientset *set = j->set;
    j->set = NULL;
    if (set == NULL)
        return;
    set->pending--;
    if (set != j->d->clients && set->pending == 0 && !disp_closing(j->d))
        event_active(j->d->retire_ev, EV_TIMEOUT, 0);
}

/*
 * disp_on_answer turns one provider answer into the job's next step. It
 * runs from the loop (pclient's promise), or from pclient_free while the
 * dispatcher closes.
 */
static void disp_on_answer(void *arg, const struct pr_result *res)
{
    struct disp_job *j = arg;
    struct disp *d = j->d;
    disp_set_answered(j);
    if (disp_abandoned(d)) {
        disp_job_free(j);          /* left pending: a later reclaim delivers it */
        return;
    }
    struct pr_result r = *res;
    enum pr_outcome o = pr_classify(j->n.provider, &r, j->n.accepted_ms);
    j->n.attempts++;
    disp_set_last(j, &r, o);
    j->provider_ts_ms = r.provider_ts_ms;
    j->rtt_ms = r.rtt_us > 0 ? r.rtt_us / 1000 : (r.status > 0 ? 0 : -1);

    if (o == PR_OUTCOME_REAUTH) {
        struct disp_client *dc = disp_client_for(d, j->n.app, j->n.provider);
        if (dc != NULL)
            pclient_reauth(dc->pc);
        if (!j->reauthed && dc != NULL) {
            j->reauthed = 1;
            disp_job_send(j, dc);
            return;
        }
        /*
         * Refused again with a fresh credential. A provider that restarted or
         * a token revoked in between looks the same as a bad key, so back off
         * and retry like any transient failure: a credential that stays bad
         * ends as "attempts exhausted", a passing refusal delivers.
         */
        o = PR_OUTCOME_RETRY;
    }
    if (o == PR_OUTCOME_RETRY) {
        int64_t now = pr_now_ms();
        int64_t due = retry_next_due(&d->cfg->dispatcher.retry, j->n.attempts, r.retry_after_s,
                                     now, j->n.expires_ms, disp_random(d));
        if (due == -1) {
            char reason[192];
            snprintf(reason, sizeof(reason), "attempts exhausted (%s)", j->n.last);
            disp_job_finish(j, PR_OUTCOME_DEAD_LETTER, reason);
        } else if (due < 0) {
            disp_job_finish(j, PR_OUTCOME_EXPIRED, NULL);
        } else {
            j->due_ms = due;
            disp_job_finish(j, PR_OUTCOME_RETRY, NULL);
        }
        return;
    }
    if (o == PR_OUTCOME_TOKEN_DEAD) {
        disp_job_finish(j, o, r.reason[0] ? r.reason : j->n.last);
        return;
    }
    if (o == PR_OUTCOME_DEAD_LETTER) {
        disp_job_finish(j, o, j->n.last);
        return;
    }
    disp_job_finish(j, o == PR_OUTCOME_EXPIRED ? o : PR_OUTCOME_DELIVERED, NULL);
}

/* ---------------------------------------------------------------------------
 * Pump: start backlog jobs, then read more when slots are free
 * ------------------------------------------------------------------------- */

static void disp_pump(struct disp *d)
{
    if (disp_abandoned(d))
        return;
    struct disp_job *j;
    /* Waiting jobs first: they were read earlier. A full client keeps them waiting. */
    if (d->wait.head != NULL && !evtimer_pending(d->wait_timer, NULL)) {
        struct disp_fifo again = d->wait;
        d->wait.head = d->wait.tail = NULL;
        while ((j = disp_fifo_pop(&again)) != NULL)
            disp_job_start(j);
    }
    while (d->n_active < d->cfg->dispatcher.max_in_flight &&
           (j = disp_fifo_pop(&d->backlog)) != NULL) {
        d->n_backlog--;
        disp_slot_take(j);
        disp_job_start(j);
    }
    disp_read_maybe(d);
}

static void disp_on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    disp_pump(arg);
}

void disp_kick(struct disp *d)
{
    event_active(d->kick, EV_TIMEOUT, 0);
}

static void disp_on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    disp_finished_flush(arg);
}

/* disp_stream_of finds the source and provider of the stream named 'name' in a reply; 0 or -1. */
static int disp_stream_of(const struct disp *d, const redisReply *name, unsigned *src,
                          enum pr_provider *p)
{
    if (name == NULL || name->type != REDIS_REPLY_STRING)
        return -1;
    /* The old layout's names too: a read sent before it drained may still answer. */
    for (unsigned s = 0; s <= d->n_shards; s++)
        for (int q = 0; q < PR_PROVIDER_COUNT; q++)
            if (strlen(d->src[s].stream[q]) == name->len &&
                memcmp(d->src[s].stream[q], name->str, name->len) == 0) {
                *src = s;
                *p = (enum pr_provider)q;
                return 0;
            }
    return -1;
}

unsigned disp_job_shard(const struct disp_job *j)
{
    if (j->src < j->d->n_shards)
        return j->src;
    if (!j->decoded || j->n.token == NULL)
        return 0;
    return keys_shard_of(&j->d->keys, j->n.provider, j->n.token, strlen(j->n.token));
}

/*
 * disp_take_streams queues the entries of an XREADGROUP reply ([[stream,
 * [entry, ...]], ...]) and returns how many there were.
 */
static long disp_take_streams(struct disp *d, const redisReply *reply)
{
    long got = 0;
    for (size_t s = 0; reply->type == REDIS_REPLY_ARRAY && s < reply->elements; s++) {
        const redisReply *st = reply->element[s];
        unsigned src;
        enum pr_provider p;
        if (st->type != REDIS_REPLY_ARRAY || st->elements != 2 ||
            disp_stream_of(d, st->element[0], &src, &p) != 0 ||
            st->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        for (size_t i = 0; i < st->element[1]->elements; i++)
            disp_job_add(d, src, p, st->element[1]->element[i]);
        got += (long)st->element[1]->elements;
    }
    return got;
}

/* disp_read_error handles an error reply to XREADGROUP: NOGROUP recreates the groups. */
static void disp_read_error(struct disp *d, const redisReply *reply)
{
    pr_log_warn(DISP_MOD, "XREADGROUP: %s", reply->str);
    if (strncmp(reply->str, "NOGROUP", 7) == 0) {
        d->groups_ready = 0;
        disp_groups_create(d);
    } else if (!evtimer_pending(d->read_retry, NULL)) {
        struct timeval tv = { DISP_READ_RETRY_MS / 1000, (DISP_READ_RETRY_MS % 1000) * 1000 };
        evtimer_add(d->read_retry, &tv);
    }
}

/* The reply to the one blocking XREADGROUP over every shard (one Redis). */
static void disp_on_read(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct disp *d = arg;
    d->reading = 0;
    if (disp_closing(d))
        return;
    if (reply == NULL)
        goto out;               /* connection lost: the state callback re-arms */
    if (reply->type == REDIS_REPLY_ERROR) {
        disp_read_error(d, reply);
        goto out;
    }
    disp_take_streams(d, reply);
    /* Entries read while stopping still run: the stop deadline bounds them. */
    if (!disp_abandoned(d))
        disp_kick(d);
out:
    disp_check_done(d);
}

/*
 * The reply to one shard's XREADGROUP of a per-shard round (Redis Cluster).
 * When the round's last reply is in: something read, read again at once;
 * nothing anywhere, wait an idle interval that doubles from
 * DISP_IDLE_MIN_MS up to DISP_IDLE_MAX_MS (reset by the next entry).
 */
static void disp_on_shard_read(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct disp *d = arg;
    d->reading--;
    if (disp_closing(d))
        return;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        disp_read_error(d, reply);
    else if (reply != NULL)
        d->read_got += disp_take_streams(d, reply);
    if (d->reading > 0 || reply == NULL)
        goto out;
    if (d->read_got > 0) {
        d->idle_ms = 0;
    } else {
        d->idle_ms = d->idle_ms == 0 ? DISP_IDLE_MIN_MS
                                     : (d->idle_ms * 2 > DISP_IDLE_MAX_MS ? DISP_IDLE_MAX_MS
                                                                         : d->idle_ms * 2);
        struct timeval tv = { 0, d->idle_ms * 1000 };
        evtimer_add(d->read_idle, &tv);
    }
    if (!disp_abandoned(d))
        disp_kick(d);
out:
    disp_check_done(d);
}

long disp_room(const struct disp *d)
{
    return 2L * d->cfg->dispatcher.max_in_flight - d->n_active - d->n_backlog;
}

/*
 * disp_read_count: COUNT for each stream of a read over 'n_src' sources.
 * COUNT applies per stream, so the room is split over the sources; with
 * one busy shard among many an exact share would starve it, so a share
 * may grow up to four times the room's split, to at most
 * DISP_READ_WIDE_MAX. A read can thus bring more than the room (at most
 * about providers x (4 x room + sources) entries): the surplus waits in the
 * backlog (pending under this consumer, not yet in flight) and starts as
 * slots free up.
 */
static long disp_read_count(long room, unsigned n_src)
{
    long n = (long)n_src;
    long per = (room + n - 1) / n, wide = (4 * room + n - 1) / n;
    if (wide > DISP_READ_WIDE_MAX)
        wide = DISP_READ_WIDE_MAX;
    return per > wide ? per : wide;
}

/*
 * disp_read_maybe reads more when there is room (disp_room), so the next
 * entries are on their way while the current ones are sent. One Redis:
 * one XREADGROUP naming every shard's provider streams, with BLOCK (asking
 * every stream each time keeps the BLOCK from waiting on an empty stream
 * while another has work). Redis Cluster: one XREADGROUP per shard (its
 * streams share a slot), pipelined, without BLOCK. One read (or round) at
 * a time.
 */
static void disp_read_maybe(struct disp *d)
{
    if (d->reading || disp_stopping(d) || !d->groups_ready || !rconn_connected(d->rc_read) ||
        evtimer_pending(d->read_idle, NULL))
        return;
    long room = disp_room(d);
    if (room <= 0)
        return;
    unsigned n = disp_n_src(d);
    char count[24];
    snprintf(count, sizeof(count), "%ld", disp_read_count(room, n));
    if (d->per_shard) {
        d->read_got = 0;
        for (unsigned s = 0; s < n; s++) {
            const char *argv[7 + 2 * PR_PROVIDER_COUNT] = {
                "XREADGROUP", "GROUP", KEYS_GROUP, d->consumer, "COUNT", count, "STREAMS",
            };
            int argc = 7;
            for (int p = 0; p < PR_PROVIDER_COUNT; p++)
                argv[argc++] = d->src[s].stream[p];
            for (int p = 0; p < PR_PROVIDER_COUNT; p++)
                argv[argc++] = ">";
            if (rconn_cmd(d->rc_read, disp_on_shard_read, d, argc, argv, NULL) != 0)
                break;          /* connection lost: the state callback re-arms */
            d->reading++;
        }
        return;
    }
    size_t max = 9 + 2 * (size_t)PR_PROVIDER_COUNT * n;
    const char **argv = malloc(max * sizeof(*argv));
    if (argv == NULL)
        return;                 /* the next kick tries again */
    int argc = 0;
    const char *head[] = { "XREADGROUP", "GROUP", KEYS_GROUP, d->consumer, "COUNT", count,
                           "BLOCK", DISP_READ_BLOCK_MS, "STREAMS" };
    for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
        argv[argc++] = head[i];
    for (unsigned s = 0; s < n; s++)
        for (int p = 0; p < PR_PROVIDER_COUNT; p++)
            argv[argc++] = d->src[s].stream[p];
    for (unsigned s = 0; s < n; s++)
        for (int p = 0; p < PR_PROVIDER_COUNT; p++)
            argv[argc++] = ">";
    if (rconn_cmd(d->rc_read, disp_on_read, d, argc, argv, NULL) == 0)
        d->reading = 1;
    free(argv);
}

static void disp_on_wait_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    disp_pump(arg);
}

static void disp_on_read_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct disp *d = arg;
    if (!d->groups_ready) {
        if (rconn_connected(d->rc_read) && !disp_stopping(d))
            disp_groups_create(d);
        return;
    }
    disp_read_maybe(d);
}

/* ---------------------------------------------------------------------------
 * Consumer group setup (every time the reading connection comes up)
 * ------------------------------------------------------------------------- */

static void disp_on_group(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)rc;
    struct disp *d = arg;
    d->groups_pending--;
    if (disp_closing(d))
        return;
    if (reply == NULL)
        d->groups_failed++;     /* lost: the next connection creates them again */
    else if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "BUSYGROUP", 9) != 0) {
        if (d->groups_failed == 0)
            pr_log_warn(DISP_MOD, "XGROUP CREATE: %s", reply->str);
        d->groups_failed++;
    }
    if (d->groups_pending > 0)
        return;
    if (d->groups_failed > 0) {
        /* LOADING after a Redis restart, for one: try again shortly. */
        struct timeval tv = { DISP_READ_RETRY_MS / 1000, (DISP_READ_RETRY_MS % 1000) * 1000 };
        if (reply != NULL)
            evtimer_add(d->read_retry, &tv);
        return;
    }
    d->groups_ready = 1;
    pr_log_info(DISP_MOD, "consumer %s reading %u shard%s x %d provider streams%s%s", d->consumer,
                d->n_shards, d->n_shards == 1 ? "" : "s", PR_PROVIDER_COUNT,
                d->per_shard ? " (one read per shard: Redis Cluster)" : "",
                d->legacy == DISP_LEGACY_DRAINING ? ", and the pre-shard streams" : "");
    disp_kick(d);
}

/*
 * disp_groups_create makes group "dispatch" on each stream of every source
 * at id 0, so that entries queued before the first dispatcher ever started
 * are read too; BUSYGROUP (it exists) is the normal answer after the first
 * time.
 */
void disp_groups_create(struct disp *d)
{
    if (d->groups_pending > 0)
        return;
    d->groups_failed = 0;
    unsigned n = disp_n_src(d);
    for (unsigned s = 0; s < n; s++)
        for (int p = 0; p < PR_PROVIDER_COUNT; p++) {
            const char *argv[] = { "XGROUP", "CREATE", d->src[s].stream[p], KEYS_GROUP, "0",
                                   "MKSTREAM" };
            if (rconn_cmd(d->rc_read, disp_on_group, d, 6, argv, NULL) == 0)
                d->groups_pending++;
        }
}

static void disp_on_read_state(struct rconn *rc, int connected, void *arg)
{
    (void)rc;
    struct disp *d = arg;
    if (disp_closing(d))
        return;
    d->groups_ready = 0;
    if (!connected || disp_stopping(d))
        return;
    /* On one Redis, look for the pre-shard layout first: its streams get groups too. */
    if (d->per_shard || d->legacy != DISP_LEGACY_NONE || disp_legacy_check(d) != 0)
        disp_groups_create(d);
}

static void disp_on_write_state(struct rconn *rc, int connected, void *arg)
{
    (void)rc;
    struct disp *d = arg;
    if (disp_closing(d))
        return;
    if (connected && d->outbox.head != NULL) {
        pr_log_info(DISP_MOD, "Redis reachable again: writing the outcomes kept meanwhile");
        disp_outbox_flush(d);
    }
}

static void disp_on_outbox_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    disp_outbox_flush(arg);
}

/* ---------------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------------- */

/*
 * disp_clients_free frees 'set' and its clients; requests still pending on
 * them complete first ("shutdown"), so it is only used when the set drained
 * or the dispatcher closes.
 */
static void disp_clients_free(struct disp_clientset *set)
{
    if (set == NULL)
        return;
    for (size_t i = 0; i < set->n; i++)
        pclient_free(set->clients[i].pc);
    free(set->clients);
    free(set);
}

static int disp_clients_new(struct event_base *base, const struct cfg *cfg, struct ptoken *pt,
                            struct disp_clientset **out)
{
    struct disp_clientset *set = calloc(1, sizeof(*set));
    if (set == NULL)
        return PR_ENOMEM;
    set->clients = calloc(cfg->n_apps ? cfg->n_apps : 1, sizeof(*set->clients));
    if (set->clients == NULL) {
        free(set);
        return PR_ENOMEM;
    }
    for (; set->n < cfg->n_apps; set->n++) {
        struct disp_client *dc = &set->clients[set->n];
        dc->app = &cfg->apps[set->n];
        int rc = pclient_new(base, dc->app, &dc->pc);
        if (rc != 0) {
            pr_log_error(DISP_MOD, "app %s: provider client refused (%s)", dc->app->id,
                         pr_strerror(rc));
            disp_clients_free(set);
            return PR_ECONFIG;
        }
        pclient_share_tokens(dc->pc, pt);
    }
    *out = set;
    return 0;
}

int disp_set_consumer(struct disp *d, const char *name)
{
    if (strlen(name) >= sizeof(d->consumer))
        return PR_EINVAL;
    strcpy(d->consumer, name);
    return 0;
}

/* The retire_ev callback: free every retired set whose requests all answered. */
static void disp_on_retire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct disp *d = arg;
    struct disp_clientset **pp = &d->retired;
    while (*pp != NULL) {
        struct disp_clientset *set = *pp;
        if (set->pending > 0) {
            pp = &set->next;
            continue;
        }
        *pp = set->next;
        disp_clients_free(set);
        pr_log_info(DISP_MOD, "reload: the previous provider clients drained and closed");
    }
}

static void disp_on_deadline(evutil_socket_t fd, short what, void *arg);
static void disp_on_done(evutil_socket_t fd, short what, void *arg);

int disp_new(struct event_base *base, const struct cfg *cfg, const struct keys *keys,
             struct stats *stats, struct disp **out)
{
    struct disp *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return PR_ENOMEM;
    int rc = PR_ENOMEM;
    d->base = base;
    d->cfg = cfg;
    d->rnd = ((uint64_t)pr_now_ms() << 20) ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)d;
    if (d->rnd == 0)
        d->rnd = 88172645463325252ull;
    snprintf(d->consumer, sizeof(d->consumer), "%s-%ld", cfg->node_id ? cfg->node_id : "relay",
             (long)getpid());
    d->keys = *keys;
    d->stats = stats;
    /* redis.shards is part of the data layout: the configuration's, whoever built 'keys'. */
    rc = PR_ECONFIG;
    if (keys_set_shards(&d->keys, cfg->redis.shards) != 0)
        goto fail;
    d->n_shards = d->keys.shards;
    d->per_shard = cfg->redis.n_cluster > 0;
    rc = PR_ENOMEM;
    if ((d->src = calloc(d->n_shards + 1, sizeof(*d->src))) == NULL ||
        (d->by_src = calloc(d->n_shards + 1, sizeof(*d->by_src))) == NULL ||
        (d->touched = calloc(d->n_shards + 1, sizeof(*d->touched))) == NULL)
        goto fail;
    rc = PR_ECONFIG;
    for (unsigned s = 0; s <= d->n_shards; s++) {
        struct disp_src *src = &d->src[s];
        int legacy = s == d->n_shards;
        src->shard = s;
        for (int p = 0; p < PR_PROVIDER_COUNT; p++) {
            enum pr_provider pv = (enum pr_provider)p;
            if ((legacy ? keys_stream(&d->keys, pv, src->stream[p], DISP_KEY_MAX)
                        : keys_q_stream(&d->keys, s, pv, src->stream[p], DISP_KEY_MAX)) < 0)
                goto fail;
            strcpy(src->claim_cursor[p], "0-0");
        }
        if ((legacy ? keys_retry(&d->keys, src->retry, DISP_KEY_MAX)
                    : keys_q_retry(&d->keys, s, src->retry, DISP_KEY_MAX)) < 0 ||
            (legacy ? keys_dead(&d->keys, src->dead, DISP_KEY_MAX)
                    : keys_q_dead(&d->keys, s, src->dead, DISP_KEY_MAX)) < 0)
            goto fail;
    }
    rc = PR_ENOMEM;
    if ((d->kick = event_new(base, -1, 0, disp_on_kick, d)) == NULL ||
        (d->flush_ev = event_new(base, -1, 0, disp_on_flush, d)) == NULL ||
        (d->wait_timer = evtimer_new(base, disp_on_wait_timer, d)) == NULL ||
        (d->read_retry = evtimer_new(base, disp_on_read_retry, d)) == NULL ||
        (d->read_idle = evtimer_new(base, disp_on_read_retry, d)) == NULL ||
        (d->outbox_timer = event_new(base, -1, EV_PERSIST, disp_on_outbox_timer, d)) == NULL ||
        (d->stop_deadline = evtimer_new(base, disp_on_deadline, d)) == NULL ||
        (d->done_ev = event_new(base, -1, 0, disp_on_done, d)) == NULL ||
        (d->retire_ev = event_new(base, -1, 0, disp_on_retire, d)) == NULL)
        goto fail;
    if ((rc = ptoken_new(base, &cfg->redis, &d->ptoken)) != 0 ||
        (rc = disp_clients_new(base, cfg, d->ptoken, &d->clients)) != 0)
        goto fail;
    if ((rc = rconn_new(base, &cfg->redis, "pushrelay-dispatch-read", disp_on_read_state, d,
                        &d->rc_read)) != 0 ||
        (rc = rconn_new(base, &cfg->redis, "pushrelay-dispatch", disp_on_write_state, d,
                        &d->rc)) != 0)
        goto fail;

    struct timeval outbox_tv = { 0, DISP_OUTBOX_MS * 1000 };
    event_add(d->outbox_timer, &outbox_tv);
    if ((rc = disp_reclaim_start(d)) != 0 || (rc = disp_stall_start(d)) != 0)
        goto fail;
    disp_mover_start(d);
    *out = d;
    return 0;
fail:
    disp_free(d);
    return rc;
}

void disp_phase_enter(struct disp *d, enum disp_phase phase)
{
    if (phase > d->phase)
        d->phase = phase;
}

/* disp_check_done finishes a stop once nothing is in flight any more. */
void disp_check_done(struct disp *d)
{
    if (!disp_stopping(d) || d->done == NULL || disp_closing(d))
        return;
    if (disp_abandoned(d) || (d->n_jobs == 0 && !d->reading && d->reclaiming == 0))
        event_active(d->done_ev, EV_TIMEOUT, 0);
}

static void disp_on_stats_synced(void *arg)
{
    struct disp *d = arg;
    void (*done)(void *) = d->done;
    void *done_arg = d->done_arg;
    if (disp_closing(d) || done == NULL)
        return;                 /* disp_free came first: its caller knows */
    d->done = NULL;
    done(done_arg);             /* may free 'd' */
}

static void disp_on_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct disp *d = arg;
    if (d->done == NULL || d->phase >= DISP_STOPPED)
        return;
    disp_phase_enter(d, DISP_STOPPED);
    event_del(d->stop_deadline);
    if (d->n_jobs > 0)
        pr_log_warn(DISP_MOD, "stopped with %ld notifications unfinished: left pending for reclaim",
                    d->n_jobs);
    else
        pr_log_info(DISP_MOD, "stopped: nothing in flight");
    /* The last second of counters must land before the connection goes. */
    stats_sync(d->stats, disp_on_stats_synced, d);
}

static void disp_on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct disp *d = arg;
    disp_phase_enter(d, DISP_ABANDONED);
    /* Jobs not yet with a client are simply dropped: their entries stay pending. */
    struct disp_job *j;
    d->n_backlog = 0;
    while ((j = disp_fifo_pop(&d->backlog)) != NULL)
        disp_job_free(j);
    while ((j = disp_fifo_pop(&d->wait)) != NULL)
        disp_job_free(j);
    disp_finished_drop(d);
    while ((j = disp_fifo_pop(&d->outbox)) != NULL)
        disp_job_free(j);
    disp_check_done(d);
}

void disp_stop(struct disp *d, void (*done)(void *arg), void *arg)
{
    if (disp_stopping(d))
        return;
    disp_phase_enter(d, DISP_STOPPING);
    d->done = done;
    d->done_arg = arg;
    disp_reclaim_stop(d);
    disp_mover_stop(d);
    pr_log_info(DISP_MOD, "stopping: %ld notifications in flight", d->n_jobs);
    struct timeval tv = { DISP_STOP_DEADLINE_S, 0 };
    evtimer_add(d->stop_deadline, &tv);
    disp_check_done(d);
}

/*
 * disp_reload swaps in the clients of 'cfg'. Requests in flight stay on the
 * clients that sent them until answered (restarting them on new clients
 * would deliver those the provider already had twice); the retired set is
 * freed once drained. A retired client never reads its app again, so the
 * previous configuration may be freed as soon as this returns.
 */
int disp_reload(struct disp *d, const struct cfg *cfg)
{
    struct disp_clientset *set = NULL;
    int rc = disp_clients_new(d->base, cfg, d->ptoken, &set);
    if (rc != 0)
        return rc;
    if (strcmp(cfg->redis.prefix ? cfg->redis.prefix : "pr:", d->keys.prefix) != 0 ||
        cfg->redis.port != d->cfg->redis.port || (unsigned)cfg->redis.shards != d->n_shards)
        pr_log_warn(DISP_MOD, "reload: redis settings changed; they apply at the next start");
    struct disp_clientset *old = d->clients;
    long draining = old->pending;
    for (struct disp_clientset *r = d->retired; r != NULL; r = r->next)
        draining += r->pending;
    d->clients = set;
    d->cfg = cfg;
    for (size_t i = 0; i < old->n; i++)
        old->clients[i].app = NULL;
    old->next = d->retired;
    d->retired = old;
    event_active(d->retire_ev, EV_TIMEOUT, 0);
    pr_log_info(DISP_MOD, "reloaded: %zu apps; %ld requests in flight finish on the clients "
                "that sent them", set->n, draining);
    disp_kick(d);
    return 0;
}

void disp_get_stats(const struct disp *d, struct disp_stats *out)
{
    out->in_flight = d->n_active;
    out->stalled = d->n_stalled;
    out->redis_connected = rconn_connected(d->rc) && rconn_connected(d->rc_read);
    out->providers_ready = 1;
    for (size_t i = 0; i < d->clients->n; i++)
        if (!pclient_ready(d->clients->clients[i].pc))
            out->providers_ready = 0;
}

void disp_free(struct disp *d)
{
    if (d == NULL)
        return;
    disp_phase_enter(d, DISP_CLOSING);
    disp_mover_stop(d);
    disp_reclaim_stop(d);
    /* Clients first: their pending callbacks free their jobs. */
    disp_clients_free(d->clients);
    d->clients = NULL;
    while (d->retired != NULL) {
        struct disp_clientset *set = d->retired;
        d->retired = set->next;
        disp_clients_free(set);
    }
    ptoken_free(d->ptoken);
    struct rconn *conns[] = { d->rc, d->rc_read };
    for (size_t i = 0; i < sizeof(conns) / sizeof(conns[0]); i++)
        if (conns[i] != NULL)
            rconn_free(conns[i]);
    d->backlog.head = d->backlog.tail = NULL;
    d->wait.head = d->wait.tail = NULL;
    d->outbox.head = d->outbox.tail = NULL;
    d->finished.head = d->finished.tail = NULL;
    d->n_backlog = 0;
    d->n_finished = 0;
    while (d->jobs != NULL)
        disp_job_free(d->jobs);
    disp_stall_stop(d);
    struct event *evs[] = { d->kick, d->flush_ev, d->wait_timer, d->read_retry, d->reclaim_timer,
                            d->sweep_timer, d->mover_timer, d->outbox_timer, d->stop_deadline,
                            d->done_ev, d->retire_ev, d->read_idle };
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i] != NULL)
            event_free(evs[i]);
    free(d->src);
    free(d->by_src);
    free(d->touched);
    free(d);
}
