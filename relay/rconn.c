/*
 * rconn.c - a self-healing asynchronous Redis connection (see rconn.h).
 *
 * Life of a connection:
 *
 *     DOWN --connect--> CONNECTING --every handshake reply as expected--> READY
 *      ^                   |                                                |
 *      |                   | error reply, or no READY within the deadline   | LOADING, READONLY,
 *      |                   v                                                | MASTERDOWN reply
 *      +--- backoff <------+----------- disconnect <------------ CLOSING <--+
 *                                            ^                              |
 *                                            +---- connection lost ---------+
 *
 * The handshake is pipelined, one round trip:
 *
 *     AUTH <password>      (when configured)   +OK       else RCONN_AUTH
 *     SELECT <db>          (when db != 0)      +OK       else RCONN_SELECT
 *     CLIENT SETNAME <n>                       +OK
 *     PING                                     +PONG     (-LOADING, -BUSY, -MASTERDOWN...)
 *     ROLE                                     "master"  else RCONN_READONLY
 *
 * Any other answer fails the attempt with a reason (logged once per change
 * of reason, not per attempt) and the connection is dropped and retried.
 * Commands are refused outside READY so that callers (the listener above
 * all) answer "503 try later" at once instead of piling work onto a socket
 * that may never come back. Backoff grows from 100 ms to 5 s while Redis
 * cannot be reached, but stays at most 1 s while it answers and is not
 * ready yet: a restart with a large dataset is followed within about a
 * second of its end.
 *
 * With redis.cluster the rconn a caller holds routes commands over one
 * such connection per primary: see "Cluster mode" below.
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <hiredis/adapters/libevent.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "rcluster.h"
#include "rconn.h"

#define RCONN_BACKOFF_MIN_MS 100
#define RCONN_BACKOFF_MAX_MS 5000
#define RCONN_BACKOFF_ALIVE_MS 1000     /* cap while Redis answers but is not ready */
#define RCONN_HANDSHAKE_MS 5000         /* connect + handshake, or the attempt is dropped */
#define RCONN_ROLE_CHECK_MS 2000        /* a READY connection asks ROLE this often */

enum rconn_state { RCONN_S_DOWN, RCONN_S_CONNECTING, RCONN_S_READY, RCONN_S_CLOSING };

struct rconn_cluster;

struct rconn {
    struct event_base *base;
    struct cfg_redis cfg_copy;      /* own copy: survives configuration reloads */
    const struct cfg_redis *cfg;    /* &cfg_copy */
    char name[64];
    redisAsyncContext *ac;
    enum rconn_state state;
    enum rconn_reason reason;       /* RCONN_READY in READY, else why not */
    int hs_failed;                  /* this attempt's handshake already failed */
    char host[256];                 /* the Redis used: redis.host, or the primary a sentinel named */
    int port;
    /* Sentinel mode (cfg->n_sentinels > 0), see "Finding the primary" below. */
    redisAsyncContext *sac;         /* the sentinel being asked, then watched */
    int sac_watching;               /* sac answered and is subscribed to +switch-master */
    size_t sentinel_next;           /* index of the sentinel to ask next */
    size_t sentinel_failed;         /* sentinels that failed in a row */
    int primary_fresh;              /* host/port just came from a sentinel: connect, do not ask */
    int role_denied;                /* ACL refuses ROLE: logged once, primary assumed */
    struct event *sentinel_ev;      /* asks the next sentinel outside hiredis callbacks */
    struct event *retry_ev;
    struct event *deadline_ev;      /* bounds CONNECTING */
    struct event *role_ev;          /* persistent: re-checks ROLE while READY */
    int backoff_ms;
    int pending;
    int freeing;
    rconn_state_cb state_cb;
    void *state_arg;
    /* Cluster mode: the router has 'cl'; each primary's connection has 'parent'. */
    struct rconn_cluster *cl;
    struct rconn *parent;
    int written;                    /* a node: written since the last WAIT */
};

/* One in-flight command: the caller's callback and argument. */
struct rconn_call {
    struct rconn *rc;
    rconn_reply_cb cb;
    void *arg;
};

static void rconn_connect(struct rconn *rc);
static void rconn_connect_primary(struct rconn *rc);
static void rconn_cl_saw_error(struct rconn *rc, const char *err);
static void rconn_cl_deadline(struct rconn *rc);
static void rconn_drop_now(struct rconn *rc);

static void rconn_set_state(struct rconn *rc, enum rconn_state st)
{
    int was_ready = rc->state == RCONN_S_READY;
    rc->state = st;
    if (rc->state_cb != NULL && was_ready != (st == RCONN_S_READY) && !rc->freeing)
        rc->state_cb(rc, st == RCONN_S_READY, rc->state_arg);
}

static const char *const rconn_reason_texts[] = {
#define RCONN__TEXT(name, text) [RCONN_##name] = text,
    RCONN_REASON_MAP(RCONN__TEXT)
#undef RCONN__TEXT
};

const char *rconn_reason_text(enum rconn_reason r)
{
    if ((size_t)r >= sizeof(rconn_reason_texts) / sizeof(rconn_reason_texts[0]))
        return "in an unknown state";
    return rconn_reason_texts[r];
}

static enum rconn_reason rconn_cl_reason(const struct rconn *rc);
static const char *rconn_cl_addr(const struct rconn *rc, char *buf, size_t len);

enum rconn_reason rconn_reason(const struct rconn *rc)
{
    return rc->cl != NULL ? rconn_cl_reason(rc) : rc->reason;
}

const char *rconn_addr(const struct rconn *rc, char *buf, size_t len)
{
    if (rc->cl != NULL)
        return rconn_cl_addr(rc, buf, len);
    if (rc->host[0] == '\0')
        snprintf(buf, len, "(sentinel master \"%s\")", rc->cfg->master_name);
    else
        snprintf(buf, len, strchr(rc->host, ':') != NULL ? "[%s]:%d" : "%s:%d", rc->host, rc->port);
    return buf;
}

/*
 * rconn_error_reason maps an error reply that says "this Redis cannot take
 * our writes now" to its reason; RCONN_READY for any other error.
 */
static enum rconn_reason rconn_error_reason(const char *err)
{
    static const struct {
        const char *prefix;
        enum rconn_reason reason;
    } map[] = {
        { "LOADING", RCONN_LOADING },       { "BUSY", RCONN_BUSY },
        { "MASTERDOWN", RCONN_MASTERDOWN }, { "READONLY", RCONN_READONLY },
        { "NOAUTH", RCONN_AUTH },           { "WRONGPASS", RCONN_AUTH },
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        size_t n = strlen(map[i].prefix);
        if (strncmp(err, map[i].prefix, n) == 0 && (err[n] == ' ' || err[n] == '\0'))
            return map[i].reason;
    }
    return RCONN_READY;
}

/*
 * rconn_note records why the connection is not usable and logs it, once per
 * change of reason: a Redis loading for a minute is one line, not sixty.
 * 'detail' is Redis's own words or the socket error; may be NULL.
 */
static void rconn_note(struct rconn *rc, enum rconn_reason reason, const char *detail)
{
    if (rc->freeing)
        return;
    char addr[300];
    rconn_addr(rc, addr, sizeof(addr));
    if (reason != rc->reason)
        pr_log_warn("rconn", "%s: Redis %s %s%s%s; retrying", rc->name, addr,
                    rconn_reason_text(reason), detail != NULL ? ": " : "",
                    detail != NULL ? detail : "");
    else
        pr_log_debug("rconn", "%s: Redis %s still %s", rc->name, addr, rconn_reason_text(reason));
    rc->reason = reason;
}

/* A Redis that answers but is not ready yet is asked again soon, whatever the backoff. */
static int rconn_alive_reason(enum rconn_reason r)
{
    return r == RCONN_LOADING || r == RCONN_BUSY || r == RCONN_MASTERDOWN ||
           r == RCONN_READONLY || r == RCONN_TIMEOUT || r == RCONN_NOPRIMARY;
}

static void rconn_schedule_retry(struct rconn *rc)
{
    if (rc->freeing)
        return;
    int ms = rc->backoff_ms;
    if (rconn_alive_reason(rc->reason) && ms > RCONN_BACKOFF_ALIVE_MS)
        ms = RCONN_BACKOFF_ALIVE_MS;
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    evtimer_del(rc->deadline_ev);
    evtimer_add(rc->retry_ev, &tv);
    rc->backoff_ms *= 2;
    if (rc->backoff_ms > RCONN_BACKOFF_MAX_MS)
        rc->backoff_ms = RCONN_BACKOFF_MAX_MS;
}

static void rconn_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rconn_connect(arg);
}

/*
 * rconn_saw_error (see rconn.h): an established connection whose Redis now
 * answers LOADING, READONLY or MASTERDOWN is no longer talking to a usable
 * primary (a restart with data, a failover). Stop sending, let the replies
 * already on their way arrive, then hand-shake again.
 */
void rconn_saw_error(struct rconn *rc, const char *err)
{
    if (rc->cl != NULL) {
        rconn_cl_saw_error(rc, err);
        return;
    }
    if (err == NULL || rc->state != RCONN_S_READY)
        return;
    enum rconn_reason why = rconn_error_reason(err);
    if (why != RCONN_LOADING && why != RCONN_READONLY && why != RCONN_MASTERDOWN)
        return;
    rconn_note(rc, why, err);
    rconn_set_state(rc, RCONN_S_CLOSING);
    if (rc->ac != NULL)
        redisAsyncDisconnect(rc->ac);   /* in a hiredis callback: deferred until replies are in */
}

static void rconn_check_reply(struct rconn *rc, const redisReply *r)
{
    if (r != NULL && r->type == REDIS_REPLY_ERROR)
        rconn_saw_error(rc, r->str);
}

static void rconn_call_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    struct rconn_call *call = privdata;
    call->rc->pending--;
    rconn_check_reply(call->rc, r);
    if (call->cb != NULL)
        call->cb(call->rc, r, call->arg);
    free(call);
}

/* rconn_nocb_cb completes a command sent without a callback: no allocation per command. */
static void rconn_nocb_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    struct rconn *rc = privdata;
    rc->pending--;
    rconn_check_reply(rc, r);
}

