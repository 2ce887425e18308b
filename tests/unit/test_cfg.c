/*
 * test_cfg.c - the configuration loader (config/cfg_load.c): what a good
 * file yields, which defaults apply, how each bad file is refused (the exact
 * "file:line: key: message"), and the app lookups built on the result.
 * Fixtures: tests/data/cfg (see its README).
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "pushrelay/config.h"
#include "pushrelay/error.h"

/* data_dir: the canonical path of tests/data/cfg. */
static const char *data_dir(void)
{
    static char dir[PATH_MAX];
    char joined[PATH_MAX];
    const char *base = getenv("PR_TEST_DATA");
    snprintf(joined, sizeof(joined), "%s/cfg", base != NULL ? base : "tests/data");
    assert_non_null(realpath(joined, dir));
    return dir;
}

static void data_path(char *buf, size_t len, const char *name)
{
    int n = snprintf(buf, len, "%s/%s", data_dir(), name);
    assert_true(n > 0 && (size_t)n < len);
}

static struct cfg *load_ok(const char *path)
{
    struct cfg *cfg = NULL;
    char err[1024] = "";
    int rc = cfg_load(path, &cfg, err, sizeof(err));
    if (rc != 0)
        fail_msg("cfg_load(%s) failed: %s", path, err);
    assert_non_null(cfg);
    return cfg;
}

/* ------------------------------------------------------------------------ */

static void good_file_yields_every_value(void **state)
{
    (void)state;
    char path[PATH_MAX], want[PATH_MAX];
    data_path(path, sizeof(path), "good.conf");
    struct cfg *cfg = load_ok(path);
    const char *dir = data_dir();

    assert_string_equal(cfg->path, path);
    assert_string_equal(cfg->node_id, "relay-7");
    assert_int_equal(cfg->log_level, PR_LOG_DEBUG);

    assert_string_equal(cfg->redis.host, "redis.internal");
    assert_int_equal(cfg->redis.port, 6390);
    assert_string_equal(cfg->redis.password, "s3cret");
    assert_int_equal(cfg->redis.db, 3);
    assert_string_equal(cfg->redis.prefix, "prt:");

    const struct cfg_federation *f = &cfg->federation;
    assert_int_equal(f->n_listen, 2);
    assert_string_equal(f->listen[0].host, "127.0.0.1");
    assert_int_equal(f->listen[0].port, 5061);
    assert_string_equal(f->listen[1].host, "::1");
    assert_int_equal(f->listen[1].port, 5062);
    assert_string_equal(f->domain, "push.example.net");
    /* relative paths resolve against the file's directory, canonically */
    snprintf(want, sizeof(want), "%s/tls/relay.pem", dir);
    assert_string_equal(f->tls.certificate, want);
    snprintf(want, sizeof(want), "%s/tls/relay.key", dir);
    assert_string_equal(f->tls.private_key, want);
    snprintf(want, sizeof(want), "%s/tls/edges-ca.pem", dir);
    assert_string_equal(f->tls.ca_file, want);
    assert_int_equal(f->max_connections, 500);
    assert_int_equal(f->max_message_bytes, 8192);
    assert_int_equal(f->idle_timeout_s, 120);
    assert_int_equal(f->handshake_timeout_s, 5);
    assert_true(f->queue_high_water == 5000000000LL);
    assert_int_equal(f->dedup_window_s, 600);

    assert_int_equal(cfg->dispatcher.max_in_flight, 100);
    assert_int_equal(cfg->dispatcher.claim_idle_ms, 5000);
    assert_int_equal(cfg->dispatcher.retry.max_attempts, 3);
    assert_int_equal(cfg->dispatcher.retry.base_delay_ms, 250);
    assert_int_equal(cfg->dispatcher.retry.max_delay_ms, 10000);

    assert_int_equal(cfg->n_apps, 4);
    const struct cfg_app *ios = &cfg->apps[0];
    assert_string_equal(ios->id, "lync-ios");
    assert_int_equal(ios->provider, PR_PROVIDER_APNS);
    assert_string_equal(ios->topic, "com.example.lync");
    assert_string_equal(ios->team_id, "ABCDE12345");
    assert_string_equal(ios->key_id, "KEY1234567");
    snprintf(want, sizeof(want), "%s/keys/AuthKey_KEY1234567.p8", dir);
    assert_string_equal(ios->key_file, want);
    assert_string_equal(ios->endpoint, "https://127.0.0.1:8443");
    snprintf(want, sizeof(want), "%s/tls/edges-ca.pem", dir);
    assert_string_equal(ios->ca_file, want);
    assert_int_equal(ios->connections, 4);
    assert_null(ios->certificate);
    assert_null(ios->project_id);

    const struct cfg_app *legacy = &cfg->apps[1];
    assert_string_equal(legacy->id, "legacy-ios");
    assert_null(legacy->team_id);
    assert_null(legacy->key_file);
    snprintf(want, sizeof(want), "%s/keys/apns-cert.pem", dir);
    assert_string_equal(legacy->certificate, want);
    snprintf(want, sizeof(want), "%s/keys/apns-cert.key", dir);
    assert_string_equal(legacy->private_key, want);
    assert_string_equal(legacy->endpoint, "https://api.push.apple.com"); /* default */
    assert_int_equal(legacy->connections, 2);                           /* default */

    const struct cfg_app *android = &cfg->apps[2];
    assert_int_equal(android->provider, PR_PROVIDER_FCM);
    assert_string_equal(android->project_id, "example-lync");
    snprintf(want, sizeof(want), "%s/keys/service-account.json", dir);
    assert_string_equal(android->service_account, want);
    assert_string_equal(android->endpoint, "https://[::1]:8444");

    const struct cfg_app *wp = &cfg->apps[3];
    assert_int_equal(wp->provider, PR_PROVIDER_MPNS);
    assert_int_equal(wp->n_allowed_hosts, 2);
    assert_string_equal(wp->allowed_hosts[0], "*.notify.live.net");
    assert_string_equal(wp->allowed_hosts[1], "mpns.example.com");
    assert_null(wp->endpoint); /* MPNS: the channel URI names the host */

    assert_string_equal(cfg->monitoring.listen.host, "::1");
    assert_int_equal(cfg->monitoring.listen.port, 9464);
    assert_int_equal(cfg->monitoring.stats_window_h, 24);
    cfg_free(cfg);
}

