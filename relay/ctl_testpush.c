/*
 * ctl_testpush.c - pushrelayctl test-push: plays an enterprise edge against
 * the relay, the way Test-CsMcxPushNotification does against a push
 * service, and says step by step what passed:
 *
 *   PASS|FAIL connect:   TCP to the federation listener
 *   PASS|FAIL tls:       mutual TLS (the relay's certificate verified against
 *                        --ca or federation.tls.ca_file; ours accepted)
 *   PASS|FAIL options:   SIP OPTIONS answered 200
 *   PASS|FAIL message:   the MESSAGE (design section 5) answered 202
 *   PASS|FAIL delivered: the notification's final outcome, read from Redis
 *
 * Exit 0 only when the notification was delivered; 1 when a step failed;
 * 2 for a usage or configuration error. Every FAIL line says what to check.
 *
 * It is a CLI, not the daemon: sockets are blocking with timeouts, and the
 * outcome is polled. The outcome comes from the per-notification record of
 * relay/outcome_log.c when the dispatcher writes one; otherwise it is read
 * from one atomic snapshot of where a notification can be (its stream, the
 * retry zset, the dead letters, the dead-token record): a notification in
 * none of them, before its TTL, was delivered. That snapshot looks at the
 * newest TP_SCAN entries of each stream only, which is why the record is
 * preferred on a busy relay.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "pushrelay/error.h"
#include "pushrelay/notif.h"
#include "ctl.h"
#include "outcome_log.h"
#include "token.h"

#define TP_IO_TIMEOUT_S 10          /* each network step */
#define TP_POLL_MS 200
#define TP_SCAN 1000                /* entries looked at per key in the fallback snapshot */
#define TP_RESP_MAX 65536
#define TP_TITLE "pushrelay test"

struct tp_args {
    const char *domain, *provider, *token, *app, *cert, *key, *ca, *host;
    long long port, timeout;
};

/* One test run: what the steps share. */
struct tp {
    struct ctl *ctl;
    struct tp_args a;
    enum pr_provider prov;
    const struct cfg_app *app;
    char param[300];                /* pn-param */
    char host[256];
    int port;
    int fd;
    SSL_CTX *ssl_ctx;
    SSL *ssl;
    char buf[TP_RESP_MAX];          /* received, not yet consumed */
    size_t buflen;
    char id[64];                    /* push id of the MESSAGE */
    int64_t sent_ms;
    int ttl_s;
};

/* A SIP response as read: the status and two headers we act on. */
struct tp_resp {
    int status;
    char reason[128];
    char warning[512];
    char push_id[160];
};