static size_t rconn_digits(size_t n)
{
    size_t d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* rconn_put_header writes "<prefix><n>\r\n" at 'p' and returns the byte after it. */
static char *rconn_put_header(char *p, char prefix, size_t n)
{
    size_t d = rconn_digits(n);
    *p++ = prefix;
    for (size_t i = d; i > 0; i--) {
        p[i - 1] = (char)('0' + n % 10);
        n /= 10;
    }
    p += d;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/*
 * rconn_send writes the command in the Redis protocol itself and hands
 * hiredis the finished bytes: hiredis' own argv formatting builds each
 * header with sdscatfmt and reallocates as it goes, a visible share of a
 * busy dispatcher's time. Commands shorter than RCONN_FMT_STACK bytes need no
 * allocation for formatting at all.
 */
#define RCONN_FMT_STACK 4096

static int rconn_send(struct rconn *rc, rconn_reply_cb cb, void *arg, int argc,
                      const char **argv, const size_t *argvlen)
{
    size_t total = 1 + rconn_digits((size_t)argc) + 2;
    for (int i = 0; i < argc; i++) {
        size_t len = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
        total += 1 + rconn_digits(len) + 2 + len + 2;
    }
    /*
     * One byte more than the command, set: hiredis (0.14) looks at the byte
     * after a command's first argument to see whether another follows, and
     * for a one-word command (PING, ROLE, MULTI, EXEC, ASKING) that is the
     * byte past its end.
     */
    char stack[RCONN_FMT_STACK];
    char *buf = total < sizeof(stack) ? stack : malloc(total + 1);
    if (buf == NULL)
        return PR_ENOMEM;
    char *p = rconn_put_header(buf, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        size_t len = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
        p = rconn_put_header(p, '$', len);
        memcpy(p, argv[i], len);
        p += len;
        *p++ = '\r';
        *p++ = '\n';
    }
    *p = '\0';
    int rv = PR_EREDIS;
    struct rconn_call *call = NULL;
    if (cb != NULL) {
        if ((call = malloc(sizeof(*call))) == NULL) {
            rv = PR_ENOMEM;
            goto out;
        }
        call->rc = rc;
        call->cb = cb;
        call->arg = arg;
    }
    if (redisAsyncFormattedCommand(rc->ac, call != NULL ? rconn_call_cb : rconn_nocb_cb,
                                   call != NULL ? (void *)call : (void *)rc, buf,
                                   total) != REDIS_OK) {
        free(call);
        goto out;
    }
    rc->pending++;
    rv = 0;
out:
    if (buf != stack)
        free(buf);
    return rv;
}

/* The handshake steps, in send order; the reply callback's argument. */
enum rconn_step { RCONN_STEP_AUTH, RCONN_STEP_SELECT, RCONN_STEP_SETNAME, RCONN_STEP_PING,
                  RCONN_STEP_ROLE };
static const char *const rconn_step_names[] = { "AUTH", "SELECT", "CLIENT SETNAME", "PING", "ROLE" };
/* Stable addresses to pass a step through hiredis' void * argument. */
static const enum rconn_step rconn_steps[] = { RCONN_STEP_AUTH, RCONN_STEP_SELECT,
                                               RCONN_STEP_SETNAME, RCONN_STEP_PING,
                                               RCONN_STEP_ROLE };

/*
 * rconn_hs_fail fails this attempt with 'reason': logged once, the
 * connection dropped (once the replies already sent for arrive) and retried.
 */
static void rconn_hs_fail(struct rconn *rc, enum rconn_reason reason, const char *detail)
{
    if (rc->hs_failed)
        return;
    rc->hs_failed = 1;
    rconn_note(rc, reason, detail);
    if (rc->ac != NULL)
        redisAsyncDisconnect(rc->ac);
}

/* rconn_role_is_master: ROLE's first element is "master" on a primary. */
static int rconn_role_is_master(const redisReply *r)
{
    return r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
           r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "master") == 0;
}

/*
 * A primary can be demoted under an established connection (REPLICAOF, a
 * failover whose announcement was missed). A connection that only reads
 * would never be told, so every READY connection asks ROLE now and then and
 * treats "not master" like a -READONLY reply.
 */
static void rconn_role_check_cb(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)arg;
    if (reply == NULL)
        return;
    if (reply->type == REDIS_REPLY_ERROR)
        rconn_saw_error(rc, reply->str);
    else if (!rconn_role_is_master(reply))
        rconn_saw_error(rc, "READONLY ROLE: this Redis is no longer the primary");
}

static void rconn_role_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct rconn *rc = arg;
    const char *role[] = { "ROLE" };
    if (rc->state == RCONN_S_READY && rc->ac != NULL && !rc->role_denied)
        rconn_send(rc, rconn_role_check_cb, NULL, 1, role, NULL);
}

/*
 * rconn_hs_cb checks one handshake reply. The connection is READY after
 * ROLE, the last step, only if no step before it failed.
 */
static void rconn_hs_cb(struct rconn *rc, redisReply *reply, void *arg)
{
    enum rconn_step step = *(const enum rconn_step *)arg;
    char detail[160];

    if (reply == NULL || rc->hs_failed)
        return;     /* lost: the disconnect callback retries */
    /* ROLE is an @admin command: a least-privilege ACL user may not run it.
     * Then the primary cannot be confirmed, only assumed (said once). */
    int role_denied = step == RCONN_STEP_ROLE && reply->type == REDIS_REPLY_ERROR &&
                      strncmp(reply->str, "NOPERM", 6) == 0;
    if (role_denied && !rc->role_denied) {
        rc->role_denied = 1;
        pr_log_warn("rconn", "%s: ROLE refused (%s): cannot confirm that Redis is the primary",
                    rc->name, reply->str);
    }
    /* The name only labels CLIENT LIST: an ACL that forbids it is no reason to stop. */
    if (step == RCONN_STEP_SETNAME && reply->type == REDIS_REPLY_ERROR &&
        rconn_error_reason(reply->str) == RCONN_READY)
        return;
    if (reply->type == REDIS_REPLY_ERROR && !role_denied) {
        enum rconn_reason why = rconn_error_reason(reply->str);
        if (why == RCONN_READY)
            why = step == RCONN_STEP_AUTH ? RCONN_AUTH
                : step == RCONN_STEP_SELECT ? RCONN_SELECT : RCONN_PROTOCOL;
        snprintf(detail, sizeof(detail), "%s: %s", rconn_step_names[step], reply->str);
        rconn_hs_fail(rc, why, detail);
        return;
    }
    if (step == RCONN_STEP_PING &&
        (reply->type != REDIS_REPLY_STATUS || strcasecmp(reply->str, "PONG") != 0)) {
        rconn_hs_fail(rc, RCONN_PROTOCOL, "PING: no PONG");
        return;
    }
    if (step != RCONN_STEP_ROLE)
        return;
    if (!role_denied && !rconn_role_is_master(reply)) {
        rconn_hs_fail(rc, RCONN_READONLY, "ROLE: not master");
        return;
    }
    evtimer_del(rc->deadline_ev);
    rc->backoff_ms = RCONN_BACKOFF_MIN_MS;
    char addr[300];
    rconn_addr(rc, addr, sizeof(addr));
    if (rc->reason != RCONN_CONNECTING)
        pr_log_info("rconn", "%s: connected to Redis %s (was %s)", rc->name, addr,
                    rconn_reason_text(rc->reason));
    else
        pr_log_info("rconn", "%s: connected to Redis %s", rc->name, addr);
    rc->reason = RCONN_READY;
    rconn_set_state(rc, RCONN_S_READY);
}

static void rconn_connect_cb(const redisAsyncContext *ac, int status)
{
    struct rconn *rc = ac->data;
    if (status != REDIS_OK) {
        rc->ac = NULL; /* hiredis frees the context after this callback */
        rconn_note(rc, RCONN_UNREACHABLE, ac->errstr);
        rconn_set_state(rc, RCONN_S_DOWN);
        rconn_schedule_retry(rc);
        return;
    }
    if (rc->cfg->password != NULL && rc->cfg->password[0] != '\0') {
        const char *argv[] = { "AUTH", rc->cfg->password };
        rconn_send(rc, rconn_hs_cb, (void *)&rconn_steps[RCONN_STEP_AUTH], 2, argv, NULL);
    }
    if (rc->cfg->db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", rc->cfg->db);
        const char *argv[] = { "SELECT", db };
        rconn_send(rc, rconn_hs_cb, (void *)&rconn_steps[RCONN_STEP_SELECT], 2, argv, NULL);
    }
    const char *setname[] = { "CLIENT", "SETNAME", rc->name };
    const char *ping[] = { "PING" };
    const char *role[] = { "ROLE" };
    if (rconn_send(rc, rconn_hs_cb, (void *)&rconn_steps[RCONN_STEP_SETNAME], 3, setname, NULL) != 0 ||
        rconn_send(rc, rconn_hs_cb, (void *)&rconn_steps[RCONN_STEP_PING], 1, ping, NULL) != 0 ||
        rconn_send(rc, rconn_hs_cb, (void *)&rconn_steps[RCONN_STEP_ROLE], 1, role, NULL) != 0)
        rconn_hs_fail(rc, RCONN_PROTOCOL, "cannot send the handshake");
}

static void rconn_disconnect_cb(const redisAsyncContext *ac, int status)
{
    struct rconn *rc = ac->data;
    /* status is REDIS_OK when we dropped it ourselves, the reason already noted */
    if (status != REDIS_OK)
        rconn_note(rc, RCONN_UNREACHABLE, ac->errstr);
    rc->ac = NULL;
    rconn_set_state(rc, RCONN_S_DOWN);
    rconn_schedule_retry(rc);
}

/*
 * rconn_deadline_cb: CONNECTING lasted RCONN_HANDSHAKE_MS (a Redis stopped
 * mid-handshake, a blackholed address). Drop the attempt and start over.
 */
/*
 * rconn_drop_now frees the data connection at once; never call it from one
 * of its own callbacks. Pending callbacks get NULL and the retry is
 * scheduled (by the disconnect callback once connected, else here).
 */
static void rconn_drop_now(struct rconn *rc)
{
    redisAsyncContext *ac = rc->ac;
    if (ac == NULL)
        return;
    rc->hs_failed = 1;
    int was_connected = (ac->c.flags & REDIS_CONNECTED) != 0;
    /* Callers learn first, so that what their callbacks (run with NULL
     * replies by the free) try to send is refused rather than lost. */
    if (rc->state == RCONN_S_READY)
        rconn_set_state(rc, RCONN_S_CLOSING);
    redisAsyncFree(ac);
    if (!was_connected) {
        rc->ac = NULL;
        rconn_set_state(rc, RCONN_S_DOWN);
        rconn_schedule_retry(rc);
    }
}

