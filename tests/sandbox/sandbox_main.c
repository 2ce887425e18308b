/*
 * sandbox_main.c - pushrelay-sandbox: a fake APNs, FCM (with its OAuth2
 * token endpoint) and MPNS for tests, demos and staging.
 *
 * Parses the command line, builds the context (sb.h), starts the HTTP/2 and
 * HTTPS/1.1 listeners on one libevent loop and runs it until SIGTERM or
 * SIGINT, then closes everything and flushes the delivery record. It does
 * not relay anything anywhere: every request ends here. See README.md next
 * to this file for flags, behaviours and the record format.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "sb.h"
#include "sb_apns.h"
#include "sb_behaviour.h"
#include "sb_ccred.h"
#include "sb_h2.h"
#include "sb_http1.h"
#include "sb_oauth.h"
#include "sb_webpush.h"
#include "sb_record.h"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: pushrelay-sandbox --listen HOST:PORT --cert server.pem --key server.key\n"
        "         [--mpns-listen HOST:PORT]\n"
        "         [--apns-key KEY.p8|public.pem --apns-team TEAMID --apns-key-id KID]\n"
        "         [--fcm-service-account sa.json] [--oauth-token-ttl SECONDS]\n"
        "         [--max-concurrent-streams N] [--goaway-after N]\n"
        "         [--record FILE.jsonl] [--port-file FILE] [--log-level LEVEL] [--no-markers]\n"
        "HTTP/2 over TLS on --listen: APNs (POST /3/device/<token>), FCM\n"
        "(POST /v1/projects/<p>/messages:send), OAuth2 (POST /token) and\n"
        "/_sandbox/{stats,expire-tokens,oauth-down?seconds=N}; MPNS over HTTPS/1.1\n"
        "on --mpns-listen. Web Push (POST /wpush/<id>, subscriptions from\n"
        "POST /_sandbox/webpush/subscribe), WNS (POST /wns/<channel>, token\n"
        "POST /accesstoken.srf) and HMS (POST /v1/<app>/messages:send, token\n"
        "POST /oauth2/v3/token) on either listener.\n"
        "Port 0 picks a free port (see --port-file). A token starting with a marker\n"
        "(b, c, d, e, q and digits) scripts a failure; --no-markers turns that off\n"
        "(real device tokens, demos).\n");
}

enum {
    OPT_LISTEN = 1, OPT_MPNS_LISTEN, OPT_CERT, OPT_KEY, OPT_APNS_KEY, OPT_APNS_TEAM,
    OPT_APNS_KEY_ID, OPT_FCM_SA, OPT_OAUTH_TTL, OPT_MAX_STREAMS, OPT_GOAWAY_AFTER,
    OPT_RECORD, OPT_PORT_FILE, OPT_LOG_LEVEL, OPT_NO_MARKERS, OPT_HELP,
};

static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v > max || s[0] == '-')
        return PR_EINVAL;
    *out = v;
    return 0;
}

/* parse_args fills 'o'; returns 0, 1 for --help, or PR_EINVAL (message printed). */
static int parse_args(int argc, char **argv, struct sb_opts *o)
{
    static const struct option longopts[] = {
        { "listen", required_argument, NULL, OPT_LISTEN },
        { "mpns-listen", required_argument, NULL, OPT_MPNS_LISTEN },
        { "cert", required_argument, NULL, OPT_CERT },
        { "key", required_argument, NULL, OPT_KEY },
        { "apns-key", required_argument, NULL, OPT_APNS_KEY },
        { "apns-team", required_argument, NULL, OPT_APNS_TEAM },
        { "apns-key-id", required_argument, NULL, OPT_APNS_KEY_ID },
        { "fcm-service-account", required_argument, NULL, OPT_FCM_SA },
        { "oauth-token-ttl", required_argument, NULL, OPT_OAUTH_TTL },
        { "max-concurrent-streams", required_argument, NULL, OPT_MAX_STREAMS },
        { "goaway-after", required_argument, NULL, OPT_GOAWAY_AFTER },
        { "record", required_argument, NULL, OPT_RECORD },
        { "port-file", required_argument, NULL, OPT_PORT_FILE },
        { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
        { "no-markers", no_argument, NULL, OPT_NO_MARKERS },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
    };
    unsigned long v;
    enum pr_log_level level;
    int c;

    o->oauth_token_ttl = 3600;
    o->max_concurrent_streams = 1000;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_LISTEN: o->listen = optarg; break;
        case OPT_MPNS_LISTEN: o->mpns_listen = optarg; break;
        case OPT_CERT: o->cert = optarg; break;
        case OPT_KEY: o->key = optarg; break;
        case OPT_APNS_KEY: o->apns_key = optarg; break;
        case OPT_APNS_TEAM: o->apns_team = optarg; break;
        case OPT_APNS_KEY_ID: o->apns_key_id = optarg; break;
        case OPT_FCM_SA: o->fcm_service_account = optarg; break;
        case OPT_RECORD: o->record = optarg; break;
        case OPT_PORT_FILE: o->port_file = optarg; break;
        case OPT_NO_MARKERS: o->no_markers = 1; break;
        case OPT_OAUTH_TTL:
            if (parse_ulong(optarg, 86400 * 365, &v) != 0 || v == 0)
                goto bad;
            o->oauth_token_ttl = (long)v;
            break;
        case OPT_MAX_STREAMS:
            if (parse_ulong(optarg, 1u << 30, &v) != 0 || v == 0)
                goto bad;
            o->max_concurrent_streams = (unsigned)v;
            break;
        case OPT_GOAWAY_AFTER:
            if (parse_ulong(optarg, 1u << 30, &v) != 0)
                goto bad;
            o->goaway_after = (unsigned)v;
            break;
        case OPT_LOG_LEVEL:
            if (pr_log_level_parse(optarg, &level) != 0)
                goto bad;
            pr_log_set_level(level);
            break;
        case OPT_HELP:
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return PR_EINVAL;
        }
    }
    if (optind != argc || o->listen == NULL || o->cert == NULL || o->key == NULL) {
        fprintf(stderr, "pushrelay-sandbox: --listen, --cert and --key are required\n");
        usage(stderr);
        return PR_EINVAL;
    }
    return 0;