static void tp_pass(const char *step, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tp_fail(const char *step, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void tp_pass(const char *step, const char *fmt, ...)
{
    va_list ap;
    printf("PASS %s: ", step);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static void tp_fail(const char *step, const char *fmt, ...)
{
    va_list ap;
    printf("FAIL %s: ", step);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

/* ---------------------------------------------------------------------------
 * Setup: app, pn-param, address
 * ------------------------------------------------------------------------- */

/* tp_pick_app finds the app (--app or the first of the provider) and its pn-param. */
static int tp_pick_app(struct tp *t)
{
    const struct cfg *cfg = t->ctl->cfg;
    if (pr_provider_parse(t->a.provider, &t->prov) != 0)
        return ctl_usage_error(t->ctl, "--provider '%s': must be apns, fcm or mpns", t->a.provider);
    if (t->a.app != NULL) {
        t->app = cfg_app_by_id(cfg, t->a.app);
        if (t->app == NULL) {
            ctl_err(t->ctl->cmd->name, "--app '%s': no such app in %s (apps)", t->a.app, cfg->path);
            return CTL_EXIT_USAGE;
        }
        if (t->app->provider != t->prov) {
            ctl_err(t->ctl->cmd->name, "--app '%s' is a %s app, not %s", t->a.app,
                    pr_provider_name(t->app->provider), t->a.provider);
            return CTL_EXIT_USAGE;
        }
    } else {
        for (size_t i = 0; i < cfg->n_apps && t->app == NULL; i++)
            if (cfg->apps[i].provider == t->prov)
                t->app = &cfg->apps[i];
        if (t->app == NULL) {
            ctl_err(t->ctl->cmd->name, "no %s app configured in %s (apps)", t->a.provider, cfg->path);
            return CTL_EXIT_USAGE;
        }
    }
    switch (t->prov) {
    case PR_PROVIDER_APNS:
        snprintf(t->param, sizeof(t->param), "%s.%s", t->app->team_id ? t->app->team_id : "",
                 t->app->topic ? t->app->topic : "");
        break;
    case PR_PROVIDER_FCM:
        snprintf(t->param, sizeof(t->param), "%s", t->app->project_id ? t->app->project_id : "");
        break;
    default:
        snprintf(t->param, sizeof(t->param), "%s", t->app->id);
        break;
    }
    return 0;
}

static void tp_pick_addr(struct tp *t)
{
    const struct cfg_federation *f = &t->ctl->cfg->federation;
    const char *host = t->a.host;
    if (host == NULL && f->n_listen > 0) {
        host = f->listen[0].host;
        /* A wildcard listen address is reached on the loopback of its family. */
        if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0')
            host = "127.0.0.1";
        else if (strcmp(host, "::") == 0)
            host = "::1";
    }
    snprintf(t->host, sizeof(t->host), "%s", host != NULL ? host : "127.0.0.1");
    t->port = t->a.port > 0 ? (int)t->a.port : (f->n_listen > 0 ? f->listen[0].port : 5061);
}

/* ---------------------------------------------------------------------------
 * Network steps
 * ------------------------------------------------------------------------- */

/* tp_connect: TCP connect within TP_IO_TIMEOUT_S, then blocking I/O with timeouts. */
static int tp_connect(struct tp *t, char *why, size_t whylen)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
    char port[8];
    snprintf(port, sizeof(port), "%d", t->port);
    int rc = getaddrinfo(t->host, port, &hints, &res);
    if (rc != 0) {
        snprintf(why, whylen, "%s", gai_strerror(rc));
        return PR_EIO;
    }
    int err = ETIMEDOUT;
    for (struct addrinfo *ai = res; ai != NULL && t->fd < 0; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
            err = errno;
            close(fd);
            continue;
        }
        struct pollfd p = { .fd = fd, .events = POLLOUT };
        int n = poll(&p, 1, TP_IO_TIMEOUT_S * 1000);
        socklen_t sl = sizeof(err);
        if (n <= 0) {
            err = n == 0 ? ETIMEDOUT : errno;
        } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == 0 && err == 0) {
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
            struct timeval tv = { TP_IO_TIMEOUT_S, 0 };
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
            t->fd = fd;
            break;
        }
        close(fd);
    }
    freeaddrinfo(res);
    if (t->fd < 0) {
        snprintf(why, whylen, "%s", strerror(err));
        return PR_EIO;
    }
    return 0;
}

/* tp_ssl_errors appends OpenSSL's queued error reasons to 'buf'. */
static void tp_ssl_errors(char *buf, size_t len)
{
    unsigned long e;
    size_t o = strlen(buf);
    while ((e = ERR_get_error()) != 0 && o + 2 < len) {
        const char *r = ERR_reason_error_string(e);
        o += (size_t)snprintf(buf + o, len - o, "%s%s", o > 0 ? "; " : "", r ? r : "unknown");
    }
}

/* tp_tls_setup loads our identity and the CA; usage errors name the flag. */
static int tp_tls_setup(struct tp *t, const char *ca)
{
    char why[512] = "";
    t->ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (t->ssl_ctx == NULL)
        return CTL_EXIT_FAIL;
    SSL_CTX_set_min_proto_version(t->ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(t->ssl_ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_use_certificate_chain_file(t->ssl_ctx, t->a.cert) != 1) {
        tp_ssl_errors(why, sizeof(why));
        ctl_err(t->ctl->cmd->name, "--cert %s: cannot load the certificate: %s", t->a.cert, why);
        return CTL_EXIT_USAGE;
    }
    if (SSL_CTX_use_PrivateKey_file(t->ssl_ctx, t->a.key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(t->ssl_ctx) != 1) {
        tp_ssl_errors(why, sizeof(why));
        ctl_err(t->ctl->cmd->name, "--key %s: cannot load the key for --cert %s: %s", t->a.key,
                t->a.cert, why);
        return CTL_EXIT_USAGE;
    }
    if (SSL_CTX_load_verify_locations(t->ssl_ctx, ca, NULL) != 1) {
        tp_ssl_errors(why, sizeof(why));
        ctl_err(t->ctl->cmd->name, "%s %s: cannot load the CA: %s",
                t->a.ca != NULL ? "--ca" : "federation.tls.ca_file", ca, why);
        return CTL_EXIT_USAGE;
    }
    return 0;
}

/* tp_handshake: 0, or PR_ETLS with 'why' saying which side refused. */
static int tp_handshake(struct tp *t, char *why, size_t whylen)
{
    const char *name = t->ctl->cfg->federation.domain;
    if ((t->ssl = SSL_new(t->ssl_ctx)) == NULL || SSL_set_fd(t->ssl, t->fd) != 1)
        return PR_ENOMEM;
    SSL_set_tlsext_host_name(t->ssl, name);
    /* The relay's certificate must name federation.domain, as an edge would check. */
    SSL_set1_host(t->ssl, name);
    ERR_clear_error();
    if (SSL_connect(t->ssl) == 1)
        return 0;
    long vr = SSL_get_verify_result(t->ssl);
    why[0] = '\0';
    if (vr != X509_V_OK) {
        snprintf(why, whylen, "the relay's certificate did not verify (%s) against %s for %s",
                 X509_verify_cert_error_string(vr), t->a.ca ? t->a.ca : t->ctl->cfg->federation.tls.ca_file,
                 name);
        return PR_ETLS;
    }
    snprintf(why, whylen, "the relay refused our certificate: is it signed by the CA in "
                          "federation.tls.ca_file? (");
    tp_ssl_errors(why, whylen);
    snprintf(why + strlen(why), whylen - strlen(why), ")");
    return PR_ETLS;
}

static int tp_send(struct tp *t, const char *data, size_t len)
{
    while (len > 0) {
        int n = SSL_write(t->ssl, data, (int)len);
        if (n <= 0)
            return PR_EIO;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* tp_header copies the value of header 'name' (or compact 'compact') of 'head'. */
static void tp_header(const char *head, size_t len, const char *name, const char *compact,
                      char *out, size_t outlen)
{
    out[0] = '\0';
    const char *p = memchr(head, '\n', len), *end = head + len;
    while (p != NULL && ++p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon != NULL) {
            size_t nlen = (size_t)(colon - p);
            while (nlen > 0 && (p[nlen - 1] == ' ' || p[nlen - 1] == '\t'))
                nlen--;
            if ((nlen == strlen(name) && strncasecmp(p, name, nlen) == 0) ||
                (compact != NULL && nlen == strlen(compact) && strncasecmp(p, compact, nlen) == 0)) {
                const char *v = colon + 1, *ve = eol;
                while (v < ve && (*v == ' ' || *v == '\t'))
                    v++;
                while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                    ve--;
                snprintf(out, outlen, "%.*s", (int)(ve - v), v);
                return;
            }
        }
        p = eol;
    }
}

/*
 * tp_read_resp reads one SIP response: the header block up to the blank
 * line, then Content-Length body bytes (mandatory on a stream, RFC 3261
 * section 18.3); only the status line and the headers we act on are read.
 * (federation/sip_frame.c frames requests the same way, but libprcore,
 * where pushrelayctl's commands live, does not link the federation code.)
 * 0, PR_ETLS (a TLS alert: the relay refused us), PR_EIO (closed),
 * PR_ETIMEDOUT or PR_EPROTO, with 'why' set.
 */
static int tp_read_resp(struct tp *t, struct tp_resp *r, char *why, size_t whylen)
{
    memset(r, 0, sizeof(*r));
    for (;;) {
        /* keep-alive CRLFs between messages (RFC 5626 pongs) */
        size_t skip = 0;
        while (skip < t->buflen && (t->buf[skip] == '\r' || t->buf[skip] == '\n'))
            skip++;
        memmove(t->buf, t->buf + skip, t->buflen - skip);
        t->buflen -= skip;
        const char *end = memmem(t->buf, t->buflen, "\r\n\r\n", 4);
        if (end != NULL) {
            const char *b = t->buf;
            size_t hdr_len = (size_t)(end - b) + 4;
            char clen[32];
            tp_header(b, hdr_len, "Content-Length", "l", clen, sizeof(clen));
            if (hdr_len < 12 || strncmp(b, "SIP/2.0 ", 8) != 0 || clen[0] == '\0') {
                snprintf(why, whylen, "not a SIP response: %.40s", b);
                return PR_EPROTO;
            }
            size_t total = hdr_len + (size_t)strtoul(clen, NULL, 10);
            if (total > sizeof(t->buf)) {
                snprintf(why, whylen, "response larger than %zu bytes", sizeof(t->buf));
                return PR_EPROTO;
            }
            if (t->buflen >= total) {
                r->status = atoi(b + 8);
                const char *eol = memchr(b, '\r', hdr_len);
                size_t rl = eol != NULL ? (size_t)(eol - (b + 12)) : 0;
                snprintf(r->reason, sizeof(r->reason), "%.*s", (int)(rl < 120 ? rl : 120), b + 12);
                tp_header(b, hdr_len, "Warning", NULL, r->warning, sizeof(r->warning));
                tp_header(b, hdr_len, "Push-Id", NULL, r->push_id, sizeof(r->push_id));
                memmove(t->buf, t->buf + total, t->buflen - total);
                t->buflen -= total;
                return 0;
            }
        }
        if (t->buflen >= sizeof(t->buf)) {
            snprintf(why, whylen, "response larger than %zu bytes", sizeof(t->buf));
            return PR_EPROTO;
        }
        ERR_clear_error();
        errno = 0;
        int n = SSL_read(t->ssl, t->buf + t->buflen, (int)(sizeof(t->buf) - t->buflen));
        if (n > 0) {
            t->buflen += (size_t)n;
            continue;
        }
        int e = SSL_get_error(t->ssl, n);
        why[0] = '\0';
        if (e == SSL_ERROR_ZERO_RETURN)
            snprintf(why, whylen, "the relay closed the connection");
        else if (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK))
            snprintf(why, whylen, "no answer within %ds", TP_IO_TIMEOUT_S);
        else if (e == SSL_ERROR_SSL)
            tp_ssl_errors(why, whylen);
        else
            snprintf(why, whylen, "connection lost (%s)", errno ? strerror(errno) : "EOF");
        if (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK))
            return PR_ETIMEDOUT;
        return e == SSL_ERROR_SSL ? PR_ETLS : PR_EIO;
    }
}

static void tp_rand_hex(char *out, size_t nbytes)
{
    unsigned char r[32];
    if (nbytes > sizeof(r))
        nbytes = sizeof(r);
    if (RAND_bytes(r, (int)nbytes) != 1) {
        /* Uniqueness, not secrecy, is what the id needs. */
        uint64_t x = (uint64_t)pr_now_ms() ^ ((uint64_t)getpid() << 32);
        memcpy(r, &x, nbytes < sizeof(x) ? nbytes : sizeof(x));
    }
    for (size_t i = 0; i < nbytes; i++)
        sprintf(out + 2 * i, "%02x", r[i]);
}

/* tp_pct_encode percent-encodes 's' for a SIP URI parameter value (RFC 3261 paramchar). */
static int tp_pct_encode(const char *s, char *out, size_t len)
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
    out[o] = '\0';
    return 0;
}

/* tp_request formats one SIP request of ours into '*out' (malloc'd). */
static int tp_request(struct tp *t, const char *method, const char *ruri, int cseq,
                      const char *body, char **out, size_t *outlen)
{
    char tag[17], branch[17], callid[33];
    tp_rand_hex(tag, 8);
    tp_rand_hex(branch, 8);
    tp_rand_hex(callid, 16);
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
                     method, ruri, t->a.domain, branch, t->a.domain, tag,
                     t->ctl->cfg->federation.domain, callid, t->a.domain, cseq, method,
                     body != NULL ? "Content-Type: application/json\r\n" : "", blen,
                     body != NULL ? body : "");
    if (n < 0)
        return PR_ENOMEM;
    *outlen = (size_t)n;
    return 0;
}