static void rconn_sentinel_failed(struct rconn *rc, redisAsyncContext *ac, int in_cb,
                                  const char *why);

/*
 * rconn_deadline_cb: CONNECTING lasted RCONN_HANDSHAKE_MS (a Redis stopped
 * mid-handshake, a blackholed address, a sentinel that does not answer).
 * Drop the attempt and start over.
 */
static void rconn_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct rconn *rc = arg;
    if (rc->cl != NULL) {
        rconn_cl_deadline(rc);
        return;
    }
    if (rc->sac != NULL && !rc->sac_watching) {
        rconn_sentinel_failed(rc, rc->sac, 0, "no answer in time");
        return;
    }
    if (rc->state != RCONN_S_CONNECTING || rc->ac == NULL)
        return;
    rconn_note(rc, RCONN_TIMEOUT, NULL);
    rconn_drop_now(rc);     /* outside any hiredis callback: free at once */
}

/* ------------------------------------------------------------------------
 * Finding the primary through Sentinel
 *
 * With redis.sentinels every attempt to connect starts by asking a
 * sentinel, in turn, on a connection of its own (sac):
 *
 *     AUTH <sentinel_password>                        (when configured)
 *     SENTINEL get-master-addr-by-name <master_name>  -> [ip, port] or nil
 *     SUBSCRIBE +switch-master                        (once it named one)
 *
 * The answer is connected to and must pass the handshake (ROLE master: a
 * sentinel may still name a demoted primary during a failover). The sentinel
 * that answered stays subscribed, so a failover is followed the moment it is
 * announced rather than when the old primary's connection times out. A
 * sentinel that fails (unreachable, error, nil, no answer in time) passes
 * the turn to the next; when all failed the reason is RCONN_NOPRIMARY and
 * the round is retried after the usual backoff (at most 1 s). A watching
 * sentinel that is lost is replaced by the next one, without touching a
 * working primary connection.
 * ------------------------------------------------------------------------ */

static int rconn_sentinel_mode(const struct rconn *rc) { return rc->cfg->n_sentinels > 0; }

/*
 * rconn_side_close closes a question connection (rconn_side_ask) the
 * caller has already forgotten: at once, or, from inside one of its own
 * callbacks ('in_cb'), once hiredis has returned from it. NULL is fine.
 */
static void rconn_side_close(redisAsyncContext *ac, int in_cb)
{
    if (ac == NULL)
        return;
    if (in_cb)
        redisAsyncDisconnect(ac);
    else
        redisAsyncFree(ac);
}

/* rconn_sentinel_drop forgets 'ac' (the sac): closed at once, or after this callback. */
static void rconn_sentinel_drop(struct rconn *rc, redisAsyncContext *ac, int in_cb)
{
    if (ac == rc->sac) {
        rc->sac = NULL;
        rc->sac_watching = 0;
    }
    rconn_side_close(ac, in_cb);
}

/*
 * rconn_sentinel_failed: sentinel 'ac' could not name the primary. Ask the
 * next one, or after a whole round without an answer, retry later.
 */
static void rconn_sentinel_failed(struct rconn *rc, redisAsyncContext *ac, int in_cb,
                                  const char *why)
{
    const struct cfg_endpoint *s = &rc->cfg->sentinels[rc->sentinel_next];
    pr_log_debug("rconn", "%s: sentinel %s:%u: %s", rc->name, s->host, s->port, why);
    rconn_sentinel_drop(rc, ac, in_cb);
    evtimer_del(rc->deadline_ev);
    rc->sentinel_next = (rc->sentinel_next + 1) % rc->cfg->n_sentinels;
    if (++rc->sentinel_failed < rc->cfg->n_sentinels) {
        event_active(rc->sentinel_ev, EV_TIMEOUT, 0);
        return;
    }
    rc->sentinel_failed = 0;
    if (rc->state == RCONN_S_READY || rc->ac != NULL) {
        /* Only the watch is lost (the primary connection lives, or is being
         * made and retries on its own): look for a sentinel again later. */
        struct timeval tv = { RCONN_BACKOFF_ALIVE_MS / 1000, 0 };
        evtimer_add(rc->sentinel_ev, &tv);
        return;
    }
    char detail[200];
    snprintf(detail, sizeof(detail), "none of %zu sentinels named a primary for \"%s\" (last: %s)",
             rc->cfg->n_sentinels, rc->cfg->master_name, why);
    rconn_note(rc, RCONN_NOPRIMARY, detail);
    rconn_set_state(rc, RCONN_S_DOWN);
    rconn_schedule_retry(rc);
}

/*
 * rconn_primary_named: a sentinel says the primary is 'host':'port'. Use
 * it now unless the connection already uses exactly it.
 */
static void rconn_primary_named(struct rconn *rc, const char *host, int port, const char *how)
{
    int same = strcmp(host, rc->host) == 0 && port == rc->port;
    if (same && rc->state != RCONN_S_DOWN)
        return;     /* READY on it, or already connecting to it */
    if (!same)
        pr_log_info("rconn", "%s: %s: primary of \"%s\" is %s:%d", rc->name, how,
                    rc->cfg->master_name, host, port);
    snprintf(rc->host, sizeof(rc->host), "%s", host);
    rc->port = port;
    rc->primary_fresh = 1;
    if (rc->ac != NULL) {
        rc->reason = RCONN_CONNECTING;  /* a move, not a failure: logged above */
        rconn_drop_now(rc); /* the old primary; the retry connects to the new one */
        return;
    }
    evtimer_del(rc->retry_ev);
    rc->backoff_ms = RCONN_BACKOFF_MIN_MS;
    rconn_connect_primary(rc);
}

/* The subscription: "+switch-master <name> <old ip> <old port> <new ip> <new port>". */
static void rconn_sentinel_msg_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct rconn *rc = privdata;
    redisReply *reply = r;
    char name[128], oldip[64], newip[64];
    int oldport, newport;

    if (ac != rc->sac || rc->freeing || reply == NULL)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        rconn_sentinel_failed(rc, ac, 1, reply->str);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(reply->element[0]->str, "message") != 0 ||
        reply->element[2]->type != REDIS_REPLY_STRING)
        return;     /* the subscribe confirmation */
    if (sscanf(reply->element[2]->str, "%127s %63s %d %63s %d", name, oldip, &oldport, newip,
               &newport) != 5 ||
        strcmp(name, rc->cfg->master_name) != 0)
        return;
    rconn_primary_named(rc, newip, newport, "sentinel announced a failover");
}

/* SENTINEL get-master-addr-by-name: [ip, port], or nil when it knows no such master. */
static void rconn_sentinel_addr_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct rconn *rc = privdata;
    redisReply *reply = r;

    if (ac != rc->sac || rc->freeing)
        return;
    if (reply == NULL)
        return;     /* lost: the disconnect callback passes the turn on */
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_STRING) {
        rconn_sentinel_failed(rc, ac, 1, reply->type == REDIS_REPLY_ERROR ? reply->str
                                         : "it knows no primary by that name");
        return;
    }
    int port = atoi(reply->element[1]->str);
    if (port <= 0 || port > 65535 || reply->element[0]->len >= sizeof(rc->host)) {
        rconn_sentinel_failed(rc, ac, 1, "it named a bad address");
        return;
    }
    const char *sub[] = { "SUBSCRIBE", "+switch-master" };
    if (redisAsyncCommandArgv(ac, rconn_sentinel_msg_cb, rc, 2, sub, NULL) != REDIS_OK) {
        rconn_sentinel_failed(rc, ac, 1, "cannot subscribe to +switch-master");
        return;
    }
    rc->sac_watching = 1;
    rc->sentinel_failed = 0;
    evtimer_del(rc->deadline_ev);
    rconn_primary_named(rc, reply->element[0]->str, port, "sentinel");
}

/* AUTH to the sentinel: only a refusal matters. */
static void rconn_sentinel_auth_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct rconn *rc = privdata;
    redisReply *reply = r;
    if (ac == rc->sac && !rc->freeing && reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        char why[160];
        snprintf(why, sizeof(why), "AUTH: %s", reply->str);
        rconn_sentinel_failed(rc, ac, 1, why);
    }
}

static void rconn_sentinel_connect_cb(const redisAsyncContext *ac, int status)
{
    struct rconn *rc = ac->data;
    if (status != REDIS_OK && (redisAsyncContext *)ac == rc->sac && !rc->freeing) {
        rc->sac = NULL;     /* hiredis frees it after this callback */
        rconn_sentinel_failed(rc, NULL, 1, ac->errstr);
    }
}

static void rconn_sentinel_disconnect_cb(const redisAsyncContext *ac, int status)
{
    (void)status;
    struct rconn *rc = ac->data;
    if ((redisAsyncContext *)ac != rc->sac || rc->freeing)
        return;     /* one we dropped ourselves */
    rc->sac = NULL;
    rconn_sentinel_failed(rc, NULL, 1, "connection lost");
}

/*
 * rconn_side_ask opens a connection beside the command connection, to ask
 * one question: a sentinel for the primary, a cluster node for the slot
 * map. It is attached to the loop with 'on_up'/'on_down', its context
 * stored in '*slot' before anything is queued (the callbacks look there),
 * AUTH 'password' sent first when set, then 'argv', answered to 'on_reply'.
 * Returns 0; RCONN_SIDE_UNSTARTED with 'why' when no connection could be
 * made ('*slot' untouched); RCONN_SIDE_UNSENT when the question could not
 * be queued ('*slot' holds the context, for the caller to drop).
 */
