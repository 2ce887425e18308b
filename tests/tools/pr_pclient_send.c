/*
 * pr_pclient_send.c - drives one provider client (relay/pclient.c) the way
 * the dispatcher does, for integration tests and manual checks against
 * pushrelay-sandbox: sends N notifications to the given tokens with at most
 * W in flight, prints one line per answer and a summary.
 *
 *   pr_pclient_send --config pushrelay.conf --app lync-ios --token aabb...
 *   pr_pclient_send --provider apns --endpoint https://127.0.0.1:PORT \
 *       --ca-file ca.pem --topic com.example.lync --team-id T --key-id K \
 *       --key-file AuthKey.p8 --token aabb... [--token ...] [--count N]
 *
 * Output, one line per notification (i = index; tokens cycle over --token):
 *   result i=3 status=410 reason=Unregistered outcome=token_dead ts=1732480000000
 *          retry_after=-1 id=<apns-id> attempts=1
 *   summary sent=N answered=N delivered=... retry=... token_dead=...
 *           dead_letter=... reauth=... no_answer=... local=... max_open=... retries=...
 * --payloads FILE writes, per notification, what the provider's builder
 * makes of it (JSON lines: i, path, headers, body) for byte-exact checks.
 * --reauth-retry and --retry-no-answer N act as the dispatcher would (drop
 * the credential / resend); --after-first CMD runs a shell command once the
 * first answer arrived, before sending the rest. --ping-idle-ms and
 * --ping-timeout-ms shorten the HTTP/2 clients' idle PING (h2c_set_ping).
 * Exit status: 0 when every notification was answered exactly once, 1 if
 * not, 2 on usage errors.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "classify.h"
#include "h2c.h"
#include "payload.h"
#include "pclient.h"
#include "pushrelay/config.h"
#include "pushrelay/error.h"
#include "pushrelay/log.h"
#include "pushrelay/notif.h"

#define MAX_TOKENS 64
#define MAX_HOSTS 16

struct run {
    struct event_base *base;
    struct pclient *pc;
    struct cfg_app app;
    const char *tokens[MAX_TOKENS];
    int n_tokens;
    const char *id_prefix;
    const char *title;
    const char *body;
    const char *collapse_id;
    int voip;
    int ttl_s;
    int count;
    int window;
    int timeout_ms;
    int reauth_retry;
    int retry_no_answer;    /* resend after PR_STATUS_NO_ANSWER up to this many times */
    const char *after_first;/* shell command run once the first answer arrived */
    int after_first_done;
    FILE *payloads;         /* --payloads: what the builders make, to compare with the sandbox */
    int retries;
    int quiet;
    int next;               /* next index to send */
    int in_flight;
    int answered;
    int *answers;           /* per index: how many times the callback ran */
    int *attempts;
    int outcome_count[PR_OUTCOME_COUNT];
    int no_answer, local;
    int max_open;
    int shutdown_after_ms;
    int freed;
    struct event *pump;
    struct event *sampler;
};

struct call {
    struct run *run;
    int index;
    int64_t accepted_ms;
};

static void pump_schedule(struct run *run, int delay_ms);

static int notif_fill(struct run *run, int i, int64_t accepted_ms, struct pr_notif *n)
{
    char id[128];
    snprintf(id, sizeof(id), "%s%d", run->id_prefix, i);
    notif_init(n);
    n->provider = run->app.provider;
    n->voip = run->voip;
    n->event = PR_EVENT_IM;
    n->priority = PR_PRIORITY_HIGH;
    n->ttl_s = run->ttl_s;
    n->accepted_ms = accepted_ms;
    n->expires_ms = accepted_ms + (int64_t)run->ttl_s * 1000;
    if (notif_set_str(&n->id, id) < 0 || notif_set_str(&n->domain, "contoso.com") < 0 ||
        notif_set_str(&n->app, run->app.id) < 0 ||
        notif_set_str(&n->token, run->tokens[i % run->n_tokens]) < 0 ||
        notif_set_str(&n->from, "sip:alice@contoso.com") < 0 ||
        notif_set_str(&n->to, "sip:bob@contoso.com") < 0 ||
        notif_set_str(&n->title, run->title) < 0 || notif_set_str(&n->body, run->body) < 0 ||
        notif_set_str(&n->collapse_id, run->collapse_id) < 0)
        return PR_ENOMEM;
    return 0;
}

