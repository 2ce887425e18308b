/*
 * cfg_load.c - reads pushrelay.conf (libconfig) into the typed struct cfg of
 * include/pushrelay/config.h and refuses anything it does not understand.
 *
 * Every key the file may hold is listed once, in the schema tables below,
 * with its type, range and default. The reader walks the file against them,
 * so an unknown key, a wrong type, a missing key or a value out of range is
 * refused with "file:line: key.path: message" before anything starts. Rules
 * that span keys (duplicate apps, retry delays) follow; the rules of one
 * provider's apps (APNs auth modes), its default endpoint and which apps
 * collide are asked of its descriptor (relay/provider_desc.h).
 * Files the config names are opened here, and the APNs key and FCM service
 * account are parsed, so a missing or broken file is a start-up error rather
 * than a first-delivery error; loading keys for use is left to the TLS, JWT
 * and OAuth modules.
 *
 * Called by pushrelayd (start, --check-config) and pushrelayctl. The app
 * lookups the listener and dispatcher use live here too (cfg_find_app,
 * cfg_app_by_id).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "pushrelay/config.h"
#include "pushrelay/error.h"
#include "dnsname.h"
#include "provider_desc.h"

/* ------------------------------------------------------------------------
 * Schema: what each group may hold
 * ------------------------------------------------------------------------ */

enum cfg__type {
    T_STR,      /* char *; 'check' validates the text */
    T_INT,      /* int in [min, max] */
    T_LLONG,    /* long long in [min, max] */
    T_FILE,     /* char *: a readable file, stored as a resolved absolute path */
    T_URL,      /* char *: https://host[:port] */
    T_ADDR,     /* struct cfg_endpoint from "host:port" or "[v6]:port" */
    T_ADDRS,    /* struct cfg_endpoint[CFG_MAX_LISTEN], count at 'off_n' */
    T_HOSTS,    /* char ** of host patterns, count at 'off_n'; 'check' overrides the pattern rule */
    T_LOGLEVEL, /* enum pr_log_level */
    T_PROVIDER, /* enum pr_provider */
    T_GROUP,    /* nested group described by 'sub' */
    T_APPS,     /* the list of app groups */
};

/* Key flags. The provider bits limit an app key to those providers. */
#define K_REQ 0x01u
#define K_PROVIDER(p) (0x10u << (p))
#define K_APNS K_PROVIDER(PR_PROVIDER_APNS)
#define K_FCM K_PROVIDER(PR_PROVIDER_FCM)
#define K_MPNS K_PROVIDER(PR_PROVIDER_MPNS)
#define K_WNS K_PROVIDER(PR_PROVIDER_WNS)
#define K_HMS K_PROVIDER(PR_PROVIDER_HMS)
#define K_WEBPUSH K_PROVIDER(PR_PROVIDER_WEBPUSH)
#define K_PROVIDERS (((1u << PR_PROVIDER_COUNT) - 1) << 4)

struct cfg__group;

/* A text check returns NULL when 'v' is fine, else what is wrong with it. */
typedef const char *(*cfg__check_fn)(const char *v);

struct cfg__key {
    const char *name;
    enum cfg__type type;
    unsigned flags;
    size_t off;                 /* field in the struct the group fills */
    size_t off_n;               /* T_ADDRS, T_HOSTS: the count field */
    long long min, max;         /* T_INT, T_LLONG */
    long long idef;             /* T_INT, T_LLONG default */
    const char *sdef;           /* T_STR, T_LOGLEVEL, T_ADDRS default; NULL: none */
    cfg__check_fn check;        /* T_STR, T_HOSTS; T_ADDRS: each address's host */
    const struct cfg__group *sub;
};

struct cfg__group {
    const struct cfg__key *keys;
    size_t n;
};

#define GROUP(k) { (k), sizeof(k) / sizeof((k)[0]) }

static const char *chk_token(const char *v);
static const char *chk_alnum(const char *v);
static const char *chk_dns(const char *v);
static const char *chk_numeric_host(const char *v);
static const char *chk_host(const char *v);
static const char *chk_prefix(const char *v);
static const char *chk_project(const char *v);
static const char *chk_proxy(const char *v);
static const char *chk_no_proxy(const char *v);
static const char *chk_https_url(const char *v);
static const char *chk_client_id(const char *v);
static const char *chk_vapid_subject(const char *v);

#define TLS(f) offsetof(struct cfg_tls, f)
static const struct cfg__key tls_keys[] = {
    { "certificate", T_FILE, K_REQ, .off = TLS(certificate) },
    { "private_key", T_FILE, K_REQ, .off = TLS(private_key) },
    { "ca_file", T_FILE, K_REQ, .off = TLS(ca_file) },
};
static const struct cfg__group tls_group = GROUP(tls_keys);

#define RDS(f) offsetof(struct cfg_redis, f)
static const struct cfg__key redis_keys[] = {
    { "host", T_STR, 0, .off = RDS(host), .sdef = "127.0.0.1", .check = chk_host },
    { "port", T_INT, 0, .off = RDS(port), .min = 1, .max = 65535, .idef = 6379 },
    { "password", T_STR, 0, .off = RDS(password) },
    { "db", T_INT, 0, .off = RDS(db), .min = 0, .max = 65535, .idef = 0 },
    { "prefix", T_STR, 0, .off = RDS(prefix), .sdef = "pr:", .check = chk_prefix },
    { "sentinels", T_ADDRS, 0, .off = RDS(sentinels), .off_n = RDS(n_sentinels) },
    { "master_name", T_STR, 0, .off = RDS(master_name), .check = chk_token },
    { "sentinel_password", T_STR, 0, .off = RDS(sentinel_password) },
    { "cluster", T_ADDRS, 0, .off = RDS(cluster), .off_n = RDS(n_cluster) },
    { "shards", T_INT, 0, .off = RDS(shards), .min = 1, .max = CFG_MAX_SHARDS, .idef = 1 },
    { "wait_replicas", T_INT, 0, .off = RDS(wait_replicas), .min = 0, .max = 64, .idef = 0 },
    { "wait_timeout_ms", T_INT, 0, .off = RDS(wait_timeout_ms),
      .min = 1, .max = 60000, .idef = 100 },
};
static const struct cfg__group redis_group = GROUP(redis_keys);