#define RCONN_SIDE_UNSTARTED (-1)
#define RCONN_SIDE_UNSENT (-2)
static int rconn_side_ask(struct rconn *rc, const char *host, int port,
                          redisConnectCallback *on_up, redisDisconnectCallback *on_down,
                          const char *password, redisCallbackFn *on_auth, int argc,
                          const char **argv, redisCallbackFn *on_reply, redisAsyncContext **slot,
                          char *why, size_t whylen)
{
    redisAsyncContext *ac = redisAsyncConnect(host, port);
    if (ac == NULL || ac->err) {
        snprintf(why, whylen, "%s", ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        return RCONN_SIDE_UNSTARTED;
    }
    ac->data = rc;
    *slot = ac;
    redisLibeventAttach(ac, rc->base);
    redisAsyncSetConnectCallback(ac, on_up);
    redisAsyncSetDisconnectCallback(ac, on_down);
    int ok = 1;
    if (password != NULL && password[0] != '\0') {
        const char *auth[] = { "AUTH", password };
        ok = redisAsyncCommandArgv(ac, on_auth, rc, 2, auth, NULL) == REDIS_OK;
    }
    if (!ok || redisAsyncCommandArgv(ac, on_reply, rc, argc, argv, NULL) != REDIS_OK) {
        snprintf(why, whylen, "cannot send the question");
        return RCONN_SIDE_UNSENT;
    }
    return 0;
}

/* rconn_sentinel_ask opens sac to the next sentinel and asks it for the primary. */
static void rconn_sentinel_ask(struct rconn *rc)
{
    const struct cfg_endpoint *s = &rc->cfg->sentinels[rc->sentinel_next];
    rconn_sentinel_drop(rc, rc->sac, 0);
    const char *get[] = { "SENTINEL", "get-master-addr-by-name", rc->cfg->master_name };
    char why[200];
    int st = rconn_side_ask(rc, s->host, s->port, rconn_sentinel_connect_cb,
                            rconn_sentinel_disconnect_cb, rc->cfg->sentinel_password,
                            rconn_sentinel_auth_cb, 3, get, rconn_sentinel_addr_cb, &rc->sac, why,
                            sizeof(why));
    if (st != 0) {
        rconn_sentinel_failed(rc, st == RCONN_SIDE_UNSENT ? rc->sac : NULL, 0, why);
        return;
    }
    struct timeval tv = { RCONN_HANDSHAKE_MS / 1000, (RCONN_HANDSHAKE_MS % 1000) * 1000 };
    evtimer_add(rc->deadline_ev, &tv);
}

static void rconn_sentinel_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct rconn *rc = arg;
    if (!rc->freeing)
        rconn_sentinel_ask(rc);
}

/* ------------------------------------------------------------------------
 * Cluster mode (redis.cluster)
 *
 * The rconn a caller holds is a router; the connections are its nodes,
 * ordinary rconns to one primary each (handshake, backoff, ROLE checks):
 *
 *     router --slot of the key--> by_map[owner[slot]] = node rconn --> primary A
 *        |                                              node rconn --> primary B
 *        +-- mac: a short-lived connection asking one node CLUSTER SLOTS
 *
 * A command's life (each is kept whole, argv copied, so it can be resent):
 *
 *     rconn_cmd --> node of the slot --reply--+-- MOVED: map read again; resent to the node named
 *                                             +-- ASK: ASKING + resent to the node named
 *                                             +-- else (or RCONN_CL_REDIRECTS reached): the caller
 *
 * A transaction (MULTI ... EXEC) goes whole to the node of its first keyed
 * command, MULTI held until then; a redirect inside it is not followed
 * (Redis then fails the EXEC with EXECABORT, the caller's error path).
 *
 * The map is read at start (the seeds in turn), after a MOVED (from the
 * node it named, which knows), a CLUSTERDOWN / TRYAGAIN or a lost node, and
 * every RCONN_CL_TICK_MS while the cluster is not whole: a failover is
 * over for us when the map names the promoted replica. One read at a time;
 * wishes meanwhile are coalesced into one more.
 * ------------------------------------------------------------------------ */

#define RCONN_CL_REDIRECTS 5        /* MOVED/ASK followed per command; then the caller sees it */
#define RCONN_CL_TICK_MS 1000       /* map read again this often while not whole */
#define RCONN_CL_SOON_MS 20         /* a wanted read waits this long: one read for a burst of MOVEDs */
#define RCONN_CL_GAP_MS 250         /* and starts at least this long after the last one: every
                                       CLUSTERDOWN of a failover wants one, from every process */
#define RCONN_CL_ASK_MS 2000        /* CLUSTER SLOTS must answer within this */

struct rconn_cluster {
    struct rcluster_map *map;       /* NULL until a node answered */
    struct rconn **by_map;          /* by_map[i]: the connection to map->nodes[i] */
    struct rconn **nodes;           /* every node connection (a MOVED may name one the map lacks) */
    size_t n_nodes;
    int whole;                      /* what the caller was last told */
    redisAsyncContext *mac;         /* asking CLUSTER SLOTS */
    char mac_host[256];
    int mac_port;
    char prefer_host[256];          /* ask this node next (a MOVED named it) */
    int prefer_port;
    int again;                      /* a read was wanted while one was in flight */
    struct timeval last_read;       /* when the last read started */
    size_t ask_next;                /* rotates over the candidates after a failure */
    struct event *tick_ev;
    /* The open transaction: MULTI is held until a command names its node. */
    int in_multi;
    int multi_failed;               /* a command of it could not be sent */
    int multi_sent;                 /* MULTI went out (to multi_node, unless that was dropped) */
    struct rconn *multi_node;       /* the node of the transaction; NULL: not chosen or dropped */
    rconn_reply_cb multi_cb;
    void *multi_arg;
    int wait_lost;                  /* a node written since the last WAIT was dropped */
    struct rconn *cur_node;         /* the node whose reply the caller is handling */
    struct rconn_cluster_stats stats;
};

/* One command in cluster mode, kept whole (one allocation) so that a redirect can resend it. */
struct rconn_ccall {
    struct rconn *rc;               /* the router */
    rconn_reply_cb cb;
    void *arg;
    int redirects;
    int in_tx;                      /* inside MULTI: redirects are not followed */
    int argc;
    size_t *argvlen;                /* into this allocation */
    const char **argv;
};

/* A WAIT sent to several primaries: the smallest count is the answer, any failure fails it. */
struct rconn_cwait {
    struct rconn *rc;
    rconn_reply_cb cb;
    void *arg;
    int outstanding;
    long long min;
    int lost;                       /* a part answered NULL */
    char err[160];                  /* the first part's error, "" if none */
};

static int rconn__alloc(struct event_base *base, const struct cfg_redis *redis, const char *name,
                        rconn_state_cb state_cb, void *state_arg, struct rconn **out);

/* rconn_cl_want_map asks for the slot map to be read soon (coalesced). */
static void rconn_cl_want_map(struct rconn *rc)
{
    if (rc->freeing)
        return;
    if (rc->cl->mac != NULL) {
        rc->cl->again = 1;
        return;
    }
    if (evtimer_pending(rc->retry_ev, NULL))
        return;     /* a read is due anyway (possibly after a backoff) */
    struct timeval now, since;
    event_base_gettimeofday_cached(rc->base, &now);
    evutil_timersub(&now, &rc->cl->last_read, &since);
    long long ms = RCONN_CL_GAP_MS - ((long long)since.tv_sec * 1000 + since.tv_usec / 1000);
    if (ms < RCONN_CL_SOON_MS)
        ms = RCONN_CL_SOON_MS;
    if (ms > RCONN_CL_GAP_MS)
        ms = RCONN_CL_GAP_MS;   /* the clock went back */
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
    evtimer_add(rc->retry_ev, &tv);
}

/* rconn_cl_whole: the map serves every slot and each of its primaries is READY. */
static int rconn_cl_whole(const struct rconn *rc)
{
    const struct rconn_cluster *cl = rc->cl;
    if (cl->map == NULL || cl->map->covered != RCLUSTER_SLOTS)
        return 0;
    for (size_t i = 0; i < cl->map->n_nodes; i++)
        if (!rconn_connected(cl->by_map[i]))
            return 0;
    return 1;
}

/* rconn_cl_update tells the caller when the cluster became whole or stopped being so. */
static void rconn_cl_update(struct rconn *rc)
{
    int whole = rconn_cl_whole(rc);
    if (rc->freeing || whole == rc->cl->whole)
        return;
    rc->cl->whole = whole;
    char addr[400];
    rconn_addr(rc, addr, sizeof(addr));
    if (whole)
        pr_log_info("rconn", "%s: connected to Redis %s", rc->name, addr);
    else
        pr_log_warn("rconn", "%s: Redis %s %s; waiting for it", rc->name, addr,
                    rconn_reason_text(rconn_reason(rc)));
    if (rc->state_cb != NULL)
        rc->state_cb(rc, whole, rc->state_arg);
}

static void rconn_cl_node_state_cb(struct rconn *node, int connected, void *arg)
{
    (void)node;
    struct rconn *rc = arg;
    if (!connected)
        rconn_cl_want_map(rc);      /* a lost primary: failed over? */
    rconn_cl_update(rc);
}

/* rconn_cl_node: the connection to 'host':'port', made when 'create' and there is none. */
static struct rconn *rconn_cl_node(struct rconn *rc, const char *host, unsigned port, int create)
{
    struct rconn_cluster *cl = rc->cl;
    for (size_t i = 0; i < cl->n_nodes; i++)
        if ((unsigned)cl->nodes[i]->port == port && strcmp(cl->nodes[i]->host, host) == 0)
            return cl->nodes[i];
    if (!create)
        return NULL;
    struct rconn **nodes = realloc(cl->nodes, (cl->n_nodes + 1) * sizeof(*nodes));
    if (nodes == NULL)
        return NULL;
    cl->nodes = nodes;
    struct cfg_redis c = *rc->cfg;
    c.host = (char *)host;
    c.port = (int)port;
    c.n_cluster = 0;        /* a plain connection: AUTH, CLIENT SETNAME, PING, ROLE (db is 0) */
    c.n_sentinels = 0;
    struct rconn *n;
    if (rconn__alloc(rc->base, &c, rc->name, rconn_cl_node_state_cb, rc, &n) != 0)
        return NULL;
    n->parent = rc;
    nodes[cl->n_nodes++] = n;
    rconn_connect(n);
    return n;
}

/* rconn_cl_any: a READY node for a command without keys, or NULL. */
static struct rconn *rconn_cl_any(struct rconn *rc)
{
    for (size_t i = 0; i < rc->cl->n_nodes; i++)
        if (rconn_connected(rc->cl->nodes[i]))
            return rc->cl->nodes[i];
    return NULL;
}

/* rconn_cl_route: the node that serves the command (by its key's slot), or NULL. */
static struct rconn *rconn_cl_route(struct rconn *rc, int argc, const char **argv,
                                    const size_t *argvlen)
{
    const struct rconn_cluster *cl = rc->cl;
    int k = rcluster_cmd_key(argc, argv, argvlen);
    if (cl->map == NULL)
        return NULL;
    if (k < 0)
        return rconn_cl_any(rc);
    unsigned slot = rcluster_key_slot(argv[k], argvlen != NULL ? argvlen[k] : strlen(argv[k]));
    uint16_t owner = cl->map->owner[slot];
    return owner == RCLUSTER_NO_NODE ? NULL : cl->by_map[owner];
}

