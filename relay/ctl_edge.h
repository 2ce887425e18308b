/*
 * ctl_edge.h - a blocking SIP/TLS client that plays an enterprise edge
 * against the relay's federation listener: TCP connect, mutual TLS, one
 * request at a time, one response read back. pushrelayctl test-push
 * (relay/ctl_testpush.c) drives it step by step.
 *
 * It is a CLI's client, not the daemon's: sockets block with a timeout of
 * CTL_EDGE_IO_TIMEOUT_S per step. Responses are framed by
 * federation/sip_wire.c. Every failing call fills 'why' (a sentence for
 * the user, NUL-terminated, cut to 'whylen').
 */
#ifndef PUSHRELAY_CTL_EDGE_H
#define PUSHRELAY_CTL_EDGE_H

#include <stddef.h>

#define CTL_EDGE_IO_TIMEOUT_S 10

struct ctl_edge;

/* Which file ctl_edge_new could not use. */
enum ctl_edge_file { CTL_EDGE_CERT, CTL_EDGE_KEY, CTL_EDGE_CA };

/*
 * ctl_edge_new loads our identity ('cert' chain and 'key', PEM) and the
 * CA that must sign the relay's certificate ('ca'). Returns 0 with '*out'
 * (free with ctl_edge_free), PR_ENOMEM, or PR_ECRYPTO with '*bad' naming
 * the file that failed and OpenSSL's reasons in 'why'.
 */
int ctl_edge_new(const char *cert, const char *key, const char *ca, struct ctl_edge **out,
                 enum ctl_edge_file *bad, char *why, size_t whylen);

/* ctl_edge_free closes the connection (TLS close_notify first) and frees 'e'; NULL is fine. */
void ctl_edge_free(struct ctl_edge *e);

/*
 * ctl_edge_connect opens TCP to 'host' (a name or address) port 'port'.
 * 0, or PR_EIO with the resolver's or the socket's reason in 'why'.
 */
int ctl_edge_connect(struct ctl_edge *e, const char *host, int port, char *why, size_t whylen);

/*
 * ctl_edge_handshake runs the TLS handshake, sending 'name' as SNI and
 * requiring the relay's certificate to verify against the CA for 'name'.
 * 0; PR_ECRYPTO when the relay's certificate did not verify ('why': the
 * verification error); PR_ETLS when the relay refused the handshake ('why':
 * OpenSSL's reasons); PR_ENOMEM. With TLS 1.3 the relay's refusal of our
 * certificate shows only on the first read (ctl_edge_read_resp: PR_ETLS).
 */
int ctl_edge_handshake(struct ctl_edge *e, const char *name, char *why, size_t whylen);

/* ctl_edge_tls_version names the negotiated protocol ("TLSv1.3"). */
const char *ctl_edge_tls_version(const struct ctl_edge *e);

/*
 * ctl_edge_request formats one request from 'from_domain' to the relay at
 * 'relay_host' with fresh tag, branch and Call-ID, into '*out' (malloc'd,
 * '*outlen' bytes). 'body' (JSON) may be NULL. 0 or PR_ENOMEM.
 */
int ctl_edge_request(const char *method, const char *ruri, const char *from_domain,
                     const char *relay_host, int cseq, const char *body, char **out,
                     size_t *outlen);

/* ctl_edge_send writes 'len' bytes. 0 or PR_EIO. */
int ctl_edge_send(struct ctl_edge *e, const char *data, size_t len);

/* A response as read: the status and the headers test-push acts on. */
struct ctl_edge_resp {
    int status;
    char reason[128];
    char warning[512];
    char push_id[160];
};

/*
 * ctl_edge_read_resp reads one response (keep-alive pongs before it are
 * skipped). 0; PR_ETLS (a TLS alert: the relay refused us), PR_EIO
 * (closed), PR_ETIMEDOUT or PR_EPROTO (not a SIP response, or over 64 KiB).
 */
int ctl_edge_read_resp(struct ctl_edge *e, struct ctl_edge_resp *r, char *why, size_t whylen);

/* ctl_edge_rand_hex writes 2 * 'nbytes' lowercase hex digits and a NUL ('nbytes' <= 32). */
void ctl_edge_rand_hex(char *out, size_t nbytes);

/*
 * ctl_edge_pct_encode percent-encodes 's' for a SIP URI parameter value
 * (RFC 3261 paramchar) into 'out'. 0, or PR_ETOOBIG when 'len' is short.
 */
int ctl_edge_pct_encode(const char *s, char *out, size_t len);

#endif