#define FED(f) offsetof(struct cfg_federation, f)
static const struct cfg__key fed_keys[] = {
    { "listen", T_ADDRS, 0, .off = FED(listen), .off_n = FED(n_listen),
      .sdef = "0.0.0.0:5061", .check = chk_numeric_host },
    { "domain", T_STR, K_REQ, .off = FED(domain), .check = chk_dns },
    { "tls", T_GROUP, K_REQ, .off = FED(tls), .sub = &tls_group },
    { "max_connections", T_INT, 0, .off = FED(max_connections),
      .min = 1, .max = 1000000, .idef = 10000 },
    { "max_message_bytes", T_INT, 0, .off = FED(max_message_bytes),
      .min = 512, .max = 1048576, .idef = 16384 },
    { "idle_timeout_s", T_INT, 0, .off = FED(idle_timeout_s), .min = 1, .max = 86400, .idef = 300 },
    { "handshake_timeout_s", T_INT, 0, .off = FED(handshake_timeout_s),
      .min = 1, .max = 300, .idef = 10 },
    { "queue_high_water", T_LLONG, 0, .off = FED(queue_high_water),
      .min = 1, .max = 1000000000000LL, .idef = 1000000 },
    { "dedup_window_s", T_INT, 0, .off = FED(dedup_window_s),
      .min = 1, .max = 604800, .idef = 300 },
};
static const struct cfg__group fed_group = GROUP(fed_keys);

#define RTY(f) offsetof(struct cfg_retry, f)
static const struct cfg__key retry_keys[] = {
    { "max_attempts", T_INT, 0, .off = RTY(max_attempts), .min = 1, .max = 100, .idef = 8 },
    { "base_delay_ms", T_INT, 0, .off = RTY(base_delay_ms), .min = 1, .max = 3600000, .idef = 500 },
    { "max_delay_ms", T_INT, 0, .off = RTY(max_delay_ms),
      .min = 1, .max = 86400000, .idef = 300000 },
};
static const struct cfg__group retry_group = GROUP(retry_keys);

#define DSP(f) offsetof(struct cfg_dispatcher, f)
static const struct cfg__key disp_keys[] = {
    { "max_in_flight", T_INT, 0, .off = DSP(max_in_flight),
      .min = 1, .max = 1000000, .idef = 2000 },
    { "claim_idle_ms", T_INT, 0, .off = DSP(claim_idle_ms),
      .min = 100, .max = 86400000, .idef = 30000 },
    { "stall_after_ms", T_INT, 0, .off = DSP(stall_after_ms),
      .min = 100, .max = 300000, .idef = 2000 },
    { "max_stalled", T_INT, 0, .off = DSP(max_stalled), .min = 0, .max = 1000000, .idef = 2000 },
    { "retry", T_GROUP, 0, .off = DSP(retry), .sub = &retry_group },
};
static const struct cfg__group disp_group = GROUP(disp_keys);

#define MON(f) offsetof(struct cfg_monitoring, f)
static const struct cfg__key mon_keys[] = {
    { "listen", T_ADDR, 0, .off = MON(listen) },
    { "stats_window_h", T_INT, 0, .off = MON(stats_window_h), .min = 1, .max = 8760, .idef = 48 },
};
static const struct cfg__group mon_group = GROUP(mon_keys);

#define EGR(f) offsetof(struct cfg_egress, f)
static const struct cfg__key egress_keys[] = {
    { "proxy", T_STR, 0, .off = EGR(proxy), .check = chk_proxy },
    { "no_proxy", T_HOSTS, 0, .off = EGR(no_proxy), .off_n = EGR(n_no_proxy),
      .check = chk_no_proxy },
};
static const struct cfg__group egress_group = GROUP(egress_keys);

#define APP(f) offsetof(struct cfg_app, f)
static const struct cfg__key app_keys[] = {
    { "id", T_STR, K_REQ, .off = APP(id), .check = chk_token },
    { "provider", T_PROVIDER, K_REQ, .off = APP(provider) },
    { "endpoint", T_URL, 0, .off = APP(endpoint) },
    { "ca_file", T_FILE, 0, .off = APP(ca_file) },
    { "certificate", T_FILE, K_APNS | K_MPNS, .off = APP(certificate) },
    { "private_key", T_FILE, K_APNS | K_MPNS, .off = APP(private_key) },
    { "connections", T_INT, 0, .off = APP(connections), .min = 1, .max = 64, .idef = 2 },
    { "request_timeout_ms", T_INT, 0, .off = APP(request_timeout_ms), .min = 100,
      .max = 300000, .idef = 10000 },
    { "topic", T_STR, K_REQ | K_APNS, .off = APP(topic), .check = chk_token },
    { "team_id", T_STR, K_APNS, .off = APP(team_id), .check = chk_alnum },
    { "key_id", T_STR, K_APNS, .off = APP(key_id), .check = chk_alnum },
    { "key_file", T_FILE, K_APNS, .off = APP(key_file) },
    { "project_id", T_STR, K_REQ | K_FCM, .off = APP(project_id), .check = chk_project },
    { "service_account", T_FILE, K_REQ | K_FCM, .off = APP(service_account) },
    /* Required for MPNS and Web Push (their descriptors say so); WNS has a default. */
    { "allowed_hosts", T_HOSTS, K_MPNS | K_WNS | K_WEBPUSH, .off = APP(allowed_hosts),
      .off_n = APP(n_allowed_hosts) },
    { "package_sid", T_STR, K_REQ | K_WNS, .off = APP(package_sid), .check = chk_client_id },
    { "hms_app_id", T_STR, K_REQ | K_HMS, .off = APP(hms_app_id), .check = chk_alnum },
    { "client_secret_file", T_FILE, K_REQ | K_WNS | K_HMS, .off = APP(client_secret_file) },
    { "token_endpoint", T_STR, K_WNS | K_HMS, .off = APP(token_endpoint), .check = chk_https_url },
    { "vapid_key_file", T_FILE, K_REQ | K_WEBPUSH, .off = APP(vapid_key_file) },
    { "vapid_subject", T_STR, K_REQ | K_WEBPUSH, .off = APP(vapid_subject), .check = chk_vapid_subject },
};
static const struct cfg__group app_group = GROUP(app_keys);

