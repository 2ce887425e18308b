/*
 * certinfo.h - the expiry dates of every certificate the relay holds, for
 * the /metrics gauge pushrelay_certificate_expiry_timestamp_seconds, the
 * daemon's daily warning and pushrelayctl's warnings (design section 12).
 *
 * Which certificates, and the 'app' label each one carries:
 *
 *   federation.tls.certificate   "federation"  the relay's certificate and its chain
 *   federation.tls.ca_file       "edge-ca"     every CA edges' certificates chain to
 *   apps.[].certificate          <app id>      APNs certificate auth, MPNS client certificate
 *
 * A file holding several certificates yields one entry per certificate,
 * told apart by subject. Keys and the providers' own trust anchors
 * (apps.[].ca_file) are not listed: they do not expire on us.
 */
#ifndef PUSHRELAY_CERTINFO_H
#define PUSHRELAY_CERTINFO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <event2/event.h>
#include "pushrelay/config.h"

/* Warn this many days before a certificate's notAfter (and after it). */
#define CERTINFO_WARN_DAYS 30

struct certinfo_cert {
    char *app;          /* "federation", "edge-ca" or the app id */
    char *file;         /* the path as configured (resolved, absolute) */
    char *subject;      /* RFC 2253 one-line subject */
    int64_t not_after;  /* notAfter, Unix seconds */
};

struct certinfo {
    struct certinfo_cert *certs;
    size_t n;
};

/*
 * certinfo_load reads every certificate 'cfg' names (table above) into
 * 'out', which the caller frees with certinfo_clear. Returns 0, PR_ENOMEM,
 * or PR_EIO when a file cannot be read or holds no certificate; then
 * 'out' is empty.
 */
int certinfo_load(const struct cfg *cfg, struct certinfo *out);
void certinfo_clear(struct certinfo *ci);

/*
 * certinfo_describe writes what a warning says about 'c' at 'now' into
 * 'buf': "certificate <file> (app <app>, <subject>) expires in N days, on
 * <date>" or "... expired N days ago, on <date>".
 */
void certinfo_describe(const struct certinfo_cert *c, time_t now, char *buf, size_t len);

/* certinfo_expiring: 1 if 'c' expires within 'days' days of 'now' (or has expired). */
int certinfo_expiring(const struct certinfo_cert *c, time_t now, int days);

/*
 * certinfo_print_warnings loads the certificates of 'cfg' and prints one
 * "warning: <description>" line on 'out' for each that expires within
 * CERTINFO_WARN_DAYS of 'now'. Returns how many it printed (a file it
 * cannot read is one warning too). For pushrelayctl show-push, test-push.
 */
int certinfo_print_warnings(const struct cfg *cfg, time_t now, FILE *out);

/*
 * certinfo_watch: the daemon's warning. It reads the certificates of the
 * configuration it is given, logs a warning for each one expiring within
 * CERTINFO_WARN_DAYS at once and then every 24 hours while it runs.
 * certinfo_watch_reload reads the files of the configuration a reload
 * installed (and logs again). The watch keeps the dates, not 'cfg'.
 */
struct certinfo_watch;
int certinfo_watch_new(struct event_base *base, const struct cfg *cfg, struct certinfo_watch **out);
void certinfo_watch_reload(struct certinfo_watch *w, const struct cfg *cfg);
void certinfo_watch_free(struct certinfo_watch *w);

#endif