static void sentinel_file_yields_sentinels_and_wait(void **state)
{
    (void)state;
    char path[PATH_MAX];
    data_path(path, sizeof(path), "sentinel.conf");
    struct cfg *cfg = load_ok(path);
    const struct cfg_redis *r = &cfg->redis;

    assert_int_equal(r->n_sentinels, 3);
    assert_string_equal(r->sentinels[0].host, "10.0.0.5");
    assert_int_equal(r->sentinels[0].port, 26379);
    assert_string_equal(r->sentinels[1].host, "::1");
    assert_int_equal(r->sentinels[1].port, 26380);
    assert_string_equal(r->sentinels[2].host, "sentinel.internal");
    assert_string_equal(r->master_name, "pushrelay");
    assert_string_equal(r->password, "s3cret");
    assert_string_equal(r->sentinel_password, "s3ntinel");
    assert_int_equal(r->wait_replicas, 1);
    assert_int_equal(r->wait_timeout_ms, 250);
    cfg_free(cfg);
}

static void cluster_file_yields_seeds_and_shards(void **state)
{
    (void)state;
    char path[PATH_MAX];
    data_path(path, sizeof(path), "cluster.conf");
    struct cfg *cfg = load_ok(path);
    const struct cfg_redis *r = &cfg->redis;

    assert_int_equal(r->n_cluster, 2);
    assert_string_equal(r->cluster[0].host, "10.0.0.5");
    assert_int_equal(r->cluster[0].port, 7000);
    assert_string_equal(r->cluster[1].host, "::1");
    assert_int_equal(r->cluster[1].port, 7001);
    assert_int_equal(r->n_sentinels, 0);
    assert_int_equal(r->shards, 64);
    assert_string_equal(r->password, "s3cret");
    cfg_free(cfg);
}

/* WNS: the token endpoint is login.live.com's and channels must be on *.notify.windows.com
 * unless the app says otherwise; the pn-param is the app id. */
