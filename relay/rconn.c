/*
 * rconn.c - a self-healing asynchronous Redis connection (see rconn.h).
 *
 * Life of a connection:
 *
 *     DOWN --connect--> CONNECTING --AUTH/SELECT/SETNAME/PING ok--> READY
 *      ^                   |                                          |
 *      +---- backoff <-----+------------- error / disconnect ---------+
 *
 * Commands are refused outside READY so that callers (the listener above
 * all) answer "503 try later" at once instead of piling work onto a socket
 * that may never come back. Backoff grows from 100 ms to 5 s.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <hiredis/adapters/libevent.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "rconn.h"

#define RCONN_BACKOFF_MIN_MS 100
#define RCONN_BACKOFF_MAX_MS 5000

enum rconn_state { RCONN_DOWN, RCONN_CONNECTING, RCONN_READY };

struct rconn {
    struct event_base *base;
    struct cfg_redis cfg_copy;      /* own copy: survives configuration reloads */
    const struct cfg_redis *cfg;    /* &cfg_copy */
    char name[64];
    redisAsyncContext *ac;
    enum rconn_state state;
    struct event *retry_ev;
    int backoff_ms;
    int pending;
    int freeing;
    rconn_state_cb state_cb;
    void *state_arg;
};

/* One in-flight command: the caller's callback and argument. */
struct rconn_call {
    struct rconn *rc;
    rconn_reply_cb cb;
    void *arg;
};

static void rconn_connect(struct rconn *rc);

static void rconn_set_state(struct rconn *rc, enum rconn_state st)
{
    int was_ready = rc->state == RCONN_READY;
    rc->state = st;
    if (rc->state_cb != NULL && was_ready != (st == RCONN_READY) && !rc->freeing)
        rc->state_cb(rc, st == RCONN_READY, rc->state_arg);
}

static void rconn_schedule_retry(struct rconn *rc)
{
    if (rc->freeing)
        return;
    struct timeval tv = { rc->backoff_ms / 1000, (rc->backoff_ms % 1000) * 1000 };
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

static void rconn_call_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    struct rconn_call *call = privdata;
    call->rc->pending--;
    if (call->cb != NULL)
        call->cb(call->rc, r, call->arg);
    free(call);
}

/* rconn_nocb_cb completes a command sent without a callback: no allocation per command. */
static void rconn_nocb_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    (void)r;
    ((struct rconn *)privdata)->pending--;
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
 * busy dispatcher's time. Commands up to RCONN_FMT_STACK bytes need no
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
    char stack[RCONN_FMT_STACK];
    char *buf = total <= sizeof(stack) ? stack : malloc(total);
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

/* The handshake's last step: PONG means AUTH and SELECT before it succeeded. */
static void rconn_ping_cb(struct rconn *rc, redisReply *reply, void *arg)
{
    (void)arg;
    if (reply == NULL)
        return;
    if (reply->type == REDIS_REPLY_STATUS && strcasecmp(reply->str, "PONG") == 0) {
        rc->backoff_ms = RCONN_BACKOFF_MIN_MS;
        pr_log_info("rconn", "%s: connected to Redis %s:%d", rc->name, rc->cfg->host,
                    rc->cfg->port);
        rconn_set_state(rc, RCONN_READY);
    } else if (reply->type == REDIS_REPLY_ERROR) {
        /*
         * A Redis still loading its data set answers -LOADING: without this
         * the connection stayed up but never ready, and nothing retried.
         */
        pr_log_warn("rconn", "%s: Redis %s:%d not ready: %s", rc->name, rc->cfg->host,
                    rc->cfg->port, reply->str);
        redisAsyncDisconnect(rc->ac);
    }
}

/* AUTH or SELECT refused: log the reason, drop the connection and retry later. */
static void rconn_setup_cb(struct rconn *rc, redisReply *reply, void *arg)
{
    const char *what = arg;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        pr_log_error("rconn", "%s: Redis refused %s: %s", rc->name, what, reply->str);
        redisAsyncDisconnect(rc->ac);
    }
}

