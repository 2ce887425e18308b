/*
 * sip_parse.c - parse one framed SIP request in place, and read the RFC 8599
 * push parameters of a Request-URI.
 *
 * What it does: checks the request line and header syntax, unfolds folded
 * header lines, picks out the headers a push request and its response need
 * (Via, From, To, Call-ID, CSeq, Content-Type, Content-Length,
 * Max-Forwards) and the From host and tags. What it does not: framing
 * (sip_frame.c), deciding what the request means (the listener), allocating
 * anything. Called by the listener for each framed request.
 *
 * A hand-written parser rather than libosip2: we read eight headers and two
 * URIs, and in-place parsing keeps every value byte-exact for the response.
 * It is fuzzed by tests/fuzz/fuzz_sip.c.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "pushrelay/error.h"
#include "sip_parse.h"
#include "sip_wire.h"

/* ---------------------------------------------------------------------------
 * Character classes and small helpers
 * ------------------------------------------------------------------------- */

static int parse_is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 3261 §25.1 token. */
static int parse_is_token(char c)
{
    return parse_is_alnum(c) || (c != '\0' && strchr("-.!%*_+`'~", c) != NULL);
}

/* gen-value characters other than a quoted-string: token or host (§25.1). */
static int parse_is_gen_value(char c)
{
    return parse_is_token(c) || c == ':' || c == '[' || c == ']';
}

static int parse_is_ws(char c)
{
    return c == ' ' || c == '\t';
}

static const char *parse_skip_ws(const char *p, const char *end)
{
    while (p < end && parse_is_ws(*p))
        p++;
    return p;
}

static const char *parse_skip_token(const char *p, const char *end)
{
    while (p < end && parse_is_token(*p))
        p++;
    return p;
}

static struct sip_str parse_trim(const char *p, const char *end)
{
    p = parse_skip_ws(p, end);
    while (end > p && parse_is_ws(end[-1]))
        end--;
    return (struct sip_str){ p, (size_t)(end - p) };
}

/* Records 'why' unless an earlier culprit was already found. */
static void parse_fail(const char **culprit, const char *why)
{
    if (*culprit == NULL)
        *culprit = why;
}

/* Finds the CRLF ending the line that starts at 'pos'; its CR's index in '*eol'. */
static int parse_find_eol(const char *buf, size_t pos, size_t len, size_t *eol)
{
    return sip_wire_find_crlf(buf, pos, len, eol);
}