/*
 * rconn_cl_apply makes 'm' the slot map: a connection for each primary
 * (kept when it has one), and the connections to nodes no longer in it
 * dropped (their pending commands answered NULL). Takes 'm'.
 */
static int rconn_cl_apply(struct rconn *rc, struct rcluster_map *m)
{
    struct rconn_cluster *cl = rc->cl;
    struct rconn **by_map = calloc(m->n_nodes > 0 ? m->n_nodes : 1, sizeof(*by_map));
    struct rconn **gone = calloc(cl->n_nodes > 0 ? cl->n_nodes : 1, sizeof(*gone));
    size_t n_gone = 0;
    if (by_map == NULL || gone == NULL)
        goto nomem;
    for (size_t i = 0; i < m->n_nodes; i++)
        if ((by_map[i] = rconn_cl_node(rc, m->nodes[i].host, m->nodes[i].port, 1)) == NULL)
            goto nomem;
    int changed = cl->map == NULL || cl->map->n_nodes != m->n_nodes;
    for (size_t s = 0; s < RCLUSTER_SLOTS && !changed; s++) {
        uint16_t o = cl->map->owner[s], n = m->owner[s];
        changed = (o == RCLUSTER_NO_NODE) != (n == RCLUSTER_NO_NODE) ||
                  (o != RCLUSTER_NO_NODE && cl->by_map[o] != by_map[n]);
    }
    rcluster_map_free(cl->map);
    free(cl->by_map);
    cl->map = m;
    cl->by_map = by_map;
    cl->stats.map_reads++;
    cl->stats.primaries = m->n_nodes;
    if (changed)
        pr_log_info("rconn", "%s: cluster slot map from %s:%d: %zu primaries, %zu of %d slots served",
                    rc->name, cl->mac_host, cl->mac_port, m->n_nodes, m->covered, RCLUSTER_SLOTS);

    /* Out of the list first: callbacks run by the frees below may send again. */
    size_t keep = 0;
    for (size_t i = 0; i < cl->n_nodes; i++) {
        int used = 0;
        for (size_t j = 0; j < m->n_nodes && !used; j++)
            used = by_map[j] == cl->nodes[i];
        if (used)
            cl->nodes[keep++] = cl->nodes[i];
        else
            gone[n_gone++] = cl->nodes[i];
    }
    cl->n_nodes = keep;
    for (size_t i = 0; i < n_gone; i++) {
        char addr[300];
        if (gone[i]->written)
            cl->wait_lost = 1;      /* its writes can no longer be confirmed by WAIT */
        if (gone[i] == cl->multi_node) {
            cl->multi_node = NULL;
            cl->multi_failed = 1;
        }
        pr_log_info("rconn", "%s: %s is no longer a primary of the cluster", rc->name,
                    rconn_addr(gone[i], addr, sizeof(addr)));
        rconn_free(gone[i]);
    }
    free(gone);
    rconn_cl_update(rc);
    return 0;
nomem:
    free(by_map);
    free(gone);
    rcluster_map_free(m);
    return PR_ENOMEM;
}

/* rconn_cl_mac_drop forgets the map read's connection: closed at once, or after this callback. */
static void rconn_cl_mac_drop(struct rconn *rc, int in_cb)
{
    redisAsyncContext *ac = rc->cl->mac;
    rc->cl->mac = NULL;
    rconn_side_close(ac, in_cb);
}

/* rconn_cl_ask_failed: the node asked gave no map; ask the next candidate after the backoff. */
static void rconn_cl_ask_failed(struct rconn *rc, int in_cb, const char *why)
{
    struct rconn_cluster *cl = rc->cl;
    char detail[400];
    snprintf(detail, sizeof(detail), "CLUSTER SLOTS at %s:%d: %s", cl->mac_host, cl->mac_port, why);
    rconn_cl_mac_drop(rc, in_cb);
    evtimer_del(rc->deadline_ev);
    cl->ask_next++;
    cl->again = 0;
    if (cl->map == NULL)
        rconn_note(rc, RCONN_NOSLOTMAP, detail);
    else
        pr_log_debug("rconn", "%s: %s", rc->name, detail);
    rconn_schedule_retry(rc);
}

static void rconn_cl_slots_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct rconn *rc = privdata;
    redisReply *reply = r;
    struct rcluster_map *m = NULL;

    if (rc->freeing || ac != rc->cl->mac || reply == NULL)
        return;     /* lost: the disconnect callback tries the next node */
    int err = reply->type == REDIS_REPLY_ERROR ? PR_EREDIS
                                               : rcluster_map_parse(reply, rc->cl->mac_host, &m);
    if (err != 0) {
        rconn_cl_ask_failed(rc, 1, reply->type == REDIS_REPLY_ERROR ? reply->str
                                   : "an answer that is not a slot map");
        return;
    }
    evtimer_del(rc->deadline_ev);
    rconn_cl_mac_drop(rc, 1);
    rc->backoff_ms = RCONN_BACKOFF_MIN_MS;
    rc->reason = RCONN_READY;
    if (rconn_cl_apply(rc, m) != 0)
        rc->cl->again = 1;
    if (rc->cl->again) {
        rc->cl->again = 0;
        rconn_cl_want_map(rc);
    }
}

static void rconn_cl_auth_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct rconn *rc = privdata;
    redisReply *reply = r;
    if (!rc->freeing && ac == rc->cl->mac && reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        char why[200];
        snprintf(why, sizeof(why), "AUTH: %s", reply->str);
        rconn_cl_ask_failed(rc, 1, why);
    }
}

static void rconn_cl_mac_connect_cb(const redisAsyncContext *ac, int status)
{
    struct rconn *rc = ac->data;
    if (status != REDIS_OK && !rc->freeing && (redisAsyncContext *)ac == rc->cl->mac) {
        rc->cl->mac = NULL;     /* hiredis frees it after this callback */
        rconn_cl_ask_failed(rc, 1, ac->errstr);
    }
}

static void rconn_cl_mac_disconnect_cb(const redisAsyncContext *ac, int status)
{
    (void)status;
    struct rconn *rc = ac->data;
    if (rc->freeing || (redisAsyncContext *)ac != rc->cl->mac)
        return;     /* one we dropped ourselves */
    rc->cl->mac = NULL;
    rconn_cl_ask_failed(rc, 1, "connection lost");
}

/*
 * rconn_cl_read_map asks one node for the slot map: the node a MOVED named,
 * else a connected primary (its view is as fresh as any), else, in turn,
 * every known node and seed.
 */
static void rconn_cl_read_map(struct rconn *rc)
{
    struct rconn_cluster *cl = rc->cl;
    const char *host = NULL;
    int port = 0;

    if (cl->mac != NULL) {
        cl->again = 1;
        return;
    }
    if (cl->prefer_host[0] != '\0') {
        struct rconn *n = rconn_cl_node(rc, cl->prefer_host, (unsigned)cl->prefer_port, 0);
        if (n != NULL && rconn_connected(n)) {
            host = n->host;
            port = n->port;
        }
        cl->prefer_host[0] = '\0';
    }
    size_t n_ready = 0;
    for (size_t i = 0; i < cl->n_nodes; i++)
        n_ready += rconn_connected(cl->nodes[i]) != 0;
    for (size_t i = 0, k = 0; host == NULL && i < cl->n_nodes; i++)
        if (rconn_connected(cl->nodes[i]) && k++ == cl->ask_next % n_ready) {
            host = cl->nodes[i]->host;
            port = cl->nodes[i]->port;
        }
    if (host == NULL) {
        size_t at = cl->ask_next % (cl->n_nodes + rc->cfg->n_cluster);
        if (at < cl->n_nodes) {
            host = cl->nodes[at]->host;
            port = cl->nodes[at]->port;
        } else {
            host = rc->cfg->cluster[at - cl->n_nodes].host;
            port = rc->cfg->cluster[at - cl->n_nodes].port;
        }
    }
    snprintf(cl->mac_host, sizeof(cl->mac_host), "%s", host);
    cl->mac_port = port;
    cl->again = 0;
    event_base_gettimeofday_cached(rc->base, &cl->last_read);

    const char *slots[] = { "CLUSTER", "SLOTS" };
    char why[200];
    if (rconn_side_ask(rc, cl->mac_host, port, rconn_cl_mac_connect_cb, rconn_cl_mac_disconnect_cb,
                       rc->cfg->password, rconn_cl_auth_cb, 2, slots, rconn_cl_slots_cb, &cl->mac,
                       why, sizeof(why)) != 0) {
        rconn_cl_ask_failed(rc, 0, why);
        return;
    }
    struct timeval tv = { RCONN_CL_ASK_MS / 1000, (RCONN_CL_ASK_MS % 1000) * 1000 };
    evtimer_add(rc->deadline_ev, &tv);
}

/* rconn_cl_deadline: the node asked for the map did not answer in time. */
static void rconn_cl_deadline(struct rconn *rc)
{
    if (rc->cl->mac != NULL)
        rconn_cl_ask_failed(rc, 0, "no answer in time");
}

/*
 * rconn_cl_saw_error: rconn_saw_error for the router. A script's error came
 * from the node whose reply is being handled; a redirect or CLUSTERDOWN
 * inside it means the map is stale.
 */
static void rconn_cl_saw_error(struct rconn *rc, const char *err)
{
    struct rcluster_redirect to;
    if (rc->cl->cur_node != NULL)
        rconn_saw_error(rc->cl->cur_node, err);
    if (err != NULL &&
        (rcluster_error_transient(err) || rcluster_redirect_parse(err, strlen(err), &to) == 0))
        rconn_cl_want_map(rc);
}

static void rconn_cl_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct rconn *rc = arg;
    if (!rconn_cl_whole(rc))
        rconn_cl_want_map(rc);
}

/* rconn_ccall_new copies the command into one allocation; NULL when out of memory. */
static struct rconn_ccall *rconn_ccall_new(struct rconn *rc, rconn_reply_cb cb, void *arg, int argc,
                                           const char **argv, const size_t *argvlen)
{
    size_t bytes = 0;
    for (int i = 0; i < argc; i++)
        bytes += (argvlen != NULL ? argvlen[i] : strlen(argv[i])) + 1;
    struct rconn_ccall *c = malloc(sizeof(*c) + (size_t)argc * (sizeof(size_t) + sizeof(char *)) +
                                   bytes);
    if (c == NULL)
        return NULL;
    c->rc = rc;
    c->cb = cb;
    c->arg = arg;
    c->redirects = 0;
    c->in_tx = 0;
    c->argc = argc;
    c->argvlen = (size_t *)(c + 1);
    c->argv = (const char **)(c->argvlen + argc);
    char *p = (char *)(c->argv + argc);
    for (int i = 0; i < argc; i++) {
        size_t len = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
        memcpy(p, argv[i], len);
        p[len] = '\0';
        c->argv[i] = p;
        c->argvlen[i] = len;
        p += len + 1;
    }
    return c;
}

