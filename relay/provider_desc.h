/*
 * provider_desc.h - one descriptor per push provider: everything the rest of
 * the relay must know about a provider, in one place next to its code
 * (relay/apns_desc.c, fcm_desc.c, mpns_desc.c, wns_desc.c, hms_desc.c,
 * webpush_desc.c).
 *
 * The config loader keeps types, ranges and files and asks the descriptor
 * for the rules that span an app's keys, its default endpoint and whether
 * two apps collide; the listener asks it which app a pn-param names and
 * whether a pn-prid has the provider's shape; the dispatcher asks it for the
 * client and the error table. A switch over providers elsewhere is a fact
 * that belongs here. Adding a provider is: a line in PR_PROVIDERS
 * (pushrelay/provider.h), its app keys in the loader's schema, a descriptor
 * file and its client.
 */
#ifndef PUSHRELAY_PROVIDER_DESC_H
#define PUSHRELAY_PROVIDER_DESC_H

#include <stddef.h>
#include <stdint.h>
#include "pushrelay/config.h"
#include "pushrelay/notif.h"
#include "pushrelay/outcome.h"
#include "pushrelay/provider.h"

struct pclient;
struct json_t;

/*
 * What is wrong with an app, for the loader's "file:line: path: message":
 * 'key' names the key at fault (reported as missing when the file lacks it)
 * or is NULL for the app as a whole; 'msg' is a constant string.
 */
struct provider_app_err {
    const char *key;
    const char *msg;
};

struct provider_desc {
    /* Delivery. */
    /* https://host, used when an app names no endpoint; NULL: every device
     * token names its own host (MPNS channel URIs). */
    const char *default_endpoint;
    /* OAuth2 token endpoint used when an app names none; NULL: no such key. */
    const char *default_token_endpoint;
    /* client_new: the provider's pclient constructor (see pclient_impl.h). */
    int (*client_new)(struct pclient *pc);
    /* classify: the provider's error table (see classify.h); 'accepted_ms'
     * is when the notification was accepted. */
    enum pr_outcome (*classify)(struct pr_result *res, int64_t accepted_ms);

    /* Apps. */
    /* check_app (optional): rules that span the keys of a loaded 'app'
     * (types and ranges are checked already). 0, or -1 and 'err' set. */
    int (*check_app)(const struct cfg_app *app, struct provider_app_err *err);
    /* A pn-param ending in this is tried without it once an exact match
     * failed, and marks the notification VoIP; NULL: no such suffix. */
    const char *voip_suffix;
    /* match_param: 1 if 'app' serves the first 'len' bytes of the RFC 8599
     * pn-param 'param', else 0. */
    int (*match_param)(const struct cfg_app *app, const char *param, size_t len);
    /* app_param: writes the pn-param that routes to 'app' (without the VoIP
     * suffix) into 'buf', truncated to 'len'; what an edge would send. */
    void (*app_param)(const struct cfg_app *app, char *buf, size_t len);
    /* same_param (optional): 1 if apps 'a' and 'b' would serve one pn-param. */
    int (*same_param)(const struct cfg_app *a, const struct cfg_app *b);

    /* The allowed_hosts pattern of an app that names none; NULL: no default. */
    const char *default_allowed_host;

    /* Device tokens (pn-prid). */
    /* Tokens are compared without case: stored lower-cased, so that dedup
     * and the dead-token list see one spelling per token. */
    int token_fold_case;
    /* check_token: 0 if 'token' is one 'app' may be sent to, else the SIP
     * status (400 malformed, 403 forbidden) with the reason in 'why' (the
     * Warning text, never the whole token). */
    int (*check_token)(const struct cfg_app *app, const char *token, char *why, size_t whylen);

    /* Notification body. */
    /* take_body (optional): reads the provider's own members of the MESSAGE
     * body 'body' (a JSON object) into 'n'. 0, or the SIP status (400) with
     * the Warning text in 'why'; PR_ENOMEM. */
    int (*take_body)(const struct json_t *body, struct pr_notif *n, char *why, size_t whylen);
};

/* provider_desc returns the descriptor of 'p', or NULL when out of range. */
const struct provider_desc *provider_desc(enum pr_provider p);

/*
 * provider_needs_allowed_hosts: the check_app of providers whose tokens
 * name their host and that have no default allow-list: without one nothing
 * could be sent.
 */
int provider_needs_allowed_hosts(const struct cfg_app *app, struct provider_app_err *err);

/*
 * provider_check_channel: the check_token of providers whose token is a
 * channel URI naming its host (MPNS, WNS, Web Push): 400 when 'uri' is
 * longer than PROVIDER_CHANNEL_MAX or not a URI, 403 when not https or its
 * host is not in 'app's allowed_hosts, else 0. 'why' as for check_token.
 */
#define PROVIDER_CHANNEL_MAX 2048
int provider_check_channel(const struct cfg_app *app, const char *uri, char *why, size_t whylen);

/*
 * provider_match_app_id and provider_app_id_param: the match_param and
 * app_param of providers whose pn-param is the app id itself (MPNS, WNS,
 * Web Push).
 */
int provider_match_app_id(const struct cfg_app *app, const char *param, size_t len);
void provider_app_id_param(const struct cfg_app *app, char *buf, size_t len);

/*
 * provider_host_allowed: 1 if 'host' matches one of 'app's allowed_hosts
 * patterns (exact, or "*.suffix" matching one or more labels; both without
 * case), else 0, also for a NULL or empty 'host'. The guard that keeps a
 * token that names its host (a channel URI) from making the relay send to
 * an arbitrary address.
 */
int provider_host_allowed(const struct cfg_app *app, const char *host);

/* The descriptors, one per provider file. */
extern const struct provider_desc apns_desc;
extern const struct provider_desc fcm_desc;
extern const struct provider_desc mpns_desc;
extern const struct provider_desc wns_desc;
extern const struct provider_desc hms_desc;
extern const struct provider_desc webpush_desc;

#endif
