/*
 * oauth.h - OAuth2 access tokens. For a Google service account (FCM HTTP
 * v1) the service-account JSON gives the key, client_email and token_uri; a
 * signed JWT assertion (jwt_google_assertion, RS256) is exchanged at
 * token_uri. For WNS and HMS a client id and secret are (client credentials
 * grant). Either way the exchange runs over relay/h2c.c and the access
 * token is cached until shortly before it expires. Never blocks: a fetch
 * runs on the event loop and the owner is told when it ends. Used by
 * relay/fcm.c and the WNS client.
 */
#ifndef PUSHRELAY_OAUTH_H
#define PUSHRELAY_OAUTH_H

#include <event2/event.h>

struct oauth;
struct cfg_egress;

/*
 * Called when a fetch ends: 'err' 0 means oauth_token now returns a token;
 * otherwise the fetch failed (logged) and is retried with backoff while
 * someone still wants a token.
 */
typedef void (*oauth_ready_cb)(void *arg, int err);

/*
 * oauth_new reads 'service_account' (JSON: private_key, client_email,
 * token_uri, optional private_key_id) and prepares the token endpoint's
 * connection, verified with 'ca_file' (NULL: system store), through the
 * egress proxy 'egress' names (NULL: direct). Returns 0,
 * PR_ECONFIG (file unreadable or fields missing, logged) or PR_ECRYPTO.
 */
int oauth_new(struct event_base *base, const char *app_id, const char *service_account,
              const char *ca_file, const struct cfg_egress *egress, oauth_ready_cb cb, void *arg,
              struct oauth **out);

/*
 * oauth_token returns the cached access token (owned by 'o', valid until
 * the next call into 'o'), or NULL when there is none fresh: then a fetch is
 * started unless one is already in flight or backing off, and 'cb' runs
 * when it ends.
 */
const char *oauth_token(struct oauth *o);

/* oauth_invalidate forgets the cached token (the provider refused it). */
void oauth_invalidate(struct oauth *o);

/* oauth_ready: 0 while the token endpoint is failing and backing off, else 1. */
int oauth_ready(const struct oauth *o);

/* The client credentials grant (RFC 6749 4.4): WNS, HMS. */
struct oauth_client_credentials {
    const char *token_endpoint;     /* https URL */
    const char *client_id;          /* WNS: package SID; HMS: app id */
    const char *client_secret_file; /* the secret, first line of the file */
    const char *scope;              /* NULL: none sent */
};

/*
 * oauth_new_client_credentials is oauth_new for the client credentials
 * grant 'cc' (strings copied; the secret is read once, here). PR_ECONFIG,
 * logged, when the secret file is unreadable or the endpoint not https.
 */
int oauth_new_client_credentials(struct event_base *base, const char *app_id,
                                 const struct oauth_client_credentials *cc, const char *ca_file,
                                 const struct cfg_egress *egress, oauth_ready_cb cb, void *arg,
                                 struct oauth **out);

/* oauth_free cancels any fetch (without calling 'cb') and frees 'o'. */
void oauth_free(struct oauth *o);

#endif
