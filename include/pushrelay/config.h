/*
 * config.h - the typed configuration (design section 9).
 *
 * The file is read once by cfg_load() into these structs; code never looks a
 * key up by string after start. All strings are owned by the struct cfg and
 * freed by cfg_free(). Optional strings are NULL when absent.
 */
#ifndef PUSHRELAY_CONFIG_H
#define PUSHRELAY_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "pushrelay/log.h"
#include "pushrelay/provider.h"

#define CFG_MAX_LISTEN 16

struct cfg_endpoint {
    char host[256];     /* numeric address or name, without brackets */
    uint16_t port;
};

struct cfg_tls {
    char *certificate;  /* PEM chain, our identity */
    char *private_key;  /* PEM key for 'certificate' */
    char *ca_file;      /* PEM CA bundle that client certificates chain to */
};

#define CFG_MAX_SENTINELS CFG_MAX_LISTEN
#define CFG_MAX_CLUSTER_SEEDS CFG_MAX_LISTEN
#define CFG_MAX_SHARDS 16384    /* one Redis Cluster slot each at most */

struct cfg_redis {
    char *host;         /* unused with sentinels or cluster */
    int port;
    char *password;     /* "" or NULL: no AUTH */
    int db;
    char *prefix;       /* key prefix, default "pr:" */
    /* Sentinel (design section 11): n_sentinels > 0 replaces host/port. */
    struct cfg_endpoint sentinels[CFG_MAX_SENTINELS];
    size_t n_sentinels;
    char *master_name;          /* required with sentinels */
    char *sentinel_password;    /* AUTH to the sentinels; "" or NULL: none */
    /* Redis Cluster (design section 11): n_cluster > 0 replaces host/port;
       the seeds are asked for the slot map, any one of them answering is enough. */
    struct cfg_endpoint cluster[CFG_MAX_CLUSTER_SEEDS];
    size_t n_cluster;
    /* Queue shards S (design section 7): notification -> shard
       hash(provider, token) mod S; every key of its ingest tagged {q<k>}. */
    int shards;                 /* 1 .. CFG_MAX_SHARDS, default 1 */
    /* Replicated acknowledgement: 0 = 202 once the primary wrote it. */
    int wait_replicas;
    int wait_timeout_ms;        /* default 100 */
};

struct cfg_federation {
    struct cfg_endpoint listen[CFG_MAX_LISTEN];
    size_t n_listen;
    char *domain;               /* our SIP domain, e.g. push.example.net */
    struct cfg_tls tls;
    int max_connections;        /* default 10000 */
    int max_message_bytes;      /* whole request, headers + body; default 16384 */
    int idle_timeout_s;         /* default 300 */
    int handshake_timeout_s;    /* default 10 */
    long long queue_high_water; /* per provider stream; default 1000000 */
    int dedup_window_s;         /* default 300 */
};

struct cfg_retry {
    int max_attempts;   /* default 8 */
    int base_delay_ms;  /* default 500 */
    int max_delay_ms;   /* default 300000 */
};

struct cfg_dispatcher {
    int max_in_flight;  /* default 2000 */
    int claim_idle_ms;  /* default 30000 */
    /*
     * A request unanswered for stall_after_ms leaves the max_in_flight
     * window for a separate budget of max_stalled requests (relay/dispatcher.c),
     * so that stalled requests cannot hold up ordinary ones.
     */
    int stall_after_ms; /* default 2000 */
    int max_stalled;    /* default 2000; 0: stalled requests keep their slots */
    struct cfg_retry retry;
};

/*
 * Provider egress through an HTTP CONNECT proxy (relay/egress.h). 'proxy' is
 * NULL when traffic goes out directly. The URL is split at load: credentials
 * live only in 'proxy_auth' (never logged); 'proxy_name' is the loggable
 * "host:port".
 */
struct cfg_egress {
    char *proxy;                /* "http://[user:pass@]host:port" as written, or NULL */
    char **no_proxy;            /* hosts reached directly: "name", "*.suffix", ".suffix", address */
    size_t n_no_proxy;
    struct cfg_endpoint proxy_addr;
    char *proxy_auth;           /* "user:pass" from the URL, or NULL */
    char proxy_name[272];       /* "host:port" (IPv6 in brackets) for logs */
};

struct cfg_app {
    char *id;                   /* unique app id, e.g. "lync-ios" */
    enum pr_provider provider;
    char *endpoint;             /* https://host[:port]; the loader sets the provider's default */
    char *ca_file;              /* verify the provider with this CA (sandbox, staging) */
    char *certificate;          /* client certificate (APNs cert auth, MPNS) */
    char *private_key;
    int connections;            /* HTTP/2 connections in the pool; default 2 */
    int request_timeout_ms;     /* one request unanswered this long is cancelled; default 10000 */
    /* apns */
    char *topic;                /* bundle id */
    char *team_id;
    char *key_id;
    char *key_file;             /* .p8 ES256 key for token auth */
    /* fcm */
    char *project_id;
    char *service_account;      /* path to the service-account JSON */
    /* mpns, wns */
    char **allowed_hosts;       /* host patterns, "*.notify.live.net" */
    size_t n_allowed_hosts;
    /* wns, hms: OAuth2 client credentials */
    char *package_sid;          /* wns: the client id */
    char *hms_app_id;           /* hms: the client id, the pn-param and part of the path */
    char *client_secret_file;   /* the client secret, first line */
    char *token_endpoint;       /* https URL; the loader sets the provider's default */
    /* webpush: VAPID (RFC 8292) */
    char *vapid_key_file;       /* PEM P-256 private key */
    char *vapid_subject;        /* "mailto:…" or "https:…" */
    const struct cfg_egress *egress; /* the config's egress, set at load; NULL: direct */
};

struct cfg_monitoring {
    struct cfg_endpoint listen; /* port 0: disabled */
    int stats_window_h;         /* per-minute stats buckets kept; default 48 */
};

struct cfg {
    char *path;                 /* the file this was loaded from */
    char *node_id;
    enum pr_log_level log_level;
    struct cfg_redis redis;
    struct cfg_federation federation;
    struct cfg_dispatcher dispatcher;
    struct cfg_app *apps;
    size_t n_apps;
    struct cfg_monitoring monitoring;
    struct cfg_egress egress;
};

/*
 * cfg_load reads and validates 'path'. On success it stores a new config in
 * '*out' (free with cfg_free) and returns 0. On failure it returns
 * PR_ECONFIG and writes "file:line: message" (or "file: message" when no line
 * applies) into 'err'. Unknown keys, wrong types, missing files and bad
 * values are all refused. Relative paths in the file are resolved against
 * the file's directory.
 */
int cfg_load(const char *path, struct cfg **out, char *err, size_t errlen);
void cfg_free(struct cfg *cfg);

/*
 * cfg_find_app returns the app that serves 'provider' for the RFC 8599
 * pn-param 'param', or NULL; the provider's descriptor says what matches
 * (relay/provider_desc.h). APNs: "<team_id>.<topic>" with an optional
 * ".voip" suffix (then '*voip' is set to 1); FCM: "<project_id>"; MPNS: the
 * app id. 'voip' may be NULL.
 */
const struct cfg_app *cfg_find_app(const struct cfg *cfg, enum pr_provider provider,
                                   const char *param, int *voip);

/* cfg_app_by_id returns the app named 'id', or NULL. */
const struct cfg_app *cfg_app_by_id(const struct cfg *cfg, const char *id);

#endif