/* Parses 1*DIGIT filling [p, end) exactly, not above 'max'. 0 or -1. */
static int parse_number(const char *p, const char *end, unsigned long long max,
                        unsigned long long *out)
{
    unsigned long long v = 0;
    if (p == end)
        return -1;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned long long d = (unsigned long long)(*p - '0');
        if (d > max || v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int sip_str_eq(struct sip_str s, const char *cstr)
{
    size_t n = strlen(cstr);
    return s.len == n && sip_wire_caseeq(s.p, cstr, n);
}

/* ---------------------------------------------------------------------------
 * SIP URIs and name-addr values
 *
 *   sip:user@host:port;param=value;param?header=value
 *   ^^^^              ^ 'rest' points here (';', '?' or the end)
 * ------------------------------------------------------------------------- */

/*
 * Parses the scheme, user and host of the sip: or sips: URI in [p, end).
 * 'user' is empty when the URI has none; 'host' has no port and no IPv6
 * brackets. Returns 0, -1 when the scheme is not sip/sips, -2 for any other
 * defect.
 */
static int parse_sip_uri(const char *p, const char *end, struct sip_str *user,
                         struct sip_str *host, const char **rest)
{
    size_t n = (size_t)(end - p);
    if (n >= 4 && strncasecmp(p, "sip:", 4) == 0)
        p += 4;
    else if (n >= 5 && strncasecmp(p, "sips:", 5) == 0)
        p += 5;
    else
        return -1;

    /* '@' cannot appear unescaped in URI parameters or headers (§25.1). */
    const char *q = memchr(p, '?', (size_t)(end - p));
    const char *at = memchr(p, '@', (size_t)((q != NULL ? q : end) - p));
    *user = (struct sip_str){ p, 0 };
    if (at != NULL) {
        if (at == p)
            return -2;
        *user = (struct sip_str){ p, (size_t)(at - p) };
        p = at + 1;
    }

    const char *h = p;
    if (p < end && *p == '[') {
        const char *rb = memchr(p, ']', (size_t)(end - p));
        if (rb == NULL || rb == p + 1)
            return -2;
        *host = (struct sip_str){ p + 1, (size_t)(rb - p - 1) };
        p = rb + 1;
    } else {
        while (p < end && (parse_is_alnum(*p) || *p == '-' || *p == '.'))
            p++;
        if (p == h)
            return -2;
        *host = (struct sip_str){ h, (size_t)(p - h) };
    }
    if (p < end && *p == ':') {
        const char *port = ++p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == port || p - port > 5)
            return -2;
    }
    if (p < end && *p != ';' && *p != '?')
        return -2;
    *rest = p;
    return 0;
}

/* Skips a quoted-string starting at 'p' (on the opening quote); NULL if unterminated. */
static const char *parse_skip_quoted(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\') {
            if (++p == end)
                return NULL;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

/*
 * Parses a From or To value: [display-name] <URI> *(;param) or
 * URI *(;param), where in the second form everything after the first ';' is
 * a header parameter (§20.10). Stores the URI host and the tag parameter.
 * Returns 0 or -1.
 */
static int parse_name_addr(struct sip_str v, struct sip_str *host, struct sip_str *tag)
{
    const char *p = v.p, *end = v.p + v.len;
    const char *uri, *uri_end;

    if (p < end && *p == '"') {
        if ((p = parse_skip_quoted(p, end)) == NULL)
            return -1;
        p = parse_skip_ws(p, end);
        if (p == end || *p != '<')
            return -1;
    } else {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (lt != NULL)
            p = lt;
    }
    if (p < end && *p == '<') {
        uri = p + 1;
        if ((uri_end = memchr(uri, '>', (size_t)(end - uri))) == NULL)
            return -1;
        p = uri_end + 1;
    } else {
        uri = p;
        uri_end = memchr(p, ';', (size_t)(end - p));
        if (uri_end == NULL)
            uri_end = end;
        p = uri_end;
    }

    struct sip_str user;
    const char *rest;
    if (parse_sip_uri(uri, uri_end, &user, host, &rest) != 0)
        return -1;

    *tag = (struct sip_str){ NULL, 0 };
    int have_tag = 0;
    for (p = parse_skip_ws(p, end); p < end; p = parse_skip_ws(p, end)) {
        if (*p != ';')
            return -1;
        const char *name = parse_skip_ws(p + 1, end);
        const char *name_end = parse_skip_token(name, end);
        if (name_end == name)
            return -1;
        p = parse_skip_ws(name_end, end);
        struct sip_str val = { p, 0 };
        if (p < end && *p == '=') {
            p = parse_skip_ws(p + 1, end);
            const char *vend;
            if (p < end && *p == '"') {
                if ((vend = parse_skip_quoted(p, end)) == NULL)
                    return -1;
            } else {
                for (vend = p; vend < end && parse_is_gen_value(*vend); vend++)
                    ;
            }
            if (vend == p)
                return -1;
            val = (struct sip_str){ p, (size_t)(vend - p) };
            p = vend;
        }
        if (sip_str_eq((struct sip_str){ name, (size_t)(name_end - name) }, "tag")) {
            if (have_tag || val.len == 0 || *val.p == '"')
                return -1;
            *tag = val;
            have_tag = 1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Request line and headers
 * ------------------------------------------------------------------------- */

/* Method SP Request-URI SP SIP-Version (§7.1), single spaces. */
static int parse_request_line(const char *p, const char *end, struct sip_msg *msg)
{
    const char *m = p;
    p = parse_skip_token(p, end);
    if (p == m || p == end || *p != ' ')
        return -1;
    msg->method = (struct sip_str){ m, (size_t)(p - m) };

    const char *u = ++p;
    while (p < end && (unsigned char)*p > ' ' && *p != 0x7f)
        p++;
    if (p == u || p == end || *p != ' ')
        return -1;
    msg->ruri = (struct sip_str){ u, (size_t)(p - u) };

    msg->version = (struct sip_str){ p + 1, (size_t)(end - p - 1) };
    return sip_str_eq(msg->version, "SIP/2.0") ? 0 : -1;
}

/* The Warning for a control byte (NUL, CR, LF, ...) in a header's value. */
static const char *const parse_bad_byte[SIP_WIRE_HDR_COUNT] = {
    [SIP_WIRE_HDR_OTHER] = "bad header line",
    [SIP_WIRE_HDR_VIA] = "bad byte in Via header",
    [SIP_WIRE_HDR_FROM] = "bad byte in From header",
    [SIP_WIRE_HDR_TO] = "bad byte in To header",
    [SIP_WIRE_HDR_CALL_ID] = "bad byte in Call-ID header",
    [SIP_WIRE_HDR_CSEQ] = "bad byte in CSeq header",
    [SIP_WIRE_HDR_CONTENT_TYPE] = "bad byte in Content-Type header",
    [SIP_WIRE_HDR_CONTENT_LENGTH] = "bad byte in Content-Length header",
    [SIP_WIRE_HDR_MAX_FORWARDS] = "bad byte in Max-Forwards header",
    [SIP_WIRE_HDR_WARNING] = "bad byte in Warning header",
    [SIP_WIRE_HDR_PUSH_ID] = "bad byte in Push-Id header",
};

/* Stores a single-valued header; a second occurrence is a culprit. */
static void parse_set_once(struct sip_str *field, struct sip_str value, const char *dup_why,
                           const char **culprit)
{
    if (field->p != NULL)
        parse_fail(culprit, dup_why);
    else
        *field = value;
}

/* Per-parse bookkeeping that does not belong in struct sip_msg. */
struct parse_state {
    const char *culprit;
    int have_cl;
};

/* One (unfolded) header line in [p, end). */
static void parse_header(const char *p, const char *end, struct sip_msg *msg,
                         struct parse_state *st)
{
    const char *colon = memchr(p, ':', (size_t)(end - p));
    if (colon == NULL) {
        parse_fail(&st->culprit, "bad header line");
        return;
    }
    const char *name_end = colon;
    while (name_end > p && parse_is_ws(name_end[-1]))
        name_end--;
    if (name_end == p || parse_skip_token(p, name_end) != name_end) {
        parse_fail(&st->culprit, "bad header line");
        return;
    }
    /* Names, full and compact, are sip_wire's; headers not read here are ignored. */
    enum sip_wire_hdr id = sip_wire_hdr_id(p, (size_t)(name_end - p));
    for (const char *c = colon + 1; c < end; c++) {
        if (((unsigned char)*c < ' ' && *c != '\t') || *c == 0x7f) {
            parse_fail(&st->culprit, parse_bad_byte[id]);
            /*
             * The headers a response copies keep what precedes the bad byte,
             * so the refusal can still be addressed (a NUL never reaches the
             * response); the others are dropped.
             */
            if (id != SIP_WIRE_HDR_VIA && id != SIP_WIRE_HDR_FROM && id != SIP_WIRE_HDR_TO &&
                id != SIP_WIRE_HDR_CALL_ID && id != SIP_WIRE_HDR_CSEQ)
                return;
            end = c;
            break;
        }
    }
    struct sip_str v = parse_trim(colon + 1, end);
    unsigned long long n;

    switch (id) {
    case SIP_WIRE_HDR_VIA:
        if (v.len == 0)
            parse_fail(&st->culprit, "bad Via header");
        else if (msg->n_via == SIP_MAX_VIA)
            parse_fail(&st->culprit, "too many Via headers");
        else
            msg->via[msg->n_via++] = v;
        break;
    case SIP_WIRE_HDR_FROM:
        parse_set_once(&msg->from, v, "duplicate From header", &st->culprit);
        break;
    case SIP_WIRE_HDR_TO:
        parse_set_once(&msg->to, v, "duplicate To header", &st->culprit);
        break;
    case SIP_WIRE_HDR_CALL_ID:
        parse_set_once(&msg->call_id, v, "duplicate Call-ID header", &st->culprit);
        break;
    case SIP_WIRE_HDR_CSEQ:
        parse_set_once(&msg->cseq, v, "duplicate CSeq header", &st->culprit);
        break;
    case SIP_WIRE_HDR_CONTENT_TYPE: {
        const char *semi = memchr(v.p, ';', v.len);
        parse_set_once(&msg->content_type, parse_trim(v.p, semi != NULL ? semi : v.p + v.len),
                       "duplicate Content-Type header", &st->culprit);
        break;
    }
    case SIP_WIRE_HDR_CONTENT_LENGTH:
        if (parse_number(v.p, v.p + v.len, SIZE_MAX, &n) != 0)
            parse_fail(&st->culprit, "bad Content-Length");
        else if (st->have_cl && msg->content_length != n)
            parse_fail(&st->culprit, "conflicting Content-Length");
        else {
            msg->content_length = (size_t)n;
            st->have_cl = 1;
        }
        break;
    case SIP_WIRE_HDR_MAX_FORWARDS:
        if (msg->max_forwards >= 0)
            parse_fail(&st->culprit, "duplicate Max-Forwards header");
        else if (parse_number(v.p, v.p + v.len, 255, &n) != 0)
            parse_fail(&st->culprit, "bad Max-Forwards");
        else
            msg->max_forwards = (int)n;
        break;
    default:
        break;
    }
}

/* CSeq: 1*DIGIT LWS Method (§20.16); the number is below 2**31. */
static int parse_cseq(struct sip_msg *msg)
{
    const char *p = msg->cseq.p, *end = p + msg->cseq.len;
    const char *d = p;
    unsigned long long n;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    if (parse_number(d, p, 0x7fffffffULL, &n) != 0 || p == end || !parse_is_ws(*p))
        return -1;
    const char *m = parse_skip_ws(p, end);
    if (m == end || parse_skip_token(m, end) != end)
        return -1;
    msg->cseq_num = (uint32_t)n;
    msg->cseq_method = (struct sip_str){ m, (size_t)(end - m) };
    return 0;
}

/* The checks that need the whole header block, in a fixed order. */
static void parse_check(struct sip_msg *msg, struct parse_state *st)
{
    const char **culprit = &st->culprit;

    if (msg->n_via == 0)
        parse_fail(culprit, "missing Via header");
    if (msg->from.p == NULL)
        parse_fail(culprit, "missing From header");
    else if (parse_name_addr(msg->from, &msg->from_host, &msg->from_tag) != 0)
        parse_fail(culprit, "bad From URI");
    struct sip_str to_host;
    if (msg->to.p == NULL)
        parse_fail(culprit, "missing To header");
    else if (parse_name_addr(msg->to, &to_host, &msg->to_tag) != 0)
        parse_fail(culprit, "bad To URI");
    if (msg->call_id.p == NULL)
        parse_fail(culprit, "missing Call-ID header");
    else if (msg->call_id.len == 0 || memchr(msg->call_id.p, ' ', msg->call_id.len) != NULL ||
             memchr(msg->call_id.p, '\t', msg->call_id.len) != NULL)
        parse_fail(culprit, "bad Call-ID");
    if (msg->cseq.p == NULL)
        parse_fail(culprit, "missing CSeq header");
    else if (parse_cseq(msg) != 0)
        parse_fail(culprit, "bad CSeq");
    else if (msg->method.len != msg->cseq_method.len ||
             memcmp(msg->method.p, msg->cseq_method.p, msg->method.len) != 0)
        parse_fail(culprit, "CSeq method does not match");    /* methods are case-sensitive */
    if (!st->have_cl)
        parse_fail(culprit, "missing Content-Length header");
}

/* ---------------------------------------------------------------------------
 * The request
 *
 *   request line          CRLF
 *   header: value         CRLF
 *   header: value         CRLF   SP/HT ...  (folded: CRLF overwritten with "  ")
 *                         CRLF   <- hdr_len ends here
 *   body (Content-Length bytes, or nothing when only the header block is given)
 * ------------------------------------------------------------------------- */

int sip_parse(char *buf, size_t len, struct sip_msg *msg, const char **why)
{
    struct parse_state st = { NULL, 0 };
    size_t rl_eol, eol, pos, hdr_len;

    if (buf == NULL || msg == NULL)
        return PR_EINVAL;
    memset(msg, 0, sizeof(*msg));
    msg->max_forwards = -1;

    if (!parse_find_eol(buf, 0, len, &rl_eol)) {
        parse_fail(&st.culprit, "incomplete header block");
        goto out;
    }
    if (parse_request_line(buf, buf + rl_eol, msg) != 0)
        parse_fail(&st.culprit, "bad request line");

    /* Unfold, and find the blank line. A line right after the request line
     * continues no header: it stays, and fails as a bad header line. */
    for (pos = rl_eol + 2;; pos = eol + 2) {
        if (!parse_find_eol(buf, pos, len, &eol)) {
            parse_fail(&st.culprit, "incomplete header block");
            goto out;
        }
        if (eol == pos)
            break;
        if (parse_is_ws(buf[pos]) && pos > rl_eol + 2)
            buf[pos - 2] = buf[pos - 1] = ' ';
    }
    hdr_len = eol + 2;

    for (pos = rl_eol + 2; pos < hdr_len - 2; pos = eol + 2) {
        parse_find_eol(buf, pos, len, &eol);
        parse_header(buf + pos, buf + eol, msg, &st);
    }
    parse_check(msg, &st);

    msg->body = (struct sip_str){ buf + hdr_len, len - hdr_len };
    if (len > hdr_len && st.have_cl && msg->body.len != msg->content_length)
        parse_fail(&st.culprit, "Content-Length does not match body");

out:
    if (why != NULL)
        *why = st.culprit;
    return st.culprit == NULL ? 0 : PR_EPROTO;
}

int sip_msg_can_respond(const struct sip_msg *msg)
{
    return msg != NULL && msg->n_via > 0 && msg->from.p != NULL && msg->to.p != NULL &&
           msg->call_id.p != NULL && msg->cseq.p != NULL;
}

/* ---------------------------------------------------------------------------
 * RFC 8599 push parameters
 * ------------------------------------------------------------------------- */

static int parse_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * Percent-decodes [p, end) into 'scratch' at '*used' and NUL-terminates it.
 * Returns 0, PR_EPROTO for a bad escape or %00, PR_ETOOBIG when it does not fit.
 */
static int parse_pct_decode(const char *p, const char *end, char *scratch, size_t scratch_len,
                            size_t *used)
{
    size_t o = *used;
    for (; p < end; p++) {
        char c = *p;
        if (c == '%') {
            int hi = end - p > 2 ? parse_hex(p[1]) : -1;
            int lo = end - p > 2 ? parse_hex(p[2]) : -1;
            if (hi < 0 || lo < 0 || (hi | lo) == 0)
                return PR_EPROTO;
            c = (char)(hi << 4 | lo);
            p += 2;
        }
        if (o + 1 >= scratch_len)
            return PR_ETOOBIG;
        scratch[o++] = c;
    }
    if (o >= scratch_len)
        return PR_ETOOBIG;
    scratch[o++] = '\0';
    *used = o;
    return 0;
}

int sip_uri_pn(struct sip_str ruri, char *scratch, size_t scratch_len, struct sip_pn *out,
               const char **why)
{
    static const struct {
        const char *name, *dup_why, *esc_why;
    } pn[] = {
        { "pn-provider", "duplicate pn-provider parameter", "bad escape in pn-provider" },
        { "pn-prid", "duplicate pn-prid parameter", "bad escape in pn-prid" },
        { "pn-param", "duplicate pn-param parameter", "bad escape in pn-param" },
    };
    const char *culprit = NULL, *rest;
    size_t used = 0;
    int err = 0;

    if (out == NULL)
        return PR_EINVAL;
    memset(out, 0, sizeof(*out));
    if (ruri.p == NULL) {
        culprit = "Request-URI is not a sip: URI";
        goto out;
    }
    const char *end = ruri.p + ruri.len;
    switch (parse_sip_uri(ruri.p, end, &out->user, &out->host, &rest)) {
    case 0:
        break;
    case -1:
        culprit = "Request-URI is not a sip: URI";
        goto out;
    default:
        culprit = "bad Request-URI";
        goto out;
    }

    /* ;name[=value] up to the headers ('?') or the end. */
    while (rest < end && *rest == ';') {
        const char *name = rest + 1, *p = name;
        while (p < end && *p != '=' && *p != ';' && *p != '?')
            p++;
        struct sip_str nm = { name, (size_t)(p - name) };
        const char *val = p, *val_end = p;
        if (p < end && *p == '=') {
            val = val_end = p + 1;
            while (val_end < end && *val_end != ';' && *val_end != '?')
                val_end++;
        }
        rest = val_end;
        for (size_t i = 0; i < sizeof(pn) / sizeof(pn[0]); i++) {
            if (!sip_str_eq(nm, pn[i].name))
                continue;
            const char **slot = i == 0 ? &out->provider : i == 1 ? &out->prid : &out->param;
            if (*slot != NULL) {
                culprit = pn[i].dup_why;
                goto out;
            }
            size_t start = used;
            if ((err = parse_pct_decode(val, val_end, scratch, scratch_len, &used)) != 0) {
                culprit = err == PR_EPROTO ? pn[i].esc_why : "push parameters too long";
                goto out;
            }
            *slot = scratch + start;
        }
    }

out:
    if (culprit != NULL) {
        out->provider = out->prid = out->param = NULL;
        if (err == 0)
            err = PR_EPROTO;
    }
    if (why != NULL)
        *why = culprit;
    return err;
}