#define CFG(f) offsetof(struct cfg, f)
static const struct cfg__key root_keys[] = {
    { "node_id", T_STR, K_REQ, .off = CFG(node_id), .check = chk_token },
    { "log_level", T_LOGLEVEL, 0, .off = CFG(log_level), .sdef = "info" },
    { "redis", T_GROUP, 0, .off = CFG(redis), .sub = &redis_group },
    { "federation", T_GROUP, K_REQ, .off = CFG(federation), .sub = &fed_group },
    { "dispatcher", T_GROUP, 0, .off = CFG(dispatcher), .sub = &disp_group },
    { "apps", T_APPS, K_REQ, .off = CFG(apps), .off_n = CFG(n_apps) },
    { "monitoring", T_GROUP, 0, .off = CFG(monitoring), .sub = &mon_group },
    { "egress", T_GROUP, 0, .off = CFG(egress), .sub = &egress_group },
};
static const struct cfg__group root_group = GROUP(root_keys);

/* ------------------------------------------------------------------------
 * Errors: "file:line: key.path: message"
 * ------------------------------------------------------------------------ */

struct cfg__ctx {
    const char *file;       /* as the caller named it, for messages */
    char dir[PATH_MAX];     /* where relative paths resolve */
    char *err;
    size_t errlen;
    int provider;           /* provider of the app being read, or -1 */
};

/* cfg__path writes the dotted path of 's' ("apps[1].key_file"); root is "". */
static void cfg__path(const config_setting_t *s, char *buf, size_t len)
{
    buf[0] = '\0';
    if (s == NULL || config_setting_parent(s) == NULL)
        return;
    cfg__path(config_setting_parent(s), buf, len);
    size_t n = strlen(buf);
    if (config_setting_name(s) != NULL)
        snprintf(buf + n, len - n, "%s%s", n > 0 ? "." : "", config_setting_name(s));
    else
        snprintf(buf + n, len - n, "[%d]", config_setting_index(s));
}

/*
 * cfg__fail writes the error for setting 'at' (its line, its path) or, when
 * 'child' is given, for the key 'child' of group 'at' (a missing key: the
 * group's line). Returns PR_ECONFIG so callers can `return cfg__fail(...)`.
 */
static int cfg__fail(struct cfg__ctx *x, const config_setting_t *at, const char *child,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int cfg__fail(struct cfg__ctx *x, const config_setting_t *at, const char *child,
                     const char *fmt, ...)
{
    char path[512], msg[768], where[PATH_MAX + 32];
    va_list ap;

    cfg__path(at, path, sizeof(path));
    if (child != NULL) {
        size_t n = strlen(path);
        snprintf(path + n, sizeof(path) - n, "%s%s", n > 0 ? "." : "", child);
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    const char *file = at != NULL ? config_setting_source_file(at) : NULL;
    int line = at != NULL ? config_setting_source_line(at) : 0;
    if (file == NULL)
        file = x->file;
    if (line > 0)
        snprintf(where, sizeof(where), "%s:%d", file, line);
    else
        snprintf(where, sizeof(where), "%s", file);
    snprintf(x->err, x->errlen, "%s: %s%s%s", where, path, path[0] != '\0' ? ": " : "", msg);
    return PR_ECONFIG;
}

/* ------------------------------------------------------------------------
 * Value checks
 * ------------------------------------------------------------------------ */

static const char *chk_chars(const char *v, const char *extra, size_t max)
{
    size_t len = strlen(v);
    if (len == 0)
        return "must not be empty";
    if (len > max)
        return "is too long";
    for (const char *p = v; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr(extra, *p) != NULL))
            return extra[0] == '\0' ? "may hold only letters and digits"
                                     : "holds a character that is not allowed";
    return NULL;
}

/* Identifiers: app ids, node ids, bundle ids. */
static const char *chk_token(const char *v) { return chk_chars(v, "._-", 128); }
/* Apple team and key ids. */
static const char *chk_alnum(const char *v) { return chk_chars(v, "", 32); }
/* Google project ids, including domain-scoped ones ("example.com:proj"). */
static const char *chk_project(const char *v) { return chk_chars(v, ".:_-", 128); }

/* An OAuth2 client id: a WNS package SID is "ms-app://s-1-15-2-...". */
static const char *chk_client_id(const char *v) { return chk_chars(v, ".:/_-", 256); }

/* RFC 8292 2.1: the contact is a mailto: or an https: URI. */
static const char *chk_vapid_subject(const char *v)
{
    if ((strncmp(v, "mailto:", 7) != 0 || v[7] == '\0') && chk_https_url(v) != NULL)
        return "must be a mailto: or https:// URI";
    return strpbrk(v, " \t\r\n\"") != NULL ? "must not hold spaces or quotes" : NULL;
}

/* An https URL with a host and any path (a token endpoint), no spaces. */
static const char *chk_https_url(const char *v)
{
    static const char scheme[] = "https://";
    const char *host = v + sizeof(scheme) - 1;
    if (strncmp(v, scheme, sizeof(scheme) - 1) != 0 || strpbrk(v, " \t\r\n\"") != NULL ||
        host[0] == '\0' || host[0] == '/' || strlen(v) > 1024)
        return "must be an https:// URL";
    return NULL;
}

static const char *chk_dns(const char *v)
{
    return dnsname_valid(v) ? NULL : "is not a valid DNS name";
}

static const char *chk_host(const char *v)
{
    struct in6_addr a6;
    if (dnsname_valid(v) || inet_pton(AF_INET6, v, &a6) == 1)
        return NULL;
    return "is not a host name or address";
}

static const char *chk_prefix(const char *v)
{
    if (v[0] == '\0')
        return "must not be empty";
    if (strlen(v) >= 64)
        return "must be shorter than 64 bytes";
    for (const char *p = v; *p != '\0'; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return "must not hold spaces or control characters";
    return NULL;
}

/*
 * cfg__parse_addr reads "host:port" or "[v6addr]:port" into 'ep'. Returns
 * NULL, or what is wrong.
 */
static const char *cfg__parse_addr(const char *s, struct cfg_endpoint *ep)
{
    const char *host = s, *colon;
    size_t hlen;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            return "must be [address]:port";
        host = s + 1;
        hlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return "must be host:port";
        if (memchr(s, ':', (size_t)(colon - s)) != NULL)
            return "must be host:port (write IPv6 addresses as [address]:port)";
        hlen = (size_t)(colon - s);
    }
    if (hlen == 0 || hlen >= sizeof(ep->host))
        return "must be host:port with a host";
    memcpy(ep->host, host, hlen);
    ep->host[hlen] = '\0';
    if (s[0] == '[') {
        struct in6_addr a6;
        if (inet_pton(AF_INET6, ep->host, &a6) != 1)
            return "has a bad IPv6 address";
    } else if (!dnsname_valid(ep->host)) {
        return "has a bad host name";
    }

    const char *p = colon + 1;
    long port = 0;
    if (*p == '\0')
        return "must be host:port with a port";
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || port > 65535)
            return "has a bad port";
        port = port * 10 + (*p - '0');
    }
    if (port < 1 || port > 65535)
        return "has a port out of range (1-65535)";
    ep->port = (uint16_t)port;
    return NULL;
}

