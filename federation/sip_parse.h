/*
 * sip_parse.h - parse one framed SIP request in place (RFC 3261 §7, §20,
 * §25) and read the RFC 8599 push parameters of its Request-URI.
 *
 * Nothing is allocated: every struct sip_str points into the caller's
 * buffer, which must outlive the struct sip_msg. The federation listener
 * (federation/fed_*.c) calls sip_parse on each SIP_FRAME_REQUEST, and on
 * the header block of a SIP_FRAME_ERROR to build the error response.
 */
#ifndef PUSHRELAY_SIP_PARSE_H
#define PUSHRELAY_SIP_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* A byte range inside a parsed buffer; not NUL-terminated. {NULL, 0} when absent. */
struct sip_str {
    const char *p;
    size_t len;
};

#define SIP_MAX_VIA 16

struct sip_msg {
    struct sip_str method, ruri, version;
    struct sip_str via[SIP_MAX_VIA];
    size_t n_via;                       /* each Via header value in order (a
                                           comma-joined line counts as one value) */
    struct sip_str from, to, call_id, cseq;     /* full values, trimmed, unfolded */
    uint32_t cseq_num;
    struct sip_str cseq_method;
    struct sip_str content_type;        /* media type only, no parameters, trimmed */
    int max_forwards;                   /* -1 when absent */
    struct sip_str from_host;           /* host of the From URI, no port */
    struct sip_str from_tag, to_tag;    /* empty when absent */
    size_t content_length;
    struct sip_str body;
};

/*
 * sip_parse parses the request in the first 'len' bytes of 'buf' (one
 * message as framed by sip_frame_scan: header block, then exactly
 * Content-Length body bytes, or the header block alone, in which case the
 * body is left empty and not checked against Content-Length). Folded header
 * lines are unfolded in place by overwriting their CR and LF with spaces, so
 * 'buf' must be writable; nothing else in it changes.
 *
 * Header names match case-insensitively, compact forms included (i, l, f, t,
 * v, c, m, k, s, e); unknown headers are accepted and ignored. Mandatory:
 * Via, From, To, Call-ID, CSeq (whose method must equal the request's) and
 * Content-Length. From and To may be name-addr ("Name" <sip:u@h>;tag=x) or
 * addr-spec (sip:u@h;tag=x, where the parameters are header parameters).
 *
 * Returns 0, or PR_EPROTO with '*why' (when 'why' is not NULL) set to a
 * short static Warning text naming the first culprit: "bad request line",
 * "bad header line", "missing Via header", "missing From header", "bad From
 * URI", "missing Call-ID header", "bad CSeq", "CSeq method does not match",
 * "Content-Length does not match body", ... Either way '*msg' holds every
 * header that was found, so a response can be built from it when
 * sip_msg_can_respond() says so. A control byte (NUL, CR, LF, ... but not
 * HT) in a header value is "bad byte in <Name> header" for the headers read
 * here ("bad header line" for others); Via, From, To, Call-ID and CSeq then
 * keep the part of their value before that byte, so the 400 can still be
 * addressed without echoing the byte. PR_EINVAL when 'buf' or 'msg' is NULL.
 */
int sip_parse(char *buf, size_t len, struct sip_msg *msg, const char **why);

/*
 * sip_msg_can_respond returns 1 when 'msg' holds what RFC 3261 §8.2.6 copies
 * into a response (a Via, From, To, Call-ID and CSeq), else 0.
 */
int sip_msg_can_respond(const struct sip_msg *msg);

/* RFC 8599 push parameters of a Request-URI. */
struct sip_pn {
    const char *provider, *prid, *param;    /* decoded, NUL-terminated, in 'scratch';
                                               NULL when absent, "" when given
                                               without a value */
    struct sip_str user, host;              /* raw, inside the URI; host without port */
};

/*
 * sip_uri_pn reads pn-provider, pn-prid and pn-param from the URI parameters
 * of 'ruri' (sip:push@host;pn-provider=apns;pn-prid=...;pn-param=...).
 * Parameter names match case-insensitively; their values are percent-decoded
 * into 'scratch' ('scratch_len' bytes; the sum of the three values plus
 * three NULs always fits in ruri.len + 3). Other parameters are ignored.
 *
 * Returns 0; PR_EPROTO with '*why' set (when 'why' is not NULL) for a URI
 * that is not sip: or sips:, has no host, repeats a pn- parameter, or has a
 * bad escape (including %00); PR_ETOOBIG when 'scratch' is too small;
 * PR_EINVAL when 'out' is NULL.
 */
int sip_uri_pn(struct sip_str ruri, char *scratch, size_t scratch_len, struct sip_pn *out,
               const char **why);

/* sip_str_eq returns 1 when 's' equals 'cstr' ignoring ASCII case, else 0. */
int sip_str_eq(struct sip_str s, const char *cstr);

#endif
