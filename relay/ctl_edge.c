/*
 * ctl_edge.c - the edge client of pushrelayctl test-push (ctl_edge.h):
 * blocking TCP + mutual TLS + one SIP request and response at a time.
 * It knows SIP framing (through federation/sip_wire.c) and TLS; what a
 * status means to the user is ctl_testpush.c's business.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "pushrelay/clock.h"
#include "pushrelay/error.h"
#include "ctl_edge.h"
#include "sip_wire.h"

#define EDGE_RESP_MAX 65536

struct ctl_edge {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
    char buf[EDGE_RESP_MAX];        /* received, not yet consumed */
    size_t buflen;
};

/* edge_ssl_errors appends OpenSSL's queued error reasons to 'buf'. */
static void edge_ssl_errors(char *buf, size_t len)
{
    unsigned long e;
    size_t o = strlen(buf);
    while ((e = ERR_get_error()) != 0 && o + 2 < len) {
        const char *r = ERR_reason_error_string(e);
        o += (size_t)snprintf(buf + o, len - o, "%s%s", o > 0 ? "; " : "", r ? r : "unknown");
    }
}

/* ---------------------------------------------------------------------------
 * Setup and teardown
 * ------------------------------------------------------------------------- */

void ctl_edge_free(struct ctl_edge *e)
{
    if (e == NULL)
        return;
    if (e->ssl != NULL) {
        SSL_shutdown(e->ssl);
        SSL_free(e->ssl);
    }
    SSL_CTX_free(e->ctx);
    if (e->fd >= 0)
        close(e->fd);
    free(e);
}

int ctl_edge_new(const char *cert, const char *key, const char *ca, struct ctl_edge **out,
                 enum ctl_edge_file *bad, char *why, size_t whylen)
{
    struct ctl_edge *e = calloc(1, sizeof(*e));
    why[0] = '\0';
    if (e == NULL)
        return PR_ENOMEM;
    e->fd = -1;
    if ((e->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
        free(e);
        return PR_ENOMEM;
    }
    SSL_CTX_set_min_proto_version(e->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(e->ctx, SSL_VERIFY_PEER, NULL);
    int rc = PR_ECRYPTO;
    if (SSL_CTX_use_certificate_chain_file(e->ctx, cert) != 1)
        *bad = CTL_EDGE_CERT;
    else if (SSL_CTX_use_PrivateKey_file(e->ctx, key, SSL_FILETYPE_PEM) != 1 ||
             SSL_CTX_check_private_key(e->ctx) != 1)
        *bad = CTL_EDGE_KEY;
    else if (SSL_CTX_load_verify_locations(e->ctx, ca, NULL) != 1)
        *bad = CTL_EDGE_CA;
    else
        rc = 0;
    if (rc != 0) {
        edge_ssl_errors(why, whylen);
        ctl_edge_free(e);
        return rc;
    }
    *out = e;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Connection
 * ------------------------------------------------------------------------- */

/* edge_connect_one: 'fd' connected within the timeout and made blocking, else errno. */
static int edge_connect_one(int fd, const struct addrinfo *ai)
{
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS)
        return errno;
    struct pollfd p = { .fd = fd, .events = POLLOUT };
    int n = poll(&p, 1, CTL_EDGE_IO_TIMEOUT_S * 1000);
    int err = ETIMEDOUT;
    socklen_t sl = sizeof(err);
    if (n < 0)
        return errno;
    if (n == 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) != 0 || err != 0)
        return err;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    struct timeval tv = { CTL_EDGE_IO_TIMEOUT_S, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return 0;
}

int ctl_edge_connect(struct ctl_edge *e, const char *host, int port, char *why, size_t whylen)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%d", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(why, whylen, "%s", gai_strerror(rc));
        return PR_EIO;
    }
    int err = ETIMEDOUT;
    for (struct addrinfo *ai = res; ai != NULL && e->fd < 0; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if ((err = edge_connect_one(fd, ai)) == 0)
            e->fd = fd;
        else
            close(fd);
    }
    freeaddrinfo(res);
    if (e->fd < 0) {
        snprintf(why, whylen, "%s", strerror(err));
        return PR_EIO;
    }
    return 0;
}

int ctl_edge_handshake(struct ctl_edge *e, const char *name, char *why, size_t whylen)
{
    why[0] = '\0';
    if ((e->ssl = SSL_new(e->ctx)) == NULL || SSL_set_fd(e->ssl, e->fd) != 1)
        return PR_ENOMEM;
    SSL_set_tlsext_host_name(e->ssl, name);
    /* The relay's certificate must name it, as an edge would check. */
    SSL_set1_host(e->ssl, name);
    ERR_clear_error();
    if (SSL_connect(e->ssl) == 1)
        return 0;
    long vr = SSL_get_verify_result(e->ssl);
    if (vr != X509_V_OK) {
        snprintf(why, whylen, "%s", X509_verify_cert_error_string(vr));
        return PR_ECRYPTO;
    }
    edge_ssl_errors(why, whylen);
    return PR_ETLS;
}

const char *ctl_edge_tls_version(const struct ctl_edge *e)
{
    return e->ssl != NULL ? SSL_get_version(e->ssl) : "none";
}

/* ---------------------------------------------------------------------------
 * Requests
 * ------------------------------------------------------------------------- */

