/*
 * oauth.c - OAuth2 access tokens (see oauth.h): sign an RS256 assertion
 * (JWT bearer grant) or send the client id and secret (client credentials
 * grant), POST it as a form to the token endpoint over relay/h2c.c, cache the
 * access token until 'expires_in' minus a margin. One fetch at a time; a
 * failing endpoint is retried with exponential backoff and logged. Used by
 * relay/fcm.c (JWT bearer) and relay/mpns.c's WNS flavour (client
 * credentials); knows nothing of their messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "pushrelay/clock.h"
#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "h2c.h"
#include "jwt.h"
#include "oauth.h"

#define OAUTH_SCOPE "https://www.googleapis.com/auth/firebase.messaging"
#define OAUTH_GRANT "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="
#define OAUTH_TIMEOUT_MS 15000
#define OAUTH_BACKOFF_MIN_MS 1000
#define OAUTH_BACKOFF_MAX_MS 60000
#define OAUTH_MARGIN_S 300      /* refresh this long before expiry (less for short tokens) */

struct oauth {
    struct event_base *base;
    char app_id[64];
    EVP_PKEY *key;
    char *key_id;               /* may be NULL */
    char *client_email;
    char *token_uri;
    char *token_path;           /* path (and query) of token_uri */
    char *cc_form;              /* client credentials grant: the whole form; NULL: JWT bearer */
    struct h2c *h2;
    char *token;                /* cached access token, or NULL */
    int64_t refresh_at_ms;      /* monotonic: fetch a new one from then on */
    int64_t stale_at_ms;        /* monotonic: stop using it from then on */
    int fetching;
    int wanted;                 /* someone asked while no token was there */
    int backoff_ms;             /* 0 while the endpoint works */
    struct event *retry;
    int closing;
    oauth_ready_cb cb;
    void *arg;
};

static void oauth_fetch(struct oauth *o);

static void oauth_failed(struct oauth *o, const char *why)
{
    o->backoff_ms = o->backoff_ms == 0 ? OAUTH_BACKOFF_MIN_MS : o->backoff_ms * 2;
    if (o->backoff_ms > OAUTH_BACKOFF_MAX_MS)
        o->backoff_ms = OAUTH_BACKOFF_MAX_MS;
    pr_log_warn("oauth", "app %s: token fetch from %s failed: %s; retrying in %d ms", o->app_id,
                o->token_uri, why, o->backoff_ms);
    struct timeval tv = { o->backoff_ms / 1000, (o->backoff_ms % 1000) * 1000 };
    evtimer_add(o->retry, &tv);
    o->cb(o->arg, PR_EIO);
}

/* The token endpoint answered: {"access_token":"…","expires_in":3599,"token_type":"Bearer"}. */
static void oauth_done(void *arg, const struct h2c_response *res)
{
    struct oauth *o = arg;
    char why[160];
    o->fetching = 0;
    if (o->closing)
        return;
    if (res->status == 0) {
        oauth_failed(o, res->error);
        return;
    }
    if (res->status != 200) {
        snprintf(why, sizeof(why), "HTTP %d %.100s", res->status, res->body);
        oauth_failed(o, why);
        return;
    }
    json_t *root = json_loadb(res->body, res->body_len, 0, NULL);
    const char *tok = json_string_value(json_object_get(root, "access_token"));
    json_t *exp = json_object_get(root, "expires_in");
    if (tok == NULL || tok[0] == '\0' || !json_is_integer(exp) || json_integer_value(exp) <= 0) {
        json_decref(root);
        oauth_failed(o, "answer without access_token/expires_in");
        return;
    }
    int64_t expires_in = (int64_t)json_integer_value(exp);
    int64_t margin = expires_in > 2 * OAUTH_MARGIN_S ? OAUTH_MARGIN_S : expires_in / 5;
    char *copy = strdup(tok);
    json_decref(root);
    if (copy == NULL) {
        oauth_failed(o, "out of memory");
        return;
    }
    free(o->token);
    o->token = copy;
    o->refresh_at_ms = pr_mono_ms() + (expires_in - margin) * 1000;
    o->stale_at_ms = pr_mono_ms() + (expires_in - margin / 5) * 1000;
    o->backoff_ms = 0;
    o->wanted = 0;
    pr_log_info("oauth", "app %s: access token valid for %lld s", o->app_id,
                (long long)expires_in);
    o->cb(o->arg, 0);
}