/* tp_hint names what to do about a refused MESSAGE. */
static const char *tp_hint(const struct tp *t, const struct tp_resp *r, char *buf, size_t len)
{
    buf[0] = '\0';
    switch (r->status) {
    case 403:
        if (strstr(r->warning, "not enabled") != NULL)
            snprintf(buf, len, "the domain is not enabled: pushrelayctl enable-push --domain %s "
                               "--edge-fqdn <edge>", t->a.domain);
        else if (strstr(r->warning, "disabled for") != NULL)
            snprintf(buf, len, "the provider is disabled for the domain: pushrelayctl enable-push "
                               "--domain %s --edge-fqdn <edge> --%s", t->a.domain, t->a.provider);
        else if (strstr(r->warning, "edge") != NULL)
            snprintf(buf, len, "no DNS name of --cert is a registered edge of %s: pushrelayctl "
                               "enable-push --domain %s --edge-fqdn <the certificate's DNS name>",
                     t->a.domain, t->a.domain);
        break;
    case 404:
        snprintf(buf, len, "the relay serves no %s app for pn-param %s: check apps in %s",
                 t->a.provider, t->param, t->ctl->cfg->path);
        break;
    case 410:
        snprintf(buf, len, "the device token is recorded dead: pushrelayctl tokens show %s; "
                           "tokens forget it once the app registered again", t->a.token);
        break;
    case 503:
        snprintf(buf, len, "the relay cannot queue now (Redis, queue high water or rate limit)");
        break;
    default:
        break;
    }
    return buf;
}