static void rconn_ccall_cb(struct rconn *node, redisReply *reply, void *arg);

/* rconn_cl_send sends 'call' to 'node' (after ASKING when 'asking'); PR_EREDIS when it is not READY. */
static int rconn_cl_send(struct rconn *node, struct rconn_ccall *call, int asking)
{
    if (!rconn_connected(node))
        return PR_EREDIS;
    const char *ask[] = { "ASKING" };
    if (asking && rconn_send(node, NULL, NULL, 1, ask, NULL) != 0)
        return PR_EREDIS;
    int rv = rconn_send(node, rconn_ccall_cb, call, call->argc, call->argv, call->argvlen);
    if (rv == 0 && rcluster_cmd_key(call->argc, call->argv, call->argvlen) >= 0)
        node->written = 1;
    return rv;
}

/* rconn_cl_deliver hands 'reply' from 'node' to the caller's callback. */
static void rconn_cl_deliver(struct rconn *rc, struct rconn *node, rconn_reply_cb cb, void *arg,
                             redisReply *reply)
{
    rc->pending--;
    if (cb == NULL)
        return;
    struct rconn *was = rc->cl->cur_node;
    rc->cl->cur_node = node;
    cb(rc, reply, arg);
    rc->cl->cur_node = was;
}

static void rconn_ccall_cb(struct rconn *node, redisReply *reply, void *arg)
{
    struct rconn_ccall *call = arg;
    struct rconn *rc = call->rc;
    struct rconn_cluster *cl = rc->cl;
    struct rcluster_redirect to;

    if (rc->freeing) {
        /* answered NULL by the frees */
    } else if (reply == NULL) {
        rconn_cl_want_map(rc);
    } else if (reply->type == REDIS_REPLY_ERROR &&
               rcluster_redirect_parse(reply->str, reply->len, &to) == 0) {
        if (to.to.host[0] == '\0')
            snprintf(to.to.host, sizeof(to.to.host), "%s", node->host);
        if (to.kind == RCLUSTER_MOVED) {
            snprintf(cl->prefer_host, sizeof(cl->prefer_host), "%s", to.to.host);
            cl->prefer_port = to.to.port;
            rconn_cl_want_map(rc);
        }
        if (!call->in_tx && call->redirects < RCONN_CL_REDIRECTS) {
            struct rconn *dst = rconn_cl_node(rc, to.to.host, to.to.port, 1);
            if (dst != NULL && rconn_cl_send(dst, call, to.kind == RCLUSTER_ASK) == 0) {
                call->redirects++;
                if (to.kind == RCLUSTER_MOVED)
                    cl->stats.moved++;
                else
                    cl->stats.ask++;
                return;
            }
        }
    } else if (reply->type == REDIS_REPLY_ERROR && rcluster_error_transient(reply->str)) {
        rconn_cl_want_map(rc);
    }
    rconn_cl_deliver(rc, node, call->cb, call->arg, reply);
    free(call);
}

/* rconn_cl_send_new copies and sends one command to 'node'. */
static int rconn_cl_send_new(struct rconn *rc, struct rconn *node, int in_tx, rconn_reply_cb cb,
                             void *arg, int argc, const char **argv, const size_t *argvlen)
{
    if (node == NULL || !rconn_connected(node))
        return PR_EREDIS;
    struct rconn_ccall *call = rconn_ccall_new(rc, cb, arg, argc, argv, argvlen);
    if (call == NULL)
        return PR_ENOMEM;
    call->in_tx = in_tx;
    if (rconn_cl_send(node, call, 0) != 0) {
        free(call);
        return PR_EREDIS;
    }
    rc->pending++;
    return 0;
}

/* rconn_cl_tx_end closes the open transaction; a MULTI never sent learns it with NULL. */
static void rconn_cl_tx_end(struct rconn *rc)
{
    struct rconn_cluster *cl = rc->cl;
    int held = cl->in_multi && !cl->multi_sent;
    cl->in_multi = 0;
    cl->multi_failed = 0;
    cl->multi_sent = 0;
    cl->multi_node = NULL;
    if (held)
        rconn_cl_deliver(rc, NULL, cl->multi_cb, cl->multi_arg, NULL);
}

/*
 * rconn_cl_tx_cmd sends a command of the open transaction: the first one
 * naming a node takes the held MULTI there; every later one, EXEC and
 * DISCARD ('ends') go to that node whatever their keys.
 */
static int rconn_cl_tx_cmd(struct rconn *rc, rconn_reply_cb cb, void *arg, int argc,
                           const char **argv, const size_t *argvlen, int ends)
{
    struct rconn_cluster *cl = rc->cl;
    int rv;

    if (cl->multi_failed) {
        /* Part of it is missing: it must not commit. */
        if (ends) {
            if (cl->multi_node != NULL && rconn_connected(cl->multi_node)) {
                const char *discard[] = { "DISCARD" };
                rconn_send(cl->multi_node, NULL, NULL, 1, discard, NULL);
            }
            rconn_cl_tx_end(rc);
        }
        return PR_EREDIS;
    }
    if (cl->multi_node == NULL) {
        static const char discard[] = "DISCARD";
        size_t len0 = argvlen != NULL ? argvlen[0] : strlen(argv[0]);
        if (ends && len0 == sizeof(discard) - 1 && strncasecmp(argv[0], discard, len0) == 0) {
            rconn_cl_tx_end(rc);    /* nothing was sent: nothing to discard */
            return PR_EREDIS;
        }
        struct rconn *node = rconn_cl_route(rc, argc, argv, argvlen);
        const char *multi[] = { "MULTI" };
        if ((rv = rconn_cl_send_new(rc, node, 1, cl->multi_cb, cl->multi_arg, 1, multi, NULL)) != 0) {
            cl->multi_failed = 1;
            if (ends)
                rconn_cl_tx_end(rc);
            return rv;
        }
        rc->pending--;      /* counted when MULTI was held */
        cl->multi_node = node;
        cl->multi_sent = 1;
    }
    rv = rconn_cl_send_new(rc, cl->multi_node, 1, cb, arg, argc, argv, argvlen);
    if (ends) {
        cl->in_multi = 0;
        cl->multi_failed = 0;
        cl->multi_sent = 0;
        cl->multi_node = NULL;
    } else if (rv != 0) {
        cl->multi_failed = 1;
    }
    return rv;
}

static void rconn_cwait_cb(struct rconn *node, redisReply *reply, void *arg)
{
    struct rconn_cwait *w = arg;
    if (reply == NULL)
        w->lost = 1;
    else if (reply->type == REDIS_REPLY_INTEGER)
        w->min = reply->integer < w->min ? reply->integer : w->min;
    else if (w->err[0] == '\0')
        snprintf(w->err, sizeof(w->err), "%s",
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "WAIT: unexpected reply");
    if (--w->outstanding > 0)
        return;
    redisReply out;
    memset(&out, 0, sizeof(out));
    if (w->err[0] != '\0') {
        out.type = REDIS_REPLY_ERROR;
        out.str = w->err;
        out.len = strlen(w->err);
    } else {
        out.type = REDIS_REPLY_INTEGER;
        out.integer = w->min;
    }
    rconn_cl_deliver(w->rc, node, w->cb, w->arg, w->lost ? NULL : &out);
    free(w);
}

/*
 * rconn_cl_wait sends WAIT to every primary written since the last WAIT
 * (to any one when none was): replies come back as the smallest count.
 * Refused when such a primary is not connected or was dropped from the
 * map: those writes cannot be vouched for.
 */
static int rconn_cl_wait(struct rconn *rc, rconn_reply_cb cb, void *arg, int argc,
                         const char **argv, const size_t *argvlen)
{
    struct rconn_cluster *cl = rc->cl;
    int n = 0, refused = cl->wait_lost;
    for (size_t i = 0; i < cl->n_nodes; i++)
        if (cl->nodes[i]->written) {
            n++;
            refused |= !rconn_connected(cl->nodes[i]);
        }
    cl->wait_lost = 0;
    if (refused) {
        for (size_t i = 0; i < cl->n_nodes; i++)
            cl->nodes[i]->written = 0;
        return PR_EREDIS;
    }
    if (n == 0)
        return rconn_cl_send_new(rc, rconn_cl_any(rc), 0, cb, arg, argc, argv, argvlen);
    struct rconn_cwait *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return PR_ENOMEM;
    w->rc = rc;
    w->cb = cb;
    w->arg = arg;
    w->min = LLONG_MAX;
    w->outstanding = 1;     /* held until every part is sent */
    for (size_t i = 0; i < cl->n_nodes; i++) {
        if (!cl->nodes[i]->written)
            continue;
        cl->nodes[i]->written = 0;
        if (rconn_send(cl->nodes[i], rconn_cwait_cb, w, argc, argv, argvlen) == 0)
            w->outstanding++;
        else
            w->lost = 1;
    }
    if (w->outstanding == 1) {      /* no part went out */
        free(w);
        return PR_EREDIS;
    }
    w->outstanding--;
    rc->pending++;
    return 0;
}

/* rconn_cl_cmd: rconn_cmd in cluster mode. */
static int rconn_cl_cmd(struct rconn *rc, rconn_reply_cb cb, void *arg, int argc,
                        const char **argv, const size_t *argvlen)
{
    struct rconn_cluster *cl = rc->cl;
    if (rc->freeing || cl->map == NULL || argc < 1)
        return PR_EREDIS;
    size_t len0 = argvlen != NULL ? argvlen[0] : strlen(argv[0]);
#define RCONN_IS(word) (len0 == sizeof(word) - 1 && strncasecmp(argv[0], word, len0) == 0)
    if (RCONN_IS("MULTI")) {
        if (cl->in_multi)
            return PR_EREDIS;       /* Redis refuses nested MULTI too */
        cl->in_multi = 1;
        cl->multi_failed = 0;
        cl->multi_sent = 0;
        cl->multi_node = NULL;
        cl->multi_cb = cb;
        cl->multi_arg = arg;
        rc->pending++;
        return 0;
    }
    if (cl->in_multi)
        return rconn_cl_tx_cmd(rc, cb, arg, argc, argv, argvlen,
                               RCONN_IS("EXEC") || RCONN_IS("DISCARD"));
    if (RCONN_IS("WAIT"))
        return rconn_cl_wait(rc, cb, arg, argc, argv, argvlen);
#undef RCONN_IS
    return rconn_cl_send_new(rc, rconn_cl_route(rc, argc, argv, argvlen), 0, cb, arg, argc, argv,
                             argvlen);
}