/*
 * payload_note writes {"i":N,"path":…,"headers":{…},"body":…} for 'n': the
 * bytes the provider's builder makes, which the sandbox must have recorded
 * exactly. Headers are the APNs ones (the other providers use fixed ones).
 */
static void payload_note(struct run *run, int i, const struct pr_notif *n)
{
    json_t *o = json_object();
    json_t *h = json_object();
    char *body = NULL;
    size_t len = 0;
    struct apns_request ar;
    memset(&ar, 0, sizeof(ar));
    json_object_set_new(o, "i", json_integer(i));
    if (run->app.provider == PR_PROVIDER_APNS && apns_payload_build(n, &run->app, &ar) == 0) {
        char num[32];
        json_object_set_new(o, "path", json_string(ar.path));
        json_object_set_new(o, "body", json_stringn(ar.payload, ar.payload_len));
        json_object_set_new(h, "apns-push-type", json_string(ar.push_type));
        json_object_set_new(h, "apns-topic", json_string(ar.topic));
        snprintf(num, sizeof(num), "%d", ar.priority);
        json_object_set_new(h, "apns-priority", json_string(num));
        snprintf(num, sizeof(num), "%" PRId64, ar.expiration_s);
        json_object_set_new(h, "apns-expiration", json_string(num));
        json_object_set_new(h, "apns-id", json_string(ar.apns_id));
        if (ar.collapse_id != NULL)
            json_object_set_new(h, "apns-collapse-id", json_string(ar.collapse_id));
    } else if (run->app.provider == PR_PROVIDER_FCM && fcm_payload_build(n, &body, &len) == 0) {
        json_object_set_new(o, "body", json_stringn(body, len));
    } else if (run->app.provider == PR_PROVIDER_MPNS && mpns_payload_build(n, &body, &len) == 0) {
        json_object_set_new(o, "body", json_stringn(body, len));
    }
    json_object_set_new(o, "headers", h);
    char *line = json_dumps(o, JSON_COMPACT);
    if (line != NULL)
        fprintf(run->payloads, "%s\n", line);
    free(line);
    free(body);
    apns_request_clear(&ar);
    json_decref(o);
}

static int send_one(struct run *run, struct call *call);

static void on_done(void *arg, const struct pr_result *res)
{
    struct call *call = arg;
    struct run *run = call->run;
    struct pr_result r = *res;
    enum pr_outcome o = pr_classify(run->app.provider, &r, call->accepted_ms);
    run->attempts[call->index]++;
    if (r.status == PR_STATUS_NO_ANSWER && run->attempts[call->index] <= run->retry_no_answer &&
        !run->freed) {
        /* What the dispatcher does with a lost answer: send it again. */
        if (!run->quiet)
            printf("retry i=%d reason=%s\n", call->index, r.reason);
        run->retries++;
        if (send_one(run, call) == 0)
            return;
    }
    if (o == PR_OUTCOME_REAUTH && run->reauth_retry && run->attempts[call->index] == 1 &&
        !run->freed) {
        /* What the dispatcher does: drop the credential, try once more. */
        if (!run->quiet)
            printf("reauth i=%d status=%d reason=%s\n", call->index, r.status, r.reason);
        pclient_reauth(run->pc);
        if (send_one(run, call) == 0)
            return;
    }
    run->answers[call->index]++;
    run->answered++;
    run->in_flight--;
    run->outcome_count[o]++;
    if (r.status == PR_STATUS_NO_ANSWER)
        run->no_answer++;
    if (r.status == PR_STATUS_LOCAL)
        run->local++;
    if (!run->quiet)
        printf("result i=%d status=%d reason=%s outcome=%s ts=%" PRId64
               " retry_after=%d id=%s attempts=%d\n",
               call->index, r.status, r.reason[0] ? r.reason : "-", pr_outcome_name(o),
               r.provider_ts_ms, r.retry_after_s, r.provider_id[0] ? r.provider_id : "-",
               run->attempts[call->index]);
    free(call);
    if (run->after_first != NULL && !run->after_first_done) {
        /* Test hook (e.g. expire the sandbox's tokens); blocking is fine in a test tool. */
        run->after_first_done = 1;
        int rc = system(run->after_first);
        printf("after-first rc=%d\n", rc);
    }
    if (!run->freed)
        pump_schedule(run, 0);
}