/* tp_message_body builds the JSON body of design section 5 (malloc'd). */
static char *tp_message_body(struct tp *t)
{
    char when[64], text[160];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    snprintf(text, sizeof(text), "Test notification sent by pushrelayctl at %s", when);
    char from[300], to[300];
    snprintf(from, sizeof(from), "sip:test-push@%s", t->a.domain);
    snprintf(to, sizeof(to), "sip:test-push@%s", t->a.domain);
    /* "trace": the dispatcher records the delivery too, which is what the last step reads. */
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:b}", "id", t->id, "event", "im",
                          "from", from, "to", to, "title", TP_TITLE, "body", text, "ttl", t->ttl_s,
                          "priority", "high", "trace", 1);
    if (o == NULL)
        return NULL;
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* ---------------------------------------------------------------------------
 * Outcome: the record, or one snapshot of where the notification can be
 * ------------------------------------------------------------------------- */

enum tp_state { TP_UNKNOWN, TP_QUEUED, TP_RETRYING, TP_DELIVERED, TP_EXPIRED, TP_TOKEN_DEAD,
                TP_DEAD_LETTER };

struct tp_outcome {
    enum tp_state state;
    char detail[1024];
};

/* tp_fields_get returns the value of 'name' in a stream entry's field array. */
static const redisReply *tp_field(const redisReply *fields, const char *name)
{
    if (fields == NULL || fields->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING && strcmp(fields->element[i]->str, name) == 0)
            return fields->element[i + 1];
    return NULL;
}