/* rconn_cl_start sets up cluster mode and asks the seeds for the map. */
static int rconn_cl_start(struct rconn *rc)
{
    struct rconn_cluster *cl = calloc(1, sizeof(*cl));
    if (cl == NULL)
        return PR_ENOMEM;
    rc->cl = cl;
    rc->host[0] = '\0';
    cl->tick_ev = event_new(rc->base, -1, EV_PERSIST, rconn_cl_tick_cb, rc);
    struct timeval tv = { RCONN_CL_TICK_MS / 1000, (RCONN_CL_TICK_MS % 1000) * 1000 };
    if (cl->tick_ev == NULL || evtimer_add(cl->tick_ev, &tv) != 0)
        return PR_ENOMEM;
    rconn_cl_read_map(rc);
    return 0;
}

/* rconn_cl_free frees the router's part; pending callbacks run with NULL first. */
static void rconn_cl_free(struct rconn *rc)
{
    struct rconn_cluster *cl = rc->cl;
    if (cl == NULL)
        return;
    if (cl->mac != NULL)
        redisAsyncFree(cl->mac);
    cl->mac = NULL;
    for (size_t i = 0; i < cl->n_nodes; i++)
        rconn_free(cl->nodes[i]);
    cl->n_nodes = 0;
    rconn_cl_tx_end(rc);
    if (cl->tick_ev != NULL)
        event_free(cl->tick_ev);
    free(cl->nodes);
    free(cl->by_map);
    rcluster_map_free(cl->map);
    free(cl);
    rc->cl = NULL;
}

/* rconn_cl_reason: why the cluster is not whole: no map, slots unserved, or a primary's reason. */
static enum rconn_reason rconn_cl_reason(const struct rconn *rc)
{
    const struct rconn_cluster *cl = rc->cl;
    if (cl->map == NULL)
        return rc->reason == RCONN_READY ? RCONN_CONNECTING : rc->reason;
    if (cl->map->covered != RCLUSTER_SLOTS)
        return RCONN_CLUSTERDOWN;
    for (size_t i = 0; i < cl->map->n_nodes; i++)
        if (!rconn_connected(cl->by_map[i]))
            return cl->by_map[i]->reason == RCONN_READY ? RCONN_CONNECTING : cl->by_map[i]->reason;
    return RCONN_READY;
}

/* rconn_cl_addr: "cluster (3 primaries)", or the primary that is not ready, or the seed asked. */
static const char *rconn_cl_addr(const struct rconn *rc, char *buf, size_t len)
{
    const struct rconn_cluster *cl = rc->cl;
    if (cl->map == NULL) {
        const struct cfg_endpoint *s = &rc->cfg->cluster[0];
        snprintf(buf, len, strchr(s->host, ':') != NULL ? "cluster (seed [%s]:%u of %zu)"
                                                       : "cluster (seed %s:%u of %zu)",
                 s->host, s->port, rc->cfg->n_cluster);
        return buf;
    }
    size_t ready = 0;
    const struct rconn *down = NULL;
    for (size_t i = 0; i < cl->map->n_nodes; i++) {
        if (rconn_connected(cl->by_map[i]))
            ready++;
        else if (down == NULL)
            down = cl->by_map[i];
    }
    if (down != NULL)
        snprintf(buf, len, strchr(down->host, ':') != NULL
                               ? "[%s]:%d (cluster: %zu of %zu primaries ready)"
                               : "%s:%d (cluster: %zu of %zu primaries ready)",
                 down->host, down->port, ready, cl->map->n_nodes);
    else
        snprintf(buf, len, "cluster (%zu primaries, %zu of %d slots served)", cl->map->n_nodes,
                 cl->map->covered, RCLUSTER_SLOTS);
    return buf;
}

void rconn_cluster_stats(const struct rconn *rc, struct rconn_cluster_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (rc->cl != NULL)
        *out = rc->cl->stats;
}

/* ------------------------------------------------------------------------
 * Connecting
 * ------------------------------------------------------------------------ */

/* rconn_connect starts one attempt: ask a sentinel first in sentinel mode. */
static void rconn_connect(struct rconn *rc)
{
    if (rc->cl != NULL) {
        rconn_cl_read_map(rc);
        return;
    }
    if (rconn_sentinel_mode(rc) && !rc->primary_fresh) {
        rconn_sentinel_ask(rc);
        return;
    }
    rconn_connect_primary(rc);
}

/*
 * hiredis' libevent adapter (adapters/libevent.h) with one change: the
 * read event is persistent. hiredis asks for reads again after every
 * reply; with the adapter's one-shot event each reply cost an epoll_ctl to
 * re-add it (bench/README.md, issue 14: one of the 8 system calls of a
 * lock-step MESSAGE). A persistent event stays in epoll until hiredis
 * stops reading (disconnect, free), and re-adding it is then a no-op.
 */
struct rconn_ev {
    redisAsyncContext *ac;
    struct event *rev, *wev;
};

static void rconn_ev_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    redisAsyncHandleRead(((struct rconn_ev *)arg)->ac);
}

static void rconn_ev_write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    redisAsyncHandleWrite(((struct rconn_ev *)arg)->ac);
}

static void rconn_ev_add_read(void *arg) { event_add(((struct rconn_ev *)arg)->rev, NULL); }
static void rconn_ev_del_read(void *arg) { event_del(((struct rconn_ev *)arg)->rev); }
static void rconn_ev_add_write(void *arg) { event_add(((struct rconn_ev *)arg)->wev, NULL); }
static void rconn_ev_del_write(void *arg) { event_del(((struct rconn_ev *)arg)->wev); }

static void rconn_ev_cleanup(void *arg)
{
    struct rconn_ev *e = arg;
    event_free(e->rev);
    event_free(e->wev);
    free(e);
}

/* rconn_ev_attach is redisLibeventAttach with a persistent read event; PR_ENOMEM. */
static int rconn_ev_attach(redisAsyncContext *ac, struct event_base *base)
{
    struct rconn_ev *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return PR_ENOMEM;
    e->ac = ac;
    e->rev = event_new(base, ac->c.fd, EV_READ | EV_PERSIST, rconn_ev_read_cb, e);
    e->wev = event_new(base, ac->c.fd, EV_WRITE, rconn_ev_write_cb, e);
    if (e->rev == NULL || e->wev == NULL) {
        if (e->rev != NULL)
            event_free(e->rev);
        if (e->wev != NULL)
            event_free(e->wev);
        free(e);
        return PR_ENOMEM;
    }
    ac->ev.addRead = rconn_ev_add_read;
    ac->ev.delRead = rconn_ev_del_read;
    ac->ev.addWrite = rconn_ev_add_write;
    ac->ev.delWrite = rconn_ev_del_write;
    ac->ev.cleanup = rconn_ev_cleanup;
    ac->ev.data = e;
    event_add(e->rev, NULL);
    event_add(e->wev, NULL);
    return 0;
}

/* ---------------------------------------------------------------------------
 * Reply objects: one arena per reply
 * ------------------------------------------------------------------------- */

/*
 * hiredis' own reader builds a reply as a tree of redisReply objects with
 * two allocations per string (the object, its text) and two per array: an
 * XREADGROUP entry of three fields costs about 18 malloc/free pairs, the
 * dispatcher's largest cost after nghttp2. The functions below build the
 * same tree of redisReply objects (callers see no difference) in chunks
 * owned by the root object. hiredis frees only roots (the reply after its
 * callback, the partial reply of a reader that fails or is freed), so
 * freeing the root frees the whole tree at once.
 *
 *   [struct rconn_arena: root redisReply | more] [objects, texts ...]
 *                                           |
 *                                           v
 *                    [chunk: next] [objects, texts ...] --> older chunks
 *
 * A nested object finds its arena through the reader's task stack: the
 * root task's object is the arena's root. Chunks double from
 * RCONN_ARENA_FIRST up to RCONN_ARENA_CHUNK; a larger string gets a chunk
 * of its own size.
 */
#define RCONN_ARENA_ALIGN _Alignof(max_align_t)
#define RCONN_ARENA_FIRST 512         /* with the root: within glibc's per-thread cache (1 KB) */
#define RCONN_ARENA_CHUNK (64 * 1024)
#define RCONN_ARENA_ROUND(n) (((n) + RCONN_ARENA_ALIGN - 1) & ~(size_t)(RCONN_ARENA_ALIGN - 1))

struct rconn_chunk {
    struct rconn_chunk *next;
};

struct rconn_arena {
    redisReply root;                /* first: hiredis holds &root, the arena is found from it */
    struct rconn_chunk *more;       /* chunks after the first, newest first */
    char *p;                        /* free space of the newest chunk */
    size_t left;
    size_t next_size;
};

/* rconn_arena_alloc returns 'n' bytes (aligned) from arena 'a', or NULL. */
static void *rconn_arena_alloc(struct rconn_arena *a, size_t n)
{
    if (n > SIZE_MAX / 2)
        return NULL;
    n = RCONN_ARENA_ROUND(n);
    if (n > a->left) {
        size_t size = n > a->next_size ? n : a->next_size;
        if (a->next_size < RCONN_ARENA_CHUNK)
            a->next_size *= 2;
        const size_t head = RCONN_ARENA_ROUND(sizeof(struct rconn_chunk));
        struct rconn_chunk *c = malloc(head + size);
        if (c == NULL)
            return NULL;
        c->next = a->more;
        a->more = c;
        a->p = (char *)c + head;
        a->left = size;
    }
    void *out = a->p;
    a->p += n;
    a->left -= n;
    return out;
}

/*
 * rconn_reply_new makes the object of reader task 'task' with 'extra' bytes
 * after it (a string's text): a new arena for a root, else from the root's
 * arena, linked into its parent array; '*arena' is the arena. NULL when out
 * of memory (hiredis then fails the reader and frees the root).
 */
