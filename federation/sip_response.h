/*
 * sip_response.h - build SIP responses to a parsed request (RFC 3261 §8.2.6)
 * and Warning header values (§20.43).
 *
 * Pure formatting: the listener decides the status and writes the bytes.
 */
#ifndef PUSHRELAY_SIP_RESPONSE_H
#define PUSHRELAY_SIP_RESPONSE_H

#include <stddef.h>
#include <event2/buffer.h>

#include "sip_parse.h"

/* One extra header line "name: value"; both NUL-terminated, without CR/LF. */
struct sip_hdr {
    const char *name;
    const char *value;
};

/*
 * sip_response_write appends a complete response to 'out':
 *
 *   SIP/2.0 <status> <reason, or sip_reason_phrase(status) when NULL>
 *   Via: ...                (every Via of 'req', in order)
 *   From: ...
 *   To: ...;tag=<t>         (tag added when the request's To has none)
 *   Call-ID: ...
 *   CSeq: ...
 *   Server: pushrelay/<PROJECT_VERSION, else "0.1">
 *   <extra[0].name>: <extra[0].value> ...
 *   Content-Length: 0
 *
 * Values from 'req' are copied byte-exact; a header the request lacks is
 * left out (a response to a request that failed sip_parse). The added To tag
 * is sip_to_tag() of the request, so a retransmission gets the same tag.
 * 'reason' and 'extra' are written as given: they must not contain CR or
 * LF (build Warning values with sip_warning). 'extra' may be NULL when
 * 'n_extra' is 0. Either the whole response is appended or nothing is.
 * Returns 0 or PR_ENOMEM; PR_EINVAL for a NULL 'out' or 'req', 'status'
 * outside 100..699, or NULL 'extra' with 'n_extra' > 0.
 */
int sip_response_write(struct evbuffer *out, const struct sip_msg *req, int status,
                       const char *reason, const struct sip_hdr *extra, size_t n_extra);

/*
 * sip_to_tag writes the To tag a response to 'req' adds: 16 lowercase hex
 * digits of a 64-bit FNV-1a hash of Call-ID and From tag, and a NUL, into
 * 'buf' (17 bytes).
 */
void sip_to_tag(const struct sip_msg *req, char buf[17]);

/*
 * sip_reason_phrase returns the RFC 3261 §21 reason phrase of 'status'
 * (plus 202 Accepted, 429 Too Many Requests), a generic phrase of its class
 * for other codes, or "Unknown" outside 100..699. Never NULL.
 */
const char *sip_reason_phrase(int status);

/*
 * sip_warning formats a Warning value into 'buf':  399 <agent> "<text>"
 * Quotes and backslashes in 'text' are escaped with a backslash; CR, LF,
 * other control bytes and bytes that are not well-formed UTF-8 are dropped;
 * the text is cut, on a UTF-8 character boundary, to fit 'buflen' with its
 * NUL. 'agent' (NULL: "pushrelay") is
 * written whole: bytes outside a host name's set are dropped from it.
 * Returns the length written (without the NUL), or PR_ETOOBIG when not even
 * the empty-text form fits (PR_EINVAL for NULL 'buf').
 */
int sip_warning(char *buf, size_t buflen, const char *agent, const char *text);

#endif