static void wns_app_takes_microsofts_defaults(void **state)
{
    (void)state;
    char path[PATH_MAX], want[PATH_MAX];
    data_path(path, sizeof(path), "wns.conf");
    struct cfg *cfg = load_ok(path);
    assert_int_equal(cfg->n_apps, 1);
    const struct cfg_app *win = &cfg->apps[0];
    assert_int_equal(win->provider, PR_PROVIDER_WNS);
    assert_string_equal(win->package_sid, "ms-app://s-1-15-2-1234");
    snprintf(want, sizeof(want), "%s/keys/wns-secret.txt", data_dir());
    assert_string_equal(win->client_secret_file, want);
    assert_string_equal(win->token_endpoint, "https://login.live.com/accesstoken.srf");
    assert_int_equal(win->n_allowed_hosts, 1);
    assert_string_equal(win->allowed_hosts[0], "*.notify.windows.com");
    assert_null(win->endpoint);
    assert_ptr_equal(cfg_find_app(cfg, PR_PROVIDER_WNS, "lync-win", NULL), win);
    assert_null(cfg_find_app(cfg, PR_PROVIDER_MPNS, "lync-win", NULL));
    cfg_free(cfg);
}

static void minimal_file_takes_the_defaults(void **state)
{
    (void)state;
    char path[PATH_MAX];
    data_path(path, sizeof(path), "minimal.conf");
    struct cfg *cfg = load_ok(path);

    assert_int_equal(cfg->log_level, PR_LOG_INFO);
    assert_string_equal(cfg->redis.host, "127.0.0.1");
    assert_int_equal(cfg->redis.port, 6379);
    assert_null(cfg->redis.password);
    assert_int_equal(cfg->redis.db, 0);
    assert_string_equal(cfg->redis.prefix, "pr:");
    assert_int_equal(cfg->redis.n_sentinels, 0);
    assert_null(cfg->redis.master_name);
    assert_int_equal(cfg->redis.wait_replicas, 0);
    assert_int_equal(cfg->redis.wait_timeout_ms, 100);
    assert_int_equal(cfg->redis.n_cluster, 0);
    assert_int_equal(cfg->redis.shards, 1);
    assert_int_equal(cfg->federation.n_listen, 1);
    assert_string_equal(cfg->federation.listen[0].host, "0.0.0.0");
    assert_int_equal(cfg->federation.listen[0].port, 5061);
    assert_int_equal(cfg->federation.max_connections, 10000);
    assert_int_equal(cfg->federation.max_message_bytes, 16384);
    assert_int_equal(cfg->federation.idle_timeout_s, 300);
    assert_int_equal(cfg->federation.handshake_timeout_s, 10);
    assert_true(cfg->federation.queue_high_water == 1000000);
    assert_int_equal(cfg->federation.dedup_window_s, 300);
    assert_int_equal(cfg->dispatcher.max_in_flight, 2000);
    assert_int_equal(cfg->dispatcher.claim_idle_ms, 30000);
    assert_int_equal(cfg->dispatcher.stall_after_ms, 2000);
    assert_int_equal(cfg->dispatcher.max_stalled, 2000);
    assert_int_equal(cfg->dispatcher.retry.max_attempts, 8);
    assert_int_equal(cfg->dispatcher.retry.base_delay_ms, 500);
    assert_int_equal(cfg->dispatcher.retry.max_delay_ms, 300000);
    assert_int_equal(cfg->apps[0].connections, 2);
    assert_int_equal(cfg->apps[0].request_timeout_ms, 10000);
    /* monitoring absent: disabled */
    assert_int_equal(cfg->monitoring.listen.port, 0);
    assert_int_equal(cfg->monitoring.stats_window_h, 48);
    cfg_free(cfg);
}

