/*
 * sb_listen.c - TCP listeners for the sandbox's transports.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "sb_listen.h"

int sb_listen(struct event_base *base, const char *addr, evconnlistener_cb cb, void *arg,
              struct evconnlistener **out, int *port)
{
    struct sockaddr_storage ss;
    int sslen = sizeof(ss);
    char host[256];
    char *end;
    /* evutil_parse_sockaddr_port refuses port 0, so the port is split off here */
    const char *colon = strrchr(addr, ':');
    long want = colon ? strtol(colon + 1, &end, 10) : -1;
    size_t hlen = colon ? (size_t)(colon - addr) : 0;
    memset(&ss, 0, sizeof(ss));
    if (colon == NULL || colon[1] == '\0' || *end != '\0' || want < 0 || want > 65535 ||
        hlen >= sizeof(host))
        goto bad;
    memcpy(host, addr, hlen);
    host[hlen] = '\0';
    if (evutil_parse_sockaddr_port(host, (struct sockaddr *)&ss, &sslen) != 0)
        goto bad;
    if (ss.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)want);
    else
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)want);
    struct evconnlistener *l = evconnlistener_new_bind(
        base, cb, arg, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
        (struct sockaddr *)&ss, sslen);
    if (l == NULL) {
        pr_log_error("sandbox", "cannot listen on %s", addr);
        return PR_EIO;
    }
    socklen_t blen = sizeof(ss);
    if (getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&ss, &blen) != 0) {
        evconnlistener_free(l);
        return PR_EIO;
    }
    *port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                     : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    *out = l;
    return 0;
bad:
    pr_log_error("sandbox", "bad listen address '%s' (want host:port)", addr);
    return PR_EINVAL;
}