/* "https://host[:port]", nothing after. Returns NULL or what is wrong. */
static const char *cfg__check_url(const char *s)
{
    static const char scheme[] = "https://";
    const char *hint = "must be https://host[:port]";
    if (strncmp(s, scheme, sizeof(scheme) - 1) != 0)
        return hint;
    const char *auth = s + sizeof(scheme) - 1;
    if (strchr(auth, '/') != NULL || strchr(auth, '?') != NULL || auth[0] == '\0')
        return hint;
    struct cfg_endpoint ep;
    if (strchr(auth, ':') == NULL)
        return dnsname_valid(auth) ? NULL : hint;
    return cfg__parse_addr(auth, &ep) == NULL ? NULL : hint;
}

/*
 * cfg__parse_proxy splits an egress proxy URL, "http://[user:pass@]host:port"
 * with at most a trailing "/", into 'ep' and the span of its credentials
 * ('*auth', '*auth_len'; NULL when none). Credentials are taken literally
 * (no percent-decoding). Returns NULL, or what is wrong.
 */
static const char *cfg__parse_proxy(const char *s, struct cfg_endpoint *ep, const char **auth,
                                    size_t *auth_len)
{
    static const char scheme[] = "http://";
    char hostport[300];

    *auth = NULL;
    *auth_len = 0;
    if (strncasecmp(s, "https://", 8) == 0)
        return "is an https:// proxy, which is not supported: use http://host:port "
               "(provider TLS still runs end to end inside the tunnel)";
    if (strncasecmp(s, scheme, sizeof(scheme) - 1) != 0)
        return "must be http://host:port";
    const char *a = s + sizeof(scheme) - 1;
    size_t len = strcspn(a, "/?#");
    if (a[len] != '\0' && strcmp(a + len, "/") != 0)
        return "must be http://host:port (no path)";
    const char *at = memchr(a, '@', len);
    if (at != NULL) {
        if (at == a)
            return "has an empty user name before '@'";
        *auth = a;
        *auth_len = (size_t)(at - a);
        len -= (size_t)(at - a) + 1;
        a = at + 1;
    }
    if (len == 0 || len >= sizeof(hostport))
        return "must be http://host:port with a host";
    memcpy(hostport, a, len);
    hostport[len] = '\0';
    const char *close = strrchr(hostport, ']');
    const char *colon = strrchr(close != NULL ? close : hostport, ':');
    if (colon == NULL)
        return "has no port: write http://host:port";
    return cfg__parse_addr(hostport, ep);
}

static const char *chk_proxy(const char *v)
{
    struct cfg_endpoint ep;
    const char *auth;
    size_t auth_len;
    return cfg__parse_proxy(v, &ep, &auth, &auth_len);
}

/* A listening address: an IPv4 or IPv6 address, never a name (nothing resolves it). */
static const char *chk_numeric_host(const char *v)
{
    struct in6_addr a6;
    struct in_addr a4;
    if (inet_pton(AF_INET, v, &a4) == 1 || inet_pton(AF_INET6, v, &a6) == 1)
        return NULL;
    return "must be a numeric address (IPv4, or [IPv6]:port), not a host name";
}

/* no_proxy: "name", "*.suffix" or ".suffix" (the domain's hosts), or an address. */
static const char *chk_no_proxy(const char *v)
{
    struct in6_addr a6;
    const char *name = strncmp(v, "*.", 2) == 0 ? v + 2 : v[0] == '.' ? v + 1 : v;
    if (dnsname_valid(name) || (name == v && inet_pton(AF_INET6, v, &a6) == 1))
        return NULL;
    return "must be a host name, *.domain, .domain or an address";
}

/* A host pattern: a DNS name, or "*." and a DNS name. */
static int cfg__host_pattern_valid(const char *p)
{
    if (strncmp(p, "*.", 2) == 0)
        p += 2;
    return dnsname_valid(p);
}

/* ------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------ */

/*
 * cfg__file resolves 'value' against the config's directory, checks that it
 * names a readable regular file and stores its canonical path in '*out'.
 */
static int cfg__file(struct cfg__ctx *x, const config_setting_t *s, const char *value, char **out)
{
    char joined[PATH_MAX * 2], real[PATH_MAX];
    struct stat st;
    int fd;

    if (value[0] == '\0')
        return cfg__fail(x, s, NULL, "must name a file");
    if (value[0] == '/')
        snprintf(joined, sizeof(joined), "%s", value);
    else
        snprintf(joined, sizeof(joined), "%s/%s", x->dir, value);
    if ((fd = open(joined, O_RDONLY | O_CLOEXEC)) < 0)
        return cfg__fail(x, s, NULL, "cannot read %s: %s", joined, strerror(errno));
    int rc = fstat(fd, &st);
    close(fd);
    if (rc != 0 || !S_ISREG(st.st_mode))
        return cfg__fail(x, s, NULL, "cannot read %s: not a regular file", joined);
    if (realpath(joined, real) == NULL)
        return cfg__fail(x, s, NULL, "cannot resolve %s: %s", joined, strerror(errno));
    if ((*out = strdup(real)) == NULL)
        return PR_ENOMEM;
    return 0;
}