void ctl_edge_rand_hex(char *out, size_t nbytes)
{
    unsigned char r[32];
    if (nbytes > sizeof(r))
        nbytes = sizeof(r);
    if (RAND_bytes(r, (int)nbytes) != 1) {
        /* Uniqueness, not secrecy, is what tags and ids need. */
        uint64_t x = (uint64_t)pr_now_ms() ^ ((uint64_t)getpid() << 32);
        memset(r, 0, sizeof(r));
        memcpy(r, &x, nbytes < sizeof(x) ? nbytes : sizeof(x));
    }
    for (size_t i = 0; i < nbytes; i++)
        sprintf(out + 2 * i, "%02x", r[i]);
    out[2 * nbytes] = '\0';
}

int ctl_edge_pct_encode(const char *s, char *out, size_t len)
{
    static const char ok[] = "-_.!~*'()[]/:&+$";
    size_t o = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    strchr(ok, c) != NULL;
        if (o + 4 > len)
            return PR_ETOOBIG;
        if (plain)
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, len - o, "%%%02X", c);
    }
    if (o >= len)
        return PR_ETOOBIG;
    out[o] = '\0';
    return 0;
}

int ctl_edge_request(const char *method, const char *ruri, const char *from_domain,
                     const char *relay_host, int cseq, const char *body, char **out,
                     size_t *outlen)
{
    char tag[17], branch[17], callid[33];
    ctl_edge_rand_hex(tag, 8);
    ctl_edge_rand_hex(branch, 8);
    ctl_edge_rand_hex(callid, 16);
    size_t blen = body != NULL ? strlen(body) : 0;
    int n = asprintf(out,
                     "%s %s SIP/2.0\r\n"
                     "Via: SIP/2.0/TLS test-push.%s:5061;branch=z9hG4bK%s\r\n"
                     "Max-Forwards: 70\r\n"
                     "From: <sip:test-push@%s>;tag=%s\r\n"
                     "To: <sip:push@%s>\r\n"
                     "Call-ID: %s@test-push.%s\r\n"
                     "CSeq: %d %s\r\n"
                     "User-Agent: pushrelayctl test-push\r\n"
                     "%s"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, ruri, from_domain, branch, from_domain, tag, relay_host, callid,
                     from_domain, cseq, method,
                     body != NULL ? "Content-Type: application/json\r\n" : "", blen,
                     body != NULL ? body : "");
    if (n < 0)
        return PR_ENOMEM;
    *outlen = (size_t)n;
    return 0;
}

int ctl_edge_send(struct ctl_edge *e, const char *data, size_t len)
{
    while (len > 0) {
        int n = SSL_write(e->ssl, data, (int)len);
        if (n <= 0)
            return PR_EIO;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Responses
 * ------------------------------------------------------------------------- */

/* edge_copy copies header 'h' of 'r' into 'out' ("" when absent). */
static void edge_copy(const struct sip_wire_resp *r, enum sip_wire_hdr h, char *out, size_t outlen)
{
    struct sip_str v = sip_wire_header(r->hdrs, r->hdrs_end, h);
    snprintf(out, outlen, "%.*s", (int)v.len, v.p != NULL ? v.p : "");
}

/* edge_read_more reads what the relay sends next; 0, or the failure with 'why'. */
static int edge_read_more(struct ctl_edge *e, char *why, size_t whylen)
{
    ERR_clear_error();
    errno = 0;
    int n = SSL_read(e->ssl, e->buf + e->buflen, (int)(sizeof(e->buf) - e->buflen));
    if (n > 0) {
        e->buflen += (size_t)n;
        return 0;
    }
    int err = SSL_get_error(e->ssl, n);
    int timed_out = err == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK);
    why[0] = '\0';
    if (err == SSL_ERROR_ZERO_RETURN)
        snprintf(why, whylen, "the relay closed the connection");
    else if (timed_out)
        snprintf(why, whylen, "no answer within %ds", CTL_EDGE_IO_TIMEOUT_S);
    else if (err == SSL_ERROR_SSL)
        edge_ssl_errors(why, whylen);
    else
        snprintf(why, whylen, "connection lost (%s)", errno ? strerror(errno) : "EOF");
    if (timed_out)
        return PR_ETIMEDOUT;
    return err == SSL_ERROR_SSL ? PR_ETLS : PR_EIO;
}

int ctl_edge_read_resp(struct ctl_edge *e, struct ctl_edge_resp *r, char *why, size_t whylen)
{
    memset(r, 0, sizeof(*r));
    for (;;) {
        size_t skip = sip_wire_skip_crlf(e->buf, e->buflen);
        memmove(e->buf, e->buf + skip, e->buflen - skip);
        e->buflen -= skip;
        struct sip_wire_resp w;
        /* one byte short of the buffer: a full buffer without a response is too big */
        if (sip_wire_resp_scan(e->buf, e->buflen, sizeof(e->buf) - 1, &w) != 0) {
            snprintf(why, whylen, "not a SIP response, or over %zu bytes: %.*s",
                     sizeof(e->buf) - 1, (int)(e->buflen < 40 ? e->buflen : 40), e->buf);
            return PR_EPROTO;
        }
        if (w.len > 0) {
            r->status = w.status;
            snprintf(r->reason, sizeof(r->reason), "%.*s", (int)(w.reason.len < 120 ? w.reason.len : 120),
                     w.reason.p);
            edge_copy(&w, SIP_WIRE_HDR_WARNING, r->warning, sizeof(r->warning));
            edge_copy(&w, SIP_WIRE_HDR_PUSH_ID, r->push_id, sizeof(r->push_id));
            memmove(e->buf, e->buf + w.len, e->buflen - w.len);
            e->buflen -= w.len;
            return 0;
        }
        int rc = edge_read_more(e, why, whylen);
        if (rc != 0)
            return rc;
    }
}
