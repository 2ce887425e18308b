/*
 * log.c - leveled logging to stderr, and redaction of secrets.
 *
 * Called from every module. Lines are written with a single fprintf so that
 * several processes sharing a terminal or journal do not interleave mid-line.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "pushrelay/error.h"
#include "pushrelay/log.h"

static enum pr_log_level log_level = PR_LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void pr_log_set_level(enum pr_log_level level) { log_level = level; }

enum pr_log_level pr_log_get_level(void) { return log_level; }

int pr_log_level_parse(const char *name, enum pr_log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (enum pr_log_level)i;
            return 0;
        }
    }
    return PR_EINVAL;
}

void pr_log(enum pr_log_level level, const char *module, const char *fmt, ...)
{
    if (level > log_level)
        return;
    char msg[1024], stamp[32];
    struct timespec ts;
    struct tm tm;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %-5s %s: %s\n", stamp, ts.tv_nsec / 1000000,
            level_names[level], module, msg);
}

const char *pr_redact(const char *secret, char *buf, size_t buflen)
{
    if (buflen == 0)
        return buf;
    if (secret == NULL) {
        snprintf(buf, buflen, "(null)");
        return buf;
    }
    size_t len = strlen(secret);
    if (len <= 12)
        snprintf(buf, buflen, "\xe2\x80\xa6/%zu", len);
    else
        snprintf(buf, buflen, "%.4s\xe2\x80\xa6%s/%zu", secret, secret + len - 4, len);
    return buf;
}
