/*
 * oauth.h - OAuth2 access tokens for a Google service account (FCM HTTP v1):
 * the service-account JSON gives the key, client_email and token_uri; a
 * signed JWT assertion (jwt_google_assertion, RS256) is exchanged at
 * token_uri over relay/h2c.c for an access token, which is cached until
 * shortly before it expires. Never blocks: a fetch runs on the event loop
 * and the owner is told when it ends. Used by relay/fcm.c.
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

/* oauth_free cancels any fetch (without calling 'cb') and frees 'o'. */
void oauth_free(struct oauth *o);

#endif