/* The APNs token key (.p8) must be a PEM EC private key. */
static int cfg__check_p8(struct cfg__ctx *x, const config_setting_t *s, const char *path)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *key = NULL;
    int rc = 0;

    if (f == NULL)
        return cfg__fail(x, s, NULL, "cannot read %s: %s", path, strerror(errno));
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
        rc = cfg__fail(x, s, NULL, "%s is not a PEM EC private key (an APNs .p8 key)", path);
    EVP_PKEY_free(key);
    return rc;
}

/* The FCM service account must be JSON with the fields the OAuth flow needs. */
static int cfg__check_service_account(struct cfg__ctx *x, const config_setting_t *s,
                                      const char *path)
{
    static const char *const fields[] = { "client_email", "private_key", "token_uri" };
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    int rc = 0;

    if (doc == NULL)
        return cfg__fail(x, s, NULL, "%s: not valid JSON: %s (line %d)", path, jerr.text,
                         jerr.line);
    if (!json_is_object(doc)) {
        rc = cfg__fail(x, s, NULL, "%s: not a JSON object", path);
        goto out;
    }
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const char *v = json_string_value(json_object_get(doc, fields[i]));
        if (v == NULL || v[0] == '\0') {
            rc = cfg__fail(x, s, NULL, "%s: \"%s\" is missing or not a string", path, fields[i]);
            goto out;
        }
    }
out:
    json_decref(doc);
    return rc;
}

/* ------------------------------------------------------------------------
 * The schema walk
 * ------------------------------------------------------------------------ */

static int cfg__read_group(struct cfg__ctx *x, const config_setting_t *g,
                           const config_setting_t *parent, const char *name,
                           const struct cfg__group *spec, void *base);
static int cfg__read_apps(struct cfg__ctx *x, const config_setting_t *s, struct cfg *cfg);

static const char *cfg__type_name(enum cfg__type t)
{
    switch (t) {
    case T_INT:
    case T_LLONG: return "an integer";
    case T_GROUP: return "a group { ... }";
    case T_APPS: return "a list ( { ... }, ... )";
    case T_ADDRS:
    case T_HOSTS: return "a list of strings [ \"...\" ]";
    default: return "a string";
    }
}

static int cfg__is_list(const config_setting_t *s)
{
    return config_setting_is_array(s) || config_setting_is_list(s);
}

/* cfg__str_list checks that every element of list 's' is a string. */
static int cfg__str_list(struct cfg__ctx *x, const config_setting_t *s, size_t max)
{
    int n = config_setting_length(s);
    if (n == 0)
        return cfg__fail(x, s, NULL, "must not be empty");
    if ((size_t)n > max)
        return cfg__fail(x, s, NULL, "may hold at most %zu entries", max);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING)
            return cfg__fail(x, e, NULL, "must be a string");
    }
    return 0;
}

/* cfg__default stores the default of an absent optional key. */
static int cfg__default(const struct cfg__key *k, void *field)
{
    struct cfg_endpoint *ep = field;
    switch (k->type) {
    case T_INT: *(int *)field = (int)k->idef; return 0;
    case T_LLONG: *(long long *)field = k->idef; return 0;
    case T_LOGLEVEL: return pr_log_level_parse(k->sdef, field);
    case T_ADDRS:
        /* the count field is set by the caller; no default: an empty list */
        if (k->sdef == NULL)
            return 0;
        return cfg__parse_addr(k->sdef, &ep[0]) == NULL ? 0 : PR_EINVAL;
    case T_STR:
        if (k->sdef != NULL && (*(char **)field = strdup(k->sdef)) == NULL)
            return PR_ENOMEM;
        return 0;
    default:
        return 0; /* NULL strings, port 0 endpoints, empty lists */
    }
}

