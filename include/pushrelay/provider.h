/*
 * provider.h - the push providers and notification vocabulary shared by the
 * listener, the queue and the dispatcher. Names are the wire names of
 * RFC 8599 (pn-provider) and design section 5 (event, priority).
 *
 * What each provider needs (default endpoint, app rules, pn-param match,
 * token shape, client, error table) is its descriptor, relay/provider_desc.h.
 */
#ifndef PUSHRELAY_PROVIDER_H
#define PUSHRELAY_PROVIDER_H

/*
 * The providers, in stream and stats order: X(ENUM_SUFFIX, wire name). The
 * enum, the names and the list in messages are generated from it, so a
 * provider is added here once (and given a descriptor).
 */
#define PR_PROVIDERS(X) \
    X(APNS, apns)       \
    X(FCM, fcm)         \
    X(MPNS, mpns)       \
    X(WNS, wns)         \
    X(HMS, hms)         \
    X(WEBPUSH, webpush)

enum pr_provider {
#define PR__PROVIDER_ENUM(e, name) PR_PROVIDER_##e,
    PR_PROVIDERS(PR__PROVIDER_ENUM)
#undef PR__PROVIDER_ENUM
    PR_PROVIDER_COUNT
};

enum pr_event {
    PR_EVENT_IM = 0,
    PR_EVENT_CALL,
    PR_EVENT_MISSED_CALL,
    PR_EVENT_VOICEMAIL,
    PR_EVENT_CONFERENCE,
    PR_EVENT_COUNT
};

enum pr_priority {
    PR_PRIORITY_NORMAL = 0,
    PR_PRIORITY_HIGH = 1,
};

/* Wire name of a provider ("apns", "fcm", "mpns", "wns", "hms", "webpush"); "?" when out of range. */
const char *pr_provider_name(enum pr_provider p);
/* pr_provider_parse sets 'out' from a wire name; PR_EINVAL when unknown. */
int pr_provider_parse(const char *name, enum pr_provider *out);
/* The wire names for messages that list them: "apns, fcm, mpns, wns, hms, webpush". */
const char *pr_provider_list(void);

/* Wire name of an event ("im", "call", "missed-call", "voicemail", "conference"). */
const char *pr_event_name(enum pr_event e);
int pr_event_parse(const char *name, enum pr_event *out);

const char *pr_priority_name(enum pr_priority p);
int pr_priority_parse(const char *name, enum pr_priority *out);

#endif