static redisReply *rconn_reply_new(const redisReadTask *task, size_t extra,
                                   struct rconn_arena **arena)
{
    redisReply *r;
    struct rconn_arena *a;
    if (extra > SIZE_MAX / 2)
        return NULL;
    if (task->parent == NULL) {
        const size_t head = RCONN_ARENA_ROUND(sizeof(struct rconn_arena));
        size_t room = RCONN_ARENA_ROUND(extra) > RCONN_ARENA_FIRST ? RCONN_ARENA_ROUND(extra)
                                                                   : RCONN_ARENA_FIRST;
        if ((a = malloc(head + room)) == NULL)
            return NULL;
        a->more = NULL;
        a->p = (char *)a + head;
        a->left = room;
        a->next_size = RCONN_ARENA_FIRST * 2;
        r = &a->root;
        memset(r, 0, sizeof(*r));
        if (extra > 0)
            r->str = rconn_arena_alloc(a, extra);  /* fits: room >= extra */
    } else {
        const redisReadTask *t = task->parent;
        while (t->parent != NULL)
            t = t->parent;
        a = (struct rconn_arena *)t->obj;      /* the root is its first member */
        if ((r = rconn_arena_alloc(a, RCONN_ARENA_ROUND(sizeof(*r)) + extra)) == NULL)
            return NULL;
        memset(r, 0, sizeof(*r));
        if (extra > 0)
            r->str = (char *)r + RCONN_ARENA_ROUND(sizeof(*r));
        redisReply *parent = task->parent->obj;
        parent->element[task->idx] = r;
    }
    r->type = task->type;
    *arena = a;
    return r;
}

static void *rconn_reply_string(const redisReadTask *task, char *str, size_t len)
{
    struct rconn_arena *a;
    redisReply *r = rconn_reply_new(task, len + 1, &a);
    if (r == NULL)
        return NULL;
    memcpy(r->str, str, len);
    r->str[len] = '\0';
    r->len = len;
    return r;
}

static void rconn_reply_free(void *obj);

static void *rconn_reply_array(const redisReadTask *task, int elements)
{
    struct rconn_arena *a;
    redisReply *r = rconn_reply_new(task, 0, &a);
    if (r == NULL || elements <= 0)
        return r;
    r->element = rconn_arena_alloc(a, (size_t)elements * sizeof(redisReply *));
    if (r->element == NULL) {
        /* A nested failure: hiredis frees the root, and with it this arena. */
        if (task->parent == NULL)
            rconn_reply_free(r);
        return NULL;
    }
    memset(r->element, 0, (size_t)elements * sizeof(redisReply *));
    r->elements = (size_t)elements;
    return r;
}

static void *rconn_reply_integer(const redisReadTask *task, long long value)
{
    struct rconn_arena *a;
    redisReply *r = rconn_reply_new(task, 0, &a);
    if (r != NULL)
        r->integer = value;
    return r;
}

static void *rconn_reply_nil(const redisReadTask *task)
{
    struct rconn_arena *a;
    redisReply *r = rconn_reply_new(task, 0, &a);
    if (r != NULL)
        r->type = REDIS_REPLY_NIL;      /* the task's type is that of the $-1 or *-1 read */
    return r;
}

/* rconn_reply_free frees root 'obj' and every object of its tree. */
static void rconn_reply_free(void *obj)
{
    struct rconn_arena *a = obj;
    if (a == NULL)
        return;
    struct rconn_chunk *c = a->more;
    while (c != NULL) {
        struct rconn_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

static const redisReplyObjectFunctions rconn_reply_fns = {
    rconn_reply_string, rconn_reply_array, rconn_reply_integer, rconn_reply_nil,
    rconn_reply_free,
};

void rconn_reader_arena(redisReader *r)
{
    r->fn = (redisReplyObjectFunctions *)&rconn_reply_fns;     /* never written through */
}

/* rconn_connect_primary connects to host:port and starts the handshake. */
static void rconn_connect_primary(struct rconn *rc)
{
    rc->primary_fresh = 0;
    redisAsyncContext *ac = redisAsyncConnect(rc->host, rc->port);
    if (ac == NULL || ac->err) {
        rconn_note(rc, RCONN_UNREACHABLE, ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        rconn_schedule_retry(rc);
        return;
    }
    if (rconn_ev_attach(ac, rc->base) != 0) {
        rconn_note(rc, RCONN_UNREACHABLE, "out of memory");
        redisAsyncFree(ac);
        rconn_schedule_retry(rc);
        return;
    }
    ac->data = rc;
    rconn_reader_arena(ac->c.reader);
    rc->ac = ac;
    rc->hs_failed = 0;
    rc->state = RCONN_S_CONNECTING;
    redisAsyncSetConnectCallback(ac, rconn_connect_cb);
    redisAsyncSetDisconnectCallback(ac, rconn_disconnect_cb);
    struct timeval tv = { RCONN_HANDSHAKE_MS / 1000, (RCONN_HANDSHAKE_MS % 1000) * 1000 };
    evtimer_add(rc->deadline_ev, &tv);
}

/* rconn_free_cfg frees the strings rconn_new copied. */
static void rconn_free_cfg(struct cfg_redis *c)
{
    free(c->host);
    free(c->password);
    free(c->master_name);
    free(c->sentinel_password);
}

/* rconn__alloc makes an rconn for 'redis' that does not connect yet. */
static int rconn__alloc(struct event_base *base, const struct cfg_redis *redis, const char *name,
                        rconn_state_cb state_cb, void *state_arg, struct rconn **out)
{
    struct rconn *rc = calloc(1, sizeof(*rc));
    if (rc == NULL)
        return PR_ENOMEM;
    rc->base = base;
    rc->cfg_copy = *redis;
    rc->cfg_copy.host = strdup(redis->host != NULL ? redis->host : "127.0.0.1");
    rc->cfg_copy.password = redis->password != NULL ? strdup(redis->password) : NULL;
    rc->cfg_copy.master_name = redis->master_name != NULL ? strdup(redis->master_name) : NULL;
    rc->cfg_copy.sentinel_password =
        redis->sentinel_password != NULL ? strdup(redis->sentinel_password) : NULL;
    rc->cfg_copy.prefix = NULL; /* keys are built by keys.c, not here */
    rc->cfg = &rc->cfg_copy;
    if (rc->cfg_copy.host == NULL || (redis->password != NULL && rc->cfg_copy.password == NULL) ||
        (redis->master_name != NULL && rc->cfg_copy.master_name == NULL) ||
        (redis->sentinel_password != NULL && rc->cfg_copy.sentinel_password == NULL)) {
        rconn_free_cfg(&rc->cfg_copy);
        free(rc);
        return PR_ENOMEM;
    }
    snprintf(rc->name, sizeof(rc->name), "%s", name);
    rc->backoff_ms = RCONN_BACKOFF_MIN_MS;
    rc->state_cb = state_cb;
    rc->state_arg = state_arg;
    rc->reason = RCONN_CONNECTING;
    if (rc->cfg->n_sentinels == 0) {    /* with Sentinel: empty until a sentinel names one */
        snprintf(rc->host, sizeof(rc->host), "%s", rc->cfg->host);
        rc->port = rc->cfg->port;
    }
    rc->retry_ev = evtimer_new(base, rconn_retry_cb, rc);
    rc->deadline_ev = evtimer_new(base, rconn_deadline_cb, rc);
    rc->sentinel_ev = evtimer_new(base, rconn_sentinel_cb, rc);
    rc->role_ev = event_new(base, -1, EV_PERSIST, rconn_role_timer_cb, rc);
    struct timeval role_tv = { RCONN_ROLE_CHECK_MS / 1000, (RCONN_ROLE_CHECK_MS % 1000) * 1000 };
    if (rc->retry_ev == NULL || rc->deadline_ev == NULL || rc->sentinel_ev == NULL ||
        rc->role_ev == NULL || evtimer_add(rc->role_ev, &role_tv) != 0) {
        rconn_free(rc);
        return PR_ENOMEM;
    }
    *out = rc;
    return 0;
}

int rconn_new(struct event_base *base, const struct cfg_redis *redis, const char *name,
              rconn_state_cb state_cb, void *state_arg, struct rconn **out)
{
    struct rconn *rc;
    int err = rconn__alloc(base, redis, name, state_cb, state_arg, &rc);
    if (err != 0)
        return err;
    if (redis->n_cluster > 0) {
        if ((err = rconn_cl_start(rc)) != 0) {
            rconn_free(rc);
            return err;
        }
    } else {
        rconn_connect(rc);
    }
    *out = rc;
    return 0;
}

int rconn_connected(const struct rconn *rc)
{
    if (rc->cl != NULL)
        return rconn_cl_whole(rc);
    return rc->state == RCONN_S_READY && rc->ac != NULL;
}

int rconn_cmd(struct rconn *rc, rconn_reply_cb cb, void *arg, int argc, const char **argv,
              const size_t *argvlen)
{
    if (rc->cl != NULL)
        return rconn_cl_cmd(rc, cb, arg, argc, argv, argvlen);
    if (!rconn_connected(rc))
        return PR_EREDIS;
    return rconn_send(rc, cb, arg, argc, argv, argvlen);
}

int rconn_pending(const struct rconn *rc) { return rc->pending; }

const struct cfg_redis *rconn_cfg(const struct rconn *rc) { return rc->cfg; }

void rconn_free(struct rconn *rc)
{
    if (rc == NULL)
        return;
    rc->freeing = 1;
    rconn_cl_free(rc);
    if (rc->ac != NULL)
        redisAsyncFree(rc->ac); /* runs pending callbacks with NULL replies */
    if (rc->retry_ev != NULL)
        event_free(rc->retry_ev);
    if (rc->deadline_ev != NULL)
        event_free(rc->deadline_ev);
    if (rc->sac != NULL)
        redisAsyncFree(rc->sac);
    if (rc->sentinel_ev != NULL)
        event_free(rc->sentinel_ev);
    if (rc->role_ev != NULL)
        event_free(rc->role_ev);
    rconn_free_cfg(&rc->cfg_copy);
    free(rc);
}

/*
 * rconn_flush: hiredis only buffers a command and asks the loop for a write
 * event, so a command would leave on the loop's next turn, after another
 * epoll_wait and two epoll_ctl calls. A caller that has sent what this turn
 * has (the listener's ingest batch) writes it now instead; what the socket
 * does not take still leaves on the write event.
 */
void rconn_flush(struct rconn *rc)
{
    if (rc->cl != NULL) {       /* cluster mode: every node connection (each flushes only if ready) */
        for (size_t i = 0; i < rc->cl->n_nodes; i++)
            rconn_flush(rc->cl->nodes[i]);
        return;
    }
    if (rconn_connected(rc))
        redisAsyncHandleWrite(rc->ac);
}
