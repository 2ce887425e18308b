/*
 * fuzz_sip.c - libFuzzer target for the SIP layer: the input is a TLS byte
 * stream as the listener would buffer it. Frames it with sip_frame_scan
 * (max 16384 bytes), parses each request (and each error's complete header
 * block, or the headers sip_frame_salvage keeps of an oversized one) with
 * sip_parse, reads its push parameters with sip_uri_pn, and
 * answers it with sip_response_write and sip_warning, asserting the
 * contracts of each on the way (split invariance, bounds, no header
 * injection in responses).
 *
 *   CC=clang cmake -S . -B build-fuzz -DPR_FUZZ=ON && make -C build-fuzz fuzz_sip
 *   ./build-fuzz/fuzz_sip -max_len=16384 -max_total_time=180 tests/fuzz/corpus/sip
 * (or deploy/fuzz.sh SECONDS for every target)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

#include "pushrelay/error.h"
#include "sip_frame.h"
#include "sip_parse.h"
#include "sip_response.h"

#define FUZZ_MAX 16384

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)          \
    do {                     \
        if (!(cond))         \
            abort();         \
    } while (0)

static int same_frame(const struct sip_frame *a, const struct sip_frame *b)
{
    return a->kind == b->kind && a->len == b->len && a->hdr_len == b->hdr_len &&
           a->body_len == b->body_len && a->status == b->status && a->why == b->why &&
           a->can_respond == b->can_respond;
}

static void check_in(struct sip_str s, const char *buf, size_t len)
{
    if (s.p == NULL) {
        CHECK(s.len == 0);
        return;
    }
    CHECK(s.p >= buf && s.p + s.len <= buf + len);
}

/* The response must be exactly the lines sip_response_write documents. */
static void check_response(struct evbuffer *out, const struct sip_msg *m, size_t n_extra)
{
    size_t n = evbuffer_get_length(out);
    const char *r = (const char *)evbuffer_pullup(out, -1);
    size_t want = 1 + m->n_via + (m->from.p != NULL) + (m->to.p != NULL) +
                  (m->call_id.p != NULL) + (m->cseq.p != NULL) + 1 + n_extra + 1 + 1;
    size_t lines = 0;
    CHECK(r != NULL && n >= 4 && memcmp(r + n - 4, "\r\n\r\n", 4) == 0);
    for (size_t i = 0; i < n; i++) {
        if (r[i] == '\n') {
            CHECK(i > 0 && r[i - 1] == '\r');
            lines++;
        } else if (r[i] == '\r') {
            CHECK(i + 1 < n && r[i + 1] == '\n');
        }
    }
    CHECK(lines == want);
}

/* A Warning built from hostile text is one well-formed quoted-string. */
static void check_warning(const char *text, size_t n)
{
    char *t = malloc(n + 1), w[96];
    CHECK(t != NULL);
    memcpy(t, text, n);
    t[n] = '\0';
    size_t wlen = 16 + n % 80;
    int wn = sip_warning(w, wlen, "relay", t);
    CHECK(wn >= 11 && (size_t)wn < wlen && strlen(w) == (size_t)wn);
    CHECK(memcmp(w, "399 relay \"", 11) == 0 && w[wn - 1] == '"');
    for (int i = 11; i < wn - 1; i++) {
        CHECK((unsigned char)w[i] >= ' ' && w[i] != 0x7f);
        if (w[i] == '\\') {
            /* An escape pair is never split from its character. */
            CHECK(i + 2 < wn && (w[i + 1] == '"' || w[i + 1] == '\\'));
            i++;
        } else {
            CHECK(w[i] != '"');
        }
    }
    free(t);
}

/*
 * Parses the request framed by 'f' at 'frame' (for an ERROR, its header
 * block alone) and writes the response the listener would.
 */