static void oauth_fetch(struct oauth *o)
{
    char *assertion = NULL, *form = NULL;
    size_t len;
    if (o->fetching || evtimer_pending(o->retry, NULL))
        return;
    if (o->cc_form != NULL) {
        /* Client credentials: the form never changes. */
        len = strlen(o->cc_form);
        if ((form = strdup(o->cc_form)) == NULL) {
            oauth_failed(o, "out of memory");
            return;
        }
    } else {
        int rv = jwt_google_assertion(o->key, o->key_id, o->client_email, OAUTH_SCOPE,
                                      o->token_uri, (int64_t)time(NULL), &assertion);
        if (rv < 0) {
            oauth_failed(o, "cannot sign the assertion");
            return;
        }
        /* The assertion is base64url and dots: nothing to escape in the form. */
        len = strlen(OAUTH_GRANT) + strlen(assertion);
        if ((form = malloc(len + 1)) == NULL) {
            free(assertion);
            oauth_failed(o, "out of memory");
            return;
        }
        snprintf(form, len + 1, "%s%s", OAUTH_GRANT, assertion);
    }
    const struct h2c_header hdrs[] = {
        { "content-type", "application/x-www-form-urlencoded" },
        { "accept", "application/json" },
    };
    struct h2c_request req = {
        .method = "POST", .path = o->token_path, .headers = hdrs, .n_headers = 2,
        .body = form, .body_len = len, .timeout_ms = OAUTH_TIMEOUT_MS,
    };
    int rv = h2c_request(o->h2, &req, oauth_done, o);
    free(form);
    free(assertion);
    if (rv < 0) {
        oauth_failed(o, pr_strerror(rv));
        return;
    }
    o->fetching = 1;
}

static void oauth_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct oauth *o = arg;
    (void)fd;
    (void)what;
    if (o->wanted || o->token == NULL)
        oauth_fetch(o);
}

const char *oauth_token(struct oauth *o)
{
    int64_t now = pr_mono_ms();
    if (o->token != NULL && now < o->refresh_at_ms)
        return o->token;
    /* Past the refresh point the old token still serves while a new one comes. */
    if (o->token != NULL && now < o->stale_at_ms) {
        oauth_fetch(o);
        return o->token;
    }
    o->wanted = 1;
    oauth_fetch(o);
    return NULL;
}

void oauth_invalidate(struct oauth *o)
{
    free(o->token);
    o->token = NULL;
}

int oauth_ready(const struct oauth *o)
{
    return o->backoff_ms == 0 || o->token != NULL;
}

/* Loads the service account's PEM key from the JSON text itself. */
static EVP_PKEY *oauth_load_pem(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (bio == NULL)
        return NULL;
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    return key;
}

