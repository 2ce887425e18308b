/*
 * sb_record.c - append delivery records (JSON lines) to the --record file.
 *
 * Called by the provider handlers through sb_delivered(). Writes go through
 * stdio's buffer and a short timer flushes them, so that a burst of
 * deliveries costs one write(2) rather than one per line, yet a test reading
 * the file sees a line within milliseconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "sb_json.h"
#include "sb_record.h"

struct sb_record {
    FILE *f;
    struct event *flush_ev;
    int dirty;
    struct sb_buf line;
};

static void record_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sb_record *r = arg;
    if (fflush(r->f) != 0)
        pr_log_warn("sandbox", "record: flush failed");
    r->dirty = 0;
}

int sb_record_open(struct event_base *base, const char *path, struct sb_record **out)
{
    struct sb_record *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return PR_ENOMEM;
    r->f = fopen(path, "a");
    if (r->f == NULL) {
        free(r);
        return PR_EIO;
    }
    setvbuf(r->f, NULL, _IOFBF, 1 << 16);
    r->flush_ev = evtimer_new(base, record_flush_cb, r);
    if (r->flush_ev == NULL) {
        fclose(r->f);
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
    event_free(r->flush_ev);
    fclose(r->f);
    sb_buf_free(&r->line);
    free(r);
}

void sb_record_delivery(struct sb_record *r, enum pr_provider p, const char *token,
                        const struct sb_req *req)
{
    struct sb_buf *b = &r->line;
    const char *sep = "";
    int rc;

    /* the line is built in one reused buffer: no allocation per delivery */
    sb_buf_reset(b);
    rc = sb_buf_printf(b, "{\"provider\":\"%s\",\"token\":", pr_provider_name(p));
    rc = rc ? rc : sb_json_string(b, token, strlen(token));
    rc = rc ? rc : sb_buf_printf(b, ",\"path\":");
    rc = rc ? rc : sb_json_string(b, req->path, strlen(req->path));
    rc = rc ? rc : sb_buf_printf(b, ",\"ts_ms\":%lld,\"headers\":{", (long long)sb_now_ms());
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
    if (rc != 0 || fwrite(b->p, 1, b->len, r->f) != b->len) {
        pr_log_warn("sandbox", "record: write failed");
        return;
    }
    if (!r->dirty) {
        struct timeval tv = { 0, SB_RECORD_FLUSH_MS * 1000 };
        r->dirty = 1;
        evtimer_add(r->flush_ev, &tv);
    }
}

void sb_delivered(struct sb_ctx *ctx, enum pr_provider p, const char *token,
                  const struct sb_req *req)
{
    ctx->stats.delivered[p]++;
    if (ctx->record != NULL)
        sb_record_delivery(ctx->record, p, token, req);
}