/* tp_entry_with_id returns the fields of the entry of 'entries' whose "id" is ours. */
static const redisReply *tp_entry_with_id(const struct tp *t, const redisReply *entries)
{
    if (entries == NULL || entries->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
            continue;
        const redisReply *id = tp_field(e->element[1], "id");
        const redisReply *dom = tp_field(e->element[1], "domain");
        if (id != NULL && id->str != NULL && strcmp(id->str, t->id) == 0 &&
            (dom == NULL || dom->str == NULL || strcasecmp(dom->str, t->a.domain) == 0))
            return e->element[1];
    }
    return NULL;
}

/*
 * tp_snapshot reads, in one MULTI/EXEC (so nothing moves between the
 * reads), every place the notification can be: the dead-token record, its
 * provider stream, the retry zset and the dead letters. Sets o->state
 * (TP_UNKNOWN when it is in none of them). 0, PR_ETOOBIG or PR_EREDIS.
 */
static int tp_snapshot(struct tp *t, struct tp_outcome *o)
{
    redisContext *c = t->ctl->redis;
    const struct keys *k = &t->ctl->keys;
    char stream[KEYS_MAX], retry[KEYS_MAX], dead[KEYS_MAX], token[KEYS_MAX], count[16], last[16];
    keys_stream(k, t->prov, stream, sizeof(stream));
    keys_retry(k, retry, sizeof(retry));
    keys_dead(k, dead, sizeof(dead));
    if (keys_token(k, t->prov, t->a.token, token, sizeof(token)) < 0)
        return PR_ETOOBIG;
    snprintf(count, sizeof(count), "%d", TP_SCAN);
    snprintf(last, sizeof(last), "%d", TP_SCAN - 1);
    const char *multi[] = { "MULTI" }, *exec[] = { "EXEC" };
    const char *tk[] = { "HMGET", token, TOKEN_F_REASON, TOKEN_F_SINCE };
    const char *xs[] = { "XREVRANGE", stream, "+", "-", "COUNT", count };
    const char *zr[] = { "ZRANGE", retry, "0", last };
    const char *xd[] = { "XREVRANGE", dead, "+", "-", "COUNT", count };
    redisAppendCommandArgv(c, 1, multi, NULL);
    redisAppendCommandArgv(c, 4, tk, NULL);
    redisAppendCommandArgv(c, 6, xs, NULL);
    redisAppendCommandArgv(c, 4, zr, NULL);
    redisAppendCommandArgv(c, 6, xd, NULL);
    redisAppendCommandArgv(c, 1, exec, NULL);
    redisReply *r = NULL;
    for (int i = 0; i < 6; i++) {
        if (r != NULL)
            freeReplyObject(r);
        r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK)
            return PR_EREDIS;
    }
    int rc = PR_EREDIS;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 4)
        goto out;
    rc = 0;
    o->state = TP_UNKNOWN;

    /* A token recorded dead since we sent: the provider said so of our notification. */
    const redisReply *tr = r->element[0];
    if (tr->type == REDIS_REPLY_ARRAY && tr->elements == 2 && tr->element[1]->type == REDIS_REPLY_STRING &&
        strtoll(tr->element[1]->str, NULL, 10) >= t->sent_ms - 1000) {
        o->state = TP_TOKEN_DEAD;
        snprintf(o->detail, sizeof(o->detail), "the provider reports the device token dead (%s); "
                 "later pushes to it are refused with 410",
                 tr->element[0]->type == REDIS_REPLY_STRING ? tr->element[0]->str : "no reason given");
        goto out;
    }
    if (tp_entry_with_id(t, r->element[1]) != NULL) {
        o->state = TP_QUEUED;
        snprintf(o->detail, sizeof(o->detail), "still in the %s stream (queued or being delivered)",
                 t->a.provider);
        goto out;
    }
    const redisReply *z = r->element[2];
    for (size_t i = 0; z->type == REDIS_REPLY_ARRAY && i < z->elements; i++) {
        json_t *j = json_loadb(z->element[i]->str, z->element[i]->len, 0, NULL);
        const char *id = json_string_value(json_object_get(j, "id"));
        if (id != NULL && strcmp(id, t->id) == 0) {
            o->state = TP_RETRYING;
            const char *lastans = json_string_value(json_object_get(j, "last"));
            snprintf(o->detail, sizeof(o->detail), "retrying after %lld attempt(s); the provider's "
                     "last answer: %s", (long long)json_integer_value(json_object_get(j, "att")),
                     lastans != NULL ? lastans : "none");
        }
        json_decref(j);
        if (o->state != TP_UNKNOWN)
            goto out;
    }
    const redisReply *d = tp_entry_with_id(t, r->element[3]);
    if (d != NULL) {
        const redisReply *reason = tp_field(d, "reason"), *st = tp_field(d, "last_status");
        o->state = TP_DEAD_LETTER;
        snprintf(o->detail, sizeof(o->detail), "dead letter: %s (last status %s); see pushrelayctl dlq list",
                 reason && reason->str ? reason->str : "?", st && st->str ? st->str : "?");
    }