static char *dup_field(json_t *root, const char *name)
{
    const char *s = json_string_value(json_object_get(root, name));
    return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

/* Form-encodes 's' (application/x-www-form-urlencoded) onto 'b'. */
static int oauth__form_value(struct evbuffer *b, const char *s)
{
    char *enc = evhttp_encode_uri(s);     /* RFC 3986 unreserved kept, the rest %XX */
    int rv = enc != NULL && evbuffer_add(b, enc, strlen(enc)) == 0 ? 0 : PR_ENOMEM;
    free(enc);
    return rv;
}

/*
 * oauth__cc_form builds "grant_type=client_credentials&client_id=..&
 * client_secret=..[&scope=..]" with the secret read from its file (one
 * line; a trailing newline is not part of it). PR_ECONFIG, logged, when the
 * file is unreadable or empty.
 */
static int oauth__cc_form(const char *app_id, const struct oauth_client_credentials *cc,
                          char **out)
{
    char secret[1024];
    int rv = PR_ECONFIG;
    struct evbuffer *b = NULL;
    FILE *f = cc->client_secret_file != NULL ? fopen(cc->client_secret_file, "r") : NULL;
    if (f == NULL || fgets(secret, sizeof(secret), f) == NULL) {
        pr_log_error("oauth", "app %s: client secret file %s: unreadable or empty", app_id,
                     cc->client_secret_file ? cc->client_secret_file : "(not set)");
        goto out;
    }
    secret[strcspn(secret, "\r\n")] = '\0';
    if (secret[0] == '\0' || cc->client_id == NULL || cc->client_id[0] == '\0') {
        pr_log_error("oauth", "app %s: client id or secret is empty", app_id);
        goto out;
    }
    rv = PR_ENOMEM;
    if ((b = evbuffer_new()) == NULL ||
        evbuffer_add_printf(b, "grant_type=client_credentials&client_id=") < 0 ||
        oauth__form_value(b, cc->client_id) < 0 ||
        evbuffer_add_printf(b, "&client_secret=") < 0 || oauth__form_value(b, secret) < 0 ||
        (cc->scope != NULL &&
         (evbuffer_add_printf(b, "&scope=") < 0 || oauth__form_value(b, cc->scope) < 0)))
        goto out;
    size_t len = evbuffer_get_length(b);
    if ((*out = malloc(len + 1)) == NULL)
        goto out;
    evbuffer_remove(b, *out, len);
    (*out)[len] = '\0';
    rv = 0;
out:
    OPENSSL_cleanse(secret, sizeof(secret));
    if (b != NULL)
        evbuffer_free(b);
    if (f != NULL)
        fclose(f);
    return rv;
}

/*
 * oauth__new makes the token source for 'app_id': the JWT-bearer grant from
 * 'service_account' when set, else the client credentials grant 'cc'.
 */
static int oauth__new(struct event_base *base, const char *app_id, const char *service_account,
                      const struct oauth_client_credentials *cc, const char *ca_file,
                      const struct cfg_egress *egress, oauth_ready_cb cb, void *arg,
                      struct oauth **out)
{
    json_error_t jerr;
    json_t *root = NULL;
    struct evhttp_uri *uri = NULL;
    int rv = PR_ECONFIG;
    struct oauth *o = calloc(1, sizeof(*o));
    if (o == NULL)
        return PR_ENOMEM;
    o->base = base;
    o->cb = cb;
    o->arg = arg;
    snprintf(o->app_id, sizeof(o->app_id), "%s", app_id);
    if (cc != NULL) {
        if ((rv = oauth__cc_form(app_id, cc, &o->cc_form)) < 0 ||
            (o->token_uri = strdup(cc->token_endpoint)) == NULL) {
            rv = rv < 0 ? rv : PR_ENOMEM;
            goto fail;
        }
        rv = PR_ECONFIG;
        service_account = cc->token_endpoint;  /* names the source in the messages below */
    } else if (service_account == NULL ||
               (root = json_load_file(service_account, 0, &jerr)) == NULL) {
        pr_log_error("oauth", "app %s: service account %s: %s", app_id,
                     service_account ? service_account : "(not set)",
                     service_account ? jerr.text : "required");
        goto fail;
    } else {
        const char *pem = json_string_value(json_object_get(root, "private_key"));
        o->client_email = dup_field(root, "client_email");
        o->token_uri = dup_field(root, "token_uri");
        o->key_id = dup_field(root, "private_key_id");
        if (pem == NULL || o->client_email == NULL || o->token_uri == NULL) {
            pr_log_error("oauth", "%s: needs private_key, client_email and token_uri",
                         service_account);
            goto fail;
        }
        if ((o->key = oauth_load_pem(pem)) == NULL) {
            pr_log_error("oauth", "%s: private_key is not a usable PEM key", service_account);
            rv = PR_ECRYPTO;
            goto fail;
        }
    }
    uri = evhttp_uri_parse(o->token_uri);
    const char *scheme = uri ? evhttp_uri_get_scheme(uri) : NULL;
    const char *host = uri ? evhttp_uri_get_host(uri) : NULL;
    if (scheme == NULL || strcmp(scheme, "https") != 0 || host == NULL || host[0] == '\0') {
        pr_log_error("oauth", "%s: token_uri '%s' is not an https URL", service_account,
                     o->token_uri);
        goto fail;
    }
    const char *path = evhttp_uri_get_path(uri);
    const char *query = evhttp_uri_get_query(uri);
    size_t plen = strlen(path && path[0] ? path : "/") + (query ? strlen(query) + 1 : 0) + 1;
    if ((o->token_path = malloc(plen)) == NULL) {
        rv = PR_ENOMEM;
        goto fail;
    }
    snprintf(o->token_path, plen, "%s%s%s", path && path[0] ? path : "/", query ? "?" : "",
             query ? query : "");
    char hostbuf[256];
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[') {
        host++;
        hl -= 2;
    }
    snprintf(hostbuf, sizeof(hostbuf), "%.*s", (int)hl, host);
    int port = evhttp_uri_get_port(uri);
    struct h2c_options opt = {
        .host = hostbuf,
        .port = port > 0 ? (uint16_t)port : 443,
        .tls = { .ca_file = ca_file },
        .connections = 1,
        .max_queued = 16,
        .log_name = "oauth",
        .egress = egress,
    };
    if ((rv = h2c_new(base, &opt, &o->h2)) < 0) {
        rv = rv == PR_ETLS ? PR_ECONFIG : rv;
        goto fail;
    }
    if ((o->retry = evtimer_new(base, oauth_retry_cb, o)) == NULL) {
        rv = PR_ENOMEM;
        goto fail;
    }
    evhttp_uri_free(uri);
    json_decref(root);
    *out = o;
    return 0;
fail:
    if (uri != NULL)
        evhttp_uri_free(uri);
    json_decref(root);
    oauth_free(o);
    return rv;
}

int oauth_new(struct event_base *base, const char *app_id, const char *service_account,
              const char *ca_file, const struct cfg_egress *egress, oauth_ready_cb cb, void *arg,
              struct oauth **out)
{
    return oauth__new(base, app_id, service_account, NULL, ca_file, egress, cb, arg, out);
}

int oauth_new_client_credentials(struct event_base *base, const char *app_id,
                                 const struct oauth_client_credentials *cc, const char *ca_file,
                                 const struct cfg_egress *egress, oauth_ready_cb cb, void *arg,
                                 struct oauth **out)
{
    return oauth__new(base, app_id, NULL, cc, ca_file, egress, cb, arg, out);
}

void oauth_free(struct oauth *o)
{
    if (o == NULL)
        return;
    o->closing = 1;
    h2c_free(o->h2);
    if (o->retry != NULL)
        event_free(o->retry);
    EVP_PKEY_free(o->key);
    free(o->key_id);
    free(o->client_email);
    free(o->token_uri);
    free(o->token_path);
    free(o->cc_form);
    free(o->token);
    free(o);
}
