/*
 * sb_record.c - append delivery records (JSON lines) to the --record file.
 *
 * Called by the provider handlers through sb_deliver(), and by the
 * transports for delayed answers through sb_delivered(). Lines collect in
 * a pending buffer that a short timer (or a full buffer) writes with one
 * write(2): a burst of deliveries costs one system call rather than one per
 * line, a test reading the file sees a line within milliseconds, and the
 * file only ever grows by whole lines (stdio would split a line at its
 * buffer boundary, and a reader could see half of it).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "sb_json.h"
#include "sb_record.h"
#include "sb_webpush.h"

#define RECORD_PENDING_MAX (256 * 1024)   /* write at once past this */

struct sb_record {
    int fd;
    struct event *flush_ev;
    struct sb_buf pending;     /* complete lines not yet written */
};

/* record_flush writes every pending line; on failure they are dropped, logged. */
static void record_flush(struct sb_record *r)
{
    size_t off = 0;
    while (off < r->pending.len) {
        ssize_t n = write(r->fd, r->pending.p + off, r->pending.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            pr_log_warn("sandbox", "record: write failed: %s", strerror(errno));
            break;
        }
        off += (size_t)n;
    }
    sb_buf_reset(&r->pending);
}

static void record_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    record_flush(arg);
}

int sb_record_open(struct event_base *base, const char *path, struct sb_record **out)
{
    struct sb_record *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return PR_ENOMEM;
    r->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (r->fd < 0) {
        free(r);
        return PR_EIO;
    }
    r->flush_ev = evtimer_new(base, record_flush_cb, r);
    if (r->flush_ev == NULL) {
        close(r->fd);
        free(r);
        return PR_ENOMEM;
    }
    *out = r;
    return 0;
}

void sb_record_close(struct sb_record *r)
{
    if (r == NULL)
        return;
    record_flush(r);
    event_free(r->flush_ev);
    close(r->fd);
    sb_buf_free(&r->pending);
    free(r);
}

const char *sb_provider_name(enum pr_provider p)
{
    static const char *const ext[] = { "webpush", "wns", "hms" };
    if ((unsigned)p >= PR_PROVIDER_COUNT && (unsigned)p < SB_PROVIDER_COUNT)
        return ext[p - PR_PROVIDER_COUNT];
    return pr_provider_name(p);
}

void sb_record_delivery(struct sb_record *r, enum pr_provider p, const char *token,
                        const struct sb_req *req)
{
    struct sb_buf *b = &r->pending;
    const char *sep = "";
    size_t mark = b->len;      /* where this line starts */
    int rc;

    /* the line is appended to the pending buffer directly: no allocation per delivery */
    rc = sb_buf_printf(b, "{\"provider\":\"%s\",\"token\":", sb_provider_name(p));
    rc = rc ? rc : sb_json_string(b, token, strlen(token));
    rc = rc ? rc : sb_buf_printf(b, ",\"path\":");
    rc = rc ? rc : sb_json_string(b, req->path, strlen(req->path));
    int64_t us = sb_now_us();
    rc = rc ? rc : sb_buf_printf(b, ",\"ts_ms\":%lld,\"ts_us\":%lld,\"headers\":{",
                                 (long long)(us / 1000), (long long)us);
    for (size_t i = 0; i < req->nhdrs && rc == 0; i++) {
        const struct sb_hdr *h = &req->hdrs[i];
        if (h->name[0] == ':')
            continue;
        const char *v = strcmp(h->name, "authorization") == 0 ? "<redacted>" : h->value;
        rc = sb_buf_printf(b, "%s", sep);
        rc = rc ? rc : sb_json_string(b, h->name, strlen(h->name));
        rc = rc ? rc : sb_buf_append(b, ":", 1);
        rc = rc ? rc : sb_json_string(b, v, strlen(v));
        sep = ",";
    }
    rc = rc ? rc : sb_buf_printf(b, "},\"body\":");
    rc = rc ? rc : sb_json_string(b, req->body, req->bodylen);
    rc = rc ? rc : sb_buf_append(b, "}\n", 2);
    if (rc != 0) {
        b->len = mark;     /* drop the half-built line */
        if (b->p != NULL)
            b->p[mark] = '\0';
        pr_log_warn("sandbox", "record: out of memory, delivery not recorded");
        return;
    }
    if (b->len >= RECORD_PENDING_MAX) {
        record_flush(r);
        evtimer_del(r->flush_ev);
    } else if (!evtimer_pending(r->flush_ev, NULL)) {
        struct timeval tv = { 0, SB_RECORD_FLUSH_MS * 1000 };
        evtimer_add(r->flush_ev, &tv);
    }
}

void sb_delivered(struct sb_ctx *ctx, enum pr_provider p, const char *token,
                  const struct sb_req *req)
{
    ctx->stats.delivered[p]++;
    if (ctx->record == NULL)
        return;
    /* a Web Push body is recorded as the user agent reads it: decrypted */
    if (p == SB_PROVIDER_WEBPUSH)
        sb_webpush_record(ctx, token, req);
    else
        sb_record_delivery(ctx->record, p, token, req);
}

void sb_deliver(struct sb_ctx *ctx, struct sb_resp *resp, enum pr_provider p, const char *token,
                const struct sb_req *req)
{
    if (resp->delay_ms == 0 || resp->token == NULL) {
        sb_delivered(ctx, p, token, req);
        return;
    }
    sb_buf_reset(resp->token);
    if (sb_buf_append(resp->token, token, strlen(token)) != 0) {
        sb_delivered(ctx, p, token, req);   /* cannot defer: record now rather than never */
        return;
    }
    resp->deliver = 1;
    resp->provider = p;
}