static int send_one(struct run *run, struct call *call)
{
    struct pr_notif n;
    int rv = notif_fill(run, call->index, call->accepted_ms, &n);
    if (rv == 0 && run->payloads != NULL && run->attempts[call->index] == 0)
        payload_note(run, call->index, &n);
    if (rv == 0)
        rv = pclient_send(run->pc, &n, run->timeout_ms, on_done, call);
    notif_clear(&n);
    return rv;
}

static void pump_cb(evutil_socket_t fd, short what, void *arg)
{
    struct run *run = arg;
    (void)fd;
    (void)what;
    while (run->next < run->count && run->in_flight < run->window) {
        if (run->after_first != NULL && !run->after_first_done && run->next >= 1)
            break;
        struct call *call = malloc(sizeof(*call));
        if (call == NULL)
            break;
        call->run = run;
        call->index = run->next;
        call->accepted_ms = pr_now_ms();
        int rv = send_one(run, call);
        if (rv == PR_EAGAIN) {
            free(call);
            pump_schedule(run, 10);
            return;
        }
        if (rv < 0) {
            fprintf(stderr, "pclient_send: %s\n", pr_strerror(rv));
            free(call);
            event_base_loopbreak(run->base);
            return;
        }
        run->next++;
        run->in_flight++;
    }
    if (run->answered == run->count)
        event_base_loopbreak(run->base);
}

static void pump_schedule(struct run *run, int delay_ms)
{
    struct timeval tv = { delay_ms / 1000, (delay_ms % 1000) * 1000 };
    evtimer_add(run->pump, &tv);
}

/* Samples the open connection count, so tests can see the pool was used. */
static void sampler_cb(evutil_socket_t fd, short what, void *arg)
{
    struct run *run = arg;
    struct pclient_stats st;
    (void)fd;
    (void)what;
    pclient_get_stats(run->pc, &st);
    if (st.connections_open > run->max_open)
        run->max_open = st.connections_open;
}

