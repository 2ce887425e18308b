/*
 * ctl_time.h - how pushrelayctl's operations commands (tokens, dlq) show
 * and read times: "3d4h" ages, UTC timestamps, and "7d" / "12h" durations.
 */
#ifndef PUSHRELAY_CTL_TIME_H
#define PUSHRELAY_CTL_TIME_H

#include <stddef.h>
#include <stdint.h>

/* ctl_time_age writes the age of epoch-ms 'then' at 'now' ("45s", "3m20s", "2h5m", "4d1h"). */
const char *ctl_time_age(int64_t then_ms, int64_t now_ms, char *buf, size_t len);

/* ctl_time_utc writes epoch-ms 'ms' as "2026-11-24T21:05:00Z" ("-" for 0 or less). */
const char *ctl_time_utc(int64_t ms, char *buf, size_t len);

/*
 * ctl_time_parse_duration reads "<n><unit>" with unit s, m, h, d or w
 * (repeatable: "1d12h"; a bare number is seconds) into milliseconds.
 * Returns 0, or PR_EINVAL for anything else or a zero/overflowing value.
 */
int ctl_time_parse_duration(const char *s, int64_t *out_ms);

#endif