/* cfg__read_key reads the present key 's' described by 'k' into the group at 'base'. */
static int cfg__read_key(struct cfg__ctx *x, const config_setting_t *s, const struct cfg__key *k,
                         void *base)
{
    void *field = (char *)base + k->off;
    int type = config_setting_type(s);
    const char *str = type == CONFIG_TYPE_STRING ? config_setting_get_string(s) : NULL;
    const char *why;

    switch (k->type) {
    case T_STR:
    case T_FILE:
    case T_URL:
    case T_ADDR:
    case T_LOGLEVEL:
    case T_PROVIDER:
        if (str == NULL)
            return cfg__fail(x, s, NULL, "must be %s", cfg__type_name(k->type));
        break;
    case T_INT:
    case T_LLONG:
        if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
            return cfg__fail(x, s, NULL, "must be %s", cfg__type_name(k->type));
        break;
    case T_GROUP:
        if (!config_setting_is_group(s))
            return cfg__fail(x, s, NULL, "must be %s", cfg__type_name(k->type));
        break;
    case T_APPS:
        if (!config_setting_is_list(s))
            return cfg__fail(x, s, NULL, "must be %s", cfg__type_name(k->type));
        break;
    case T_ADDRS:
    case T_HOSTS:
        if (!cfg__is_list(s))
            return cfg__fail(x, s, NULL, "must be %s", cfg__type_name(k->type));
        break;
    }

    switch (k->type) {
    case T_STR:
        if (k->check != NULL && (why = k->check(str)) != NULL)
            return cfg__fail(x, s, NULL, "\"%s\" %s", str, why);
        return (*(char **)field = strdup(str)) == NULL ? PR_ENOMEM : 0;
    case T_FILE:
        return cfg__file(x, s, str, field);
    case T_URL:
        if ((why = cfg__check_url(str)) != NULL)
            return cfg__fail(x, s, NULL, "\"%s\" %s", str, why);
        return (*(char **)field = strdup(str)) == NULL ? PR_ENOMEM : 0;
    case T_ADDR:
        if ((why = cfg__parse_addr(str, field)) != NULL)
            return cfg__fail(x, s, NULL, "\"%s\" %s", str, why);
        return 0;
    case T_LOGLEVEL:
        if (pr_log_level_parse(str, field) != 0)
            return cfg__fail(x, s, NULL, "\"%s\" must be one of error, warn, info, debug", str);
        return 0;
    case T_PROVIDER:
        if (pr_provider_parse(str, field) != 0)
            return cfg__fail(x, s, NULL, "\"%s\" must be one of %s", str, pr_provider_list());
        return 0;
    case T_INT:
    case T_LLONG: {
        long long v = config_setting_get_int64(s);
        if (v < k->min || v > k->max)
            return cfg__fail(x, s, NULL, "must be between %lld and %lld", k->min, k->max);
        if (k->type == T_INT)
            *(int *)field = (int)v;
        else
            *(long long *)field = v;
        return 0;
    }
    case T_GROUP:
        return cfg__read_group(x, s, NULL, NULL, k->sub, field);
    case T_APPS:
        return cfg__read_apps(x, s, base);
    case T_ADDRS: {
        struct cfg_endpoint *eps = field;
        int rc = cfg__str_list(x, s, CFG_MAX_LISTEN);
        if (rc != 0)
            return rc;
        for (int i = 0; i < config_setting_length(s); i++) {
            const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
            const char *a = config_setting_get_string(e);
            if ((why = cfg__parse_addr(a, &eps[i])) != NULL ||
                (k->check != NULL && (why = k->check(eps[i].host)) != NULL))
                return cfg__fail(x, e, NULL, "\"%s\" %s", a, why);
        }
        *(size_t *)((char *)base + k->off_n) = (size_t)config_setting_length(s);
        return 0;
    }
    case T_HOSTS: {
        int n = config_setting_length(s);
        int rc = cfg__str_list(x, s, 256);
        if (rc != 0)
            return rc;
        char **hosts = calloc((size_t)n, sizeof(*hosts));
        if (hosts == NULL)
            return PR_ENOMEM;
        /* stored before filling so that cfg_free releases a partial list */
        *(char ***)field = hosts;
        *(size_t *)((char *)base + k->off_n) = (size_t)n;
        for (int i = 0; i < n; i++) {
            const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
            const char *h = config_setting_get_string(e);
            if (k->check != NULL && (why = k->check(h)) != NULL)
                return cfg__fail(x, e, NULL, "\"%s\" %s", h, why);
            if (k->check == NULL && !cfg__host_pattern_valid(h))
                return cfg__fail(x, e, NULL, "\"%s\" must be a host name or *.domain", h);
            if ((hosts[i] = strdup(h)) == NULL)
                return PR_ENOMEM;
        }
        return 0;
    }
    }
    return PR_EINVAL;
}

/*
 * cfg__read_group fills 'base' from group 'g' per 'spec'. 'g' is NULL when
 * the group is absent from the file: then defaults apply, and a required key
 * is reported against 'parent'.'name'.
 */