static void shutdown_cb(evutil_socket_t fd, short what, void *arg)
{
    struct run *run = arg;
    (void)fd;
    (void)what;
    printf("shutdown in_flight=%d\n", run->in_flight);
    run->freed = 1;
    event_del(run->sampler);
    event_del(run->pump);
    pclient_free(run->pc);
    run->pc = NULL;
    event_base_loopbreak(run->base);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: pr_pclient_send --config FILE --app ID --token T ...\n"
            "   or: pr_pclient_send --provider apns|fcm|mpns [--app-id ID] [--endpoint URL]\n"
            "  [--ca-file F] [--cert F --key F] [--connections N]\n"
            "  [--topic T --team-id T --key-id K --key-file F]   (apns)\n"
            "  [--project-id P --service-account F]             (fcm)\n"
            "  [--allowed-host H]...                             (mpns)\n"
            "  --token T [--token T]... [--count N] [--window W] [--timeout-ms MS]\n"
            "  [--id-prefix S] [--title S] [--body S] [--collapse-id S] [--voip] [--ttl S]\n"
            "  [--reauth-retry] [--retry-no-answer N] [--after-first CMD]\n"
            "  [--payloads FILE] [--shutdown-after-ms MS] [--quiet] [--debug]\n"
            "  [--ping-idle-ms MS] [--ping-timeout-ms MS]   (HTTP/2: 30000 and 10000)\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "config", required_argument, NULL, 'F' },
        { "app", required_argument, NULL, 'I' },
        { "provider", required_argument, NULL, 'p' },
        { "app-id", required_argument, NULL, 'a' },
        { "endpoint", required_argument, NULL, 'e' },
        { "ca-file", required_argument, NULL, 'C' },
        { "cert", required_argument, NULL, 'c' },
        { "key", required_argument, NULL, 'k' },
        { "connections", required_argument, NULL, 'n' },
        { "topic", required_argument, NULL, 't' },
        { "team-id", required_argument, NULL, 'T' },
        { "key-id", required_argument, NULL, 'K' },
        { "key-file", required_argument, NULL, 'f' },
        { "project-id", required_argument, NULL, 'P' },
        { "service-account", required_argument, NULL, 's' },
        { "allowed-host", required_argument, NULL, 'H' },
        { "token", required_argument, NULL, 'x' },
        { "count", required_argument, NULL, 'N' },
        { "window", required_argument, NULL, 'w' },
        { "timeout-ms", required_argument, NULL, 'o' },
        { "id-prefix", required_argument, NULL, 'i' },
        { "title", required_argument, NULL, '1' },
        { "body", required_argument, NULL, '2' },
        { "collapse-id", required_argument, NULL, '3' },
        { "voip", no_argument, NULL, 'v' },
        { "ttl", required_argument, NULL, 'l' },
        { "reauth-retry", no_argument, NULL, 'r' },
        { "shutdown-after-ms", required_argument, NULL, 'S' },
        { "quiet", no_argument, NULL, 'q' },
        { "retry-no-answer", required_argument, NULL, 'R' },
        { "after-first", required_argument, NULL, 'A' },
        { "payloads", required_argument, NULL, 'Y' },
        { "debug", no_argument, NULL, 'd' },
        { "ping-idle-ms", required_argument, NULL, 'j' },
        { "ping-timeout-ms", required_argument, NULL, 'J' },
        { NULL, 0, NULL, 0 },
    };
    struct run run;
    char *hosts[MAX_HOSTS];
    size_t n_hosts = 0;
    int status = 2, ch;
    memset(&run, 0, sizeof(run));
    run.app.id = "test-app";
    run.id_prefix = "n-";
    run.title = "Alice";
    run.body = "Hello";
    run.ttl_s = 60;
    run.count = -1;
    run.window = 1000;
    run.timeout_ms = 10000;
    int have_provider = 0, ping_idle_ms = 0, ping_timeout_ms = 0;
    const char *config_path = NULL, *config_app = NULL;
    struct cfg *cfg = NULL;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'p':
            if (pr_provider_parse(optarg, &run.app.provider) < 0) {
                usage();
                return 2;
            }
            have_provider = 1;
            break;
        case 'F': config_path = optarg; break;
        case 'I': config_app = optarg; break;
        case 'a': run.app.id = optarg; break;
        case 'e': run.app.endpoint = optarg; break;
        case 'C': run.app.ca_file = optarg; break;
        case 'c': run.app.certificate = optarg; break;
        case 'k': run.app.private_key = optarg; break;
        case 'n': run.app.connections = atoi(optarg); break;
        case 't': run.app.topic = optarg; break;
        case 'T': run.app.team_id = optarg; break;
        case 'K': run.app.key_id = optarg; break;
        case 'f': run.app.key_file = optarg; break;
        case 'P': run.app.project_id = optarg; break;
        case 's': run.app.service_account = optarg; break;
        case 'H':
            if (n_hosts < MAX_HOSTS)
                hosts[n_hosts++] = optarg;
            break;
        case 'x':
            if (run.n_tokens < MAX_TOKENS)
                run.tokens[run.n_tokens++] = optarg;
            break;
        case 'N': run.count = atoi(optarg); break;
        case 'w': run.window = atoi(optarg); break;
        case 'o': run.timeout_ms = atoi(optarg); break;
        case 'i': run.id_prefix = optarg; break;
        case '1': run.title = optarg; break;
        case '2': run.body = optarg; break;
        case '3': run.collapse_id = optarg; break;
        case 'v': run.voip = 1; break;
        case 'l': run.ttl_s = atoi(optarg); break;
        case 'r': run.reauth_retry = 1; break;
        case 'S': run.shutdown_after_ms = atoi(optarg); break;
        case 'q': run.quiet = 1; break;
        case 'R': run.retry_no_answer = atoi(optarg); break;
        case 'A': run.after_first = optarg; break;
        case 'Y':
            if ((run.payloads = fopen(optarg, "w")) == NULL) {
                perror(optarg);
                return 2;
            }
            break;
        case 'd': pr_log_set_level(PR_LOG_DEBUG); break;
        case 'j': ping_idle_ms = atoi(optarg); break;
        case 'J': ping_timeout_ms = atoi(optarg); break;
        default: usage(); return 2;
        }
    }
    h2c_set_ping(ping_idle_ms, ping_timeout_ms);
    /* A peer that resets while we write must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    if (config_path != NULL) {
        /* The app as pushrelayd would see it; flags given as well are ignored. */
        char err[512];
        const struct cfg_app *app;
        if (cfg_load(config_path, &cfg, err, sizeof(err)) < 0) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
        if (config_app == NULL || (app = cfg_app_by_id(cfg, config_app)) == NULL) {
            fprintf(stderr, "%s: no app '%s'\n", config_path, config_app ? config_app : "");
            cfg_free(cfg);
            return 2;
        }
        run.app = *app;
        have_provider = 1;
        n_hosts = 0;
    }
    if (!have_provider || run.n_tokens == 0 || run.window <= 0) {
        usage();
        cfg_free(cfg);
        return 2;
    }
    if (run.count < 0)
        run.count = run.n_tokens;
    if (cfg == NULL) {
        run.app.allowed_hosts = hosts;
        run.app.n_allowed_hosts = n_hosts;
    }
    run.answers = calloc((size_t)run.count + 1, sizeof(int));
    run.attempts = calloc((size_t)run.count + 1, sizeof(int));
    run.base = event_base_new();
    if (run.answers == NULL || run.attempts == NULL || run.base == NULL)
        goto out;
    int rv = pclient_new(run.base, &run.app, &run.pc);
    if (rv < 0) {
        fprintf(stderr, "pclient_new: %s\n", pr_strerror(rv));
        goto out;
    }
    run.pump = evtimer_new(run.base, pump_cb, &run);
    run.sampler = event_new(run.base, -1, EV_PERSIST, sampler_cb, &run);
    struct timeval every = { 0, 20000 };
    evtimer_add(run.sampler, &every);
    struct event *shutdown = NULL;
    if (run.shutdown_after_ms > 0) {
        shutdown = evtimer_new(run.base, shutdown_cb, &run);
        struct timeval tv = { run.shutdown_after_ms / 1000, (run.shutdown_after_ms % 1000) * 1000 };
        evtimer_add(shutdown, &tv);
    }
    pump_schedule(&run, 0);
    if (run.count > 0)
        event_base_dispatch(run.base);
    event_del(run.sampler);
    event_del(run.pump);
    if (run.pc != NULL) {
        sampler_cb(-1, 0, &run);
        pclient_free(run.pc);
    }
    /* libevent finishes freeing sockets (deferred callbacks) on the next loop turn. */
    event_base_loop(run.base, EVLOOP_NONBLOCK);
    if (shutdown != NULL)
        event_free(shutdown);
    event_free(run.sampler);
    event_free(run.pump);

    int once = 1;
    for (int i = 0; i < run.next; i++)
        if (run.answers[i] != 1) {
            fprintf(stderr, "notification %d answered %d times\n", i, run.answers[i]);
            once = 0;
        }
    printf("summary sent=%d answered=%d", run.next, run.answered);
    for (int o = 0; o < PR_OUTCOME_COUNT; o++)
        printf(" %s=%d", pr_outcome_name((enum pr_outcome)o), run.outcome_count[o]);
    printf(" no_answer=%d local=%d max_open=%d retries=%d\n", run.no_answer, run.local,
           run.max_open, run.retries);
    status = once && run.answered == run.next && (run.freed || run.next == run.count) ? 0 : 1;
out:
    if (run.base != NULL)
        event_base_free(run.base);
    if (run.payloads != NULL)
        fclose(run.payloads);
    free(run.answers);
    free(run.attempts);
    cfg_free(cfg);
    return status;
}
