/*
 * rconn_recorder.h - a stand-in for relay/rconn.c in unit tests of modules
 * that only build Redis commands (stats, token, outcome_log): it records
 * each command as its arguments joined by spaces, so a test asserts exactly
 * what would be sent. Integration tests run the same modules against a real
 * redis-server. Include it in exactly one file of a test program.
 */
#ifndef PUSHRELAY_TEST_RCONN_RECORDER_H
#define PUSHRELAY_TEST_RCONN_RECORDER_H

#include <string.h>
#include "pushrelay/error.h"
#include "rconn.h"

#define RECORDER_MAX_CMDS 256
#define RECORDER_CMD_MAX 1024

struct rconn {
    int connected;
    char cmds[RECORDER_MAX_CMDS][RECORDER_CMD_MAX];
    int n;
};

int rconn_connected(const struct rconn *rc)
{
    return rc->connected;
}

int rconn_cmd(struct rconn *rc, rconn_reply_cb cb, void *arg, int argc, const char **argv,
              const size_t *argvlen)
{
    (void)cb;
    (void)arg;
    (void)argvlen;
    if (!rc->connected)
        return PR_EREDIS;
    assert_true(rc->n < RECORDER_MAX_CMDS);
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