static void rconn_connect_cb(const redisAsyncContext *ac, int status)
{
    struct rconn *rc = ac->data;
    if (status != REDIS_OK) {
        pr_log_warn("rconn", "%s: cannot connect to Redis %s:%d: %s", rc->name, rc->cfg->host,
                    rc->cfg->port, ac->errstr);
        rc->ac = NULL; /* hiredis frees the context after this callback */
        rconn_set_state(rc, RCONN_DOWN);
        rconn_schedule_retry(rc);
        return;
    }
    if (rc->cfg->password != NULL && rc->cfg->password[0] != '\0') {
        const char *argv[] = { "AUTH", rc->cfg->password };
        rconn_send(rc, rconn_setup_cb, "AUTH", 2, argv, NULL);
    }
    if (rc->cfg->db != 0) {
        char db[16];
        snprintf(db, sizeof(db), "%d", rc->cfg->db);
        const char *argv[] = { "SELECT", db };
        rconn_send(rc, rconn_setup_cb, "SELECT", 2, argv, NULL);
    }
    const char *setname[] = { "CLIENT", "SETNAME", rc->name };
    rconn_send(rc, NULL, NULL, 3, setname, NULL);
    const char *ping[] = { "PING" };
    rconn_send(rc, rconn_ping_cb, NULL, 1, ping, NULL);
}

static void rconn_disconnect_cb(const redisAsyncContext *ac, int status)
{
    struct rconn *rc = ac->data;
    if (status != REDIS_OK && !rc->freeing)
        pr_log_warn("rconn", "%s: lost Redis %s:%d: %s", rc->name, rc->cfg->host, rc->cfg->port,
                    ac->errstr);
    rc->ac = NULL;
    rconn_set_state(rc, RCONN_DOWN);
    rconn_schedule_retry(rc);
}

static void rconn_connect(struct rconn *rc)
{
    redisAsyncContext *ac = redisAsyncConnect(rc->cfg->host, rc->cfg->port);
    if (ac == NULL || ac->err) {
        pr_log_warn("rconn", "%s: cannot connect to Redis %s:%d: %s", rc->name, rc->cfg->host,
                    rc->cfg->port, ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        rconn_schedule_retry(rc);
        return;
    }
    ac->data = rc;
    rc->ac = ac;
    rc->state = RCONN_CONNECTING;
    redisLibeventAttach(ac, rc->base);
    redisAsyncSetConnectCallback(ac, rconn_connect_cb);
    redisAsyncSetDisconnectCallback(ac, rconn_disconnect_cb);
}

int rconn_new(struct event_base *base, const struct cfg_redis *redis, const char *name,
              rconn_state_cb state_cb, void *state_arg, struct rconn **out)
{
    struct rconn *rc = calloc(1, sizeof(*rc));
    if (rc == NULL)
        return PR_ENOMEM;
    rc->base = base;
    rc->cfg_copy = *redis;
    rc->cfg_copy.host = strdup(redis->host != NULL ? redis->host : "127.0.0.1");
    rc->cfg_copy.password = redis->password != NULL ? strdup(redis->password) : NULL;
    rc->cfg_copy.prefix = NULL; /* keys are built by keys.c, not here */
    rc->cfg = &rc->cfg_copy;
    if (rc->cfg_copy.host == NULL || (redis->password != NULL && rc->cfg_copy.password == NULL)) {
        free(rc->cfg_copy.host);
        free(rc->cfg_copy.password);
        free(rc);
        return PR_ENOMEM;
    }
    snprintf(rc->name, sizeof(rc->name), "%s", name);
    rc->backoff_ms = RCONN_BACKOFF_MIN_MS;
    rc->state_cb = state_cb;
    rc->state_arg = state_arg;
    rc->retry_ev = evtimer_new(base, rconn_retry_cb, rc);
    if (rc->retry_ev == NULL) {
        rconn_free(rc);
        return PR_ENOMEM;
    }
    rconn_connect(rc);
    *out = rc;
    return 0;
}

int rconn_connected(const struct rconn *rc)
{
    return rc->state == RCONN_READY && rc->ac != NULL;
}

int rconn_cmd(struct rconn *rc, rconn_reply_cb cb, void *arg, int argc, const char **argv,
              const size_t *argvlen)
{
    if (!rconn_connected(rc))
        return PR_EREDIS;
    return rconn_send(rc, cb, arg, argc, argv, argvlen);
}

int rconn_pending(const struct rconn *rc) { return rc->pending; }

void rconn_free(struct rconn *rc)
{
    if (rc == NULL)
        return;
    rc->freeing = 1;
    if (rc->ac != NULL)
        redisAsyncFree(rc->ac); /* runs pending callbacks with NULL replies */
    if (rc->retry_ev != NULL)
        event_free(rc->retry_ev);
    free(rc->cfg_copy.host);
    free(rc->cfg_copy.password);
    free(rc);
}