out:
    freeReplyObject(r);
    return rc;
}

static void tp_from_record(const struct outcome_info *oi, struct tp_outcome *o)
{
    if (oi->outcome == PR_OUTCOME_DELIVERED) {
        o->state = TP_DELIVERED;
        snprintf(o->detail, sizeof(o->detail), "the provider accepted it (attempt %d)", oi->attempts);
    } else if (oi->outcome == PR_OUTCOME_RETRY || oi->outcome == PR_OUTCOME_REAUTH) {
        o->state = TP_RETRYING;
        snprintf(o->detail, sizeof(o->detail), "retrying after %d attempt(s); the provider's last "
                 "answer: %s", oi->attempts, oi->last[0] ? oi->last : oi->reason);
    } else if (oi->outcome == PR_OUTCOME_EXPIRED) {
        o->state = TP_EXPIRED;
        snprintf(o->detail, sizeof(o->detail), "expired before delivery (last answer: %s)",
                 oi->last[0] ? oi->last : "none");
    } else if (oi->outcome == PR_OUTCOME_TOKEN_DEAD) {
        o->state = TP_TOKEN_DEAD;
        snprintf(o->detail, sizeof(o->detail), "the provider reports the device token dead (%s); "
                 "later pushes to it are refused with 410", oi->reason);
    } else {
        o->state = TP_DEAD_LETTER;
        snprintf(o->detail, sizeof(o->detail), "dead letter: %s (last status %d); see pushrelayctl dlq list",
                 oi->reason, oi->last_status);
    }
}

/* tp_outcome reads what became of the notification now. */
static int tp_outcome(struct tp *t, struct tp_outcome *o)
{
    struct outcome_info oi;
    memset(o, 0, sizeof(*o));
    int rc = outcome_log_get(t->ctl->redis, &t->ctl->keys, t->a.domain, t->id, &oi);
    if (rc == 0) {
        tp_from_record(&oi, o);
        return 0;
    }
    if (rc != PR_ENOTFOUND)
        return rc;
    if ((rc = tp_snapshot(t, o)) != 0 || o->state != TP_UNKNOWN)
        return rc;
    /* In no queue, no retry, no dead letter: finished without a failure. */
    if (pr_now_ms() > t->sent_ms + (int64_t)t->ttl_s * 1000) {
        o->state = TP_EXPIRED;
        snprintf(o->detail, sizeof(o->detail), "gone from the queue after its TTL (%ds): expired", t->ttl_s);
    } else {
        o->state = TP_DELIVERED;
        snprintf(o->detail, sizeof(o->detail), "the provider accepted it (left the queue with no "
                 "retry, dead letter or dead token)");
    }
    return 0;
}

