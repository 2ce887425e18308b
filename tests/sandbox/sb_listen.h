/*
 * sb_listen.h - bind a "host:port" TCP listener (port 0: any free port) and
 * report the port actually bound, for --listen, --mpns-listen, --port-file.
 */
#ifndef PUSHRELAY_SANDBOX_SB_LISTEN_H
#define PUSHRELAY_SANDBOX_SB_LISTEN_H

#include <event2/listener.h>

/*
 * sb_listen binds 'addr' ("127.0.0.1:8443", "[::1]:0") non-blocking with
 * SO_REUSEADDR and makes an evconnlistener calling 'cb' with 'arg' ('cb'
 * may be NULL for evhttp_bind_listener). Sets '*out' and '*port'. Returns 0,
 * PR_EINVAL for a bad address or PR_EIO when binding fails (logged).
 */
int sb_listen(struct event_base *base, const char *addr, evconnlistener_cb cb, void *arg,
              struct evconnlistener **out, int *port);

#endif
