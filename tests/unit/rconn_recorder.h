/*
 * rconn_recorder.h - a stand-in for relay/rconn.c in unit tests of modules
 * that only build Redis commands (stats, token, outcome_log): it records
 * each command as its arguments joined by spaces, so a test asserts exactly
 * what would be sent. Integration tests run the same modules against a real
 * redis-server. Include it in exactly one file of a test program.
 *
 * As rconn_cmd promises, a command sent with a callback gets exactly one
 * reply: the test gives it with recorder_answer (every callback waiting,
 * in send order), and must before it ends, since a callback may own memory.
 */
#ifndef PUSHRELAY_TEST_RCONN_RECORDER_H
#define PUSHRELAY_TEST_RCONN_RECORDER_H

#include <string.h>
#include "pushrelay/error.h"
#include "rconn.h"

#define RECORDER_MAX_CMDS 256
#define RECORDER_CMD_MAX 1024

struct recorder_wait {
    rconn_reply_cb cb;
    void *arg;
};

struct rconn {
    int connected;
    char cmds[RECORDER_MAX_CMDS][RECORDER_CMD_MAX];
    int n;
    struct recorder_wait waiting[RECORDER_MAX_CMDS];    /* callbacks not yet answered */
    int n_waiting;
};

/* recorder_answer runs every waiting callback with 'reply' (NULL: connection lost). */
static inline void recorder_answer(struct rconn *rc, redisReply *reply)
{
    int n = rc->n_waiting;
    rc->n_waiting = 0;
    for (int i = 0; i < n; i++)
        rc->waiting[i].cb(rc, reply, rc->waiting[i].arg);
}

int rconn_connected(const struct rconn *rc)
{
    return rc->connected;
}

int rconn_cmd(struct rconn *rc, rconn_reply_cb cb, void *arg, int argc, const char **argv,
              const size_t *argvlen)
{
    (void)argvlen;
    if (!rc->connected)
        return PR_EREDIS;
    assert_true(rc->n < RECORDER_MAX_CMDS);
    if (cb != NULL) {
        assert_true(rc->n_waiting < RECORDER_MAX_CMDS);
        rc->waiting[rc->n_waiting++] = (struct recorder_wait){ cb, arg };
    }
    char *out = rc->cmds[rc->n++];
    out[0] = '\0';
    for (int i = 0; i < argc; i++) {
        strncat(out, argv[i], RECORDER_CMD_MAX - 24 - strlen(out));
        if (i + 1 < argc)
            strcat(out, " ");
    }
    return 0;
}

#endif