static int cfg__read_group(struct cfg__ctx *x, const config_setting_t *g,
                           const config_setting_t *parent, const char *name,
                           const struct cfg__group *spec, void *base)
{
    int rc;

    /* Every key in the file must be one the schema knows (for this provider). */
    for (int i = 0; g != NULL && i < config_setting_length(g); i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const struct cfg__key *k = NULL;
        for (size_t j = 0; j < spec->n && k == NULL; j++)
            if (strcmp(spec->keys[j].name, config_setting_name(s)) == 0)
                k = &spec->keys[j];
        if (k == NULL)
            return cfg__fail(x, s, NULL, "unknown key");
        if ((k->flags & K_PROVIDERS) != 0 && x->provider >= 0 &&
            (k->flags & K_PROVIDER(x->provider)) == 0)
            return cfg__fail(x, s, NULL, "is not a key for provider %s",
                             pr_provider_name((enum pr_provider)x->provider));
    }

    for (size_t j = 0; j < spec->n; j++) {
        const struct cfg__key *k = &spec->keys[j];
        int applies = (k->flags & K_PROVIDERS) == 0 || x->provider < 0 ||
                      (k->flags & K_PROVIDER(x->provider)) != 0;
        const config_setting_t *s = g != NULL ? config_setting_get_member(g, k->name) : NULL;

        if (!applies)
            continue;
        if (s != NULL) {
            rc = cfg__read_key(x, s, k, base);
        } else if (k->flags & K_REQ) {
            if (g != NULL)
                rc = cfg__fail(x, g, k->name, "required key is missing");
            else
                rc = cfg__fail(x, parent, name, "required key %s is missing", k->name);
        } else if (k->type == T_GROUP) {
            rc = cfg__read_group(x, NULL, g != NULL ? g : parent, k->name, k->sub,
                                 (char *)base + k->off);
        } else {
            rc = cfg__default(k, (char *)base + k->off);
            if (rc == 0 && k->type == T_ADDRS)
                *(size_t *)((char *)base + k->off_n) = k->sdef != NULL ? 1 : 0;
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Rules for one app that span keys. */
static int cfg__check_app(struct cfg__ctx *x, const config_setting_t *g, struct cfg_app *app)
{
    int rc;

    if ((app->certificate != NULL) != (app->private_key != NULL))
        return cfg__fail(x, g, app->certificate != NULL ? "private_key" : "certificate",
                         "required key is missing (certificate and private_key go together)");

    const struct provider_desc *d = provider_desc(app->provider);
    struct provider_app_err e;
    if (d->check_app != NULL && d->check_app(app, &e) != 0)
        return cfg__fail(x, g, e.key, "%s", e.msg);

    /* File contents, once the provider's rules said which files apply. */
    if (app->key_file != NULL &&
        (rc = cfg__check_p8(x, config_setting_get_member(g, "key_file"), app->key_file)) != 0)
        return rc;
    if (app->service_account != NULL &&
        (rc = cfg__check_service_account(x, config_setting_get_member(g, "service_account"),
                                         app->service_account)) != 0)
        return rc;

    if (app->endpoint == NULL && d->default_endpoint != NULL &&
        (app->endpoint = strdup(d->default_endpoint)) == NULL)
        return PR_ENOMEM;
    if (app->token_endpoint == NULL && d->default_token_endpoint != NULL &&
        (app->token_endpoint = strdup(d->default_token_endpoint)) == NULL)
        return PR_ENOMEM;
    if (app->n_allowed_hosts == 0 && d->default_allowed_host != NULL) {
        if ((app->allowed_hosts = calloc(1, sizeof(char *))) == NULL ||
            (app->allowed_hosts[0] = strdup(d->default_allowed_host)) == NULL)
            return PR_ENOMEM;
        app->n_allowed_hosts = 1;
    }
    return 0;
}

/* Two apps may not share an id, nor the pn-param that routes to them. */
static int cfg__check_unique(struct cfg__ctx *x, const config_setting_t *list,
                             const struct cfg *cfg, size_t i)
{
    const struct cfg_app *a = &cfg->apps[i];
    const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);

    for (size_t j = 0; j < i; j++) {
        const struct cfg_app *b = &cfg->apps[j];
        int line = config_setting_source_line(config_setting_get_elem(list, (unsigned)j));
        if (strcmp(a->id, b->id) == 0)
            return cfg__fail(x, config_setting_get_member(g, "id"), NULL,
                             "duplicate app id \"%s\" (first at line %d)", a->id, line);
        if (a->provider != b->provider)
            continue;
        const struct provider_desc *d = provider_desc(a->provider);
        if (d->same_param != NULL && d->same_param(a, b))
            return cfg__fail(x, g, NULL, "serves the same pn-param as app \"%s\" (line %d)",
                             b->id, line);
    }
    return 0;
}

static int cfg__read_apps(struct cfg__ctx *x, const config_setting_t *s, struct cfg *cfg)
{
    int n = config_setting_length(s), rc;

    if (n == 0)
        return cfg__fail(x, s, NULL, "must hold at least one app");
    if ((cfg->apps = calloc((size_t)n, sizeof(*cfg->apps))) == NULL)
        return PR_ENOMEM;
    cfg->n_apps = (size_t)n;

    for (int i = 0; i < n; i++) {
        const config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
        struct cfg_app *app = &cfg->apps[i];
        const char *prov;

        if (!config_setting_is_group(g))
            return cfg__fail(x, g, NULL, "must be a group { ... }");
        /* The provider decides which keys the rest of the group may hold. */
        if (config_setting_lookup_string(g, "provider", &prov) == CONFIG_FALSE) {
            const config_setting_t *p = config_setting_get_member(g, "provider");
            if (p != NULL)
                return cfg__fail(x, p, NULL, "must be a string");
            return cfg__fail(x, g, "provider", "required key is missing");
        }
        if (pr_provider_parse(prov, &app->provider) != 0)
            return cfg__fail(x, config_setting_get_member(g, "provider"), NULL,
                             "\"%s\" must be one of %s", prov, pr_provider_list());
        x->provider = (int)app->provider;
        rc = cfg__read_group(x, g, NULL, NULL, &app_group, app);
        if (rc == 0)
            rc = cfg__check_app(x, g, app);
        x->provider = -1;
        if (rc == 0)
            rc = cfg__check_unique(x, s, cfg, (size_t)i);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/*
 * Redis is found one way: host/port, sentinels + master_name, or cluster
 * seeds. Keys of another way are refused rather than silently ignored.
 */
static int cfg__check_redis(struct cfg__ctx *x, config_t *cf, const struct cfg_redis *r)
{
    static const char *const direct[] = { "redis.host", "redis.port" };
    static const char *const via_sentinel[] = { "redis.master_name", "redis.sentinel_password" };
    const config_setting_t *s;

    if (r->n_cluster > 0) {
        for (size_t i = 0; i < sizeof(direct) / sizeof(direct[0]); i++)
            if ((s = config_lookup(cf, direct[i])) != NULL)
                return cfg__fail(x, s, NULL, "cannot be used with redis.cluster "
                                             "(the cluster's slot map names the nodes)");
        if ((s = config_lookup(cf, "redis.sentinels")) != NULL)
            return cfg__fail(x, s, NULL, "cannot be used with redis.cluster "
                                         "(a cluster fails over by itself)");
        if (r->db != 0)
            return cfg__fail(x, config_lookup(cf, "redis.db"), NULL,
                             "must be 0 with redis.cluster (a cluster has only db 0)");
    }
    if (r->n_sentinels > 0) {
        for (size_t i = 0; i < sizeof(direct) / sizeof(direct[0]); i++)
            if ((s = config_lookup(cf, direct[i])) != NULL)
                return cfg__fail(x, s, NULL, "cannot be used with redis.sentinels "
                                             "(the sentinels name the primary)");
        if (r->master_name == NULL)
            return cfg__fail(x, config_lookup(cf, "redis"), "master_name",
                             "required key is missing (redis.sentinels needs it)");
        return 0;
    }
    for (size_t i = 0; i < sizeof(via_sentinel) / sizeof(via_sentinel[0]); i++)
        if ((s = config_lookup(cf, via_sentinel[i])) != NULL)
            return cfg__fail(x, s, NULL, "needs redis.sentinels");
    return 0;
}

/*
 * cfg__egress_finish splits the (already checked) proxy URL into the typed
 * fields and points every app at the egress settings; every provider
 * client (HTTP/2 and the MPNS/WNS HTTP/1.1 one) and OAuth honour them.
 */
static int cfg__egress_finish(struct cfg *cfg)
{
    struct cfg_egress *eg = &cfg->egress;
    for (size_t i = 0; i < cfg->n_apps; i++)
        cfg->apps[i].egress = eg;
    if (eg->proxy == NULL)
        return 0;
    const char *auth;
    size_t auth_len;
    if (cfg__parse_proxy(eg->proxy, &eg->proxy_addr, &auth, &auth_len) != NULL)
        return PR_EINVAL;
    if (auth != NULL && (eg->proxy_auth = strndup(auth, auth_len)) == NULL)
        return PR_ENOMEM;
    int v6 = strchr(eg->proxy_addr.host, ':') != NULL;
    snprintf(eg->proxy_name, sizeof(eg->proxy_name), "%s%s%s:%u", v6 ? "[" : "",
             eg->proxy_addr.host, v6 ? "]" : "", (unsigned)eg->proxy_addr.port);
    return 0;
}

/* Rules across groups, after everything was read. */
static int cfg__check_all(struct cfg__ctx *x, config_t *cf, const struct cfg *cfg)
{
    int rc = cfg__check_redis(x, cf, &cfg->redis);
    if (rc != 0)
        return rc;
    const struct cfg_retry *r = &cfg->dispatcher.retry;
    if (r->max_delay_ms < r->base_delay_ms) {
        const config_setting_t *s = config_lookup(cf, "dispatcher.retry.max_delay_ms");
        if (s == NULL)
            s = config_lookup(cf, "dispatcher.retry.base_delay_ms");
        return cfg__fail(x, s, NULL, "must not be below base_delay_ms (%d)",
                         r->base_delay_ms);
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Public API
 * ------------------------------------------------------------------------ */

int cfg_load(const char *path, struct cfg **out, char *err, size_t errlen)
{
    struct cfg__ctx x = { .file = path, .err = err, .errlen = errlen, .provider = -1 };
    char real[PATH_MAX];
    struct cfg *cfg = NULL;
    config_t cf;
    int rc;

    *out = NULL;
    if (errlen > 0)
        err[0] = '\0';
    config_init(&cf);

    /* Checked here for a precise reason; libconfig only says "file I/O error". */
    const char *why = NULL;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        why = "not a regular file";
    else if (realpath(path, real) == NULL)
        why = strerror(errno);
    if (fd >= 0)
        close(fd);
    if (why != NULL) {
        snprintf(err, errlen, "%s: cannot read: %s", path, why);
        rc = PR_ECONFIG;
        goto out;
    }
    snprintf(x.dir, sizeof(x.dir), "%s", real);
    *strrchr(x.dir, '/') = '\0';
    if (x.dir[0] == '\0')
        strcpy(x.dir, "/");
    config_set_include_dir(&cf, x.dir);

    if (config_read_file(&cf, path) != CONFIG_TRUE) {
        const char *file = config_error_file(&cf) != NULL ? config_error_file(&cf) : path;
        if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
            snprintf(err, errlen, "%s: cannot read: %s", file,
                     errno != 0 ? strerror(errno) : "I/O error");
        else
            snprintf(err, errlen, "%s:%d: %s", file, config_error_line(&cf),
                     config_error_text(&cf));
        rc = PR_ECONFIG;
        goto out;
    }

    if ((cfg = calloc(1, sizeof(*cfg))) == NULL || (cfg->path = strdup(real)) == NULL) {
        rc = PR_ENOMEM;
        goto out;
    }
    rc = cfg__read_group(&x, config_root_setting(&cf), NULL, NULL, &root_group, cfg);
    if (rc == 0)
        rc = cfg__check_all(&x, &cf, cfg);
    if (rc == 0)
        rc = cfg__egress_finish(cfg);

out:
    config_destroy(&cf);
    if (rc == PR_ENOMEM)
        snprintf(err, errlen, "%s: out of memory", path);
    if (rc != 0 && errlen > 0 && err[0] == '\0')
        snprintf(err, errlen, "%s: %s", path, pr_strerror(rc));
    if (rc != 0) {
        cfg_free(cfg);
        return PR_ECONFIG;
    }
    *out = cfg;
    return 0;
}

void cfg_free(struct cfg *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->n_apps; i++) {
        struct cfg_app *a = &cfg->apps[i];
        char *strs[] = { a->id, a->endpoint, a->ca_file, a->certificate, a->private_key,
                         a->topic, a->team_id, a->key_id, a->key_file, a->project_id,
                         a->service_account, a->package_sid, a->hms_app_id, a->client_secret_file,
                         a->vapid_key_file, a->vapid_subject,
                         a->token_endpoint };
        for (size_t j = 0; j < sizeof(strs) / sizeof(strs[0]); j++)
            free(strs[j]);
        for (size_t j = 0; a->allowed_hosts != NULL && j < a->n_allowed_hosts; j++)
            free(a->allowed_hosts[j]);
        free(a->allowed_hosts);
    }
    free(cfg->apps);
    for (size_t j = 0; cfg->egress.no_proxy != NULL && j < cfg->egress.n_no_proxy; j++)
        free(cfg->egress.no_proxy[j]);
    free(cfg->egress.no_proxy);
    char *strs[] = { cfg->path, cfg->node_id, cfg->redis.host, cfg->redis.password,
                     cfg->redis.prefix, cfg->redis.master_name, cfg->redis.sentinel_password,
                     cfg->federation.domain, cfg->federation.tls.certificate,
                     cfg->federation.tls.private_key, cfg->federation.tls.ca_file,
                     cfg->egress.proxy, cfg->egress.proxy_auth };
    for (size_t j = 0; j < sizeof(strs) / sizeof(strs[0]); j++)
        free(strs[j]);
    free(cfg);
}

const struct cfg_app *cfg_find_app(const struct cfg *cfg, enum pr_provider provider,
                                   const char *param, int *voip)
{
    const struct provider_desc *d = provider_desc(provider);

    if (voip != NULL)
        *voip = 0;
    if (cfg == NULL || param == NULL || d == NULL)
        return NULL;
    size_t len = strlen(param);
    const char *suffix = d->voip_suffix;
    size_t slen = suffix != NULL ? strlen(suffix) : 0;
    /* An exact match first: a topic may itself end in the suffix. */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && (suffix == NULL || len <= slen || strcmp(param + len - slen, suffix) != 0))
            break;
        size_t plen = pass == 0 ? len : len - slen;
        for (size_t i = 0; i < cfg->n_apps; i++) {
            const struct cfg_app *a = &cfg->apps[i];
            if (a->provider == provider && d->match_param(a, param, plen)) {
                if (voip != NULL)
                    *voip = pass;
                return a;
            }
        }
    }
    return NULL;
}

const struct cfg_app *cfg_app_by_id(const struct cfg *cfg, const char *id)
{
    for (size_t i = 0; cfg != NULL && id != NULL && i < cfg->n_apps; i++)
        if (strcmp(cfg->apps[i].id, id) == 0)
            return &cfg->apps[i];
    return NULL;
}