bad:
    fprintf(stderr, "pushrelay-sandbox: bad value '%s' for --%s\n", optarg, longopts[c - 1].name);
    return PR_EINVAL;
}

/*
 * write_port_file writes the bound ports, one per line (HTTP/2 first, then
 * MPNS when --mpns-listen is given), through a rename so that a reader never
 * sees half a file.
 */
static int write_port_file(const char *path, int port, int mpns_port)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return PR_EIO;
    fprintf(f, "%d\n", port);
    if (mpns_port > 0)
        fprintf(f, "%d\n", mpns_port);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return PR_EIO;
    return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    pr_log_info("sandbox", "signal %d: stopping", (int)sig);
    event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
    struct sb_opts opts = { 0 };
    struct sb_ctx ctx = { .opts = &opts, .hold = { .left = -1 } };
    struct sb_h2 *h2 = NULL;
    struct sb_http1 *h1 = NULL;
    struct event *sigterm = NULL, *sigint = NULL;
    int port = 0, mpns_port = 0, status = 1, rc;

    rc = parse_args(argc, argv, &opts);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    signal(SIGPIPE, SIG_IGN);

    ctx.base = event_base_new();
    if (ctx.base == NULL)
        goto out;
    /*
     * Signals are handled before any port is bound or the port file is
     * written: a test may stop the sandbox as soon as it sees either, and
     * must get a clean stop (record flushed, status 0), not a default death.
     */
    sigterm = evsignal_new(ctx.base, SIGTERM, on_signal, ctx.base);
    sigint = evsignal_new(ctx.base, SIGINT, on_signal, ctx.base);
    if (sigterm == NULL || sigint == NULL || evsignal_add(sigterm, NULL) != 0 ||
        evsignal_add(sigint, NULL) != 0) {
        rc = PR_ENOMEM;
        goto fail;
    }
    if ((rc = sb_behaviour_new(!opts.no_markers, &ctx.behaviour)) != 0 || (rc = sb_apns_new(&opts, &ctx.apns)) != 0 ||
        (rc = sb_oauth_new(&opts, &ctx.oauth)) != 0 || (rc = sb_webpush_new(&ctx.webpush)) != 0 ||
        (rc = sb_ccred_new("EwB", opts.oauth_token_ttl, &ctx.wns_tokens)) != 0 ||
        (rc = sb_ccred_new("CF", opts.oauth_token_ttl, &ctx.hms_tokens)) != 0)
        goto fail;
    if (opts.record != NULL && (rc = sb_record_open(ctx.base, opts.record, &ctx.record)) != 0) {
        pr_log_error("sandbox", "cannot open record file %s", opts.record);
        goto fail;
    }
    if ((rc = sb_h2_new(&ctx, &h2, &port)) != 0)
        goto fail;
    if (opts.mpns_listen != NULL && (rc = sb_http1_new(&ctx, &h1, &mpns_port)) != 0)
        goto fail;
    if (opts.port_file != NULL && (rc = write_port_file(opts.port_file, port, mpns_port)) != 0) {
        pr_log_error("sandbox", "cannot write port file %s", opts.port_file);
        goto fail;
    }
    pr_log_info("sandbox", "listening: h2 %d%s%.0d (apns auth %s, fcm %s, token markers %s)", port,
                mpns_port ? ", mpns " : "", mpns_port, opts.apns_key ? "token" : "off",
                opts.fcm_service_account ? "on" : "no service account",
                opts.no_markers ? "off" : "on");
    event_base_dispatch(ctx.base);
    status = 0;
    goto out;
fail:
    pr_log_error("sandbox", "cannot start: %s", pr_strerror(rc));
out:
    if (sigterm != NULL)
        event_free(sigterm);
    if (sigint != NULL)
        event_free(sigint);
    sb_http1_free(h1);
    sb_h2_free(h2);
    sb_record_close(ctx.record);
    sb_oauth_free(ctx.oauth);
    sb_webpush_free(ctx.webpush);
    sb_ccred_free(ctx.wns_tokens);
    sb_ccred_free(ctx.hms_tokens);
    sb_apns_free(ctx.apns);
    sb_behaviour_free(ctx.behaviour);
    if (ctx.base != NULL)
        event_base_free(ctx.base);
    return status;
}
