/*
 * certinfo.c - reads notAfter from the certificates the configuration names
 * (see certinfo.h for which) and warns about the ones close to expiry.
 *
 * It only reads dates: it does not verify chains or load keys (the TLS
 * modules do that when they load the same files). Called by the monitor
 * (/metrics gauge), pushrelayd (the daily warning) and pushrelayctl
 * (show-push, test-push).
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "certinfo.h"

#define CERTINFO_DAY_S 86400

/* ------------------------------------------------------------------------
 * Reading certificates
 * ------------------------------------------------------------------------ */

static char *certinfo__subject(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *s = NULL, *data;
    if (b == NULL)
        return NULL;
    if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
        long n = BIO_get_mem_data(b, &data);
        if ((s = malloc((size_t)n + 1)) != NULL) {
            memcpy(s, data, (size_t)n);
            s[n] = '\0';
        }
    }
    BIO_free(b);
    return s;
}

/* Appends one entry per certificate in 'file'; PR_EIO if it holds none. */
static int certinfo__file(struct certinfo *ci, const char *app, const char *file)
{
    BIO *b = BIO_new_file(file, "r");
    X509 *x = NULL;
    size_t before = ci->n;
    int rc = PR_EIO;
    if (b == NULL)
        goto out;
    /* PEM_read_bio_X509 skips other blocks (a key in the same file). */
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        struct tm tm;
        const ASN1_TIME *na = X509_get0_notAfter(x);
        if (na == NULL || ASN1_TIME_to_tm(na, &tm) != 1)
            goto out;
        struct certinfo_cert *grown = realloc(ci->certs, (ci->n + 1) * sizeof(*grown));
        if (grown == NULL) {
            rc = PR_ENOMEM;
            goto out;
        }
        ci->certs = grown;
        struct certinfo_cert *c = &ci->certs[ci->n];
        c->app = strdup(app);
        c->file = strdup(file);
        c->subject = certinfo__subject(x);
        c->not_after = (int64_t)timegm(&tm);
        ci->n++; /* counted before the check so certinfo_clear frees a partial entry */
        if (c->app == NULL || c->file == NULL || c->subject == NULL) {
            rc = PR_ENOMEM;
            goto out;
        }
        X509_free(x);
        x = NULL;
    }
    rc = ci->n > before ? 0 : PR_EIO;
out:
    /* The loop ends on "no start line": that is the end of the file, not an error. */
    ERR_clear_error();
    X509_free(x);
    BIO_free(b);
    return rc;
}

int certinfo_load(const struct cfg *cfg, struct certinfo *out)
{
    struct certinfo ci = { NULL, 0 };
    const struct cfg_tls *tls = &cfg->federation.tls;
    int rc = 0;
    if (tls->certificate != NULL && (rc = certinfo__file(&ci, "federation", tls->certificate)) != 0)
        goto fail;
    if (tls->ca_file != NULL && (rc = certinfo__file(&ci, "edge-ca", tls->ca_file)) != 0)
        goto fail;
    for (size_t i = 0; i < cfg->n_apps; i++) {
        const struct cfg_app *a = &cfg->apps[i];
        if (a->certificate != NULL && (rc = certinfo__file(&ci, a->id, a->certificate)) != 0)
            goto fail;
    }
    *out = ci;
    return 0;
fail:
    certinfo_clear(&ci);
    out->certs = NULL;
    out->n = 0;
    return rc;
}

void certinfo_clear(struct certinfo *ci)
{
    for (size_t i = 0; i < ci->n; i++) {
        free(ci->certs[i].app);
        free(ci->certs[i].file);
        free(ci->certs[i].subject);
    }
    free(ci->certs);
    ci->certs = NULL;
    ci->n = 0;
}

/* ------------------------------------------------------------------------
 * Warnings
 * ------------------------------------------------------------------------ */

int certinfo_expiring(const struct certinfo_cert *c, time_t now, int days)
{
    return c->not_after - (int64_t)now < (int64_t)days * CERTINFO_DAY_S;
}

