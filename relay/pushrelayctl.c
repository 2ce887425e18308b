/*
 * pushrelayctl - the admin CLI (design section 8):
 *
 *   pushrelayctl [-c FILE] COMMAND [ARGS...]
 *
 * This file only reads the global options, finds the command in the table
 * below and runs it; each command lives in relay/ctl_<name>.c and the
 * shared plumbing in relay/ctl.c. Exit codes: 0 ok, 1 operation failed,
 * 2 usage or configuration error.
 */
#include <stdio.h>
#include <string.h>

#include "pushrelay/provider.h"
#include "ctl.h"

/* " [--apns] [--fcm] ...": the provider flags of enable-push and disable-push. */
#define PROVIDER_FLAG(e, name) " [--" #name "]"

/* One line per command: name, function (relay/ctl_<name>.c), arguments. */
static const struct ctl_cmd commands[] = {
    { "enable-push", ctl_enable_push,
      "--domain D --edge-fqdn F [--edge-fqdn F2 ...]" PR_PROVIDERS(PROVIDER_FLAG) " [--rate-limit N]" },
    { "disable-push", ctl_disable_push, "--domain D" PR_PROVIDERS(PROVIDER_FLAG) },
    { "show-push", ctl_show_push, "[--domain D] [--json]" },
    { "test-push", ctl_test_push, "--domain D --provider P --token T [--app A] --cert C --key K [--ca CA] [--host H] [--port N] [--timeout S] [--p256dh K --auth A]" },
    { "stats", ctl_stats, "[--domain D] [--json] [--watch]" },
    { "tokens", ctl_tokens, "list [--provider P] [--domain D] [--page N] | show T [--provider P] | forget T [--provider P]"
                          " | reshard [--from-shards N]" },
    { "dlq", ctl_dlq, "list [--page N] | replay ID... | replay --all | purge [--older-than DURATION]" },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
    fprintf(out, "usage: %s [-c FILE] COMMAND [ARGS...]\n\n"
                 "  -c, --config FILE   configuration file (default %s)\n"
                 "  -h, --help          this help; COMMAND --help for one command\n\n"
                 "commands:\n",
            CTL_PROG, CTL_DEFAULT_CONFIG);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %s %s\n", commands[i].name, commands[i].usage);
    fprintf(out, "\nexit status: 0 ok, 1 operation failed, 2 usage or configuration error\n");
}

int main(int argc, char **argv)
{
    struct ctl ctl = { .config_path = CTL_DEFAULT_CONFIG };
    int i = 1;

    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return CTL_EXIT_OK;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc || argv[i + 1][0] == '\0') {
                ctl_err(a, "needs a file name");
                return CTL_EXIT_USAGE;
            }
            ctl.config_path = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0 && a[9] != '\0') {
            ctl.config_path = a + 9;
        } else {
            ctl_err("usage", "unknown option '%s' (see %s --help)", a, CTL_PROG);
            return CTL_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return CTL_EXIT_USAGE;
    }

    for (size_t c = 0; c < N_COMMANDS; c++) {
        if (strcmp(argv[i], commands[c].name) != 0)
            continue;
        ctl.cmd = &commands[c];
        if (ctl_wants_help(argc - i - 1, argv + i + 1)) {
            ctl_print_usage(stdout, ctl.cmd);
            return CTL_EXIT_OK;
        }
        int rc = ctl.cmd->run(&ctl, argc - i - 1, argv + i + 1);
        ctl_close(&ctl);
        return rc;
    }
    ctl_err("usage", "unknown command '%s' (see %s --help)", argv[i], CTL_PROG);
    return CTL_EXIT_USAGE;
}
