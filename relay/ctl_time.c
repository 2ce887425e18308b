/*
 * ctl_time.c - time display and duration parsing for pushrelayctl (see
 * ctl_time.h). Durations are hand-read: the grammar is five units.
 */
#include <stdio.h>
#include <time.h>

#include "pushrelay/error.h"
#include "ctl_time.h"

const char *ctl_time_age(int64_t then_ms, int64_t now_ms, char *buf, size_t len)
{
    long long s = (now_ms - then_ms) / 1000;
    if (s < 0)
        s = 0;
    if (s < 60)
        snprintf(buf, len, "%llds", s);
    else if (s < 3600)
        snprintf(buf, len, "%lldm%llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, len, "%lldh%lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, len, "%lldd%lldh", s / 86400, s % 86400 / 3600);
    return buf;
}

const char *ctl_time_utc(int64_t ms, char *buf, size_t len)
{
    if (ms <= 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

int ctl_time_parse_duration(const char *s, int64_t *out_ms)
{
    int64_t total = 0;
    if (s == NULL || *s == '\0')
        return PR_EINVAL;
    while (*s) {
        int64_t n = 0;
        const char *start = s;
        while (*s >= '0' && *s <= '9') {
            if (n > 1000000000)
                return PR_EINVAL;
            n = n * 10 + (*s++ - '0');
        }
        if (s == start)
            return PR_EINVAL;
        int64_t unit;
        switch (*s) {
        case '\0': unit = 1; break;
        case 's': unit = 1; s++; break;
        case 'm': unit = 60; s++; break;
        case 'h': unit = 3600; s++; break;
        case 'd': unit = 86400; s++; break;
        case 'w': unit = 7 * 86400; s++; break;
        default: return PR_EINVAL;
        }
        total += n * unit * 1000;
    }
    if (total <= 0)
        return PR_EINVAL;
    *out_ms = total;
    return 0;
}