void certinfo_describe(const struct certinfo_cert *c, time_t now, char *buf, size_t len)
{
    char date[32];
    time_t na = (time_t)c->not_after;
    struct tm tm;
    if (gmtime_r(&na, &tm) == NULL || strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(date, sizeof(date), "@%lld", (long long)c->not_after);
    int64_t left = c->not_after - (int64_t)now;
    /* Whole days, rounded down: "expires in 9 days" for 9.5 days left. */
    if (left >= 0)
        snprintf(buf, len, "certificate %s (app %s, %s) expires in %lld days, on %s", c->file, c->app,
                 c->subject, (long long)(left / CERTINFO_DAY_S), date);
    else
        snprintf(buf, len, "certificate %s (app %s, %s) expired %lld days ago, on %s", c->file, c->app,
                 c->subject, (long long)(-left / CERTINFO_DAY_S), date);
}

int certinfo_print_warnings(const struct cfg *cfg, time_t now, FILE *out)
{
    struct certinfo ci;
    char line[1024];
    int n = 0;
    int rc = certinfo_load(cfg, &ci);
    if (rc != 0) {
        fprintf(out, "warning: cannot read the certificates %s names: %s\n", cfg->path, pr_strerror(rc));
        return 1;
    }
    for (size_t i = 0; i < ci.n; i++)
        if (certinfo_expiring(&ci.certs[i], now, CERTINFO_WARN_DAYS)) {
            certinfo_describe(&ci.certs[i], now, line, sizeof(line));
            fprintf(out, "warning: %s\n", line);
            n++;
        }
    certinfo_clear(&ci);
    return n;
}

/* ------------------------------------------------------------------------
 * The daemon's daily warning
 * ------------------------------------------------------------------------ */

struct certinfo_watch {
    struct event *timer;
    struct certinfo ci;
};

static void certinfo__watch_log(struct certinfo_watch *w)
{
    char line[1024];
    time_t now = time(NULL);
    for (size_t i = 0; i < w->ci.n; i++)
        if (certinfo_expiring(&w->ci.certs[i], now, CERTINFO_WARN_DAYS)) {
            certinfo_describe(&w->ci.certs[i], now, line, sizeof(line));
            pr_log_warn("certinfo", "%s", line);
        }
}

static void certinfo__watch_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    certinfo__watch_log(arg);
}

/* The files were loaded by cfg_load a moment ago; one that fails now is logged, not fatal. */
static void certinfo__watch_load(struct certinfo_watch *w, const struct cfg *cfg)
{
    struct certinfo next;
    int rc = certinfo_load(cfg, &next);
    if (rc != 0) {
        pr_log_warn("certinfo", "cannot read the certificates %s names (%s): expiry not watched",
                    cfg->path, pr_strerror(rc));
        return;
    }
    certinfo_clear(&w->ci);
    w->ci = next;
    certinfo__watch_log(w);
}

int certinfo_watch_new(struct event_base *base, const struct cfg *cfg, struct certinfo_watch **out)
{
    struct certinfo_watch *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return PR_ENOMEM;
    const struct timeval day = { CERTINFO_DAY_S, 0 };
    if ((w->timer = event_new(base, -1, EV_PERSIST, certinfo__watch_cb, w)) == NULL ||
        event_add(w->timer, &day) != 0) {
        certinfo_watch_free(w);
        return PR_ENOMEM;
    }
    certinfo__watch_load(w, cfg);
    *out = w;
    return 0;
}

void certinfo_watch_reload(struct certinfo_watch *w, const struct cfg *cfg)
{
    if (w != NULL)
        certinfo__watch_load(w, cfg);
}

void certinfo_watch_free(struct certinfo_watch *w)
{
    if (w == NULL)
        return;
    if (w->timer != NULL)
        event_free(w->timer);
    certinfo_clear(&w->ci);
    free(w);
}
