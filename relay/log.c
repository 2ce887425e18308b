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

#include "pushrelay/clock.h"
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

static void log_line(enum pr_log_level level, const char *module, int64_t now_ms, const char *fmt,
                     va_list ap)
{
    char msg[1024], stamp[32];
    struct tm tm;
    time_t sec = (time_t)(now_ms / 1000);

    vsnprintf(msg, sizeof(msg), fmt, ap);
    gmtime_r(&sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03dZ %-5s %s: %s\n", stamp, (int)(now_ms % 1000), level_names[level],
            module, msg);
}

void pr_log(enum pr_log_level level, const char *module, const char *fmt, ...)
{
    if (level > log_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_line(level, module, pr_now_ms(), fmt, ap);
    va_end(ap);
}

void pr_log_at(enum pr_log_level level, const char *module, int64_t now_ms, const char *fmt, ...)
{
    if (level > log_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_line(level, module, now_ms, fmt, ap);
    va_end(ap);
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
