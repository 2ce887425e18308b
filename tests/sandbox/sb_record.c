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

#include <jansson.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "sb_record.h"

struct sb_record {
    FILE *f;
    struct event *flush_ev;
    int dirty;
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
    free(r);
}

/* Bodies are recorded as JSON strings; bytes that are not UTF-8 become '?'. */
static json_t *record_body(const struct sb_req *req)
{
    json_t *s = json_stringn(req->body ? req->body : "", req->bodylen);
    if (s != NULL || req->bodylen == 0)
        return s;
    char *copy = malloc(req->bodylen);
    if (copy == NULL)
        return NULL;
    for (size_t i = 0; i < req->bodylen; i++)
        copy[i] = (unsigned char)req->body[i] < 0x80 ? req->body[i] : '?';
    s = json_stringn(copy, req->bodylen);
    free(copy);
    return s;
}

/* A header value or token that is not UTF-8 is recorded as "?". */
static json_t *record_str(const char *v)
{
    json_t *s = json_string(v);
    return s != NULL ? s : json_string("?");
}

void sb_record_delivery(struct sb_record *r, enum pr_provider p, const char *token,
                        const struct sb_req *req)
{
    json_t *hdrs = json_object();
    json_t *line = json_object();
    if (hdrs == NULL || line == NULL)
        goto out;
    for (size_t i = 0; i < req->nhdrs; i++) {
        const struct sb_hdr *h = &req->hdrs[i];
        if (h->name[0] == ':')
            continue;
        const char *v = strcmp(h->name, "authorization") == 0 ? "<redacted>" : h->value;
        json_object_set_new(hdrs, h->name, record_str(v));
    }
    json_object_set_new(line, "provider", json_string(pr_provider_name(p)));
    json_object_set_new(line, "token", record_str(token));
    json_object_set_new(line, "path", record_str(req->path));
    json_object_set_new(line, "ts_ms", json_integer(sb_now_ms()));
    json_object_set(line, "headers", hdrs);
    json_object_set_new(line, "body", record_body(req));
    if (json_dumpf(line, r->f, JSON_COMPACT) != 0 || fputc('\n', r->f) == EOF) {
        pr_log_warn("sandbox", "record: write failed");
        goto out;
    }
    if (!r->dirty) {
        struct timeval tv = { 0, SB_RECORD_FLUSH_MS * 1000 };
        r->dirty = 1;
        evtimer_add(r->flush_ev, &tv);
    }
out:
    json_decref(hdrs);
    json_decref(line);
}

void sb_delivered(struct sb_ctx *ctx, enum pr_provider p, const char *token,
                  const struct sb_req *req)
{
    ctx->stats.delivered[p]++;
    if (ctx->record != NULL)
        sb_record_delivery(ctx->record, p, token, req);
}