/* tp_wait polls the outcome until it is final or --timeout passes. */
static int tp_wait(struct tp *t)
{
    struct tp_outcome o = { 0 };
    int rc = ctl_redis(t->ctl);
    if (rc != 0) {
        tp_fail("delivered", "cannot read the outcome: Redis unreachable");
        return CTL_EXIT_FAIL;
    }
    int64_t deadline = pr_now_ms() + t->a.timeout * 1000;
    int said_retry = 0;
    for (;;) {
        if ((rc = tp_outcome(t, &o)) != 0) {
            tp_fail("delivered", "cannot read the outcome from Redis: %s", pr_strerror(rc));
            return CTL_EXIT_FAIL;
        }
        if (o.state == TP_RETRYING && !said_retry) {
            printf("INFO delivered: %s\n", o.detail);
            fflush(stdout);
            said_retry = 1;
        }
        if (o.state != TP_QUEUED && o.state != TP_RETRYING && o.state != TP_UNKNOWN)
            break;
        if (pr_now_ms() >= deadline) {
            if (o.state == TP_RETRYING)
                tp_fail("delivered", "not delivered within %llds: %s", t->a.timeout, o.detail);
            else
                tp_fail("delivered", "not delivered within %llds: %s (is a dispatcher running? "
                        "pushrelayd --role dispatcher or all)", t->a.timeout, o.detail);
            return CTL_EXIT_FAIL;
        }
        struct timespec ts = { 0, TP_POLL_MS * 1000000L };
        nanosleep(&ts, NULL);
    }
    switch (o.state) {
    case TP_DELIVERED:
        tp_pass("delivered", "%s in %lld ms", o.detail, (long long)(pr_now_ms() - t->sent_ms));
        return CTL_EXIT_OK;
    case TP_TOKEN_DEAD:
        tp_fail("delivered", "token dead: %s", o.detail);
        return CTL_EXIT_FAIL;
    default:
        tp_fail("delivered", "%s", o.detail);
        return CTL_EXIT_FAIL;
    }
}

/* ---------------------------------------------------------------------------
 * The command
 * ------------------------------------------------------------------------- */

static int tp_run(struct tp *t)
{
    char why[1024], hint[2048], addr[300];
    struct tp_resp r;
    int rc;

    snprintf(addr, sizeof(addr), strchr(t->host, ':') ? "[%s]:%d" : "%s:%d", t->host, t->port);
    if (tp_connect(t, why, sizeof(why)) != 0) {
        tp_fail("connect", "cannot reach the federation listener at %s: %s (is pushrelayd running "
                "with the listener role? see federation.listen)", addr, why);
        return CTL_EXIT_FAIL;
    }
    tp_pass("connect", "TCP connection to %s", addr);

    if ((rc = tp_handshake(t, why, sizeof(why))) != 0) {
        tp_fail("tls", "%s", why);
        return CTL_EXIT_FAIL;
    }

    /* With TLS 1.3 a refused client certificate shows on the first read. */
    char ruri[1024], *req = NULL;
    size_t reqlen;
    snprintf(ruri, sizeof(ruri), "sip:%s", t->ctl->cfg->federation.domain);
    if (tp_request(t, "OPTIONS", ruri, 1, NULL, &req, &reqlen) != 0)
        return CTL_EXIT_FAIL;
    why[0] = '\0';
    rc = tp_send(t, req, reqlen);
    free(req);
    /* A failed write still leaves the relay's alert to read, when it came first. */
    int rrc = tp_read_resp(t, &r, why, sizeof(why));
    if (rc == 0)
        rc = rrc;
    /*
     * The relay checks our certificate after our side of the handshake is
     * done: a TLS alert, or the connection dropped before its first answer,
     * is the relay refusing it.
     */
    if (rc == PR_ETLS || rrc == PR_ETLS || (rc == PR_EIO && rrc != 0)) {
        tp_fail("tls", "the relay refused our certificate: is it signed by the CA in "
                "federation.tls.ca_file? (%s)", why[0] ? why : "connection closed after the handshake");
        return CTL_EXIT_FAIL;
    }
    tp_pass("tls", "%s, relay certificate verified for %s, our certificate %s accepted",
            SSL_get_version(t->ssl), t->ctl->cfg->federation.domain, t->a.cert);
    if (rc != 0) {
        tp_fail("options", "%s", why);
        return CTL_EXIT_FAIL;
    }
    if (r.status != 200) {
        tp_fail("options", "answered %d %s%s%s", r.status, r.reason, r.warning[0] ? ": " : "", r.warning);
        return CTL_EXIT_FAIL;
    }
    tp_pass("options", "200 %s", r.reason);

    char prid[4096], *body = tp_message_body(t);
    if (body == NULL || tp_pct_encode(t->a.token, prid, sizeof(prid)) != 0) {
        free(body);
        tp_fail("message", "--token too long");
        return CTL_EXIT_FAIL;
    }
    char *uri = NULL;
    if (asprintf(&uri, "sip:push@%s;pn-provider=%s;pn-prid=%s;pn-param=%s",
                 t->ctl->cfg->federation.domain, pr_provider_name(t->prov), prid, t->param) < 0) {
        free(body);
        return CTL_EXIT_FAIL;
    }
    rc = tp_request(t, "MESSAGE", uri, 2, body, &req, &reqlen);
    free(uri);
    free(body);
    if (rc != 0)
        return CTL_EXIT_FAIL;
    t->sent_ms = pr_now_ms();
    rc = tp_send(t, req, reqlen);
    free(req);
    if (rc == 0)
        rc = tp_read_resp(t, &r, why, sizeof(why));
    if (rc != 0) {
        tp_fail("message", "%s", why);
        return CTL_EXIT_FAIL;
    }
    if (r.status != 202) {
        tp_hint(t, &r, hint, sizeof(hint));
        tp_fail("message", "answered %d %s%s%s%s%s", r.status, r.reason,
                r.warning[0] ? ": " : "", r.warning, hint[0] ? ": " : "", hint);
        return CTL_EXIT_FAIL;
    }
    tp_pass("message", "202 %s, Push-Id %s (app %s, pn-param %s)", r.reason,
            r.push_id[0] ? r.push_id : t->id, t->app->id, t->param);
    return tp_wait(t);
}

