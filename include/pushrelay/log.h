/*
 * log.h - leveled logging to stderr (journald picks it up under systemd).
 *
 * Device tokens, JWTs, keys and passwords are never logged in full: pass them
 * through pr_redact() first.
 */
#ifndef PUSHRELAY_LOG_H
#define PUSHRELAY_LOG_H

#include <stddef.h>
#include <stdint.h>

enum pr_log_level {
    PR_LOG_ERROR = 0,
    PR_LOG_WARN = 1,
    PR_LOG_INFO = 2,
    PR_LOG_DEBUG = 3,
};

/*
 * The level is the one piece of process-wide state: every module logs, and
 * threading a logger through each call would only add noise. It is set once
 * from the configuration and again on reload.
 */
void pr_log_set_level(enum pr_log_level level);
enum pr_log_level pr_log_get_level(void);

/* pr_log_level_parse maps "error|warn|info|debug" to 'out'; PR_EINVAL if unknown. */
int pr_log_level_parse(const char *name, enum pr_log_level *out);

/* pr_log writes "<time> <level> <module>: <message>" when 'level' is enabled. */
void pr_log(enum pr_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * pr_log_at is pr_log with the line stamped 'now_ms' (a pr_now_ms()
 * reading) instead of the time of the call: for a caller that decided on
 * that reading (a limit of lines per second) and wants the line to show it.
 */
void pr_log_at(enum pr_log_level level, const char *module, int64_t now_ms, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define pr_log_error(mod, ...) pr_log(PR_LOG_ERROR, (mod), __VA_ARGS__)
#define pr_log_warn(mod, ...) pr_log(PR_LOG_WARN, (mod), __VA_ARGS__)
#define pr_log_info(mod, ...) pr_log(PR_LOG_INFO, (mod), __VA_ARGS__)
#define pr_log_debug(mod, ...)                                          \
    do {                                                                \
        if (pr_log_get_level() >= PR_LOG_DEBUG)                         \
            pr_log(PR_LOG_DEBUG, (mod), __VA_ARGS__);                   \
    } while (0)

/*
 * pr_redact writes a loggable form of 'secret' into 'buf': its first and last
 * four bytes around an ellipsis and its length ("a1b2…e5f6/64"); secrets of
 * 12 bytes or less become "…/N". Returns 'buf'. NULL logs as "(null)".
 */
const char *pr_redact(const char *secret, char *buf, size_t buflen);

#endif