static void answer(const char *frame, const struct sip_frame *f, struct evbuffer *out)
{
    int is_request = f->kind == SIP_FRAME_REQUEST;
    size_t n = is_request ? f->len : f->hdr_len;
    char *buf = malloc(n + 1);          /* +1: malloc(0) may return NULL */
    struct sip_msg m;
    const char *why = NULL;
    CHECK(buf != NULL);
    memcpy(buf, frame, n);

    int rc = sip_parse(buf, n, &m, &why);
    CHECK((rc == 0 && why == NULL) || (rc == PR_EPROTO && why != NULL));
    /* The framer and the parser agree on where the body is. */
    CHECK(m.body.len == (is_request ? f->body_len : 0));
    CHECK(rc != 0 || !is_request || m.content_length == f->body_len);
    struct sip_str strs[] = { m.method, m.ruri, m.version, m.from, m.to, m.call_id, m.cseq,
                              m.cseq_method, m.content_type, m.from_host, m.from_tag,
                              m.to_tag, m.body };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        check_in(strs[i], buf, n);
    CHECK(m.n_via <= SIP_MAX_VIA);
    for (size_t i = 0; i < m.n_via; i++)
        check_in(m.via[i], buf, n);

    if (m.ruri.p != NULL) {
        /* The header promises ruri.len + 3 bytes of scratch always suffice. */
        char *scratch = malloc(m.ruri.len + 3);
        struct sip_pn pn;
        const char *pwhy = NULL;
        CHECK(scratch != NULL);
        int prc = sip_uri_pn(m.ruri, scratch, m.ruri.len + 3, &pn, &pwhy);
        CHECK(prc == 0 || (prc == PR_EPROTO && pwhy != NULL));
        const char *vals[] = { pn.provider, pn.prid, pn.param };
        for (size_t i = 0; i < 3; i++) {
            if (vals[i] != NULL)
                CHECK(vals[i] >= scratch && vals[i] + strlen(vals[i]) < scratch + m.ruri.len + 3);
        }
        if (prc == 0) {
            check_in(pn.user, m.ruri.p, m.ruri.len);
            check_in(pn.host, m.ruri.p, m.ruri.len);
        }
        free(scratch);
    }

    check_warning(buf, n);

    char warning[256];
    int wn = sip_warning(warning, sizeof(warning), "push.example.net", why != NULL ? why : "ok");
    CHECK(wn > 0 && (size_t)wn < sizeof(warning) && strlen(warning) == (size_t)wn);
    CHECK(strpbrk(warning, "\r\n") == NULL);
    struct sip_hdr extra[] = { { "Warning", warning } };
    CHECK(sip_response_write(out, &m, !is_request ? f->status : rc == 0 ? 202 : 400, NULL, extra,
                             1) == 0);
    check_response(out, &m, 1);
    evbuffer_drain(out, evbuffer_get_length(out));
    free(buf);
}

/*
 * As the listener does for a 413 it cannot address from a complete header
 * block: rebuild one from the lines within limits and answer from it.
 */
static void salvage(const char *buf, size_t len, const struct sip_frame *f, struct evbuffer *out)
{
    char *hdrs = malloc(len + 2);
    CHECK(hdrs != NULL);
    size_t n = sip_frame_salvage(buf, len, hdrs, len + 2);
    CHECK(n <= len + 2);
    if (n > 0) {
        /* Whole lines within the cap, ending in the blank line. */
        CHECK(n >= 4 && memcmp(hdrs + n - 4, "\r\n\r\n", 4) == 0);
        size_t start = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            if (hdrs[i] == '\r' && hdrs[i + 1] == '\n') {
                CHECK(i - start <= SIP_FRAME_MAX_LINE);
                start = i + 2;
            }
        }
        struct sip_frame g = *f;
        g.hdr_len = n;
        answer(hdrs, &g, out);
    }
    free(hdrs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    struct evbuffer *out = evbuffer_new();
    size_t off = 0;
    CHECK(out != NULL);

    while (off < size) {
        struct sip_frame f, g;
        size_t avail = size - off;
        CHECK(sip_frame_scan(in + off, avail, FUZZ_MAX, &f) == 0);

        /* Split invariance: a shorter read decides nothing or the same.
         * Every prefix of short inputs, one prefix of long ones. */
        size_t cut = avail <= 256 ? 0 : (size_t)data[off] * 257 % avail;
        for (; cut < avail; cut = avail <= 256 ? cut + 1 : avail) {
            CHECK(sip_frame_scan(in + off, cut, FUZZ_MAX, &g) == 0);
            CHECK(g.kind == SIP_FRAME_NEED_MORE || same_frame(&f, &g));
        }

        switch (f.kind) {
        case SIP_FRAME_NEED_MORE:
            goto done;
        case SIP_FRAME_PING:
            CHECK(f.len == 4 && memcmp(in + off, "\r\n\r\n", 4) == 0);
            break;
        case SIP_FRAME_SKIP:
            CHECK(f.len == 2);
            break;
        case SIP_FRAME_REQUEST:
            CHECK(f.len == f.hdr_len + f.body_len && f.len <= avail && f.len <= FUZZ_MAX);
            CHECK(sip_frame_scan(in + off, f.len - 1, FUZZ_MAX, &g) == 0);
            CHECK(g.kind == SIP_FRAME_NEED_MORE);
            answer(in + off, &f, out);
            break;
        case SIP_FRAME_ERROR:
            CHECK((f.status == 400 || f.status == 413) && f.why != NULL);
            if (f.can_respond) {
                CHECK(f.hdr_len > 0 && f.hdr_len <= avail && f.hdr_len <= FUZZ_MAX);
                answer(in + off, &f, out);
            } else if (f.status == 413) {
                salvage(in + off, avail < FUZZ_MAX + 8 ? avail : FUZZ_MAX + 8, &f, out);
            }
            goto done;
        }
        off += f.len;
    }
done:
    evbuffer_free(out);
    return 0;
}