int ctl_test_push(struct ctl *ctl, int argc, char **argv)
{
    struct tp t = { .ctl = ctl, .fd = -1, .a = { .timeout = 30 } };
    signal(SIGPIPE, SIG_IGN);       /* a refused connection must fail a write, not kill us */
    const struct ctl_opt opts[] = {
        { "--domain", CTL_OPT_STR, &t.a.domain, 0, 0 },
        { "--provider", CTL_OPT_STR, &t.a.provider, 0, 0 },
        { "--token", CTL_OPT_STR, &t.a.token, 0, 0 },
        { "--app", CTL_OPT_STR, &t.a.app, 0, 0 },
        { "--cert", CTL_OPT_STR, &t.a.cert, 0, 0 },
        { "--key", CTL_OPT_STR, &t.a.key, 0, 0 },
        { "--ca", CTL_OPT_STR, &t.a.ca, 0, 0 },
        { "--host", CTL_OPT_STR, &t.a.host, 0, 0 },
        { "--port", CTL_OPT_INT, &t.a.port, 1, 65535 },
        { "--timeout", CTL_OPT_INT, &t.a.timeout, 1, 3600 },
    };
    int rc = ctl_parse_opts(ctl, argc, argv, opts, sizeof(opts) / sizeof(opts[0]), NULL, 0, NULL);
    if (rc != 0)
        return rc;
    const char *missing = t.a.domain == NULL ? "--domain" : t.a.provider == NULL ? "--provider"
                        : t.a.token == NULL ? "--token" : t.a.cert == NULL ? "--cert"
                        : t.a.key == NULL ? "--key" : NULL;
    if (missing != NULL)
        return ctl_usage_error(ctl, "%s is required", missing);
    if ((rc = ctl_config(ctl)) != 0 || (rc = tp_pick_app(&t)) != 0)
        return rc;
    tp_pick_addr(&t);
    /* A TTL well past --timeout: "expired" then means the relay is stuck, not slow. */
    t.ttl_s = (int)(t.a.timeout * 2 > 300 ? t.a.timeout * 2 : 300);
    tp_rand_hex(t.id, 12);

    const char *ca = t.a.ca != NULL ? t.a.ca : ctl->cfg->federation.tls.ca_file;
    if ((rc = tp_tls_setup(&t, ca)) == 0)
        rc = tp_run(&t);
    if (t.ssl != NULL) {
        SSL_shutdown(t.ssl);
        SSL_free(t.ssl);
    }
    SSL_CTX_free(t.ssl_ctx);
    if (t.fd >= 0)
        close(t.fd);
    return rc;
}