/* The annotated example loads once the files it names exist beside it. */
static void example_config_loads(void **state)
{
    (void)state;
    char tmp[] = "/tmp/prcfg.XXXXXX", src[PATH_MAX], dst[PATH_MAX], link[PATH_MAX * 2];
    assert_non_null(mkdtemp(tmp));
    data_path(src, sizeof(src), "../../../config/pushrelay.conf");
    snprintf(dst, sizeof(dst), "%s/pushrelay.conf", tmp);

    FILE *in = fopen(src, "r"), *out = fopen(dst, "w");
    assert_non_null(in);
    assert_non_null(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    fclose(out);
    const char *dirs[] = { "tls", "keys" };
    for (size_t i = 0; i < 2; i++) {
        data_path(src, sizeof(src), dirs[i]);
        snprintf(link, sizeof(link), "%s/%s", tmp, dirs[i]);
        assert_int_equal(symlink(src, link), 0);
    }

    struct cfg *cfg = load_ok(dst);
    assert_string_equal(cfg->node_id, "relay-1");
    assert_string_equal(cfg->federation.domain, "push.example.net");
    assert_int_equal(cfg->n_apps, 6);
    assert_int_equal(cfg->monitoring.listen.port, 9464);
    cfg_free(cfg);

    for (size_t i = 0; i < 2; i++) {
        snprintf(link, sizeof(link), "%s/%s", tmp, dirs[i]);
        unlink(link);
    }
    unlink(dst);
    rmdir(tmp);
}

/* ------------------------------------------------------------------------ */

/*
 * Each bad file and the message it is refused with, after its path. '@'
 * stands for the canonical fixtures directory (file paths are reported
 * resolved against it).
 */
static const struct {
    const char *file;
    const char *msg;
} refusals[] = {
    { "syntax", ":4: syntax error" },
    { "unknown_root", ":3: colour: unknown key" },
    { "unknown_fed", ":5: federation.max_conns: unknown key" },
    { "unknown_tls", ":5: federation.tls.crl: unknown key" },
    { "unknown_app", ":8: apps[0].badge: unknown key" },
    { "key_other_provider", ":9: apps[0].project_id: is not a key for provider apns" },
    { "type_string", ":2: node_id: must be a string" },
    { "type_int", ":5: federation.max_connections: must be an integer" },
    { "type_float", ":3: redis.port: must be an integer" },
    { "type_group", ":3: redis: must be a group { ... }" },
    { "type_apps", ":7: apps: must be a list ( { ... }, ... )" },
    { "app_not_group", ":9: apps[0]: must be a group { ... }" },
    { "missing_node_id", ": node_id: required key is missing" },
    { "missing_domain", ":3: federation.domain: required key is missing" },
    { "missing_tls", ":3: federation.tls: required key is missing" },
    { "missing_ca", ":5: federation.tls.ca_file: required key is missing" },
    { "missing_apps", ": apps: required key is missing" },
    { "apps_empty", ":7: apps: must hold at least one app" },
    { "range_connections", ":5: federation.max_connections: must be between 1 and 1000000" },
    { "range_port", ":4: redis.port: must be between 1 and 65535" },
    { "range_request_timeout",
      ":9: apps[0].request_timeout_ms: must be between 100 and 300000" },
    { "range_retry", ":5: dispatcher.retry.max_delay_ms: must not be below base_delay_ms (1000)" },
    { "file_missing",
      ":5: federation.tls.certificate: cannot read @/bad/../tls/nope.pem: No such file or directory" },
    { "file_dir", ":5: federation.tls.ca_file: cannot read @/bad/../tls: not a regular file" },
    { "file_key_missing",
      ":9: apps[0].key_file: cannot read @/bad/AuthKey_NONE.p8: No such file or directory" },
    { "listen_no_port", ":4: federation.listen[0]: \"127.0.0.1\" must be host:port" },
    { "listen_v6_bare", ":5: federation.listen[1]: \"::1:5061\" must be host:port "
                        "(write IPv6 addresses as [address]:port)" },
    { "listen_port_zero",
      ":4: federation.listen[0]: \"127.0.0.1:0\" has a port out of range (1-65535)" },
    { "listen_bad_v6", ":4: federation.listen[0]: \"[::g]:5061\" has a bad IPv6 address" },
    { "listen_name", ":4: federation.listen[1]: \"relay.example.net:5061\" must be a numeric "
                     "address (IPv4, or [IPv6]:port), not a host name" },
    { "listen_not_list", ":4: federation.listen: must be a list of strings [ \"...\" ]" },
    { "monitoring_bad", ":11: monitoring.listen: \"localhost:abc\" has a bad port" },
    { "dup_app_id", ":10: apps[1].id: duplicate app id \"ios\" (first at line 8)" },
    { "dup_pn_param", ":11: apps[2]: serves the same pn-param as app \"and\" (line 10)" },
    { "endpoint_http",
      ":9: apps[0].endpoint: \"http://api.push.apple.com\" must be https://host[:port]" },
    { "endpoint_path", ":9: apps[0].endpoint: \"https://api.push.apple.com/3/device\" must be "
                       "https://host[:port]" },
    { "apns_no_auth", ":8: apps[0]: apns needs token auth (key_id, key_file, team_id) or "
                      "certificate auth (certificate, private_key)" },
    { "apns_no_team", ":8: apps[0].team_id: required key is missing (apns token auth needs "
                      "key_id, key_file and team_id)" },
    { "apns_both_auth", ":8: apps[0]: use token auth (key_id, key_file, team_id) or "
                        "certificate auth (certificate, private_key), not both" },
    { "apns_cert_no_key", ":8: apps[0].private_key: required key is missing (certificate and "
                          "private_key go together)" },
    { "apns_key_not_ec",
      ":9: apps[0].key_file: @/keys/rsa.key is not a PEM EC private key (an APNs .p8 key)" },
    { "apns_no_topic", ":8: apps[0].topic: required key is missing" },
    { "fcm_no_project", ":8: apps[0].project_id: required key is missing" },
    { "fcm_no_account", ":8: apps[0].service_account: required key is missing" },
    { "fcm_sa_no_email", ":9: apps[0].service_account: @/keys/sa-no-email.json: "
                         "\"client_email\" is missing or not a string" },
    { "fcm_sa_broken", ":9: apps[0].service_account: @/keys/sa-broken.json: not valid JSON: "
                       "unexpected token near end of file (line 2)" },
    { "mpns_no_hosts", ":8: apps[0].allowed_hosts: required key is missing" },
    { "mpns_bad_host",
      ":9: apps[0].allowed_hosts[1]: \"*.*.live.net\" must be a host name or *.domain" },
    { "mpns_empty_hosts", ":8: apps[0].allowed_hosts: must not be empty" },
    { "wns_no_sid", ":8: apps[0].package_sid: required key is missing" },
    { "wns_no_secret", ":8: apps[0].client_secret_file: required key is missing" },
    { "wns_token_http", ":9: apps[0].token_endpoint: \"http://login.live.com/accesstoken.srf\" "
                        "must be an https:// URL" },
    { "wns_certificate", ":9: apps[0].certificate: is not a key for provider wns" },
    { "hms_no_app_id", ":8: apps[0].hms_app_id: required key is missing" },
    { "webpush_no_hosts", ":8: apps[0].allowed_hosts: required key is missing" },
    { "webpush_bad_subject",
      ":8: apps[0].vapid_subject: \"ops.example.net\" must be a mailto: or https:// URI" },
    { "log_level_bad", ":3: log_level: \"verbose\" must be one of error, warn, info, debug" },
    { "provider_bad", ":8: apps[0].provider: \"gcm\" must be one of apns, fcm, mpns, wns, hms, webpush" },
    { "provider_missing", ":8: apps[0].provider: required key is missing" },
    { "domain_bad", ":4: federation.domain: \"push_example..net\" is not a valid DNS name" },
    { "app_id_bad", ":8: apps[0].id: \"my app\" holds a character that is not allowed" },
    { "prefix_bad", ":3: redis.prefix: \"pr :\" must not hold spaces or control characters" },
    { "redis_sentinels_and_host",
      ":3: redis.host: cannot be used with redis.sentinels (the sentinels name the primary)" },
    { "redis_sentinels_no_master",
      ":3: redis.master_name: required key is missing (redis.sentinels needs it)" },
    { "redis_master_no_sentinels", ":3: redis.master_name: needs redis.sentinels" },
    { "redis_sentinel_bad", ":3: redis.sentinels[0]: \"127.0.0.1\" must be host:port" },
    { "redis_wait_range", ":3: redis.wait_replicas: must be between 0 and 64" },
    { "redis_wait_negative", ":3: redis.wait_replicas: must be between 0 and 64" },
    { "redis_sentinels_empty", ":3: redis.sentinels: must not be empty" },
    { "redis_cluster_and_host",
      ":3: redis.port: cannot be used with redis.cluster (the cluster's slot map names the nodes)" },
    { "redis_cluster_and_sentinels",
      ":3: redis.sentinels: cannot be used with redis.cluster (a cluster fails over by itself)" },
    { "redis_cluster_empty", ":3: redis.cluster: must not be empty" },
    { "redis_cluster_db", ":3: redis.db: must be 0 with redis.cluster (a cluster has only db 0)" },
    { "redis_shards_zero", ":3: redis.shards: must be between 1 and 16384" },
    { "redis_shards_big", ":3: redis.shards: must be between 1 and 16384" },
    { "egress_https", ":11: egress.proxy: \"https://proxy.example.net:3128\" is an https:// "
                      "proxy, which is not supported: use http://host:port (provider TLS still "
                      "runs end to end inside the tunnel)" },
    { "egress_scheme",
      ":11: egress.proxy: \"socks5://proxy.example.net:1080\" must be http://host:port" },
    { "egress_no_port",
      ":11: egress.proxy: \"http://proxy.example.net\" has no port: write http://host:port" },
    { "egress_path", ":11: egress.proxy: \"http://proxy.example.net:3128/pac\" must be "
                     "http://host:port (no path)" },
    { "egress_no_proxy_bad", ":11: egress.no_proxy[1]: \"bad_host!\" must be a host name, "
                             "*.domain, .domain or an address" },
};

/* expand writes 'msg' with '@' replaced by the fixtures directory. */
static void expand(char *buf, size_t len, const char *msg)
{
    const char *dir = data_dir();
    size_t o = 0;
    for (const char *p = msg; *p != '\0' && o + 1 < len; p++) {
        if (*p == '@')
            o += (size_t)snprintf(buf + o, len - o, "%s", dir);
        else
            buf[o++] = *p;
    }
    buf[o] = '\0';
}

static void bad_files_are_refused_with_file_line_and_key(void **state)
{
    (void)state;
    char path[PATH_MAX], name[128], msg[2048], want[PATH_MAX + 2048], err[2048];
    int failures = 0;

    for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
        struct cfg *cfg = (struct cfg *)&cfg; /* must be reset to NULL */
        snprintf(name, sizeof(name), "bad/%s.conf", refusals[i].file);
        data_path(path, sizeof(path), name);
        expand(msg, sizeof(msg), refusals[i].msg);
        snprintf(want, sizeof(want), "%s%s", path, msg);

        int rc = cfg_load(path, &cfg, err, sizeof(err));
        if (rc != PR_ECONFIG || cfg != NULL || strcmp(err, want) != 0) {
            print_error("%s:\n  want (%d) %s\n  got  (%d) %s\n", refusals[i].file, PR_ECONFIG,
                        want, rc, err);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* Every bad fixture has its expected message listed (and vice versa). */
static void every_bad_fixture_is_checked(void **state)
{
    (void)state;
    char path[PATH_MAX];
    size_t n = sizeof(refusals) / sizeof(refusals[0]);
    data_path(path, sizeof(path), "bad");
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof(cmd), "ls '%s' | grep -c '\\.conf$'", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t count = 0;
    assert_int_equal(fscanf(p, "%zu", &count), 1);
    pclose(p);
    assert_int_equal(count, n);
}

static void missing_config_file_is_refused(void **state)
{
    (void)state;
    struct cfg *cfg = NULL;
    char err[512];
    assert_int_equal(cfg_load("/nonexistent/pushrelay.conf", &cfg, err, sizeof(err)),
                     PR_ECONFIG);
    assert_null(cfg);
    assert_string_equal(err, "/nonexistent/pushrelay.conf: cannot read: No such file or directory");

    char want[PATH_MAX + 64];
    snprintf(want, sizeof(want), "%s: cannot read: not a regular file", data_dir());
    assert_int_equal(cfg_load(data_dir(), &cfg, err, sizeof(err)), PR_ECONFIG);
    assert_string_equal(err, want);
}

static void unreadable_key_file_is_refused(void **state)
{
    (void)state;
    if (geteuid() == 0)
        skip(); /* root reads anything */
    char tmp[] = "/tmp/prcfg.XXXXXX", conf[PATH_MAX], key[PATH_MAX], tls[PATH_MAX];
    char err[1024], want[PATH_MAX * 3];
    assert_non_null(mkdtemp(tmp));
    snprintf(key, sizeof(key), "%s/secret.p8", tmp);
    FILE *f = fopen(key, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(chmod(key, 0), 0);
    data_path(tls, sizeof(tls), "tls");
    snprintf(conf, sizeof(conf), "%s/p.conf", tmp);
    f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "node_id = \"n\";\nfederation = { domain = \"a.example\";\n"
               "  tls = { certificate = \"%s/relay.pem\"; private_key = \"%s/relay.key\";\n"
               "          ca_file = \"%s/edges-ca.pem\"; }; };\n"
               "apps = ( { id = \"i\"; provider = \"apns\"; topic = \"t\"; team_id = \"T\";\n"
               "  key_id = \"K\"; key_file = \"secret.p8\"; } );\n",
            tls, tls, tls);
    fclose(f);

    struct cfg *cfg = NULL;
    assert_int_equal(cfg_load(conf, &cfg, err, sizeof(err)), PR_ECONFIG);
    snprintf(want, sizeof(want), "%s:6: apps[0].key_file: cannot read %s: Permission denied",
             conf, key);
    assert_string_equal(err, want);
    unlink(key);
    unlink(conf);
    rmdir(tmp);
}

/*
 * write_conf writes a config into a new temporary directory: the minimal
 * federation and one APNs app, then 'extra'. Returns the file's path in 'conf'.
 */
static void write_conf(char *tmp, char *conf, size_t len, const char *extra)
{
    char tls[PATH_MAX], keys[PATH_MAX];
    assert_non_null(mkdtemp(tmp));
    data_path(tls, sizeof(tls), "tls");
    data_path(keys, sizeof(keys), "keys");
    snprintf(conf, len, "%s/p.conf", tmp);
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "node_id = \"n\";\nfederation = { domain = \"a.example\";\n"
               "  tls = { certificate = \"%s/relay.pem\"; private_key = \"%s/relay.key\";\n"
               "          ca_file = \"%s/edges-ca.pem\"; }; };\n"
               "apps = ( { id = \"i\"; provider = \"apns\"; topic = \"t\"; team_id = \"T\";\n"
               "  key_id = \"K\"; key_file = \"%s/AuthKey_KEY1234567.p8\"; } );\n%s\n",
            tls, tls, tls, keys, extra);
    fclose(f);
}

static void egress_proxy_url_is_split_and_shared_by_apps(void **state)
{
    (void)state;
    char tmp[] = "/tmp/prcfg.XXXXXX", conf[PATH_MAX];
    write_conf(tmp, conf, sizeof(conf),
               "egress = { proxy = \"http://relay:s3cret@proxy.corp.example:3128/\";\n"
               "  no_proxy = [ \"localhost\", \"*.internal\", \".corp.example\", \"10.0.0.1\","
               " \"::1\" ]; };");
    struct cfg *cfg = load_ok(conf);
    const struct cfg_egress *eg = &cfg->egress;
    assert_string_equal(eg->proxy, "http://relay:s3cret@proxy.corp.example:3128/");
    assert_string_equal(eg->proxy_addr.host, "proxy.corp.example");
    assert_int_equal(eg->proxy_addr.port, 3128);
    assert_string_equal(eg->proxy_auth, "relay:s3cret");
    /* the loggable name carries no credentials */
    assert_string_equal(eg->proxy_name, "proxy.corp.example:3128");
    assert_int_equal(eg->n_no_proxy, 5);
    assert_string_equal(eg->no_proxy[2], ".corp.example");
    assert_ptr_equal(cfg->apps[0].egress, eg);
    cfg_free(cfg);
    unlink(conf);
    rmdir(tmp);

    char tmp2[] = "/tmp/prcfg.XXXXXX";
    write_conf(tmp2, conf, sizeof(conf), "egress = { proxy = \"http://[::1]:8080\"; };");
    cfg = load_ok(conf);
    assert_string_equal(cfg->egress.proxy_addr.host, "::1");
    assert_string_equal(cfg->egress.proxy_name, "[::1]:8080");
    assert_null(cfg->egress.proxy_auth);
    assert_int_equal(cfg->egress.n_no_proxy, 0);
    cfg_free(cfg);
    unlink(conf);
    rmdir(tmp2);
}

static void no_egress_group_means_direct(void **state)
{
    (void)state;
    char path[PATH_MAX];
    data_path(path, sizeof(path), "minimal.conf");
    struct cfg *cfg = load_ok(path);
    assert_null(cfg->egress.proxy);
    assert_null(cfg->egress.proxy_auth);
    assert_int_equal(cfg->egress.n_no_proxy, 0);
    cfg_free(cfg);
}

/* ------------------------------------------------------------------------ */

static void find_app_routes_pn_params(void **state)
{
    (void)state;
    char path[PATH_MAX];
    data_path(path, sizeof(path), "good.conf");
    struct cfg *cfg = load_ok(path);
    static const struct {
        enum pr_provider provider;
        const char *param;
        const char *app;    /* NULL: no app */
        int voip;
    } cases[] = {
        { PR_PROVIDER_APNS, "ABCDE12345.com.example.lync", "lync-ios", 0 },
        { PR_PROVIDER_APNS, "ABCDE12345.com.example.lync.voip", "lync-ios", 1 },
        { PR_PROVIDER_APNS, "ZZZZZ99999.com.example.lync", NULL, 0 },
        { PR_PROVIDER_APNS, "com.example.lync", NULL, 0 },
        { PR_PROVIDER_APNS, "ABCDE12345.com.example.lyn", NULL, 0 },
        { PR_PROVIDER_APNS, "ABCDE12345.example.lync", NULL, 0 },
        { PR_PROVIDER_APNS, "ABCDE12345.com.example.lync.voip.voip", NULL, 0 },
        { PR_PROVIDER_APNS, ".voip", NULL, 0 },
        { PR_PROVIDER_APNS, "", NULL, 0 },
        /* certificate auth without team_id: any single-label team */
        { PR_PROVIDER_APNS, "TEAM999999.com.example.legacy", "legacy-ios", 0 },
        { PR_PROVIDER_APNS, "TEAM999999.com.example.legacy.voip", "legacy-ios", 1 },
        { PR_PROVIDER_APNS, "a.b.com.example.legacy", NULL, 0 },
        { PR_PROVIDER_FCM, "example-lync", "lync-android", 0 },
        { PR_PROVIDER_FCM, "example-lync.voip", NULL, 0 },
        { PR_PROVIDER_FCM, "ABCDE12345.com.example.lync", NULL, 0 },
        { PR_PROVIDER_MPNS, "lync-wp", "lync-wp", 0 },
        { PR_PROVIDER_MPNS, "lync-ios", NULL, 0 },  /* an app, but not an mpns one */
        { PR_PROVIDER_APNS, "lync-ios", NULL, 0 },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int voip = -1;
        const struct cfg_app *a = cfg_find_app(cfg, cases[i].provider, cases[i].param, &voip);
        if (cases[i].app == NULL) {
            if (a != NULL)
                fail_msg("%s: matched %s, want none", cases[i].param, a->id);
        } else {
            if (a == NULL)
                fail_msg("%s: no match, want %s", cases[i].param, cases[i].app);
            assert_string_equal(a->id, cases[i].app);
        }
        assert_int_equal(voip, cases[i].voip);
    }
    assert_null(cfg_find_app(cfg, PR_PROVIDER_APNS, NULL, NULL));
    assert_non_null(cfg_find_app(cfg, PR_PROVIDER_APNS, "ABCDE12345.com.example.lync.voip", NULL));

    assert_string_equal(cfg_app_by_id(cfg, "lync-android")->project_id, "example-lync");
    assert_null(cfg_app_by_id(cfg, "nope"));
    assert_null(cfg_app_by_id(cfg, NULL));
    cfg_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_file_yields_every_value),
        cmocka_unit_test(minimal_file_takes_the_defaults),
        cmocka_unit_test(sentinel_file_yields_sentinels_and_wait),
        cmocka_unit_test(cluster_file_yields_seeds_and_shards),
        cmocka_unit_test(wns_app_takes_microsofts_defaults),
        cmocka_unit_test(example_config_loads),
        cmocka_unit_test(bad_files_are_refused_with_file_line_and_key),
        cmocka_unit_test(every_bad_fixture_is_checked),
        cmocka_unit_test(missing_config_file_is_refused),
        cmocka_unit_test(unreadable_key_file_is_refused),
        cmocka_unit_test(egress_proxy_url_is_split_and_shared_by_apps),
        cmocka_unit_test(no_egress_group_means_direct),
        cmocka_unit_test(find_app_routes_pn_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
